package manifest

import (
	"encoding/json"
	"testing"
)

func TestParseVersion(t *testing.T) {
	cases := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"1.2.3", "1.2.3", false},
		{"0.3.5.1", "0.3.5.1", false},
		{"1.2.3.0", "1.2.3", false},
		{"10.20.30.40", "10.20.30.40", false},
		{"1.2", "", true},
		{"1.2.3.4.5", "", true},
		{"1.2.x", "", true},
		{"v1.2.3", "", true},
		{"1..3", "", true},
		{"-1.2.3", "", true},
		{"1.2.3-beta", "", true},
		{"99999999999999999999.0.0", "", true},
		{"", "", true},
	}
	for _, c := range cases {
		v, err := ParseVersion(c.in)
		if c.wantErr {
			if err == nil {
				t.Errorf("%q: accepted as %s", c.in, v)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if v.String() != c.want {
			t.Errorf("%q: printed %q, want %q", c.in, v, c.want)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	ordered := []string{"0.0.0", "0.0.1", "0.1.0", "0.3.5", "0.3.5.1", "0.3.5.2", "0.3.6", "1.0.0", "1.0.0.1", "2.0.0"}
	for i, a := range ordered {
		for j, b := range ordered {
			got := MustParseVersion(a).Compare(MustParseVersion(b))
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
	if MustParseVersion("1.2.3").Compare(MustParseVersion("1.2.3.0")) != 0 {
		t.Error("1.2.3 and 1.2.3.0 differ")
	}
	var zero Version
	if !zero.IsZero() || zero.String() != "" {
		t.Error("zero version is not unset")
	}
}

func TestVersionJSON(t *testing.T) {
	v := MustParseVersion("0.3.5.1")
	b, err := json.Marshal(v)
	if err != nil || string(b) != `"0.3.5.1"` {
		t.Fatalf("marshal: %s %v", b, err)
	}
	var back Version
	if err := json.Unmarshal(b, &back); err != nil || back.Compare(v) != 0 || back.IsZero() {
		t.Fatalf("unmarshal: %v %v", back, err)
	}
	if err := json.Unmarshal([]byte(`"1.2"`), &back); err == nil {
		t.Error("unmarshal accepted 1.2")
	}
}

func TestVersionRanges(t *testing.T) {
	cases := []struct {
		rng       string
		canonical string
		in, out   []string
	}{
		{"*", "*", []string{"0.0.0", "99.0.0.1"}, nil},
		{"!", "!", nil, []string{"0.0.0", "1.0.0"}},
		{"1.2.3", "=1.2.3", []string{"1.2.3", "1.2.3.0"}, []string{"1.2.3.1", "1.2.4"}},
		{"=1.2.3.4", "=1.2.3.4", []string{"1.2.3.4"}, []string{"1.2.3"}},
		{"!=1.2.3", "!=1.2.3", []string{"1.2.4", "1.2.3.1"}, []string{"1.2.3"}},
		{">1.2.3", ">1.2.3", []string{"1.2.3.1", "2.0.0"}, []string{"1.2.3", "1.0.0"}},
		{">=1.2.3", ">=1.2.3", []string{"1.2.3", "1.3.0"}, []string{"1.2.2.9"}},
		{"<1.2.3", "<1.2.3", []string{"1.2.2.9", "0.0.1"}, []string{"1.2.3"}},
		{"<=1.2.3", "<=1.2.3", []string{"1.2.3", "1.0.0"}, []string{"1.2.3.1"}},
		{"^2.14.1.1", ">=2.14.1.1 <3.0.0", []string{"2.14.1.1", "2.99.0"}, []string{"2.14.1", "3.0.0"}},
		{"^0.20.1", ">=0.20.1 <0.21.0", []string{"0.20.1.1", "0.20.9"}, []string{"0.21.0", "0.20.0"}},
		{"^0.0.3", ">=0.0.3 <0.0.4", []string{"0.0.3", "0.0.3.7"}, []string{"0.0.4"}},
		{"^0.0.0", "=0.0.0", []string{"0.0.0"}, []string{"0.0.1"}},
		{"~1.2.3", ">=1.2.3 <1.3.0", []string{"1.2.3", "1.2.9"}, []string{"1.3.0", "1.2.2"}},
		{"~1.2.3.4", ">=1.2.3.4 <1.2.4", []string{"1.2.3.4", "1.2.3.9"}, []string{"1.2.4", "1.2.3.3"}},
		{"~1.2", ">=1.2.0 <1.3.0", []string{"1.2.0", "1.2.5"}, []string{"1.3.0"}},
		{"~1", ">=1.0.0 <2.0.0", []string{"1.9.9"}, []string{"2.0.0"}},
		{"1.2.x", ">=1.2.0 <1.3.0", []string{"1.2.0", "1.2.99"}, []string{"1.3.0"}},
		{"1.2.3.x", ">=1.2.3 <1.2.4", []string{"1.2.3.5"}, []string{"1.2.4"}},
		{"1.*", ">=1.0.0 <2.0.0", []string{"1.5.0"}, []string{"2.0.0"}},
		{"1.2.3 - 2.3.4", ">=1.2.3 <=2.3.4", []string{"1.2.3", "2.3.4"}, []string{"2.3.4.1", "1.2.2"}},
		{">=2.14.1.1 <3.0.0", ">=2.14.1.1 <3.0.0", []string{"2.14.1.1"}, []string{"3.0.0"}},
		{">=1.0.0 && <2.0.0", ">=1.0.0 <2.0.0", []string{"1.5.0"}, []string{"2.0.0"}},
		{"<1.0.0 || >=2.0.0", "<1.0.0 || >=2.0.0", []string{"0.9.0", "2.0.0"}, []string{"1.0.0", "1.9.9"}},
		{">=1.0.0 (<1.5.0 || >1.8.0)", ">=1.0.0 (<1.5.0 || >1.8.0)", []string{"1.4.0", "1.9.0"}, []string{"1.6.0", "0.9.0"}},
		{" =2.3.4  1.2.3.4 - 2.3.4.5 ", "=2.3.4 >=1.2.3.4 <=2.3.4.5", []string{"2.3.4"}, []string{"2.3.5"}},
	}
	for _, c := range cases {
		r, err := ParseVersionRange(c.rng)
		if err != nil {
			t.Errorf("%q: %v", c.rng, err)
			continue
		}
		if got := r.Canonical(); got != c.canonical {
			t.Errorf("%q: canonical %q, want %q", c.rng, got, c.canonical)
		}
		for _, v := range c.in {
			if !r.Satisfies(MustParseVersion(v)) {
				t.Errorf("%q does not contain %s", c.rng, v)
			}
		}
		for _, v := range c.out {
			if r.Satisfies(MustParseVersion(v)) {
				t.Errorf("%q contains %s", c.rng, v)
			}
		}
	}
}

func TestBadVersionRanges(t *testing.T) {
	for _, s := range []string{
		"", "   ", ">=", ">=1.2", "1.2", "^1.2.x", "~1.2.x", ">1.2.x", "(1.2.3", "1.2.3)", "1.2.3 ||", "|| 1.2.3",
		"1.2.3-2.0.0", "1.2.3 -", "1.2.3.4.5", "a.b.c", ">=1.2.3 && ", "1.2.3.4.x", "((((((((((((((((((((((((((((((((((1.2.3))))))))))))))))))))))))))))))))))",
	} {
		if r, err := ParseVersionRange(s); err == nil {
			t.Errorf("%q: accepted as %s", s, r.Canonical())
		}
	}
	var zero VersionRange
	if zero.Satisfies(MustParseVersion("1.0.0")) || !zero.IsZero() {
		t.Error("zero range matches")
	}
}
