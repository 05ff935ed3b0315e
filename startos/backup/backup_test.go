package backup_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	xssh "golang.org/x/crypto/ssh"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

var cheap = auth.Params{Memory: 1024, Time: 1, Threads: 1}

type box struct {
	srv *startos.Server
	dir string
	id  string
}

// newBox opens a library on a fresh data dir and installs a test package
// (the compat form, or with procedure the docker backup procedures and two
// volumes) with data in its volumes.
func newBox(t *testing.T, procedure bool) *box {
	t.Helper()
	if _, err := exec.LookPath("restic"); err != nil {
		t.Fatal("restic is required: apt-get install restic (just test installs it)")
	}
	eng := testpkg.Engine(t)
	dir := t.TempDir()
	// Built first, so the server closes before testpkg's sweep (see
	// TestScheduleAndRetention).
	pkg := testpkg.Build(t, eng, testpkg.Options{BackupProcedure: procedure})
	srv, err := startos.Open(context.Background(), startos.Config{DataDir: dir, Stderr: io.Discard, PasswordParams: &cheap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	archive := filepath.Join(t.TempDir(), "pkg.s9pk")
	pkg.WriteArchive(t, archive)
	b := &box{srv: srv, dir: dir, id: pkg.Manifest.ID}
	b.install(t, archive)
	return b
}

func (b *box) install(t *testing.T, archive string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	up, err := b.srv.Sideload(ctx, model.SideloadParams{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	if err := b.srv.ReceiveUpload(ctx, up.Upload, f, st.Size()); err != nil {
		t.Fatal(err)
	}
}

func (b *box) vol(name string) string { return filepath.Join(b.dir, "volumes", b.id, name) }

func writeData(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkData(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes differ from the %d backed up", name, len(got), len(want))
		}
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// waitDoc polls the state document until cond holds (durable state).
func waitDoc(t *testing.T, srv *startos.Server, what string, cond func(d *model.Document) bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		if _, d := srv.DB().Read(); cond(d) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// backUp runs backup.create and waits for the box's lastBackup to move.
func (b *box) backUp(t *testing.T, target, password string) {
	t.Helper()
	_, d := b.srv.DB().Read()
	before := d.Public.ServerInfo.LastBackup
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := b.srv.CreateBackup(ctx, model.BackupCreateParams{TargetID: target, Password: password}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, b.srv, "the backup to end", func(d *model.Document) bool {
		return d.Public.ServerInfo.StatusInfo.BackupProgress == nil
	})
	_, d = b.srv.DB().Read()
	if d.Public.ServerInfo.LastBackup == nil || (before != nil && !d.Public.ServerInfo.LastBackup.After(*before)) {
		n, _ := b.srv.Notifications(ctx, model.NotificationListParams{})
		t.Fatalf("lastBackup did not move; notifications: %+v", n)
	}
	if d.Public.PackageData[b.id].LastBackup == nil {
		t.Fatal("the package's lastBackup is not set")
	}
}

func TestBackupRestoreLocalCompatForm(t *testing.T) {
	b := newBox(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	files := map[string][]byte{"a.txt": []byte("hello\n"), "sub/blob.bin": randomBytes(300 << 10)}
	writeData(t, b.vol("main"), files)
	if _, err := b.srv.StartPackage(ctx, model.PackageIDParams{ID: b.id}); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	tid, err := b.srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "disk", URL: repo})
	if err != nil {
		t.Fatal(err)
	}
	b.backUp(t, tid.ID, "correct horse")

	// The service is back in its desired state.
	_, d := b.srv.DB().Read()
	if got := d.Public.PackageData[b.id].StatusInfo.Desired.Main; got != model.DesiredRunning {
		t.Errorf("desired after backup = %q, want running", got)
	}

	// Wrong password: error 7, nothing changed. (What backups write is
	// compared, not the revision: the service's actor is still bringing the
	// package back up.)
	backupState := func() string {
		_, d := b.srv.DB().Read()
		j, _ := json.Marshal([]any{d.Private.BackupTargets, d.Public.ServerInfo.LastBackup, d.Public.ServerInfo.StatusInfo.BackupProgress,
			d.Private.Notifications, d.Public.PackageData[b.id].LastBackup, d.Public.PackageData[b.id].StatusInfo.Desired})
		return string(j)
	}
	before := backupState()
	_, err = b.srv.CreateBackup(ctx, model.BackupCreateParams{TargetID: tid.ID, Password: "wrong"})
	if !errors.Is(err, errdefs.ErrIncorrectPassword) {
		t.Fatalf("wrong password: %v, want incorrect password", err)
	}
	if _, err := b.srv.BackupTargetInfo(ctx, model.BackupTargetPasswordParams{TargetID: tid.ID, Password: "wrong"}); !errors.Is(err, errdefs.ErrIncorrectPassword) {
		t.Fatalf("info with wrong password: %v", err)
	}
	if after := backupState(); after != before {
		t.Errorf("a wrong password changed the document:\n%s\n->\n%s", before, after)
	}

	info, err := b.srv.BackupTargetInfo(ctx, model.BackupTargetPasswordParams{TargetID: tid.ID, Password: "correct horse"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range info.Snapshots {
		kinds = append(kinds, s.Kind+":"+s.PackageID)
	}
	if len(info.Snapshots) != 2 {
		t.Fatalf("snapshots = %v, want the package and the box", kinds)
	}

	// Change the data, restore, compare byte for byte.
	writeData(t, b.vol("main"), map[string][]byte{"a.txt": []byte("changed"), "new.txt": []byte("x")})
	if _, err := b.srv.RestoreBackup(ctx, model.BackupRestoreParams{TargetID: tid.ID, Password: "correct horse", IDs: []string{b.id}}); err != nil {
		t.Fatal(err)
	}
	checkData(t, b.vol("main"), files)
	if _, err := os.Stat(filepath.Join(b.vol("main"), "new.txt")); err == nil {
		t.Error("a file made after the backup survived the restore")
	}
	_, d = b.srv.DB().Read()
	if got := d.Public.PackageData[b.id].StatusInfo.Desired.Main; got != model.DesiredRunning {
		t.Errorf("desired after restore = %q, want running", got)
	}
	// A package this target holds no backup of: not found, by name.
	_, err = b.srv.RestoreBackup(ctx, model.BackupRestoreParams{TargetID: tid.ID, Password: "correct horse", IDs: []string{"never-backed-up"}})
	if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), `no backup of package "never-backed-up"`) {
		t.Errorf("restore of a package never backed up: %v", err)
	}
	// A run id picks that run's snapshot.
	runs, err := b.srv.BackupTargetInfo(ctx, model.BackupTargetPasswordParams{TargetID: tid.ID, Password: "correct horse"})
	if err != nil || len(runs.Snapshots) == 0 {
		t.Fatalf("target info: %+v %v", runs, err)
	}
	if _, err := b.srv.RestoreBackup(ctx, model.BackupRestoreParams{TargetID: tid.ID, Password: "correct horse", IDs: []string{b.id}, Snapshot: runs.Snapshots[0].Run}); err != nil {
		t.Errorf("restore of run %s: %v", runs.Snapshots[0].Run, err)
	}
	checkData(t, b.vol("main"), files)

	// restic alone reads the backup.
	out := t.TempDir()
	cmd := exec.Command("restic", "-r", repo, "restore", "latest", "--tag", "package="+b.id, "--target", out)
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD=correct horse")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("restic restore alone: %v\n%s", err, o)
	}
	checkData(t, filepath.Join(out, "volumes", b.id, "main"), files)
	cmd = exec.Command("restic", "-r", repo, "snapshots", "--json")
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD=correct horse")
	o, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var snaps []json.RawMessage
	if err := json.Unmarshal(o, &snaps); err != nil || len(snaps) != 2 {
		t.Fatalf("restic snapshots alone: %d snapshots, %v", len(snaps), err)
	}
}

func TestBackupRestoreProcedureOverSFTP(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the SFTP test runs sshd, which needs root (just test runs as root in CI)")
	}
	b := newBox(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	mainFiles := map[string][]byte{"state.txt": []byte("main volume\n")}
	extraFiles := map[string][]byte{"deep/x.bin": randomBytes(200 << 10)}
	writeData(t, b.vol("main"), mainFiles)
	writeData(t, b.vol("extra"), extraFiles)

	sshd := startSSHD(t)
	repoDir := filepath.Join(t.TempDir(), "sftp-repo")
	tid, err := b.srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "sftp", URL: "sftp:root@127.0.0.1:" + repoDir,
		Credentials: map[string]string{"sshPrivateKey": sshd.userKey, "sshPort": fmt.Sprint(sshd.port), "sshKnownHosts": sshd.knownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	b.backUp(t, tid.ID, "sftp-password")
	if _, err := os.Stat(filepath.Join(repoDir, "config")); err != nil {
		t.Fatalf("no repository on the SFTP side: %v", err)
	}

	writeData(t, b.vol("main"), map[string][]byte{"state.txt": []byte("changed")})
	writeData(t, b.vol("extra"), map[string][]byte{"deep/x.bin": []byte("changed")})
	if _, err := b.srv.RestoreBackup(ctx, model.BackupRestoreParams{TargetID: tid.ID, Password: "sftp-password", IDs: []string{b.id}}); err != nil {
		t.Fatal(err)
	}
	checkData(t, b.vol("main"), mainFiles)
	checkData(t, b.vol("extra"), extraFiles)

	// Uninstalled, then restored: reinstalled from the backed-up archive.
	if _, err := b.srv.Uninstall(ctx, model.UninstallParams{ID: b.id}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, b.srv, "the uninstall", func(d *model.Document) bool { _, ok := d.Public.PackageData[b.id]; return !ok })
	if _, err := b.srv.RestoreBackup(ctx, model.BackupRestoreParams{TargetID: tid.ID, Password: "sftp-password", IDs: []string{b.id}}); err != nil {
		t.Fatal(err)
	}
	checkData(t, b.vol("main"), mainFiles)
	checkData(t, b.vol("extra"), extraFiles)
}

func TestUnreachableTarget(t *testing.T) {
	b := newBox(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	tid, err := b.srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "gone", URL: "sftp:root@127.0.0.1:/nowhere",
		Credentials: map[string]string{"sshPort": fmt.Sprint(port)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.srv.CreateBackup(ctx, model.BackupCreateParams{TargetID: tid.ID, Password: "sftp-password"})
	if err == nil || !strings.Contains(err.Error(), "restic") {
		t.Fatalf("backup to an unreachable target: %v, want restic's own error", err)
	}
	_, d := b.srv.DB().Read()
	if d.Public.ServerInfo.StatusInfo.BackupProgress != nil || d.Public.ServerInfo.LastBackup != nil {
		t.Error("a failed start left progress or a last backup")
	}
}

func TestBadTargets(t *testing.T) {
	b := newBox(t, false)
	ctx := context.Background()
	for _, tc := range []struct{ name, url string }{
		{"relative", "repo"},
		{"dotdot", "/tmp/../etc/x"},
		{"data db", filepath.Join(b.dir, "db", "x")},
		{"volumes", filepath.Join(b.dir, "volumes")},
		{"flag", "-o"},
		{"sftp flag user", "sftp:-oProxyCommand=x@host:/p"},
		{"sftp flag host", "sftp:root@-oProxyCommand:/p"},
		{"unknown scheme", "ftp://host/p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "x", URL: tc.url})
			if !errors.Is(err, errdefs.ErrInvalidRequest) {
				t.Fatalf("%q: %v, want invalid request", tc.url, err)
			}
		})
	}
	if _, err := b.srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "x", URL: "/mnt/disk", Credentials: map[string]string{"sshPort": "22"}}); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Fatalf("ssh credential on a local target: %v", err)
	}
	if _, err := b.srv.CreateBackup(ctx, model.BackupCreateParams{TargetID: "nope", Password: "x"}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("unknown target: %v", err)
	}
	tid, _ := b.srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "d", URL: filepath.Join(t.TempDir(), "r")})
	if _, err := b.srv.CreateBackup(ctx, model.BackupCreateParams{TargetID: tid.ID, Password: "x", PackageIDs: []string{"not-installed"}}); !errors.Is(err, errdefs.ErrNotFound) {
		t.Fatalf("package not installed: %v", err)
	}
}

type sshServer struct {
	port       int
	userKey    string
	knownHosts string
}

// startSSHD runs Debian's sshd on a random loopback port with throwaway
// keys; it is stopped when the test ends.
func startSSHD(t *testing.T) *sshServer {
	t.Helper()
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Fatal("sshd is required: apt-get install openssh-server (just test installs it)")
	}
	dir := t.TempDir()
	keygen := func(name string) {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, name)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	keygen("host")
	keygen("user")
	pub, _ := os.ReadFile(filepath.Join(dir, "user.pub"))
	os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation folder
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile none
Subsystem sftp internal-sftp
`, port, filepath.Join(dir, "host"), filepath.Join(dir, "authorized_keys"))
	cfgPath := filepath.Join(dir, "sshd_config")
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	cmd := exec.Command("/usr/sbin/sshd", "-D", "-e", "-f", cfgPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen: %s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	hostPub, _ := os.ReadFile(filepath.Join(dir, "host.pub"))
	fields := strings.Fields(string(hostPub))
	key, _ := os.ReadFile(filepath.Join(dir, "user"))
	return &sshServer{port: port, userKey: string(key),
		knownHosts: fmt.Sprintf("[127.0.0.1]:%d %s %s", port, fields[0], fields[1])}
}

// A fresh box becomes the backed-up one through setup.execute: owner
// password, name, its package reinstalled with its data and running.
func TestWholeBoxRecoveryThroughSetup(t *testing.T) {
	a := newBox(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := a.srv.Setup(ctx, model.SetupParams{Password: "owner password 1", Name: "Box A"}); err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := xssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	keyLine := strings.TrimSpace(string(xssh.MarshalAuthorizedKey(sshPub))) + " owner@laptop"
	if _, err := a.srv.SSHAdd(ctx, model.SSHAddParams{Key: keyLine}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"a.txt": []byte("from box A\n"), "b.bin": randomBytes(64 << 10)}
	writeData(t, a.vol("main"), files)
	if _, err := a.srv.StartPackage(ctx, model.PackageIDParams{ID: a.id}); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(t.TempDir(), "repo")
	tid, err := a.srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "disk", URL: repo})
	if err != nil {
		t.Fatal(err)
	}
	a.backUp(t, tid.ID, "backup password")
	// Box A goes away (its package leaves the engine to box B).
	if _, err := a.srv.Uninstall(ctx, model.UninstallParams{ID: a.id}); err != nil {
		t.Fatal(err)
	}
	waitDoc(t, a.srv, "the uninstall", func(d *model.Document) bool { _, ok := d.Public.PackageData[a.id]; return !ok })
	a.srv.Close()

	dirB := t.TempDir()
	authorizedB := filepath.Join(dirB, "ssh", "authorized_keys")
	srvB, err := startos.Open(context.Background(), startos.Config{DataDir: dirB, Stderr: io.Discard, PasswordParams: &cheap, AuthorizedKeys: authorizedB})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srvB.Close() })
	if _, err := srvB.Setup(ctx, model.SetupParams{RecoverySource: &model.RecoverySource{Type: "backup", Password: "wrong password",
		Target: model.BackupTargetAddParams{URL: repo}}}); !errors.Is(err, errdefs.ErrIncorrectPassword) {
		t.Fatalf("recovery with a wrong password: %v", err)
	}
	if st, _ := srvB.SetupStatus(ctx); st.Status != model.SetupIncomplete {
		t.Fatal("a failed recovery completed setup")
	}
	if _, err := srvB.Setup(ctx, model.SetupParams{RecoverySource: &model.RecoverySource{Type: "backup", Password: "backup password",
		Target: model.BackupTargetAddParams{URL: repo}}}); err != nil {
		t.Fatal(err)
	}
	_, d := srvB.DB().Read()
	if d.Public.ServerInfo.Name != "Box A" {
		t.Errorf("name = %q, want Box A", d.Public.ServerInfo.Name)
	}
	if _, err := srvB.Sessions().Login(ctx, model.LoginParams{Password: "owner password 1"}); err != nil {
		t.Errorf("login with box A's password: %v", err)
	}
	// The owner's SSH key is back, in the document and in authorized_keys.
	if keys, err := srvB.SSHList(ctx); err != nil || len(keys) != 1 || keys[0].Fingerprint != xssh.FingerprintSHA256(sshPub) {
		t.Errorf("SSH keys on box B: %+v %v", keys, err)
	}
	if b, err := os.ReadFile(authorizedB); err != nil || !strings.Contains(string(b), strings.Fields(keyLine)[1]) {
		t.Errorf("box B's authorized_keys lacks box A's key: %v\n%s", err, b)
	}
	e, ok := d.Public.PackageData[a.id]
	if !ok || e.StateInfo.State != model.PackageInstalled {
		t.Fatalf("package %s not installed on box B", a.id)
	}
	if e.StatusInfo.Desired.Main != model.DesiredRunning {
		t.Errorf("desired = %q, want running", e.StatusInfo.Desired.Main)
	}
	checkData(t, filepath.Join(dirB, "volumes", a.id, "main"), files)
	waitDoc(t, srvB, "the package to run on box B", func(d *model.Document) bool {
		return d.Public.PackageData[a.id].StatusInfo.Started != nil
	})
	if _, err := srvB.Uninstall(ctx, model.UninstallParams{ID: a.id}); err != nil {
		t.Fatal(err)
	}
}

// A daily schedule runs when due with its own repository key (not the
// owner's password), and retention forgets the older snapshots.
func TestScheduleAndRetention(t *testing.T) {
	eng := testpkg.Engine(t)
	start := time.Date(2026, 3, 4, 12, 0, 30, 0, time.Local)
	var tick atomic.Int64 // seconds after start; the clock is read by the server's goroutines
	clock := func() time.Time { return start.Add(time.Duration(tick.Load()) * time.Second) }
	dir := t.TempDir()
	// Built before the server opens, so the server closes (its actors stop)
	// before testpkg's sweep: an actor left running would recreate what the
	// sweep removes.
	pkg := testpkg.Build(t, eng, testpkg.Options{})
	srv, err := startos.Open(context.Background(), startos.Config{DataDir: dir, Stderr: io.Discard, PasswordParams: &cheap, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	archive := filepath.Join(t.TempDir(), "pkg.s9pk")
	pkg.WriteArchive(t, archive)
	b := &box{srv: srv, dir: dir, id: pkg.Manifest.ID}
	b.install(t, archive)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	repo := filepath.Join(t.TempDir(), "repo")
	tid, err := srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "disk", URL: repo})
	if err != nil {
		t.Fatal(err)
	}
	b.backUp(t, tid.ID, "backup password")
	if _, err := srv.SetBackupSchedule(ctx, model.BackupSchedule{Frequency: "daily", Time: "12:00", TargetID: tid.ID, Password: "wrong password",
		Retention: model.BackupRetention{KeepDaily: 1}}); !errors.Is(err, errdefs.ErrIncorrectPassword) {
		t.Fatalf("schedule with a wrong password: %v", err)
	}
	if _, err := srv.SetBackupSchedule(ctx, model.BackupSchedule{Frequency: "daily", Time: "12:00", TargetID: tid.ID, Password: "backup password",
		Retention: model.BackupRetention{KeepDaily: 1}}); err != nil {
		t.Fatal(err)
	}
	got, err := srv.BackupSchedule(ctx)
	if err != nil || got.Frequency != "daily" || got.Password != "" || got.NextRun == nil {
		t.Fatalf("schedule get: %+v %v", got, err)
	}
	_, d := srv.DB().Read()
	if strings.Contains(fmt.Sprint(d.Private.BackupSchedule), "backup password") {
		t.Fatal("the schedule keeps the owner's password")
	}
	tick.Add(1) // lastBackup must move
	now := clock()
	srv.Backups().CheckSchedule()
	waitDoc(t, srv, "the scheduled backup to end", func(d *model.Document) bool {
		return d.Public.ServerInfo.StatusInfo.BackupProgress == nil && d.Public.ServerInfo.LastBackup != nil && d.Public.ServerInfo.LastBackup.Equal(now)
	})
	if err := srv.Backups().Wait(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := srv.BackupTargetInfo(ctx, model.BackupTargetPasswordParams{TargetID: tid.ID, Password: "backup password"})
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Snapshots) != 2 {
		t.Fatalf("after retention keep-daily 1: %d snapshots, want 2 (the package's and the box's newest)", len(info.Snapshots))
	}
	n, _ := srv.Notifications(ctx, model.NotificationListParams{})
	if len(n) == 0 || n[0].Title != "Backup complete" {
		t.Fatalf("notifications: %+v", n)
	}
}
