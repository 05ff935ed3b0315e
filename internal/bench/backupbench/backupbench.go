// Package backupbench measures backups against restic run directly on the
// same folder in the same run: a first backup of a volume, a second one
// after 1% of it changed (incremental), a restore, and the service's
// downtime during its backup. The volume is 256 MiB of random data in 4 MiB
// files: 1 GiB took too long on the shared 2-core machine.
package backupbench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/model"
)

// Run measures with a 256 MiB volume (STARTOS_BENCH_BACKUP_MIB sets
// another size: the goal is for 1024) and prints the figures to w.
func Run(ctx context.Context, w io.Writer) error {
	mib := int64(256)
	if v := os.Getenv("STARTOS_BENCH_BACKUP_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return fmt.Errorf("STARTOS_BENCH_BACKUP_MIB=%q: a size in MiB, at least 1", v)
		}
		mib = n
	}
	return run(ctx, w, mib<<20)
}

const password = "bench backup password"

func run(ctx context.Context, w io.Writer, size int64) error {
	if _, err := exec.LookPath("restic"); err != nil {
		return fmt.Errorf("restic is not installed (apt-get install restic)")
	}
	eng, err := container.Connect(ctx, container.Options{})
	if err != nil {
		return err
	}
	defer eng.Close()
	tmp, err := os.MkdirTemp("", "backupbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	b, err := testpkg.NewBuilder(eng)
	if err != nil {
		return err
	}
	// A package id of its own per run: runs side by side share the engine.
	o := testpkg.Options{ID: "backupbench-" + strings.TrimPrefix(testpkg.RandomID(), "testpkg-")}
	archive := filepath.Join(tmp, "pkg.s9pk")
	if _, err := b.Archive(ctx, archive, o, nil, ""); err != nil {
		return err
	}
	defer testpkg.Sweep(eng, o.ID)
	dataDir := filepath.Join(tmp, "data")
	srv, err := startos.Open(ctx, startos.Config{DataDir: dataDir, Stderr: io.Discard, PasswordParams: &auth.Params{Memory: 1024, Time: 1, Threads: 1}})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := install(ctx, srv, archive); err != nil {
		return err
	}
	defer srv.Uninstall(context.WithoutCancel(ctx), model.UninstallParams{ID: o.ID})
	vol := filepath.Join(dataDir, "volumes", o.ID, "main")
	fmt.Fprintf(w, "backup benchmark: a %d MiB volume in 4 MiB files, local repositories\n", size>>20)
	if err := fill(vol, size); err != nil {
		return err
	}
	if _, err := srv.StartPackage(ctx, model.PackageIDParams{ID: o.ID}); err != nil {
		return err
	}
	if err := waitDoc(ctx, srv, func(d *model.Document) bool { return d.Public.PackageData[o.ID].StatusInfo.Started != nil }); err != nil {
		return err
	}
	tid, err := srv.AddBackupTarget(ctx, model.BackupTargetAddParams{Name: "bench", URL: filepath.Join(tmp, "repo-startd")})
	if err != nil {
		return err
	}
	direct := filepath.Join(tmp, "repo-direct")

	ours := func() (time.Duration, time.Duration, error) {
		start := time.Now()
		var down time.Duration
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); down = downtime(ctx, srv, o.ID) }()
		if _, err := srv.CreateBackup(ctx, model.BackupCreateParams{TargetID: tid.ID, Password: password}); err != nil {
			return 0, 0, err
		}
		if err := srv.Backups().Wait(ctx); err != nil {
			return 0, 0, err
		}
		took := time.Since(start)
		wg.Wait()
		_, d := srv.DB().Read()
		if d.Public.PackageData[o.ID].LastBackup == nil {
			return 0, 0, fmt.Errorf("the backup did not complete")
		}
		return took, down, nil
	}
	theirs := func() (time.Duration, error) {
		start := time.Now()
		err := restic(ctx, vol, "-r", direct, "backup", ".")
		return time.Since(start), err
	}
	first, down1, err := ours()
	if err != nil {
		return err
	}
	// The first backup creates the repository on both sides, as startd
	// does when a target is first used.
	start := time.Now()
	if err := restic(ctx, "", "-r", direct, "init"); err != nil {
		return err
	}
	if _, err := theirs(); err != nil {
		return err
	}
	report(w, "first backup", first, time.Since(start), "goal <= 1.1x (both with the repository's creation)")
	if err := change(vol, size/100); err != nil {
		return err
	}
	second, down2, err := ours()
	if err != nil {
		return err
	}
	secondDirect, err := theirs()
	if err != nil {
		return err
	}
	report(w, "after a 1% change", second, secondDirect, "")
	start = time.Now()
	if _, err := srv.RestoreBackup(ctx, model.BackupRestoreParams{TargetID: tid.ID, Password: password, IDs: []string{o.ID}}); err != nil {
		return err
	}
	restore := time.Since(start)
	start = time.Now()
	if err := restic(ctx, "", "-r", direct, "restore", "latest", "--target", filepath.Join(tmp, "restored")); err != nil {
		return err
	}
	report(w, "restore", restore, time.Since(start), "")
	fmt.Fprintf(w, "  service downtime during its backup: %s (first), %s (incremental)\n", down1.Round(time.Millisecond), down2.Round(time.Millisecond))
	return nil
}

func report(w io.Writer, what string, ours, direct time.Duration, goal string) {
	fmt.Fprintf(w, "  %-18s startd %8s   restic alone %8s   %.2fx %s\n", what, ours.Round(time.Millisecond), direct.Round(time.Millisecond),
		ours.Seconds()/direct.Seconds(), goal)
}

// downtime is how long the package's main process was down (started
// cleared to started set again), polled from the document.
func downtime(ctx context.Context, srv *startos.Server, id string) time.Duration {
	var stopped time.Time
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		_, d := srv.DB().Read()
		up := d.Public.PackageData[id].StatusInfo.Started != nil
		if !up && stopped.IsZero() {
			stopped = time.Now()
		}
		if up && !stopped.IsZero() {
			return time.Since(stopped)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0
}

func restic(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "restic", append([]string{"--no-cache", "-q"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+password)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("restic %v: %v\n%s", args, err, out)
	}
	return nil
}

func install(ctx context.Context, srv *startos.Server, archive string) error {
	up, err := srv.Sideload(ctx, model.SideloadParams{})
	if err != nil {
		return err
	}
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	st, _ := f.Stat()
	return srv.ReceiveUpload(ctx, up.Upload, f, st.Size())
}

func fill(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	const chunk = 4 << 20
	for i := int64(0); i*chunk < size; i++ {
		n := min(chunk, size-i*chunk)
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("f%04d.bin", i)))
		if err != nil {
			return err
		}
		_, err = io.CopyN(f, rand.Reader, n)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// change rewrites n bytes at the start of the first file.
func change(dir string, n int64) error {
	f, err := os.OpenFile(filepath.Join(dir, "f0000.bin"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, rand.Reader, n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func waitDoc(ctx context.Context, srv *startos.Server, cond func(*model.Document) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		if _, d := srv.DB().Read(); cond(d) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("backupbench: waiting for the package: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
