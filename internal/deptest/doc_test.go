package deptest

import (
	"os"
	"strings"
	"testing"
)

// TestArchitectureDocArrows checks the arrows docs/architecture.md states:
// each line "PKG !-> BANNED..." in its deptest block is run through go list,
// so the map a person reads is the map the build has.
func TestArchitectureDocArrows(t *testing.T) {
	b, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "<!-- deptest:begin -->")
	end := strings.Index(doc, "<!-- deptest:end -->")
	if start < 0 || end < start {
		t.Fatal("docs/architecture.md has no <!-- deptest:begin --> ... <!-- deptest:end --> block")
	}
	var n int
	for _, line := range strings.Split(doc[start:end], "\n") {
		pkg, banned, ok := strings.Cut(line, "!->")
		if !ok {
			continue
		}
		pkg = strings.TrimSpace(pkg)
		bans := strings.Fields(banned)
		if pkg == "" || len(bans) == 0 {
			t.Fatalf("docs/architecture.md: malformed arrow %q", line)
		}
		n++
		t.Run(pkg, func(t *testing.T) { checkBanned(t, pkg, bans, "docs/architecture.md says it must not") })
	}
	if n == 0 {
		t.Fatal("docs/architecture.md's deptest block states no arrows")
	}
}
