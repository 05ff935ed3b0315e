package startos

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// Default power commands, as on StartOS (systemd).
var (
	DefaultRestartCommand  = []string{"systemctl", "reboot"}
	DefaultShutdownCommand = []string{"systemctl", "poweroff"}
)

// powerCommandTimeout bounds the power command; systemctl returns once the
// job is queued.
const powerCommandTimeout = 30 * time.Second

// Restart is server.restart.
func (s *Server) Restart(ctx context.Context, p model.PowerParams) (model.Empty, error) {
	return model.Empty{}, s.power(ctx, "restart", s.cfg.RestartCommand, DefaultRestartCommand, p.Force)
}

// Shutdown is server.shutdown.
func (s *Server) Shutdown(ctx context.Context, p model.PowerParams) (model.Empty, error) {
	return model.Empty{}, s.power(ctx, "shutdown", s.cfg.ShutdownCommand, DefaultShutdownCommand, p.Force)
}

// power refuses while packages are being installed, updated, restored or
// removed (unless force), stops the services' supervisors and the installer,
// then runs the command. Every state commit is already fsynced, so the
// document needs no further flush; containers are stopped gracefully by the
// engine as the host goes down (their desired state is kept, so they come
// back after a restart).
func (s *Server) power(ctx context.Context, what string, argv, def []string, force bool) error {
	if len(argv) == 0 {
		argv = def
	}
	if !force {
		if busy := s.busyPackages(); len(busy) > 0 {
			return fmt.Errorf("%s: refused while %s; wait, or force it: %w", what, strings.Join(busy, ", "), errdefs.ErrInvalidRequest)
		}
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return fmt.Errorf("%s: command %q: %v: %w", what, argv[0], err, errdefs.ErrUnknown)
	}
	if !s.powerStarted.CompareAndSwap(false, true) {
		return fmt.Errorf("%s: a restart or shutdown is already under way: %w", what, errdefs.ErrDuplicate)
	}
	s.log.Warn("power: stopping services", "action", what, "force", force)
	if err := s.closeServices(); err != nil {
		s.log.Error("power: services did not stop cleanly", "error", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), powerCommandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		s.powerStarted.Store(false)
		return fmt.Errorf("%s: %q: %v: %s: %w", what, strings.Join(argv, " "), err, strings.TrimSpace(string(out)), errdefs.ErrUnknown)
	}
	s.log.Warn("power: command run", "action", what, "command", strings.Join(argv, " "))
	return nil
}

// busyPackages names the packages in a transitional state, and a backup
// that is running.
func (s *Server) busyPackages() []string {
	view := s.db.View()
	var busy []string
	if len(view.ServerInfo().StatusInfo.BackupProgress) > 0 {
		busy = append(busy, "a backup is running")
	}
	view.EachPackage(func(id string, e *model.PackageDataEntry) bool {
		switch e.StateInfo.State {
		case model.PackageInstalling, model.PackageUpdating, model.PackageRestoring, model.PackageRemoving:
			busy = append(busy, id+" is "+string(e.StateInfo.State))
		}
		return true
	})
	sort.Strings(busy)
	return busy
}
