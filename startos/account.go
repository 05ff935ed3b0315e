package startos

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/startos-go/startos/internal/atomicfile"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/caller"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/watchdog"
)

// SessionLifetime is how long a session lives without being used.
const SessionLifetime = 30 * 24 * time.Hour

// lastActiveGrain limits how often a session's lastActive is written: at
// most once a minute, so authenticated calls do not each cost an fsync.
const lastActiveGrain = time.Minute

// AuthCookieFile is the local auth cookie in the run directory.
const AuthCookieFile = "rpc.authcookie"

// SetupCodeFile holds, mode 0600 in the run directory, the one-time code
// that lets another machine set the box up; it exists only while the box has
// no owner.
const SetupCodeFile = "setup-code"

// accounts holds what authentication keeps outside the state document.
type accounts struct {
	limiter *auth.Limiter
	params  auth.Params
	cookie  string // the local cookie's value
	// setupCode lets a non-local client run setup; "" once the box has an
	// owner. Fixed after Open.
	setupCode string

	// mu is a watched lock: held only for map updates, so the watchdog's
	// dump names whoever holds it for long.
	mu        *watchdog.Mutex
	ephemeral map[string]model.Session // guarded by mu; sessions kept in memory only
	watchers  map[int]func([]string)   // guarded by mu
	nextWatch int                      // guarded by mu
	// wire decrypts passwords sent as StartOS's EncryptedWire (wire.go).
	wire *auth.WireKey
}

func (s *Server) openAccounts() error {
	mu, err := s.wd.NewMutex("accounts")
	if err != nil {
		return err
	}
	a := &accounts{limiter: auth.NewLimiter(), params: auth.DefaultParams, mu: mu,
		ephemeral: map[string]model.Session{}, watchers: map[int]func([]string){}}
	if s.cfg.PasswordParams != nil {
		a.params = *s.cfg.PasswordParams
	}
	if a.wire, err = auth.NewWireKey(); err != nil {
		return err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	a.cookie = base64.StdEncoding.EncodeToString(b)
	path := filepath.Join(s.cfg.RunDir, AuthCookieFile)
	if err := atomicfile.Write(path, []byte(a.cookie), 0o600); err != nil {
		return fmt.Errorf("startos: local auth cookie: %w", err)
	}
	codePath := filepath.Join(s.cfg.RunDir, SetupCodeFile)
	if _, doc := s.db.Read(); doc.Private.PasswordHash == "" {
		a.setupCode = newSetupCode()
		if err := atomicfile.Write(codePath, []byte(a.setupCode+"\n"), 0o600); err != nil {
			return fmt.Errorf("startos: setup code: %w", err)
		}
	} else if err := os.Remove(codePath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("startos: setup code: %w", err)
	}
	s.acct = a
	return nil
}

// SetupCode is the one-time code that lets another machine run setup, as
// Jupyter's token does: startd prints it at start. "" when the box already
// had an owner at Open.
func (s *Server) SetupCode() string { return s.acct.setupCode }

// newSetupCode: 10 characters of base32 (50 bits), grouped for reading
// aloud; guesses are rate limited like passwords.
func newSetupCode() string {
	b := make([]byte, 7)
	rand.Read(b)
	c := strings.ToUpper(lowerBase32.EncodeToString(b))[:10]
	return c[:5] + "-" + c[5:]
}

// setupAllowed: setup claims the box, so a request from the network needs
// the setup code; the unix socket, loopback clients and in-process callers
// do not. (A page in the owner's browser reaches loopback too: the RPC
// transport refuses foreign Host and Origin headers before this.)
func (s *Server) setupAllowed(who caller.Caller, code string) error {
	if who.Local || who.Addr == "" || who.Addr == "unix" {
		return nil
	}
	if ip := net.ParseIP(who.Addr); ip != nil && ip.IsLoopback() {
		return nil
	}
	if code == "" {
		return fmt.Errorf("setup from another machine needs the setup code that startd printed at start (also in <run-dir>/%s): %w", SetupCodeFile, errdefs.ErrUnauthorized)
	}
	end, err := s.acct.attempt(who)
	if err != nil {
		return err
	}
	want := s.acct.setupCode
	norm := strings.ToUpper(strings.TrimSpace(code))
	if want == "" || subtle.ConstantTimeCompare([]byte(norm), []byte(want)) != 1 {
		end(auth.Wrong)
		s.log.Warn("setup refused: setup code incorrect", "addr", who.Addr)
		return fmt.Errorf("setup code incorrect: %w", errdefs.ErrUnauthorized)
	}
	end(auth.Right)
	return nil
}

// attempt admits a password (or setup code) attempt under the rate limit;
// the local administrator is never limited.
func (a *accounts) attempt(who caller.Caller) (end func(auth.Outcome), err error) {
	if who.Local {
		return func(auth.Outcome) {}, nil
	}
	return a.limiter.Begin(who.Addr)
}

// LocalCookieValid reports whether v is this run's local auth cookie.
func (s *Server) LocalCookieValid(v string) bool {
	return v != "" && subtle.ConstantTimeCompare([]byte(v), []byte(s.acct.cookie)) == 1
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
	if err := s.setupAllowed(caller.From(ctx), p.SetupCode); err != nil {
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
	hash, err := auth.HashPassword(ctx, p.Password, s.acct.params)
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
		if rerr := os.Remove(filepath.Join(s.cfg.RunDir, SetupCodeFile)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			s.log.Warn("setup code file not removed", "error", rerr)
		}
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

// Login checks the owner's password and opens a session. Attempts are
// limited per client address, except for the local administrator.
func (s *Server) Login(ctx context.Context, p model.LoginParams) (model.LoginResult, error) {
	who := caller.From(ctx)
	_, doc := s.db.Read()
	if doc.Private.PasswordHash == "" {
		return model.LoginResult{}, fmt.Errorf("login: the box has no owner yet; run setup first: %w", errdefs.ErrInvalidRequest)
	}
	end, err := s.acct.attempt(who)
	if err != nil {
		return model.LoginResult{}, err
	}
	if err := auth.VerifyPassword(ctx, doc.Private.PasswordHash, p.Password); err != nil {
		if errors.Is(err, errdefs.ErrIncorrectPassword) {
			end(auth.Wrong)
			s.log.Warn("login failed: password incorrect", "addr", who.Addr)
			return model.LoginResult{}, fmt.Errorf("login: %w", errdefs.ErrIncorrectPassword)
		}
		end(auth.Abandoned)
		return model.LoginResult{}, err
	}
	end(auth.Right)
	token, id := newSessionToken()
	now := s.cfg.Now().UTC()
	sess := model.Session{LoggedIn: now, LastActive: now, UserAgent: truncate(who.UserAgent, 256)}
	if p.Ephemeral {
		s.acct.mu.Lock()
		s.acct.ephemeral[id] = sess
		s.acct.mu.Unlock()
	} else if _, err := s.db.Mutate(ctx, func(d *model.Document) error {
		d.Private.Sessions[id] = sess
		return nil
	}); err != nil {
		return model.LoginResult{}, err
	}
	s.log.Info("login", "session", shortID(id), "addr", who.Addr, "ephemeral", p.Ephemeral)
	return model.LoginResult{Session: token, Ephemeral: p.Ephemeral}, nil
}

// Authenticate maps a session token to its session id and marks the session
// active. An unknown or expired token is errdefs.ErrUnauthorized.
func (s *Server) Authenticate(ctx context.Context, token string) (string, error) {
	id := sessionID(token)
	now := s.cfg.Now().UTC()
	s.acct.mu.Lock()
	if sess, ok := s.acct.ephemeral[id]; ok {
		sess.LastActive = now
		s.acct.ephemeral[id] = sess
		s.acct.mu.Unlock()
		return id, nil
	}
	s.acct.mu.Unlock()
	_, doc := s.db.Read()
	sess, ok := doc.Private.Sessions[id]
	if !ok {
		return "", fmt.Errorf("session not found or ended: %w", errdefs.ErrUnauthorized)
	}
	if now.Sub(sess.LastActive) > SessionLifetime {
		_ = s.endSessions(ctx, []string{id})
		return "", fmt.Errorf("session expired: %w", errdefs.ErrUnauthorized)
	}
	if now.Sub(sess.LastActive) > lastActiveGrain {
		_, err := s.db.Mutate(ctx, func(d *model.Document) error {
			if cur, ok := d.Private.Sessions[id]; ok {
				cur.LastActive = now
				d.Private.Sessions[id] = cur
			}
			return nil
		})
		if err != nil {
			s.log.Warn("session lastActive not recorded", "error", err)
		}
	}
	return id, nil
}

// Logout ends the caller's session.
func (s *Server) Logout(ctx context.Context) (model.Empty, error) {
	id := caller.From(ctx).Session
	if id == "" {
		return model.Empty{}, fmt.Errorf("logout: this call is not made under a session: %w", errdefs.ErrInvalidRequest)
	}
	return model.Empty{}, s.endSessions(ctx, []string{id})
}

// Sessions lists the open sessions, marking the caller's.
func (s *Server) Sessions(ctx context.Context) (model.SessionList, error) {
	out := model.SessionList{Current: caller.From(ctx).Session, Sessions: map[string]model.SessionInfo{}}
	_, doc := s.db.Read()
	for id, sess := range doc.Private.Sessions {
		out.Sessions[id] = model.SessionInfo{LoggedIn: sess.LoggedIn, LastActive: sess.LastActive, UserAgent: sess.UserAgent}
	}
	s.acct.mu.Lock()
	for id, sess := range s.acct.ephemeral {
		out.Sessions[id] = model.SessionInfo{LoggedIn: sess.LoggedIn, LastActive: sess.LastActive, UserAgent: sess.UserAgent, Ephemeral: true}
	}
	s.acct.mu.Unlock()
	return out, nil
}

// KillSessions ends the given sessions; their connections close at once.
func (s *Server) KillSessions(ctx context.Context, p model.SessionKillParams) (model.Empty, error) {
	list, _ := s.Sessions(ctx)
	for _, id := range p.IDs {
		if _, ok := list.Sessions[id]; !ok {
			return model.Empty{}, fmt.Errorf("session %q: %w", id, errdefs.ErrNotFound)
		}
	}
	return model.Empty{}, s.endSessions(ctx, p.IDs)
}

// ResetPassword changes the password after checking the old one, and ends
// every session but the caller's.
func (s *Server) ResetPassword(ctx context.Context, p model.ResetPasswordParams) (model.Empty, error) {
	who := caller.From(ctx)
	_, doc := s.db.Read()
	if doc.Private.PasswordHash == "" {
		return model.Empty{}, fmt.Errorf("reset-password: the box has no owner yet; run setup first: %w", errdefs.ErrInvalidRequest)
	}
	var err error
	if p.OldPassword, err = s.openPassword("oldPassword", p.OldPassword, p.OldPasswordEncrypted); err != nil {
		return model.Empty{}, err
	}
	if p.NewPassword, err = s.openPassword("newPassword", p.NewPassword, p.NewPasswordEncrypted); err != nil {
		return model.Empty{}, err
	}
	end, err := s.acct.attempt(who)
	if err != nil {
		return model.Empty{}, err
	}
	if err := auth.VerifyPassword(ctx, doc.Private.PasswordHash, p.OldPassword); err != nil {
		if errors.Is(err, errdefs.ErrIncorrectPassword) {
			end(auth.Wrong)
		} else {
			end(auth.Abandoned)
		}
		return model.Empty{}, fmt.Errorf("reset-password: old password: %w", err)
	}
	end(auth.Right)
	hash, err := auth.HashPassword(ctx, p.NewPassword, s.acct.params)
	if err != nil {
		return model.Empty{}, fmt.Errorf("reset-password: new %w", err)
	}
	var ended []string
	_, err = s.db.Mutate(ctx, func(d *model.Document) error {
		d.Private.PasswordHash = hash
		ended = ended[:0]
		for id := range d.Private.Sessions {
			if id != who.Session {
				ended = append(ended, id)
				delete(d.Private.Sessions, id)
			}
		}
		return nil
	})
	if err != nil {
		return model.Empty{}, err
	}
	s.acct.mu.Lock()
	for id := range s.acct.ephemeral {
		if id != who.Session {
			ended = append(ended, id)
			delete(s.acct.ephemeral, id)
		}
	}
	s.acct.mu.Unlock()
	s.log.Info("password changed", "sessions-ended", len(ended))
	s.announceEnded(ended)
	return model.Empty{}, nil
}

// endSessions removes sessions and tells the watchers, after the change is
// durable and without holding any lock.
func (s *Server) endSessions(ctx context.Context, ids []string) error {
	s.acct.mu.Lock()
	for _, id := range ids {
		delete(s.acct.ephemeral, id)
	}
	s.acct.mu.Unlock()
	_, err := s.db.Mutate(ctx, func(d *model.Document) error {
		for _, id := range ids {
			delete(d.Private.Sessions, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.announceEnded(ids)
	return nil
}

func (s *Server) announceEnded(ids []string) {
	if len(ids) == 0 {
		return
	}
	s.acct.mu.Lock()
	ws := make([]func([]string), 0, len(s.acct.watchers))
	for _, w := range s.acct.watchers {
		ws = append(ws, w)
	}
	s.acct.mu.Unlock()
	for _, w := range ws {
		w(ids)
	}
}

// WatchSessionEnds calls fn with the ids of sessions as they end (logout,
// kill, password reset, expiry), so transports can close their
// connections. fn must not block. The returned func stops the watch.
func (s *Server) WatchSessionEnds(fn func(ids []string)) (stop func()) {
	s.acct.mu.Lock()
	id := s.acct.nextWatch
	s.acct.nextWatch++
	s.acct.watchers[id] = fn
	s.acct.mu.Unlock()
	return func() {
		s.acct.mu.Lock()
		delete(s.acct.watchers, id)
		s.acct.mu.Unlock()
	}
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newSessionToken returns a token (16 random bytes) and its id, the hash
// that is all the daemon stores.
func newSessionToken() (token, id string) {
	b := make([]byte, 16)
	rand.Read(b)
	token = lowerBase32.EncodeToString(b)
	return token, sessionID(token)
}

func sessionID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return lowerBase32.EncodeToString(sum[:])
}

// shortID is a session id prefix for logs.
func shortID(id string) string { return truncate(id, 8) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// HostOnly strips the port from a remote address, for per-client limits.
func HostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
