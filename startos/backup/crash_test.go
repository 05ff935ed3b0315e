package backup_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/model"
)

// startd SIGKILLed during a backup: at the next start the service is back
// in its desired state (running), no progress is left, no snapshot of the
// package was reported, and the next backup works.
func TestKillDuringBackup(t *testing.T) {
	b := newBox(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	writeData(t, b.vol("main"), map[string][]byte{"big.bin": randomBytes(64 << 20)})
	if _, err := b.srv.StartPackage(ctx, model.PackageIDParams{ID: b.id}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, b.srv, "the package to run", func(d *model.Document) bool { return d.Public.PackageData[b.id].StatusInfo.Started != nil })
	repo := filepath.Join(t.TempDir(), "repo")
	tid, err := b.srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "disk", URL: repo})
	if err != nil {
		t.Fatal(err)
	}
	b.srv.Close()

	bin := testdaemon.BuildStartd(t)
	p := testdaemon.RunStartd(t, bin, b.dir)
	c, err := rpc.Dial(ctx, "unix://"+p.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(ctx, "backup.create", model.BackupCreateParams{TargetID: tid.ID, Password: "backup password"}, nil); err != nil {
		t.Fatal(err)
	}
	// Kill it once restic is at work: the package is stopped for its backup.
	for {
		var dump model.Dump
		if err := c.Call(ctx, "db.dump", model.DumpParams{Pointer: "/public/packageData/" + b.id + "/statusInfo"}, &dump); err != nil {
			t.Fatal(err)
		}
		var st model.PackageStatusInfo
		raw, _ := json.Marshal(dump.Value)
		json.Unmarshal(raw, &st)
		if st.Desired.Main == model.DesiredBackingUp && st.Started == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the backup never stopped the package")
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.Cmd.Process.Kill()
	p.Cmd.Wait()

	srv, err := startos.Open(context.Background(), startos.Config{DataDir: b.dir, Stderr: io.Discard, PasswordParams: &cheap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	waitDoc(t, srv, "the package to run again", func(d *model.Document) bool {
		e := d.Public.PackageData[b.id]
		return e.StatusInfo.Desired.Main == model.DesiredRunning && e.StatusInfo.Started != nil
	})
	_, d := srv.DB().Read()
	if d.Public.ServerInfo.StatusInfo.BackupProgress != nil || d.Public.ServerInfo.LastBackup != nil {
		t.Errorf("after the crash: progress %v, lastBackup %v", d.Public.ServerInfo.StatusInfo.BackupProgress, d.Public.ServerInfo.LastBackup)
	}
	cmd := exec.Command("restic", "-r", repo, "snapshots", "--json", "--tag", "package="+b.id)
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD=backup password")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var snaps []json.RawMessage
	if err := json.Unmarshal(out, &snaps); err != nil || len(snaps) != 0 {
		t.Fatalf("a killed backup left %d package snapshots (%v)", len(snaps), err)
	}
	b.srv = srv
	b.backUp(t, tid.ID, "backup password")
	if _, err := srv.Uninstall(ctx, model.UninstallParams{ID: b.id}); err != nil {
		t.Fatal(err)
	}
}

// A restore cut short (its journal on disk, a volume half swapped) is
// rolled back when the library next opens: the old volume is back.
func TestInterruptedRestoreRolledBack(t *testing.T) {
	b := newBox(t, false)
	files := map[string][]byte{"a.txt": []byte("before the restore\n")}
	writeData(t, b.vol("main"), files)
	b.srv.Close()
	// What a SIGKILL between the swap and the commit leaves.
	if err := os.Rename(b.vol("main"), b.vol("main")+".pre-restore"); err != nil {
		t.Fatal(err)
	}
	writeData(t, b.vol("main"), map[string][]byte{"a.txt": []byte("half restored")})
	journal := filepath.Join(b.dir, "backup", "restore-"+b.id+".json")
	os.MkdirAll(filepath.Dir(journal), 0o700)
	if err := os.WriteFile(journal, []byte(`{"id":"`+b.id+`","reinstalled":false,"volumes":["main"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := startos.Open(context.Background(), startos.Config{DataDir: b.dir, Stderr: io.Discard, PasswordParams: &cheap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(journal); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the restore journal was not handled")
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkData(t, b.vol("main"), files)
	if _, err := os.Stat(b.vol("main") + ".pre-restore"); !os.IsNotExist(err) {
		t.Errorf("the old volume is still beside the new one: %v", err)
	}
}

// entryOf reads one package's document entry from a running startd.
func entryOf(ctx context.Context, t *testing.T, c *rpc.Client, id string) (model.PackageDataEntry, bool) {
	t.Helper()
	var dump model.Dump
	if err := c.Call(ctx, "db.dump", model.DumpParams{Pointer: "/public/packageData"}, &dump); err != nil {
		t.Fatal(err)
	}
	var all map[string]model.PackageDataEntry
	if err := json.Unmarshal(dump.Value, &all); err != nil {
		t.Fatal(err)
	}
	e, ok := all[id]
	return e, ok
}

// killMidRestore runs package.backup.restore on a real startd and SIGKILLs
// it as soon as killNow sees the restore at work, failing the test when the
// restore ended first (the kill point was missed).
func killMidRestore(ctx context.Context, t *testing.T, p *testdaemon.Process, c *rpc.Client, params model.BackupRestoreParams, killNow func(e model.PackageDataEntry, ok bool) bool) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Call(ctx, "package.backup.restore", params, nil) }()
	for {
		select {
		case err := <-done:
			t.Fatalf("the restore ended (%v) before the test saw it at work", err)
		default:
		}
		if e, ok := entryOf(ctx, t, c, params.IDs[0]); killNow(e, ok) {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the restore never reached the kill point")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Cmd.Process.Kill()
	p.Cmd.Wait()
	<-done
}

// restoreLeftovers lists what a restore leaves on disk only while it runs:
// journals, volumes kept aside, restore folders.
func restoreLeftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"backup/restore-*.json", "volumes/*/*.pre-restore", "tmp/restore-*"} {
		m, _ := filepath.Glob(filepath.Join(dir, pattern))
		out = append(out, m...)
	}
	return out
}

// startd SIGKILLed while the restore procedure of an installed package
// runs: at the next start the package runs again on exactly the data it had
// before the restore (not a half-copied mix), nothing of the restore is left
// behind, and a second restore completes.
func TestKillDuringRestoreOfInstalledPackage(t *testing.T) {
	b := newBox(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	backedUp := map[string][]byte{"a.bin": randomBytes(48 << 20), "state.txt": []byte("backed up\n")}
	backedUpExtra := map[string][]byte{"b.bin": randomBytes(48 << 20)}
	writeData(t, b.vol("main"), backedUp)
	writeData(t, b.vol("extra"), backedUpExtra)
	repo := filepath.Join(t.TempDir(), "repo")
	tid, err := b.srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "disk", URL: repo})
	if err != nil {
		t.Fatal(err)
	}
	b.backUp(t, tid.ID, "backup password")
	current := map[string][]byte{"a.bin": randomBytes(1 << 20), "state.txt": []byte("changed since\n")}
	currentExtra := map[string][]byte{"b.bin": randomBytes(1 << 20)}
	writeData(t, b.vol("main"), current)
	writeData(t, b.vol("extra"), currentExtra)
	if _, err := b.srv.StartPackage(ctx, model.PackageIDParams{ID: b.id}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, b.srv, "the package to run", func(d *model.Document) bool { return d.Public.PackageData[b.id].StatusInfo.Started != nil })
	b.srv.Close()

	bin := testdaemon.BuildStartd(t)
	p := testdaemon.RunStartd(t, bin, b.dir)
	c, err := rpc.Dial(ctx, "unix://"+p.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	params := model.BackupRestoreParams{TargetID: tid.ID, Password: "backup password", IDs: []string{b.id}}
	// Killed while the backup.restore procedure's container runs (it goes
	// on writing after startd is gone).
	eng := testpkg.Engine(t)
	killMidRestore(ctx, t, p, c, params, func(e model.PackageDataEntry, _ bool) bool {
		if e.StatusInfo.Desired.Main != model.DesiredBackingUp {
			return false
		}
		procs, err := eng.ListContainers(ctx, "dev.startos.procedure=true")
		if err != nil {
			t.Fatal(err)
		}
		for _, pc := range procs {
			if pc.Labels["dev.startos.package"] == b.id && pc.Running {
				return true
			}
		}
		return false
	})
	c.Close()

	p = testdaemon.RunStartd(t, bin, b.dir)
	c, err = rpc.Dial(ctx, "unix://"+p.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		e, _ := entryOf(ctx, t, c, b.id)
		if e.StatusInfo.Desired.Main == model.DesiredRunning && e.StatusInfo.Started != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the package is not running again after the crash: %+v", e.StatusInfo)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var dump model.Dump
	if err := c.Call(ctx, "db.dump", model.DumpParams{Pointer: "/public/serverInfo/statusInfo"}, &dump); err != nil {
		t.Fatal(err)
	}
	var status model.ServerStatusInfo
	if err := json.Unmarshal(dump.Value, &status); err != nil {
		t.Fatal(err)
	}
	if progress := status.BackupProgress; len(progress) != 0 {
		t.Errorf("progress left after the crash: %v", progress)
	}
	checkData(t, b.vol("main"), current)
	checkData(t, b.vol("extra"), currentExtra)
	if left := restoreLeftovers(t, b.dir); len(left) != 0 {
		t.Errorf("the killed restore left %v", left)
	}

	if err := c.Call(ctx, "package.backup.restore", params, nil); err != nil {
		t.Fatal(err)
	}
	checkData(t, b.vol("main"), backedUp)
	checkData(t, b.vol("extra"), backedUpExtra)
	if err := p.Stop(t); err != nil {
		t.Errorf("startd stop: %v", err)
	}
}

// startd SIGKILLed while a restore reinstalls a package that was not
// installed: at the next start the package is absent again (not half
// installed, no volumes, no progress), and a second restore brings it back
// with its data.
func TestKillDuringRestoreReinstall(t *testing.T) {
	b := newBox(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	backedUp := map[string][]byte{"a.bin": randomBytes(8 << 20), "state.txt": []byte("backed up\n")}
	writeData(t, b.vol("main"), backedUp)
	repo := filepath.Join(t.TempDir(), "repo")
	tid, err := b.srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "disk", URL: repo})
	if err != nil {
		t.Fatal(err)
	}
	b.backUp(t, tid.ID, "backup password")
	if _, err := b.srv.Uninstall(ctx, model.UninstallParams{ID: b.id}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, b.srv, "the uninstall", func(d *model.Document) bool { _, ok := d.Public.PackageData[b.id]; return !ok })
	b.srv.Close()

	bin := testdaemon.BuildStartd(t)
	p := testdaemon.RunStartd(t, bin, b.dir)
	c, err := rpc.Dial(ctx, "unix://"+p.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	params := model.BackupRestoreParams{TargetID: tid.ID, Password: "backup password", IDs: []string{b.id}}
	killMidRestore(ctx, t, p, c, params, func(_ model.PackageDataEntry, ok bool) bool { return ok })
	c.Close()

	p = testdaemon.RunStartd(t, bin, b.dir)
	c, err = rpc.Dial(ctx, "unix://"+p.Sock, rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		e, ok := entryOf(ctx, t, c, b.id)
		if !ok && len(restoreLeftovers(t, b.dir)) == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the half-restored package was not rolled back: present %t (%s), left on disk %v", ok, e.StateInfo.State, restoreLeftovers(t, b.dir))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(b.dir, "volumes", b.id)); !os.IsNotExist(err) {
		t.Errorf("the rolled-back package's volumes are still there: %v", err)
	}

	if err := c.Call(ctx, "package.backup.restore", params, nil); err != nil {
		t.Fatal(err)
	}
	checkData(t, b.vol("main"), backedUp)
	if e, ok := entryOf(ctx, t, c, b.id); !ok || e.StateInfo.State != model.PackageInstalled {
		t.Errorf("after the second restore: present %t, state %q", ok, e.StateInfo.State)
	}
	if err := c.Call(ctx, "package.uninstall", model.UninstallParams{ID: b.id}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(t); err != nil {
		t.Errorf("startd stop: %v", err)
	}
}
