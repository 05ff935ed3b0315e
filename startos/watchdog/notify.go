package watchdog

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
)

// notifyWriteTimeout bounds every datagram to the service manager: a unix
// datagram send blocks when the receiver's queue is full (systemd#1505), and
// the watchdog must never wait on systemd.
const notifyWriteTimeout = 100 * time.Millisecond

// notifier sends sd_notify datagrams over one kept-open socket. It redials
// after an error (systemd re-executed itself, the socket was re-bound).
type notifier struct {
	addr   *net.UnixAddr
	conn   atomic.Pointer[net.UnixConn]
	closed atomic.Bool
	sent   atomic.Uint64
}

func newNotifier(socket string) *notifier {
	// net turns a leading '@' into the abstract namespace, as sd_notify does.
	return &notifier{addr: &net.UnixAddr{Name: socket, Net: "unixgram"}}
}

func (n *notifier) send(state string) error {
	if n.closed.Load() {
		return fmt.Errorf("notify socket %s: %w", n.addr.Name, errdefs.ErrUnavailable)
	}
	c := n.conn.Load()
	if c == nil {
		nc, err := net.DialUnix("unixgram", nil, n.addr)
		if err != nil {
			return fmt.Errorf("notify socket %s: %w", n.addr.Name, err)
		}
		if n.conn.CompareAndSwap(nil, nc) {
			c = nc
		} else {
			nc.Close()
			if c = n.conn.Load(); c == nil {
				return fmt.Errorf("notify socket %s: %w", n.addr.Name, errdefs.ErrUnavailable)
			}
		}
	}
	err := c.SetWriteDeadline(time.Now().Add(notifyWriteTimeout))
	if err == nil {
		_, err = c.Write([]byte(state))
	}
	if err == nil {
		n.sent.Add(1)
		return nil
	}
	// Redial next time: the manager may have re-bound its socket.
	if n.conn.CompareAndSwap(c, nil) {
		c.Close()
	}
	return fmt.Errorf("notify socket %s: sending %q: %w", n.addr.Name, state, err)
}

func (n *notifier) close() {
	n.closed.Store(true)
	if c := n.conn.Swap(nil); c != nil {
		c.Close()
	}
}

// systemdEnv reads the sd_notify variables and removes them from the
// environment so that child processes (docker, helpers) do not inherit them
// and ping the manager in our name.
func systemdEnv() (socket string, interval time.Duration, err error) {
	socket = os.Getenv("NOTIFY_SOCKET")
	usec := os.Getenv("WATCHDOG_USEC")
	pid := os.Getenv("WATCHDOG_PID")
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		os.Unsetenv(k)
	}
	if usec == "" {
		return socket, 0, nil
	}
	if pid != "" {
		p, perr := strconv.Atoi(pid)
		if perr != nil {
			return socket, 0, fmt.Errorf("WATCHDOG_PID=%q is not a process id: %w", pid, errdefs.ErrInvalidRequest)
		}
		if p != os.Getpid() {
			return socket, 0, nil // meant for another process
		}
	}
	n, perr := strconv.ParseInt(usec, 10, 64)
	if perr != nil || n <= 0 {
		return socket, 0, fmt.Errorf("WATCHDOG_USEC=%q is not a positive number of microseconds: %w", usec, errdefs.ErrInvalidRequest)
	}
	return socket, time.Duration(n) * time.Microsecond, nil
}
