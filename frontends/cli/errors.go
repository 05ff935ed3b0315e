package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/rpc"
)

// Exit codes, as docs/cli.md lists them.
const (
	exitOK          = 0
	exitBoxError    = 1 // the box answered with an error
	exitUsage       = 2 // the command was used wrongly
	exitUnreachable = 3 // the box could not be reached, or did not answer in time
)

// usageError is a command used wrongly; it exits with status 2. (urfave's
// cli.Exit would call os.Exit from inside the library.)
type usageError string

func (e usageError) Error() string { return string(e) }

// unreachableError: no answer from the daemon at where.
type unreachableError struct {
	where string
	err   error
}

func (e *unreachableError) Error() string {
	if errors.Is(e.err, context.DeadlineExceeded) || errors.Is(e.err, rpc.ErrNotAnswering) {
		return fmt.Sprintf("startd at %s did not answer in time (--timeout); it may be stuck: start-cli server diagnose over the socket, or restart it", e.where)
	}
	return fmt.Sprintf("cannot reach startd at %s (%s); is it running? (just run, or systemctl start startd)", e.where, rootCause(e.err))
}

func (e *unreachableError) Unwrap() error { return e.err }

// rootCause is the innermost message of err: "connection refused", not the
// chain of dial wrappers around it.
func rootCause(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// transportFailed reports whether err means the daemon was not reached or did
// not answer, as opposed to an answer that was an error.
func transportFailed(err error) bool {
	var re *rpc.Error
	if errors.As(err, &re) {
		return false
	}
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, rpc.ErrNotAnswering) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		strings.Contains(err.Error(), "connection to the daemon closed")
}

// errorLine is how a failure is printed: one line, the error's name and its
// root cause once, then a hint where there is one.
func errorLine(err error) string {
	var re *rpc.Error
	if errors.As(err, &re) {
		line := fmt.Sprintf("error: %s (%d)", re.Message, re.Code)
		if re.Data != nil && re.Data.Details != "" {
			// The details often end with the code's own name again.
			d := dedupe(re.Data.Details)
			if i := strings.LastIndex(d, ": "); i >= 0 && strings.EqualFold(d[i+2:], re.Message) {
				d = d[:i]
			}
			if !strings.EqualFold(d, re.Message) {
				line += ": " + d
			}
		}
		if h := hints[re.Code]; h != "" {
			line += "\nhint: " + h
		}
		return line
	}
	return "error: " + dedupe(err.Error())
}

// dedupe drops a "prefix: " that repeats the one before it, as errors
// wrapped twice on the way read ("invalid package file: invalid package
// file: install failed").
func dedupe(s string) string {
	parts := strings.Split(s, ": ")
	out := parts[:0]
	for _, p := range parts {
		if len(out) > 0 && strings.EqualFold(out[len(out)-1], p) {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ": ")
}

var hints = map[int]string{
	rpc.CodeUnauthorized:      "log in with: start-cli auth login (on the box itself, the local socket needs none: --socket /run/startos/rpc.sock)",
	rpc.CodeIncorrectPassword: "the owner's password is the one set with start-cli setup; a backup target's is the one its first backup was made with",
	rpc.CodeRateLimited:       "too many attempts: wait a minute",
	rpc.CodeInvalidParams:     "see the command's --help for its arguments",
	rpc.CodeMethodNotFound:    "start-cli --help lists the commands; start-cli rpc discover the methods",
}

// exitCode maps an error to the documented exit status.
func exitCode(err error) int {
	var u usageError
	var re *rpc.Error
	var unreachable *unreachableError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &u):
		return exitUsage
	case errors.As(err, &re):
		if re.Code == rpc.CodeInvalidParams || re.Code == rpc.CodeMethodNotFound {
			return exitUsage
		}
		return exitBoxError
	case errors.As(err, &unreachable), transportFailed(err):
		return exitUnreachable
	case isFlagError(err):
		return exitUsage
	}
	return exitBoxError
}

// isFlagError recognises urfave/cli's and package flag's parse errors.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"flag provided but not defined", "flag needs an argument", "invalid value", "invalid boolean", "Required flag"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// quietUsage makes every command answer a usage mistake with one line and a
// hint instead of the whole help page.
func quietUsage(cmds []*cli.Command, path string) {
	for _, c := range cmds {
		p := path + " " + c.Name
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
			return usageError(fmt.Sprintf("%v\nhint: start-cli%s --help", err, p))
		}
		quietUsage(c.Subcommands, p)
	}
}
