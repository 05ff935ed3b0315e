package footbench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// A short run prints both figures with their goals.
func TestRunPrintsFigures(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), &out, config{logins: 2, idle: 100 * time.Millisecond, stops: 1}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"startd RSS after setup + 2 logins", "SIGTERM to exit, idle"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
