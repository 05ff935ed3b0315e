package server

import (
	"context"
	"net/http"
	"time"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/caller"
	"github.com/startos-go/startos/startos/model"
)

// identify works out who an HTTP request (or WebSocket upgrade) comes from:
// the local cookie makes it the local administrator; a session cookie that
// the library accepts makes it that session; otherwise nobody.
func (s *Server) identify(r *http.Request) caller.Caller {
	if who, ok := r.Context().Value(socketCallerKey{}).(caller.Caller); ok {
		return who // HTTP on the unix socket: the peer's credentials decide
	}
	who := caller.Caller{Addr: hostOnly(r.RemoteAddr), UserAgent: r.UserAgent()}
	if c, err := r.Cookie(rpc.LocalCookie); err == nil && s.d.lib.LocalCookieValid(c.Value) {
		who.Local = true
		return who
	}
	if c, err := r.Cookie(rpc.SessionCookie); err == nil && c.Value != "" {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if id, err := s.d.lib.Authenticate(ctx, c.Value); err == nil {
			who.Session = id
		}
	}
	return who
}

// applyCookie sets or clears the session cookie after a call that opens or
// ends a session. The cookie is HttpOnly and SameSite=Strict, and Secure when
// the request came over TLS.
func applyCookie(w http.ResponseWriter, r *http.Request, m *Method, result any) {
	c := &http.Cookie{Name: rpc.SessionCookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil}
	switch m.Cookie {
	case rpc.CookieSet:
		lr, ok := result.(model.LoginResult)
		if !ok || lr.Session == "" {
			return
		}
		c.Value = lr.Session
		if !lr.Ephemeral {
			c.MaxAge = int(rpc.SessionCookieMaxAge.Seconds())
		}
	case rpc.CookieClear:
		c.MaxAge = -1
	default:
		return
	}
	w.Header().Add("Set-Cookie", c.String())
}

// closeSessions closes every stream connection made under one of ids, so a
// killed session's subscriptions end at once.
func (s *Server) closeSessions(ids []string) {
	ended := make(map[string]bool, len(ids))
	for _, id := range ids {
		ended[id] = true
	}
	s.mu.Lock()
	var doomed []*streamConn
	for c := range s.conns {
		if c.who.Session != "" && ended[c.who.Session] {
			doomed = append(doomed, c)
		}
	}
	s.mu.Unlock()
	s.conts.endSessions(ended)
	for _, c := range doomed {
		s.log.Info("closing connection of ended session", "transport", c.peer.Transport)
		c.stream.Close()
	}
}

func hostOnly(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			h := addr[:i]
			if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
				h = h[1 : len(h)-1]
			}
			return h
		}
		if addr[i] < '0' || addr[i] > '9' {
			break
		}
	}
	return addr
}

// withoutToken drops the session token from auth.login's answer on every
// transport a browser can use: over HTTP the token travels only in the
// HttpOnly cookie, which page scripts cannot read, and a WebSocket is opened
// by page scripts. Only the unix socket, whose peers are local programs,
// gets the token in the body.
func withoutToken(m *Method, result any) any {
	if m == nil || m.Cookie != rpc.CookieSet {
		return result
	}
	if lr, ok := result.(model.LoginResult); ok {
		lr.Session = ""
		return lr
	}
	return result
}
