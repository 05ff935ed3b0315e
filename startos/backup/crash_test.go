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
