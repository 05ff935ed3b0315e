package tuibench

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestRunPrintsEveryFigure runs a short bench and checks each figure is
// there and has numbers.
func TestRunPrintsEveryFigure(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, config{packages: 50, renders: 50, frames: 50, logLines: 500}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`memory, 50 packages +heap in use \d+\.\d MiB \(the console's share -?\d+\.\d MiB: document \d+ KB as JSON, 500 log lines`),
		regexp.MustCompile(`services list render, 50 packages +n=50  p50=\S+  p99=\S+  p99/frame=\d+\.\d%`),
		regexp.MustCompile(`apply a revision \(Update \+ View\) +n=50  p50=\S+  p99=\S+`),
		regexp.MustCompile(`decode a revision \(off the UI\) +n=50  p50=\S+`),
	} {
		if !want.MatchString(text) {
			t.Errorf("output lacks %s:\n%s", want, text)
		}
	}
	if strings.Count(text, "\n") != 4 {
		t.Errorf("want 4 lines:\n%s", text)
	}
}

func TestRunStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := run(ctx, &out, config{packages: 50, renders: 10, frames: 10, logLines: 10}); err != context.Canceled {
		t.Fatalf("cancelled run: %v", err)
	}
}

func TestSyntheticDocument(t *testing.T) {
	doc := synthetic(50, epochForTest)
	installing, running := 0, 0
	for _, e := range doc.PackageData {
		switch {
		case e.StateInfo.InstallingInfo != nil:
			installing++
		case e.StatusInfo.Started != nil:
			running++
		}
	}
	if len(doc.PackageData) != 50 || installing != 5 || running != 40 {
		t.Fatalf("%d packages, %d installing, %d running", len(doc.PackageData), installing, running)
	}
	if n := len(manifest("x", "X")); n < 1500 {
		t.Fatalf("manifest is %d bytes; want a realistic size", n)
	}
}

var epochForTest = defaultEpoch
