package startos

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/caller"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// Sessions and the local cookie live in startos/auth; these are the names
// the RPC table binds.

// AuthCookieFile is the local auth cookie in the run directory.
const AuthCookieFile = auth.AuthCookieFile

// SetupCodeFile holds the one-time setup code (see auth.SetupCodeFile).
const SetupCodeFile = auth.SetupCodeFile

// SessionLifetime is how long a session lives without being used.
const SessionLifetime = auth.SessionLifetime

func (s *Server) openAccounts() error {
	mu, err := s.wd.NewMutex("accounts")
	if err != nil {
		return err
	}
	params := auth.DefaultParams
	if s.cfg.PasswordParams != nil {
		params = *s.cfg.PasswordParams
	}
	s.sessions, err = auth.OpenSessions(auth.SessionsOptions{Store: s.db, Logger: s.log, Now: s.cfg.Now,
		Params: params, RunDir: s.cfg.RunDir, Mutex: mu})
	return err
}

// Sessions is the box's session keeper (startos/auth).
func (s *Server) Sessions() *auth.Sessions { return s.sessions }

// SetupCode is the one-time code that lets another machine run setup, as
// Jupyter's token does: startd prints it at start. "" when the box already
// had an owner at Open.
func (s *Server) SetupCode() string { return s.sessions.SetupCode() }

// LocalCookieValid reports whether v is this run's local auth cookie.
func (s *Server) LocalCookieValid(v string) bool { return s.sessions.LocalCookieValid(v) }

// Authenticate maps a session token to its session id and marks the session
// active. An unknown or expired token is errdefs.ErrUnauthorized.
func (s *Server) Authenticate(ctx context.Context, token string) (string, error) {
	return s.sessions.Authenticate(ctx, token)
}

// WatchSessionEnds calls fn with the ids of sessions as they end (logout,
// kill, password reset, expiry), so transports can close their
// connections. fn must not block. The returned func stops the watch.
func (s *Server) WatchSessionEnds(fn func(ids []string)) (stop func()) {
	return s.sessions.WatchEnds(fn)
}

// SetupStatus says whether the box has an owner yet.
func (s *Server) SetupStatus(context.Context) (model.SetupStatus, error) {
	_, doc := s.db.Read()
	return s.setupStatus(doc), nil
}

// Setup sets the owner's password, once.
func (s *Server) Setup(ctx context.Context, p model.SetupParams) (model.Empty, error) {
	if _, doc := s.db.Read(); doc.Private.PasswordHash != "" {
		return model.Empty{}, errSetupDone
	}
	if err := s.sessions.SetupAllowed(caller.From(ctx), p.SetupCode); err != nil {
		return model.Empty{}, err
	}
	if err := s.checkSetupTarget(p); err != nil {
		return model.Empty{}, err
	}
	if err := s.openSetupPasswords(&p); err != nil {
		return model.Empty{}, err
	}
	if p.Hostname != "" {
		if err := checkHostname(p.Hostname); err != nil {
			return model.Empty{}, err
		}
	}
	if p.RecoverySource != nil {
		return model.Empty{}, s.recoverBox(ctx, *p.RecoverySource)
	}
	if p.Password == "" {
		return model.Empty{}, fmt.Errorf("setup: password: a fresh setup needs the owner's password: %w", errdefs.ErrInvalidRequest)
	}
	hash, err := auth.HashPassword(ctx, p.Password, s.sessions.PasswordParams())
	if err != nil {
		return model.Empty{}, err
	}
	_, err = s.db.Mutate(ctx, func(d *model.Document) error {
		if d.Private.PasswordHash != "" {
			return errSetupDone // a concurrent setup won
		}
		d.Private.PasswordHash = hash
		if p.Name != "" {
			d.Public.ServerInfo.Name = p.Name
		}
		if p.Hostname != "" {
			d.Public.ServerInfo.Hostname = p.Hostname
		}
		return nil
	})
	if err == nil {
		s.log.Info("setup complete: the box has an owner")
		s.sessions.SetupDone()
	}
	return model.Empty{}, err
}

var errSetupDone = fmt.Errorf("setup: the box already has an owner; use auth.reset-password to change the password: %w", errdefs.ErrDuplicate)

func checkHostname(h string) error {
	if len(h) > 63 || h == "" || strings.Trim(h, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" || h[0] == '-' || h[len(h)-1] == '-' {
		return fmt.Errorf("hostname %q: use 1-63 lowercase letters, digits and inner hyphens: %w", h, errdefs.ErrInvalidRequest)
	}
	return nil
}

// HostOnly strips the port from a remote address, for per-client limits.
func HostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
