package dbbench

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// A small run prints every figure in the agreed format.
func TestRunPrintsEveryFigure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out strings.Builder
	cfg := config{mutations: 160, deliveries: 20, subscribers: []int{10, 50}, dumpBytes: 1 << 20, dumps: 3}
	if err := run(ctx, &out, cfg); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	num := `[\d.]+`
	for _, re := range []string{
		`(?m)^db +raw bbolt updates +n=160 +` + num + `/s`,
		`(?m)^db +mutations +1 writer +n=160 +` + num + `/s +ratio=` + num + ` +commits=\d+ `,
		`(?m)^db +mutations 16 writers n=160 +` + num + `/s +ratio=` + num + ` +commits=\d+ `,
		`(?m)^db +delivery +10 subs +p50=` + num + `ms p99=` + num + `ms +fan-out p99=` + num + `ms +mutate p50=` + num + `ms +n=20$`,
		`(?m)^db +delivery +50 subs `,
		`(?m)^db +dump 1\.0 MB +mean=` + num + `ms min=` + num + `ms`,
	} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output lacks %s", re)
		}
	}
}

func TestRunStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out strings.Builder
	if err := Run(ctx, &out); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with a cancelled context: %v", err)
	}
}
