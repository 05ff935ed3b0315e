package manifest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Parse reads a manifest as a developer writes it (manifest.yaml or
// manifest.json with StartOS 0.3 kebab-case keys), then validates it. The error
// is an *Error listing every problem; warnings (unknown keys, ignored features)
// come back even when the manifest is valid.
func Parse(data []byte) (*Manifest, []Problem, error) {
	return parse(data, false)
}

// ParseArchived reads manifest.json as stored in an archive (camelCase keys),
// then validates it like Parse.
func ParseArchived(data []byte) (*Manifest, []Problem, error) {
	return parse(data, true)
}

func parse(data []byte, camel bool) (*Manifest, []Problem, error) {
	root, err := parseDocument(data)
	if err != nil {
		return nil, nil, &Error{Problems: []Problem{{Message: err.Error()}}}
	}
	if root.kind != mapNode {
		return nil, nil, &Error{Problems: []Problem{{Message: fmt.Sprintf("expected a mapping of manifest keys, found %s", root.describe())}}}
	}
	d := &decoder{camel: camel}
	m := new(Manifest)
	d.decodeStruct(root, reflect.ValueOf(m).Elem(), "", nil)
	problems := append(d.problems, related(d.problems, m.check())...)
	warnings := append(d.warnings, m.warnings()...)
	sortProblems(problems)
	sortProblems(warnings)
	if len(problems) > 0 {
		return nil, warnings, &Error{Problems: dedupe(problems)}
	}
	return m, warnings, nil
}

// related drops the validator's problems about a value the decoder already
// complained of ("main: required" after "main.type: script ..."), so each
// mistake is reported once.
func related(decoded, checked []Problem) []Problem {
	var out []Problem
	for _, c := range checked {
		dup := false
		for _, d := range decoded {
			if within(c.Path, d.Path) || within(d.Path, c.Path) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out
}

// within reports whether path p is at or below parent.
func within(p, parent string) bool {
	if parent == "" || p == parent {
		return p == parent
	}
	return strings.HasPrefix(p, parent) && (p[len(parent)] == '.' || p[len(parent)] == '[')
}

// dedupe drops a problem repeated at the same path, which happens when the
// decoder and the validator both notice one missing value.
func dedupe(ps []Problem) []Problem {
	out := ps[:0]
	seen := map[Problem]bool{}
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// Validate checks a manifest built in code or read some other way. It marks
// compat procedures Native, as Parse does.
func (m *Manifest) Validate() error {
	problems := m.check()
	if len(problems) == 0 {
		return nil
	}
	sortProblems(problems)
	return &Error{Problems: dedupe(problems)}
}

// Clone returns a deep copy, through the archived JSON form.
func (m *Manifest) Clone() (*Manifest, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	root, err := parseJSON(b)
	if err != nil {
		return nil, err
	}
	d := &decoder{camel: true}
	c := new(Manifest)
	d.decodeStruct(root, reflect.ValueOf(c).Elem(), "", nil)
	if len(d.problems) > 0 {
		return nil, &Error{Problems: d.problems}
	}
	return c, nil
}
