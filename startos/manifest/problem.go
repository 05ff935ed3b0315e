package manifest

import (
	"fmt"
	"sort"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
)

// Problem is one thing wrong with a manifest, at a key path such as
// "health-checks.web.image". Paths use the kebab-case keys of manifest.yaml.
type Problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Error lists every problem found in a manifest. It wraps
// errdefs.ErrValidateS9pk.
type Error struct {
	Problems []Problem
}

func (e *Error) Error() string {
	switch len(e.Problems) {
	case 0:
		return "invalid manifest"
	case 1:
		return "invalid manifest: " + e.Problems[0].String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid manifest: %d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return errdefs.ErrValidateS9pk }

// sortProblems orders problems by path, keeping the order of problems at one
// path, so output is stable whatever order maps were walked in.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Path < ps[j].Path })
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}
