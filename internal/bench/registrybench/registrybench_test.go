package registrybench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunReportsFigures(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fetch+verify+load a 1,000-package index", "search p99"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
}
