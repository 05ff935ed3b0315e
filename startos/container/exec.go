package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"

	"github.com/startos-go/startos/startos/errdefs"
)

// Output limits: a procedure's stdout is its result and is kept whole up to
// MaxStdout; stderr is only ever shown as a message, so its tail is kept.
const (
	MaxStdout = 16 << 20
	MaxStderr = 64 << 10
)

// Result is a finished process.
type Result struct {
	ExitCode int
	Stdout   []byte
	Stderr   []byte // the last MaxStderr bytes
	// ExecID is the engine's id of an Exec, also when it failed: a caller
	// can ask with ExecRunning whether a timed-out one still runs.
	ExecID string
}

// ExecOptions describe a command run inside a running container.
type ExecOptions struct {
	Cmd   []string
	Stdin []byte // nil: no stdin
	Env   []string
	// Timeout bounds the whole run; default the client's call timeout.
	Timeout time.Duration
}

// Exec runs a command in a running container and waits for it. A command
// that runs past its deadline is ErrTimeout, and is killed (with every
// process it started): the engine has no API to stop an exec'd process, so
// KillExec finds it on the host. The error says whether that worked.
func (c *Client) Exec(ctx context.Context, id string, o ExecOptions) (Result, error) {
	if len(o.Cmd) == 0 {
		return Result{}, fmt.Errorf("exec in %s: no command: %w", id, errdefs.ErrInvalidRequest)
	}
	if o.Timeout <= 0 {
		o.Timeout = c.call
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cr, err := c.engine(ctx).ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd: o.Cmd, Env: o.Env, AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return Result{}, c.wrap("exec in "+id, err)
	}
	res := Result{ExecID: cr.ID}
	hj, err := c.engine(ctx).ContainerExecAttach(ctx, cr.ID, container.ExecAttachOptions{})
	if err != nil {
		return res, c.wrapRun("exec attach in "+id, ctx, err)
	}
	if err := c.pump(ctx, hj, o.Stdin, &res); err != nil {
		err = c.wrapRun("exec in "+id, ctx, err)
		if ctx.Err() != nil {
			err = c.stopTimedOut(ctx, cr.ID, err)
		}
		return res, err
	}
	ins, err := c.engine(ctx).ContainerExecInspect(ctx, cr.ID)
	if err != nil {
		return res, c.wrap("exec inspect in "+id, err)
	}
	if ins.Running {
		return res, fmt.Errorf("exec in %s: output ended but the process still runs: %w", id, errdefs.ErrDocker)
	}
	res.ExitCode = ins.ExitCode
	return res, nil
}

// stopTimedOut kills the process of an exec whose caller gave up (runErr)
// and adds the outcome to runErr.
func (c *Client) stopTimedOut(ctx context.Context, execID string, runErr error) error {
	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.call)
	defer cancel()
	if err := c.KillExec(kctx, execID); err != nil {
		return fmt.Errorf("%w; the process could not be stopped: %v", runErr, err)
	}
	return fmt.Errorf("%w; the process was stopped", runErr)
}

// ExecRunning reports whether the process of exec execID still runs.
func (c *Client) ExecRunning(ctx context.Context, execID string) (bool, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	ins, err := c.engine(ctx).ContainerExecInspect(ctx, execID)
	if err != nil {
		return false, c.wrap("exec inspect "+execID, err)
	}
	return ins.Running, nil
}

// KillExec kills the process of exec execID and every process it started,
// and waits until the engine sees it end. The engine offers no call for it,
// so the process is found on the host by the pid the engine reports (checked
// to be in the exec's container, so a reused pid is never hit); that needs
// an engine on this machine and the right to signal its processes (root).
func (c *Client) KillExec(ctx context.Context, execID string) error {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	ins, err := c.engine(ctx).ContainerExecInspect(ctx, execID)
	if err != nil {
		return c.wrap("exec inspect "+execID, err)
	}
	if !ins.Running {
		return nil
	}
	if !strings.HasPrefix(c.host, "unix://") {
		return fmt.Errorf("exec %s: the engine at %s is not on this machine, so its process cannot be signalled: %w", execID, c.host, errdefs.ErrUnavailable)
	}
	if ins.Pid <= 0 {
		return fmt.Errorf("exec %s: the engine reports no pid for it: %w", execID, errdefs.ErrDocker)
	}
	if err := killTree(ins.Pid, ins.ContainerID); err != nil {
		return fmt.Errorf("exec %s: %w", execID, err)
	}
	for {
		ins, err := c.engine(ctx).ContainerExecInspect(ctx, execID)
		if err != nil {
			return c.wrap("exec inspect "+execID, err)
		}
		if !ins.Running {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("exec %s: still running after SIGKILL: %w", execID, errdefs.ErrTimeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pump writes stdin to a hijacked connection and reads the multiplexed
// output until EOF. Ending ctx closes the connection, so the read returns.
func (c *Client) pump(ctx context.Context, hj types.HijackedResponse, stdin []byte, res *Result) error {
	defer hj.Close()
	stop := context.AfterFunc(ctx, hj.Close)
	defer stop()
	if stdin != nil {
		// Write from this goroutine: the engine reads stdin as it comes,
		// and a procedure that ignores it exits and closes the pipe.
		if _, err := hj.Conn.Write(stdin); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		_ = hj.CloseWrite()
	}
	out := &limited{max: MaxStdout}
	errb := &tail{max: MaxStderr}
	err := demux(hj.Reader, func(stream byte, payload []byte) error {
		switch stream {
		case streamStdout:
			_, _ = out.Write(payload) // keeps what fits, and notes the rest
		case streamStderr:
			_, _ = errb.Write(payload) // keeps the tail; never fails
		default:
			return fmt.Errorf("output on stream %d: %w", stream, errdefs.ErrDocker)
		}
		return nil
	})
	res.Stdout, res.Stderr = out.Bytes(), errb.Bytes()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	if out.over {
		return fmt.Errorf("output is larger than %d bytes: %w", MaxStdout, errdefs.ErrInvalidRequest)
	}
	return nil
}

func (c *Client) wrapRun(op string, ctx context.Context, err error) error {
	if errors.Is(err, errdefs.ErrInvalidRequest) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if ctx.Err() != nil {
		return c.wrap(op, ctx.Err())
	}
	return c.wrap(op, err)
}

// limited keeps the first max bytes and notes whether more came.
type limited struct {
	bytes.Buffer
	max  int
	over bool
}

func (l *limited) Write(p []byte) (int, error) {
	n := len(p)
	if room := l.max - l.Len(); room < len(p) {
		l.over = true
		p = p[:max(room, 0)]
	}
	l.Buffer.Write(p)
	return n, nil
}

// tail keeps the last max bytes.
type tail struct {
	b   []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) Bytes() []byte { return t.b }

// RunOptions describe a one-off container: created, attached, started,
// waited for and removed.
type RunOptions struct {
	Spec
	Stdin []byte
	// Timeout bounds the whole run; default the client's call timeout.
	Timeout time.Duration
}

// Run runs a one-off container to completion and removes it, whatever
// happens. A run past its deadline kills the container and is ErrTimeout.
func (c *Client) Run(ctx context.Context, o RunOptions) (res Result, err error) {
	if o.Timeout <= 0 {
		o.Timeout = c.call
	}
	o.Spec.Stdin = true
	id, err := c.CreateContainer(ctx, o.Spec)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		// Clean up even when ctx has ended: the container must not stay.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.call)
		defer cancel()
		if rerr := c.RemoveContainer(rctx, id, true); rerr != nil && !errors.Is(rerr, errdefs.ErrNotFound) && err == nil {
			err = rerr
		}
	}()
	runCtx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	hj, err := c.engine(runCtx).ContainerAttach(runCtx, id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return Result{}, c.wrap("attach "+o.Name, err)
	}
	waitC, waitErr := c.engine(runCtx).ContainerWait(runCtx, id, container.WaitConditionNextExit)
	if err := c.engine(runCtx).ContainerStart(runCtx, id, container.StartOptions{}); err != nil {
		hj.Close()
		return Result{}, c.wrap("start "+o.Name, err)
	}
	stdin := o.Stdin
	if stdin == nil {
		stdin = []byte{}
	}
	if err := c.pump(runCtx, hj, stdin, &res); err != nil {
		return res, c.wrapRun("run "+o.Name, runCtx, err)
	}
	select {
	case w := <-waitC:
		if w.Error != nil && w.Error.Message != "" {
			return res, fmt.Errorf("run %s: %s: %w", o.Name, w.Error.Message, errdefs.ErrDocker)
		}
		res.ExitCode = int(w.StatusCode)
		return res, nil
	case err := <-waitErr:
		return res, c.wrapRun("wait "+o.Name, runCtx, err)
	}
}

var _ io.Writer = (*tail)(nil)
