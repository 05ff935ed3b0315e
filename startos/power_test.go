package startos

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"

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

// TestPowerStopsServicesBeforeTheCommand: two real packages, b requiring a
// (b's id sorts after a's, so id order would stop a first). The power
// command is a script that records its call and then waits to be released:
// while it runs, both containers have exited, the dependent first, and the
// document shows them stopped with their desired state kept and the box
// marked shutting down.
func TestPowerStopsServicesBeforeTheCommand(t *testing.T) {
	eng := testpkg.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	suffix := strings.TrimPrefix(testpkg.RandomID(), "testpkg-")
	dep := testpkg.Build(t, eng, testpkg.Options{ID: "pwra-" + suffix})
	app := testpkg.Build(t, eng, testpkg.Options{ID: "pwrb-" + suffix, Requires: map[string]string{dep.Manifest.ID: ">=0.1.0"}})

	dir := t.TempDir()
	called, release := filepath.Join(dir, "called"), filepath.Join(dir, "release")
	script := filepath.Join(dir, "poweroff.sh")
	// The script gives up after a minute so a failed test cannot leave it.
	body := "#!/bin/sh\necho \"$@\" > " + called + "\ni=0\nwhile [ ! -e " + release + " ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, Config{DataDir: t.TempDir(), Stderr: io.Discard, ShutdownCommand: []string{script, "poweroff"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	for _, p := range []*testpkg.Package{dep, app} {
		archive := filepath.Join(t.TempDir(), p.Manifest.ID+".s9pk")
		p.WriteArchive(t, archive)
		installArchive(t, ctx, s, archive)
		if _, err := s.StartPackage(ctx, model.PackageIDParams{ID: p.Manifest.ID}); err != nil {
			t.Fatal(err)
		}
		waitDocument(t, ctx, s, p.Manifest.ID+" running", func(d *model.Document) bool {
			return d.Public.PackageData[p.Manifest.ID].StatusInfo.Started != nil
		})
	}

	done := make(chan error, 1)
	go func() {
		_, err := s.Shutdown(ctx, model.PowerParams{})
		done <- err
	}()
	for {
		if _, err := os.Stat(called); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("shutdown returned before running the command: %v", err)
		case <-ctx.Done():
			t.Fatal("the power command never ran")
		case <-time.After(50 * time.Millisecond):
		}
	}

	// The command is running now: everything below held before it began.
	_, doc := s.db.Read()
	if !doc.Public.ServerInfo.StatusInfo.ShuttingDown {
		t.Error("serverInfo.statusInfo.shuttingDown is not set")
	}
	finished := map[string]time.Time{}
	for _, p := range []*testpkg.Package{dep, app} {
		id := p.Manifest.ID
		e := doc.Public.PackageData[id]
		if e.StatusInfo.Started != nil {
			t.Errorf("%s: statusInfo.started = %v while the power command runs", id, e.StatusInfo.Started)
		}
		if e.StatusInfo.Desired.Main != model.DesiredRunning {
			t.Errorf("%s: desired = %q; it must stay running to come back after the restart", id, e.StatusInfo.Desired.Main)
		}
		st, err := eng.InspectContainer(ctx, "startos."+id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Running {
			t.Errorf("%s: container still running while the power command runs", id)
		}
		finished[id] = st.FinishedAt
	}
	if a, b := finished[dep.Manifest.ID], finished[app.Manifest.ID]; !b.Before(a) {
		t.Errorf("the dependent %s exited at %v, not before its dependency %s at %v", app.Manifest.ID, b, dep.Manifest.ID, a)
	}
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Nothing restarted them after the command.
	for _, p := range []*testpkg.Package{dep, app} {
		if st, err := eng.InspectContainer(ctx, "startos."+p.Manifest.ID); err != nil || st.Running {
			t.Errorf("%s: after the command: running=%v err=%v", p.Manifest.ID, st.Running, err)
		}
	}
}

// installArchive sideloads the package file at path through the library.
func installArchive(t *testing.T, ctx context.Context, s *Server, path string) {
	t.Helper()
	up, err := s.Sideload(ctx, model.SideloadParams{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if err := s.ReceiveUpload(ctx, up.Upload, f, st.Size()); err != nil {
		t.Fatal(err)
	}
}

// waitDocument polls the state document until cond holds.
func waitDocument(t *testing.T, ctx context.Context, s *Server, what string, cond func(d *model.Document) bool) {
	t.Helper()
	for {
		if _, d := s.db.Read(); cond(d) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
