package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/internal/atomicfile"
	"github.com/startos-go/startos/startos/caller"
	"github.com/startos-go/startos/startos/db"
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

// Sessions is who may call the box: the owner's sessions (in the state
// document, or in memory for ephemeral ones), the local auth cookie, the
// one-time setup code, and the rate limit on password and code guesses.
type Sessions struct {
	store         *db.Store
	log           hclog.Logger
	now           func() time.Time
	limiter       *Limiter
	params        Params
	cookie        string // the local cookie's value
	setupCodeFile string
	// setupCode lets a non-local client run setup; "" once the box has an
	// owner. Fixed after Open.
	setupCode string

	// mu is a watched lock: held only for map updates, so the watchdog's
	// dump names whoever holds it for long.
	mu        *watchdog.Mutex
	ephemeral map[string]model.Session // guarded by mu; sessions kept in memory only
	watchers  map[int]func([]string)   // guarded by mu
	nextWatch int                      // guarded by mu
	// wire decrypts passwords sent as StartOS's EncryptedWire; made at
	// every open and never stored, as in StartOS.
	wire *WireKey
}

// SessionsOptions configure OpenSessions.
type SessionsOptions struct {
	Store  *db.Store
	Logger hclog.Logger
	Now    func() time.Time
	Params Params          // password hashing
	RunDir string          // where the local cookie and the setup code are written
	Mutex  *watchdog.Mutex // guards the in-memory maps
}

// OpenSessions writes a fresh local cookie to the run directory and, while
// the box has no owner, a setup code.
func OpenSessions(o SessionsOptions) (*Sessions, error) {
	s := &Sessions{store: o.Store, log: o.Logger, now: o.Now, limiter: NewLimiter(), params: o.Params, mu: o.Mutex,
		setupCodeFile: filepath.Join(o.RunDir, SetupCodeFile),
		ephemeral:     map[string]model.Session{}, watchers: map[int]func([]string){}}
	var err error
	if s.wire, err = NewWireKey(); err != nil {
		return nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	s.cookie = base64.StdEncoding.EncodeToString(b)
	if err := atomicfile.Write(filepath.Join(o.RunDir, AuthCookieFile), []byte(s.cookie), 0o600); err != nil {
		return nil, fmt.Errorf("startos: local auth cookie: %w", err)
	}
	if _, doc := s.store.Read(); doc.Private.PasswordHash == "" {
		s.setupCode = newSetupCode()
		if err := atomicfile.Write(s.setupCodeFile, []byte(s.setupCode+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("startos: setup code: %w", err)
		}
	} else if err := os.Remove(s.setupCodeFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("startos: setup code: %w", err)
	}
	return s, nil
}

// WireKey is the key clients encrypt passwords with (setup.get-pubkey,
// auth.get-pubkey).
func (s *Sessions) WireKey() *WireKey { return s.wire }

// OpenPassword is the plain password from a param that may have come as
// StartOS's EncryptedWire (name is the param, for the error).
func (s *Sessions) OpenPassword(name, plain string, encrypted json.RawMessage) (string, error) {
	if len(encrypted) == 0 {
		return plain, nil
	}
	pw, err := s.wire.Decrypt(encrypted)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return pw, nil
}

// SetupCode is the one-time code that lets another machine run setup; ""
// when the box already had an owner at open.
func (s *Sessions) SetupCode() string { return s.setupCode }

// SetupDone removes the setup code file once the box has an owner.
func (s *Sessions) SetupDone() {
	if err := os.Remove(s.setupCodeFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("setup code file not removed", "error", err)
	}
}

// PasswordParams are the password hashing parameters in use.
func (s *Sessions) PasswordParams() Params { return s.params }

// LocalCookieValid reports whether v is this run's local auth cookie.
func (s *Sessions) LocalCookieValid(v string) bool {
	return v != "" && subtle.ConstantTimeCompare([]byte(v), []byte(s.cookie)) == 1
}

// Login checks the owner's password and opens a session. Attempts are
// limited per client address, except for the local administrator.
func (s *Sessions) Login(ctx context.Context, p model.LoginParams) (model.LoginResult, error) {
	who := caller.From(ctx)
	_, doc := s.store.Read()
	if doc.Private.PasswordHash == "" {
		return model.LoginResult{}, fmt.Errorf("login: the box has no owner yet; run setup first: %w", errdefs.ErrInvalidRequest)
	}
	end, err := s.attempt(who)
	if err != nil {
		return model.LoginResult{}, err
	}
	if err := VerifyPassword(ctx, doc.Private.PasswordHash, p.Password); err != nil {
		if errors.Is(err, errdefs.ErrIncorrectPassword) {
			end(Wrong)
			s.log.Warn("login failed: password incorrect", "addr", who.Addr)
			return model.LoginResult{}, fmt.Errorf("login: %w", errdefs.ErrIncorrectPassword)
		}
		end(Abandoned)
		return model.LoginResult{}, err
	}
	end(Right)
	token, id := newSessionToken()
	now := s.now().UTC()
	sess := model.Session{LoggedIn: now, LastActive: now, UserAgent: truncate(who.UserAgent, 256)}
	if p.Ephemeral {
		s.mu.Lock()
		s.ephemeral[id] = sess
		s.mu.Unlock()
	} else if _, err := s.store.Mutate(ctx, func(d *model.Document) error {
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
func (s *Sessions) Authenticate(ctx context.Context, token string) (string, error) {
	id := sessionID(token)
	now := s.now().UTC()
	s.mu.Lock()
	if sess, ok := s.ephemeral[id]; ok {
		sess.LastActive = now
		s.ephemeral[id] = sess
		s.mu.Unlock()
		return id, nil
	}
	s.mu.Unlock()
	_, doc := s.store.Read()
	sess, ok := doc.Private.Sessions[id]
	if !ok {
		return "", fmt.Errorf("session not found or ended: %w", errdefs.ErrUnauthorized)
	}
	if now.Sub(sess.LastActive) > SessionLifetime {
		_ = s.end(ctx, []string{id})
		return "", fmt.Errorf("session expired: %w", errdefs.ErrUnauthorized)
	}
	if now.Sub(sess.LastActive) > lastActiveGrain {
		_, err := s.store.Mutate(ctx, func(d *model.Document) error {
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
func (s *Sessions) Logout(ctx context.Context) (model.Empty, error) {
	id := caller.From(ctx).Session
	if id == "" {
		return model.Empty{}, fmt.Errorf("logout: this call is not made under a session: %w", errdefs.ErrInvalidRequest)
	}
	return model.Empty{}, s.end(ctx, []string{id})
}

// List lists the open sessions, marking the caller's.
func (s *Sessions) List(ctx context.Context) (model.SessionList, error) {
	out := model.SessionList{Current: caller.From(ctx).Session, Sessions: map[string]model.SessionInfo{}}
	_, doc := s.store.Read()
	for id, sess := range doc.Private.Sessions {
		out.Sessions[id] = model.SessionInfo{LoggedIn: sess.LoggedIn, LastActive: sess.LastActive, UserAgent: sess.UserAgent}
	}
	s.mu.Lock()
	for id, sess := range s.ephemeral {
		out.Sessions[id] = model.SessionInfo{LoggedIn: sess.LoggedIn, LastActive: sess.LastActive, UserAgent: sess.UserAgent, Ephemeral: true}
	}
	s.mu.Unlock()
	return out, nil
}

// Kill ends the given sessions; their connections close at once.
func (s *Sessions) Kill(ctx context.Context, p model.SessionKillParams) (model.Empty, error) {
	list, _ := s.List(ctx)
	for _, id := range p.IDs {
		if _, ok := list.Sessions[id]; !ok {
			return model.Empty{}, fmt.Errorf("session %q: %w", id, errdefs.ErrNotFound)
		}
	}
	return model.Empty{}, s.end(ctx, p.IDs)
}

// ResetPassword changes the password after checking the old one, and ends
// every session but the caller's.
func (s *Sessions) ResetPassword(ctx context.Context, p model.ResetPasswordParams) (model.Empty, error) {
	who := caller.From(ctx)
	_, doc := s.store.Read()
	if doc.Private.PasswordHash == "" {
		return model.Empty{}, fmt.Errorf("reset-password: the box has no owner yet; run setup first: %w", errdefs.ErrInvalidRequest)
	}
	var err error
	if p.OldPassword, err = s.OpenPassword("oldPassword", p.OldPassword, p.OldPasswordEncrypted); err != nil {
		return model.Empty{}, err
	}
	if p.NewPassword, err = s.OpenPassword("newPassword", p.NewPassword, p.NewPasswordEncrypted); err != nil {
		return model.Empty{}, err
	}
	end, err := s.attempt(who)
	if err != nil {
		return model.Empty{}, err
	}
	if err := VerifyPassword(ctx, doc.Private.PasswordHash, p.OldPassword); err != nil {
		if errors.Is(err, errdefs.ErrIncorrectPassword) {
			end(Wrong)
		} else {
			end(Abandoned)
		}
		return model.Empty{}, fmt.Errorf("reset-password: old password: %w", err)
	}
	end(Right)
	hash, err := HashPassword(ctx, p.NewPassword, s.params)
	if err != nil {
		return model.Empty{}, fmt.Errorf("reset-password: new %w", err)
	}
	var ended []string
	_, err = s.store.Mutate(ctx, func(d *model.Document) error {
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
	s.mu.Lock()
	for id := range s.ephemeral {
		if id != who.Session {
			ended = append(ended, id)
			delete(s.ephemeral, id)
		}
	}
	s.mu.Unlock()
	s.log.Info("password changed", "sessions-ended", len(ended))
	s.announceEnded(ended)
	return model.Empty{}, nil
}

// end removes sessions and tells the watchers, after the change is
// durable and without holding any lock.
func (s *Sessions) end(ctx context.Context, ids []string) error {
	s.mu.Lock()
	for _, id := range ids {
		delete(s.ephemeral, id)
	}
	s.mu.Unlock()
	_, err := s.store.Mutate(ctx, func(d *model.Document) error {
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

func (s *Sessions) announceEnded(ids []string) {
	if len(ids) == 0 {
		return
	}
	s.mu.Lock()
	ws := make([]func([]string), 0, len(s.watchers))
	for _, w := range s.watchers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		w(ids)
	}
}

// WatchEnds calls fn with the ids of sessions as they end (logout,
// kill, password reset, expiry), so transports can close their
// connections. fn must not block. The returned func stops the watch.
func (s *Sessions) WatchEnds(fn func(ids []string)) (stop func()) {
	s.mu.Lock()
	id := s.nextWatch
	s.nextWatch++
	s.watchers[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.watchers, id)
		s.mu.Unlock()
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

// newSetupCode: 10 characters of base32 (50 bits), grouped for reading
// aloud; guesses are rate limited like passwords.
func newSetupCode() string {
	b := make([]byte, 7)
	rand.Read(b)
	c := strings.ToUpper(lowerBase32.EncodeToString(b))[:10]
	return c[:5] + "-" + c[5:]
}

// SetupAllowed: setup claims the box, so a request from the network needs
// the setup code; the unix socket, loopback clients and in-process callers
// do not. (A page in the owner's browser reaches loopback too: the RPC
// transport refuses foreign Host and Origin headers before this.)
func (s *Sessions) SetupAllowed(who caller.Caller, code string) error {
	if who.Local || who.Addr == "" || who.Addr == "unix" {
		return nil
	}
	if ip := net.ParseIP(who.Addr); ip != nil && ip.IsLoopback() {
		return nil
	}
	if code == "" {
		return fmt.Errorf("setup from another machine needs the setup code that startd printed at start (also in <run-dir>/%s): %w", s.setupCodeFile, errdefs.ErrUnauthorized)
	}
	end, err := s.attempt(who)
	if err != nil {
		return err
	}
	want := s.setupCode
	norm := strings.ToUpper(strings.TrimSpace(code))
	if want == "" || subtle.ConstantTimeCompare([]byte(norm), []byte(want)) != 1 {
		end(Wrong)
		s.log.Warn("setup refused: setup code incorrect", "addr", who.Addr)
		return fmt.Errorf("setup code incorrect: %w", errdefs.ErrUnauthorized)
	}
	end(Right)
	return nil
}

// attempt admits a password (or setup code) attempt under the rate limit;
// the local administrator is never limited.
func (s *Sessions) attempt(who caller.Caller) (end func(Outcome), err error) {
	if who.Local {
		return func(Outcome) {}, nil
	}
	return s.limiter.Begin(who.Addr)
}
