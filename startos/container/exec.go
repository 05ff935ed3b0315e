package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

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
// that runs past its deadline is ErrTimeout (the engine has no API to kill
// an exec'd process; it ends with the container).
func (c *Client) Exec(ctx context.Context, id string, o ExecOptions) (Result, error) {
	if len(o.Cmd) == 0 {
		return Result{}, fmt.Errorf("exec in %s: no command: %w", id, errdefs.ErrInvalidRequest)
	}
	if o.Timeout <= 0 {
		o.Timeout = c.call
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cr, err := c.api.ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd: o.Cmd, Env: o.Env, AttachStdin: o.Stdin != nil, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return Result{}, c.wrap("exec in "+id, err)
	}
	hj, err := c.api.ContainerExecAttach(ctx, cr.ID, container.ExecAttachOptions{})
	if err != nil {
		return Result{}, c.wrap("exec attach in "+id, err)
	}
	var res Result
	if err := c.pump(ctx, hj, o.Stdin, &res); err != nil {
		return res, c.wrapRun("exec in "+id, ctx, err)
	}
	ins, err := c.api.ContainerExecInspect(ctx, cr.ID)
	if err != nil {
		return res, c.wrap("exec inspect in "+id, err)
	}
	if ins.Running {
		return res, fmt.Errorf("exec in %s: output ended but the process still runs: %w", id, errdefs.ErrDocker)
	}
	res.ExitCode = ins.ExitCode
	return res, nil
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
	_, err := stdcopy.StdCopy(out, errb, hj.Reader)
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
	hj, err := c.api.ContainerAttach(runCtx, id, container.AttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return Result{}, c.wrap("attach "+o.Name, err)
	}
	waitC, waitErr := c.api.ContainerWait(runCtx, id, container.WaitConditionNextExit)
	if err := c.api.ContainerStart(runCtx, id, container.StartOptions{}); err != nil {
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
