package manifest

import (
	"errors"
	"testing"
)

// FuzzParseManifest feeds the parser arbitrary bytes. Its corpus lives in
// testdata/fuzz/FuzzParseManifest; run `go test -fuzz FuzzParseManifest` to
// grow it. Whatever it accepts must survive the trip through the archived
// form unchanged.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte("id: x\n"))
	f.Add([]byte(`{"id": "x", "version": "1.2.3"}`))
	f.Add([]byte("main: {type: script}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, camel := range []bool{false, true} {
			m, _, err := parse(data, camel)
			if err != nil {
				var merr *Error
				if !errors.As(err, &merr) || len(merr.Problems) == 0 {
					t.Fatalf("error without problems: %v", err)
				}
				continue
			}
			archived, err := m.MarshalArchived()
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			back, _, err := ParseArchived(archived)
			if err != nil {
				t.Fatalf("archived form of an accepted manifest is refused: %v\n%s", err, archived)
			}
			again, err := back.MarshalArchived()
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(archived) {
				t.Fatalf("archived form changes on a second trip:\n%s\n%s", archived, again)
			}
		}
	})
}

func FuzzVersionRange(f *testing.F) {
	for _, s := range []string{"*", "^1.2.3", "1.2.3 - 2.0.0 || (>=3.0.0 <4.0.0)", "1.2.x"} {
		f.Add(s, "1.2.3.4")
	}
	f.Fuzz(func(t *testing.T, rng, ver string) {
		r, err := ParseVersionRange(rng)
		if err != nil {
			return
		}
		back, err := ParseVersionRange(r.Canonical())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", r.Canonical(), rng, err)
		}
		v, err := ParseVersion(ver)
		if err != nil {
			return
		}
		if r.Satisfies(v) != back.Satisfies(v) {
			t.Fatalf("%q and its canonical form %q disagree on %s", rng, r.Canonical(), v)
		}
	})
}
