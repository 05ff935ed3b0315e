package install

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// chattr sets or clears the immutable flag of path: a real filesystem fault
// that even root cannot override.
func chattr(t *testing.T, flag, path string) {
	t.Helper()
	if out, err := exec.Command("chattr", flag, path).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s %s (this test needs e2fsprogs and an ext4 temp dir): %v: %s", flag, path, err, out)
	}
}

// A rollback whose volume restore fails keeps the snapshot and the journal
// (the next start retries), instead of deleting the only good copy of the
// data. Before the fix the error was shadowed and the snapshot removed.
func TestFailedRollbackKeepsSnapshot(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	state := filepath.Join(e.dataDir, "volumes", id, "main", "state.txt")
	if err := os.WriteFile(state, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	volumes := filepath.Join(e.dataDir, "volumes")
	// The failing migration has appended to state.txt; now make the volumes
	// folder refuse every change, so the restore cannot move anything.
	e.svc.afterRun = func(string) { chattr(t, "+i", volumes) }
	t.Cleanup(func() { exec.Command("chattr", "-i", volumes).Run() })

	err := e.sideload(e.pkg(testpkg.Options{ID: id, Version: "0.2.0", MigrationFrom: "*", MigrationMode: "fail"}))
	if !errors.Is(err, errdefs.ErrUpdateFailed) {
		t.Fatalf("update: got %v, want ErrUpdateFailed", err)
	}
	snap := filepath.Join(e.in.updateDir(id), "volumes", "main", "state.txt")
	if b, err := os.ReadFile(snap); err != nil || string(b) != "precious\n" {
		t.Fatalf("the snapshot is gone after a failed restore: %q %v", b, err)
	}
	if _, err := os.Stat(e.in.journalPath(id)); err != nil {
		t.Fatalf("the journal is gone after a failed restore: %v", err)
	}

	// The filesystem recovers; the next start finishes the rollback.
	e.svc.afterRun = nil
	chattr(t, "-i", volumes)
	e.reopen()
	if b, err := os.ReadFile(state); err != nil || string(b) != "precious\n" {
		t.Fatalf("data after the retried rollback: %q %v", b, err)
	}
	if v := e.installedVersion(id); v != "0.1.0" {
		t.Errorf("version after the retried rollback: %s", v)
	}
	if _, err := os.Stat(e.in.updateDir(id)); !os.IsNotExist(err) {
		t.Errorf("the update folder is left after a successful rollback: %v", err)
	}
}

// A journal that cannot be written whole is an error, never a silent
// success with a truncated journal. Before the fix the Write error was
// shadowed and save returned nil.
func TestJournalWriteFailureIsReported(t *testing.T) {
	dir := t.TempDir()
	jr := &journal{ID: "x", Kind: kindUpdate, OldManifest: json.RawMessage(`{"id":"` + strings.Repeat("x", 4096) + `"}`),
		path: filepath.Join(dir, "journal-x.json")}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	// Files may grow to 1 KiB: the write of the 4 KiB journal fails with
	// EFBIG (the Go runtime ignores SIGXFSZ).
	lim := old
	lim.Cur = 1024
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	err := jr.save()
	if rerr := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); rerr != nil {
		t.Fatal(rerr)
	}
	if !errors.Is(err, errdefs.ErrFilesystem) {
		t.Fatalf("save with a failing write: got %v, want ErrFilesystem", err)
	}
	if _, err := os.Stat(jr.path); !os.IsNotExist(err) {
		t.Errorf("a journal file is in place after a failed save: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
	if err := jr.save(); err != nil {
		t.Fatal(err)
	}
	got, err := e2eRead(jr.path)
	if err != nil || got.OldManifest == nil || got.ID != "x" {
		t.Fatalf("journal read back: %+v %v", got, err)
	}
}

func e2eRead(path string) (*journal, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	j := &journal{}
	return j, json.Unmarshal(b, j)
}

// An update folder without a journal is removed only when it is proven
// redundant; a snapshot that differs from the live volumes is kept under
// recovered/ and the owner told. Before the fix recovery deleted both.
func TestRecoveryKeepsUnprovenSnapshot(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	live := filepath.Join(e.dataDir, "volumes", id)
	os.WriteFile(filepath.Join(live, "main", "state.txt"), []byte("now\n"), 0o644)

	// Identical to the live volumes: redundant, removed.
	same := e.in.updateDir(id)
	os.MkdirAll(same, 0o755)
	if err := copyTree(context.Background(), live, filepath.Join(same, "volumes")); err != nil {
		t.Fatal(err)
	}
	e.reopen()
	if _, err := os.Stat(same); !os.IsNotExist(err) {
		t.Fatalf("a redundant update folder is left: %v", err)
	}

	// Different: kept.
	os.MkdirAll(same, 0o755)
	if err := copyTree(context.Background(), live, filepath.Join(same, "volumes")); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(same, "volumes", "main", "state.txt"), []byte("before the update\n"), 0o644)
	e.reopen()
	if _, err := os.Stat(same); !os.IsNotExist(err) {
		t.Fatalf("the stray update folder is still in tmp (a later update would clear it): %v", err)
	}
	kept, _ := filepath.Glob(filepath.Join(e.dataDir, "recovered", "update-"+id+"-*", "volumes", "main", "state.txt"))
	if len(kept) != 1 {
		t.Fatalf("the snapshot was not kept under recovered/: %v", kept)
	}
	if b, _ := os.ReadFile(kept[0]); string(b) != "before the update\n" {
		t.Errorf("kept snapshot holds %q", b)
	}
	n, ok := e.lastNotification()
	if !ok || n.Title != "Update Snapshot Kept" || n.Level != model.NotificationWarning || !strings.Contains(n.Message, kept[0][:len(kept[0])-len("/volumes/main/state.txt")]) {
		t.Errorf("notification: %+v", n)
	}
}

// engineRefused is what the service manager returns when the engine
// answered but refused to remove the container (overlay2's "device or
// resource busy" after an engine restart).
type engineRefused struct{}

func (engineRefused) Error() string {
	return `the container engine could not remove container startos.x: driver "overlay2" failed to remove root filesystem: device or resource busy`
}
func (engineRefused) EngineLeftover() []string { return []string{"container startos.x"} }

// An uninstall whose container the engine cannot remove still removes the
// package (entry, archive, volumes) and says clearly what was left; the
// service manager has recorded it for its sweeper. Before the fix the
// uninstall failed and the package stayed installed.
func TestUninstallWithEngineLeftover(t *testing.T) {
	e := newEnv(t, nil)
	id := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))
	e.svc.onRelease = func(context.Context, string) error { return engineRefused{} }
	err := e.in.Uninstall(context.Background(), id, false, false)
	if !errors.Is(err, errdefs.ErrDocker) || !strings.Contains(err.Error(), "is uninstalled, but") || !strings.Contains(err.Error(), "device or resource busy") {
		t.Fatalf("uninstall: got %v", err)
	}
	e.assertPristine(id, "0.1.0")
}
