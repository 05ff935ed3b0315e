package patch

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
)

func TestParsePointer(t *testing.T) {
	tests := []struct {
		in      string
		want    Pointer
		wantErr string // substring of the error; "" means no error
	}{
		{in: "", want: Pointer{}},
		{in: "/", want: Pointer{""}},
		{in: "/foo", want: Pointer{"foo"}},
		{in: "/foo/0", want: Pointer{"foo", "0"}},
		{in: "/a~1b", want: Pointer{"a/b"}},
		{in: "/m~0n", want: Pointer{"m~n"}},
		{in: "/~01", want: Pointer{"~1"}},
		{in: "/~10", want: Pointer{"/0"}},
		{in: "//", want: Pointer{"", ""}},
		{in: "/ /c%d", want: Pointer{" ", "c%d"}},
		{in: "/public/packageData/bitcoind", want: Pointer{"public", "packageData", "bitcoind"}},
		{in: "foo", wantErr: `json pointer "foo" must be empty or start with "/"`},
		{in: "#/foo", wantErr: `must be empty or start with "/"`},
		{in: "/a/b~2", wantErr: `token "b~2": "~" must be followed by 0 or 1`},
		{in: "/a~", wantErr: `token "a~"`},
		{in: "/ok/~/x", wantErr: `token "~"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePointer(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParsePointer(%q) = %q, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				if !errors.Is(err, errdefs.ErrInvalidRequest) {
					t.Fatalf("error %q does not wrap ErrInvalidRequest", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePointer(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParsePointer(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Fatalf("String() = %q, want %q", s, tt.in)
			}
		})
	}
}

func TestEscapeToken(t *testing.T) {
	for tok, want := range map[string]string{
		"":      "",
		"plain": "plain",
		"a/b":   "a~1b",
		"m~n":   "m~0n",
		"~/":    "~0~1",
		"/~1":   "~1~01",
	} {
		if got := EscapeToken(tok); got != want {
			t.Errorf("EscapeToken(%q) = %q, want %q", tok, got, want)
		}
		back, err := UnescapeToken(want)
		if err != nil || back != tok {
			t.Errorf("UnescapeToken(%q) = %q, %v; want %q", want, back, err, tok)
		}
	}
}

func TestPointerHasPrefix(t *testing.T) {
	tests := []struct {
		p, prefix string
		want      bool
	}{
		{"/a/b", "", true},
		{"/a/b", "/a", true},
		{"/a/b", "/a/b", true},
		{"/a/b", "/a/b/c", false},
		{"/ab", "/a", false},
		{"/a~1b", "/a", false},
		{"", "", true},
		{"", "/a", false},
	}
	for _, tt := range tests {
		p, _ := ParsePointer(tt.p)
		q, _ := ParsePointer(tt.prefix)
		if got := p.HasPrefix(q); got != tt.want {
			t.Errorf("%q.HasPrefix(%q) = %v, want %v", tt.p, tt.prefix, got, tt.want)
		}
	}
}

func TestArrayIndex(t *testing.T) {
	for tok, want := range map[string]int{"0": 0, "7": 7, "10": 10, "123456789": 123456789} {
		if got, ok := arrayIndex(tok); !ok || got != want {
			t.Errorf("arrayIndex(%q) = %d, %v; want %d", tok, got, ok, want)
		}
	}
	for _, tok := range []string{"", "-", "01", "-1", "+1", "1e3", "a", "1234567890"} {
		if _, ok := arrayIndex(tok); ok {
			t.Errorf("arrayIndex(%q) accepted", tok)
		}
	}
}

func TestPointerAppendDoesNotAlias(t *testing.T) {
	base := make(Pointer, 1, 4)
	base[0] = "a"
	x := base.Append("x")
	y := base.Append("y")
	if x.String() != "/a/x" || y.String() != "/a/y" {
		t.Fatalf("Append aliased: %q %q", x, y)
	}
}
