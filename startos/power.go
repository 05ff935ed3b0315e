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
// removed, or a backup runs (unless force); marks the box shutting down or
// restarting in the document; stops the services one by one (dependents
// first, each within its sigterm-timeout: service.Manager.Halt), then runs
// the command. Every state commit is already fsynced, so the document needs
// no further flush. Desired states are kept, so the services come back
// after a restart. When the command fails, the services are resumed and the
// mark cleared.
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
	// The caller going away must not leave the box half stopped.
	ctx = context.WithoutCancel(ctx)
	if err := s.markPower(ctx, what, true); err != nil {
		s.powerStarted.Store(false)
		return fmt.Errorf("%s: %w", what, err)
	}
	s.log.Warn("power: stopping services", "action", what, "force", force)
	order, err := s.services.Halt(ctx)
	if err != nil {
		// Power goes off anyway: the engine stops what is left.
		s.log.Error("power: services did not stop cleanly", "error", err)
	}
	s.log.Warn("power: services stopped", "order", strings.Join(order, ","))
	cmdCtx, cancel := context.WithTimeout(ctx, powerCommandTimeout)
	defer cancel()
	out, err := exec.CommandContext(cmdCtx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		s.log.Error("power: command failed; resuming services", "action", what, "error", err)
		s.services.Resume()
		if merr := s.markPower(ctx, what, false); merr != nil {
			s.log.Error("power: clearing the mark", "error", merr)
		}
		s.powerStarted.Store(false)
		return fmt.Errorf("%s: %q: %v: %s: %w", what, strings.Join(argv, " "), err, strings.TrimSpace(string(out)), errdefs.ErrUnknown)
	}
	s.log.Warn("power: command run", "action", what, "command", strings.Join(argv, " "))
	return nil
}

// markPower sets or clears serverInfo.statusInfo.restarting or
// .shuttingDown, as StartOS does; boot clears both.
func (s *Server) markPower(ctx context.Context, what string, on bool) error {
	_, err := s.db.Mutate(ctx, func(d *model.Document) error {
		if what == "restart" {
			d.Public.ServerInfo.StatusInfo.Restarting = on
		} else {
			d.Public.ServerInfo.StatusInfo.ShuttingDown = on
		}
		return nil
	})
	return err
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
