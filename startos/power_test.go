package startos

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// recorder writes a script that appends its arguments to a file, and
// returns the script and the file.
func recorder(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	script := filepath.Join(dir, "power.sh")
	body := "#!/bin/sh\necho \"$@\" >> " + log + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script, log
}

func TestPowerRunsTheConfiguredCommand(t *testing.T) {
	script, log := recorder(t)
	for _, tc := range []struct {
		name string
		call func(*Server, context.Context, model.PowerParams) (model.Empty, error)
		want string
	}{
		{"restart", (*Server).Restart, "reboot now"},
		{"shutdown", (*Server).Shutdown, "poweroff now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(log)
			s, err := Open(context.Background(), Config{DataDir: t.TempDir(), Stderr: io.Discard,
				RestartCommand: []string{script, "reboot", "now"}, ShutdownCommand: []string{script, "poweroff", "now"}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A package mid-install refuses the command unless forced.
			if _, err := s.db.Mutate(context.Background(), func(d *model.Document) error {
				d.Public.PackageData["app"] = model.PackageDataEntry{StateInfo: model.StateInfo{State: model.PackageInstalling}}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := tc.call(s, context.Background(), model.PowerParams{}); !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "app is installing") {
				t.Fatalf("busy box: err = %v", err)
			}
			// So does a backup under way.
			if _, err := s.db.Mutate(context.Background(), func(d *model.Document) error {
				delete(d.Public.PackageData, "app")
				d.Public.ServerInfo.StatusInfo.BackupProgress = map[string]model.BackupProgress{"app": {}}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := tc.call(s, context.Background(), model.PowerParams{}); !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "a backup is running") {
				t.Fatalf("backup running: err = %v", err)
			}
			if _, err := os.Stat(log); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("command ran although refused: %v", err)
			}
			if _, err := tc.call(s, context.Background(), model.PowerParams{Force: true}); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(log)
			if err != nil || strings.TrimSpace(string(b)) != tc.want {
				t.Fatalf("recorded %q, %v; want %q", b, err, tc.want)
			}
			if _, err := tc.call(s, context.Background(), model.PowerParams{Force: true}); !errors.Is(err, errdefs.ErrDuplicate) {
				t.Fatalf("second call: %v", err)
			}
		})
	}
}

func TestPowerCommandFailureIsReported(t *testing.T) {
	s, err := Open(context.Background(), Config{DataDir: t.TempDir(), Stderr: io.Discard,
		ShutdownCommand: []string{filepath.Join(t.TempDir(), "absent")}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Shutdown(context.Background(), model.PowerParams{}); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Fatalf("err = %v", err)
	}
}
