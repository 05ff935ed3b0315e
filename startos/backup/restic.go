// Package backup backs packages and the box up with restic (the program,
// driven with --json) and restores them: targets, one restic repository per
// target, package and box snapshots, schedules and retention.
//
// A snapshot made here is an ordinary restic snapshot of paths relative to
// the data directory (volumes/<id>/..., packages/<id>.s9pk, backup/<id>/...),
// so `restic restore` alone gets a person's data back.
package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// DefaultResticBinary is where Debian's restic package puts the program.
const DefaultResticBinary = "/usr/bin/restic"

// ErrResticMissing is returned when the restic program cannot be found.
var ErrResticMissing = fmt.Errorf("restic is not installed (install it with: apt-get install restic): %w", errdefs.ErrUnavailable)

// Restic runs the restic program against one repository. Secrets (the
// repository password, an SSH key) go to 0600 files in a private temp
// folder, never on the command line.
type Restic struct {
	Bin  string   // default DefaultResticBinary, then $PATH
	Repo string   // the restic repository string
	Env  []string // extra environment (S3 keys)
	// Options are -o key=value options (sftp.command).
	Options []string
	// TempDir is where password files go; default os.TempDir().
	TempDir string
	// Timeout bounds a call without a deadline of its own.
	Timeout time.Duration
}

// Message is one line of restic's --json output.
type Message struct {
	MessageType      string   `json:"message_type"`
	PercentDone      float64  `json:"percent_done"`
	TotalFiles       uint64   `json:"total_files"`
	FilesDone        uint64   `json:"files_done"`
	TotalBytes       uint64   `json:"total_bytes"`
	BytesDone        uint64   `json:"bytes_done"`
	FilesNew         uint64   `json:"files_new"`
	FilesChanged     uint64   `json:"files_changed"`
	DataAdded        uint64   `json:"data_added"`
	TotalFilesProc   uint64   `json:"total_files_processed"`
	TotalBytesProc   uint64   `json:"total_bytes_processed"`
	SnapshotID       string   `json:"snapshot_id"`
	Error            *errMsg  `json:"error"`
	During           string   `json:"during"`
	Item             string   `json:"item"`
	CurrentFiles     []string `json:"current_files"`
	SecondsElapsed   uint64   `json:"seconds_elapsed"`
	SecondsRemaining uint64   `json:"seconds_remaining"`
}

type errMsg struct {
	Message string `json:"message"`
}

// Snapshot is one entry of `restic snapshots --json`.
type Snapshot struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
	Time     time.Time `json:"time"`
	Paths    []string  `json:"paths"`
	Tags     []string  `json:"tags"`
	Hostname string    `json:"hostname"`
}

// Tag returns the value of tag key=value on s, if any.
func (s Snapshot) Tag(key string) string {
	for _, t := range s.Tags {
		if v, ok := strings.CutPrefix(t, key+"="); ok {
			return v
		}
	}
	return ""
}

// ResticError is a failed restic run: its exit code and the last lines of
// its stderr (restic's own message, such as an unreachable target's).
type ResticError struct {
	Args     string
	ExitCode int
	Stderr   string
	kind     error
}

func (e *ResticError) Error() string {
	return fmt.Sprintf("restic %s: exit %d: %s", e.Args, e.ExitCode, e.Stderr)
}

func (e *ResticError) Unwrap() error { return e.kind }

// Exit codes restic documents (0.17+; older versions use 1 for all).
const (
	exitRepoMissing   = 10
	exitWrongPassword = 12
)

// wrongPassword tells whether a failed run was refused for the password.
// restic 0.14 (Debian) has no exit code for it, so its one fixed phrase is
// the fallback; the message still reaches the person unchanged.
func wrongPassword(code int, stderr string) bool {
	return code == exitWrongPassword || strings.Contains(strings.ToLower(stderr), "wrong password")
}

func repoMissing(code int, stderr string) bool {
	s := strings.ToLower(stderr)
	return code == exitRepoMissing || strings.Contains(s, "is there a repository at the following location") ||
		strings.Contains(s, "unable to open config file")
}

func (r *Restic) bin() (string, error) {
	if r.Bin != "" {
		if _, err := os.Stat(r.Bin); err != nil {
			return "", fmt.Errorf("%s: %w", r.Bin, ErrResticMissing)
		}
		return r.Bin, nil
	}
	if _, err := os.Stat(DefaultResticBinary); err == nil {
		return DefaultResticBinary, nil
	}
	p, err := exec.LookPath("restic")
	if err != nil {
		return "", ErrResticMissing
	}
	return p, nil
}

// run runs restic with args (after the global flags) in dir, giving each
// stdout line to onLine. The password goes through a 0600 file.
func (r *Restic) run(ctx context.Context, password, dir string, args []string, onLine func([]byte)) error {
	bin, err := r.bin()
	if err != nil {
		return err
	}
	if _, ok := ctx.Deadline(); !ok {
		t := r.Timeout
		if t == 0 {
			t = 24 * time.Hour
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	pwDir, err := os.MkdirTemp(r.TempDir, "restic-pw-")
	if err != nil {
		return fmt.Errorf("restic: password file: %v: %w", err, errdefs.ErrFilesystem)
	}
	defer os.RemoveAll(pwDir)
	pwFile := filepath.Join(pwDir, "password")
	if err := os.WriteFile(pwFile, []byte(password), 0o600); err != nil {
		return fmt.Errorf("restic: password file: %v: %w", err, errdefs.ErrFilesystem)
	}
	full := []string{"--repo", r.Repo, "--password-file", pwFile, "--json", "--no-cache"}
	for _, o := range r.Options {
		full = append(full, "-o", o)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Dir = dir
	// Only what restic needs: no inherited RESTIC_* from the daemon's
	// environment may redirect it.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + pwDir, "TMPDIR=" + pwDir}, r.Env...)
	// Its own group, so a cancel kills ssh too; and killed with startd, so a
	// SIGKILLed daemon leaves no restic writing behind it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// Kill the whole group on cancel: sftp runs an ssh child.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stderr tailBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("restic: %w", err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if onLine != nil {
			onLine(sc.Bytes())
		}
	}
	_, _ = io.Copy(io.Discard, out) // drain, so restic never blocks on a full pipe
	werr := cmd.Wait()
	if werr == nil {
		return nil
	}
	if ctx.Err() != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("restic %s: %w", args[0], errdefs.ErrTimeout)
		}
		return fmt.Errorf("restic %s: %w", args[0], errdefs.ErrCancelled)
	}
	code := -1
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		code = ee.ExitCode()
	}
	msg := strings.TrimSpace(stderr.String())
	kind := errdefs.ErrBackup
	switch {
	case wrongPassword(code, msg):
		kind = errdefs.ErrIncorrectPassword
	case repoMissing(code, msg), strings.Contains(msg, "no snapshot found"):
		kind = errdefs.ErrNotFound
	}
	return &ResticError{Args: args[0], ExitCode: code, Stderr: msg, kind: kind}
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// Init creates the repository.
func (r *Restic) Init(ctx context.Context, password string) error {
	return r.run(ctx, password, "", []string{"init"}, nil)
}

// Open checks that the repository exists and password opens it: an
// ErrIncorrectPassword or ErrNotFound (no repository there) error otherwise.
func (r *Restic) Open(ctx context.Context, password string) error {
	return r.run(ctx, password, "", []string{"cat", "config"}, nil)
}

// Backup backs up paths (relative to dir) with tags and returns the new
// snapshot's id. progress gets each status message.
func (r *Restic) Backup(ctx context.Context, password, dir string, paths, tags []string, progress func(Message)) (Message, error) {
	args := []string{"backup", "--host", "startos"}
	for _, t := range tags {
		args = append(args, "--tag", t)
	}
	args = append(args, "--")
	args = append(args, paths...)
	var summary Message
	var errs []string
	err := r.run(ctx, password, dir, args, func(line []byte) {
		var m Message
		if json.Unmarshal(line, &m) != nil {
			return
		}
		switch m.MessageType {
		case "status":
			if progress != nil {
				progress(m)
			}
		case "summary":
			summary = m
		case "error":
			if m.Error != nil {
				errs = append(errs, m.Item+": "+m.Error.Message)
			}
		}
	})
	if err != nil {
		return summary, err
	}
	if summary.SnapshotID == "" {
		return summary, fmt.Errorf("restic backup made no snapshot: %s: %w", strings.Join(errs, "; "), errdefs.ErrBackup)
	}
	return summary, nil
}

// Snapshots lists the snapshots having all of tags.
func (r *Restic) Snapshots(ctx context.Context, password string, tags ...string) ([]Snapshot, error) {
	args := []string{"snapshots"}
	if len(tags) > 0 {
		args = append(args, "--tag", strings.Join(tags, ","))
	}
	var buf bytes.Buffer
	if err := r.run(ctx, password, "", args, func(b []byte) { buf.Write(b); buf.WriteByte('\n') }); err != nil {
		return nil, err
	}
	var out []Snapshot
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &out); err != nil {
		return nil, fmt.Errorf("restic snapshots: unreadable answer: %v: %w", err, errdefs.ErrBackup)
	}
	return out, nil
}

// Restore restores snapshot id into target, only paths under includes
// (snapshot paths such as /volumes/<id>) when given.
func (r *Restic) Restore(ctx context.Context, password, id, target string, includes []string) error {
	if err := checkArg("snapshot", id); err != nil {
		return err
	}
	args := []string{"restore", "--target", target}
	for _, inc := range includes {
		args = append(args, "--include", inc)
	}
	args = append(args, "--", id)
	return r.run(ctx, password, "", args, nil)
}

// RestoreLatest restores the newest snapshot having all of tags into
// target: one restic call, where listing the snapshots first would be two
// (each one deriving the repository key). None is ErrNotFound.
func (r *Restic) RestoreLatest(ctx context.Context, password, target string, tags []string) error {
	for _, t := range tags {
		if err := checkArg("tag", t); err != nil || strings.Contains(t, ",") {
			return fmt.Errorf("restore: tag %q: %w", t, errdefs.ErrInvalidRequest)
		}
	}
	args := []string{"restore", "--target", target, "--host", "startos", "--tag", strings.Join(tags, ","), "--", "latest"}
	return r.run(ctx, password, "", args, nil)
}

// Forget applies a retention policy to the snapshots with tags and prunes.
func (r *Restic) Forget(ctx context.Context, password string, p model.BackupRetention, tags ...string) error {
	// Grouped by restic's default (host, paths): each package's snapshots
	// and the box's form their own groups.
	args := []string{"forget", "--prune"}
	if len(tags) > 0 {
		args = append(args, "--tag", strings.Join(tags, ","))
	}
	for _, kv := range []struct {
		flag string
		n    int
	}{{"--keep-daily", p.KeepDaily}, {"--keep-weekly", p.KeepWeekly}, {"--keep-monthly", p.KeepMonthly}} {
		if kv.n > 0 {
			args = append(args, kv.flag, fmt.Sprint(kv.n))
		}
	}
	// A daemon killed mid-backup leaves a stale lock, which prune refuses.
	if err := r.run(ctx, password, "", []string{"unlock"}, nil); err != nil {
		return err
	}
	return r.run(ctx, password, "", args, nil)
}

// Check runs restic check.
func (r *Restic) Check(ctx context.Context, password string) error {
	return r.run(ctx, password, "", []string{"check"}, nil)
}

// checkArg refuses a value that restic would read as a flag.
func checkArg(what, v string) error {
	if v == "" || strings.HasPrefix(v, "-") || strings.ContainsAny(v, "\x00\n\r") {
		return fmt.Errorf("%s %q: must be non-empty and must not start with '-': %w", what, v, errdefs.ErrInvalidRequest)
	}
	return nil
}

// AddKey adds newPassword as another key of the repository.
func (r *Restic) AddKey(ctx context.Context, password, newPassword string) error {
	dir, err := os.MkdirTemp(r.TempDir, "restic-newpw-")
	if err != nil {
		return fmt.Errorf("restic: password file: %v: %w", err, errdefs.ErrFilesystem)
	}
	defer os.RemoveAll(dir)
	f := filepath.Join(dir, "password")
	if err := os.WriteFile(f, []byte(newPassword), 0o600); err != nil {
		return err
	}
	return r.run(ctx, password, "", []string{"key", "add", "--new-password-file", f}, nil)
}
