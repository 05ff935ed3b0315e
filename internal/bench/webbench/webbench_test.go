package webbench

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A small run drives the browser through every figure and prints each.
func TestRunPrintsEveryFigure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := run(ctx, &out, config{packages: 5, navigations: 2, revisions: 10}); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	num := `[\d.]+`
	for _, re := range []string{
		`(?m)^web dashboard usable, first after login: +` + num + ` ms`,
		`(?m)^web dashboard usable, cached assets: +p50 +` + num + ` ms +max +` + num + ` ms over 2 navigations`,
		`(?m)^web bytes shipped, first visit: +[1-9]\d* bytes on the wire`,
		`(?m)^web services list, 5 packages, revision: p50 ` + num + ` ms +p99 ` + num + ` ms +max ` + num + ` ms over 10 `,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output lacks %s", re)
		}
	}
}
