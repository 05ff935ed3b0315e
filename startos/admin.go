package startos

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/ssh"
)

// authorizedKeysMu orders rewrites of the authorized_keys file, so two
// concurrent ssh.add calls cannot leave the older document's file last. It
// guards only that file.
var authorizedKeysMu sync.Mutex

// syncAuthorizedKeys rewrites the configured authorized_keys file from the
// document, which is the truth. No path configured means keys are kept
// but not written (a library user without sshd).
func (s *Server) syncAuthorizedKeys() error {
	if s.cfg.AuthorizedKeys == "" {
		return nil
	}
	authorizedKeysMu.Lock()
	defer authorizedKeysMu.Unlock()
	_, doc := s.db.Read()
	return ssh.WriteFile(s.cfg.AuthorizedKeys, doc.Private.SSHKeys)
}

// SSHAdd is ssh.add: authorize one public key line.
func (s *Server) SSHAdd(ctx context.Context, p model.SSHAddParams) (model.SSHKey, error) {
	k, err := ssh.Parse(p.Key, s.cfg.Now())
	if err != nil {
		return model.SSHKey{}, err
	}
	if _, err := s.db.Mutate(ctx, func(d *model.Document) error {
		keys, err := ssh.Add(d.Private.SSHKeys, k)
		if err != nil {
			return err
		}
		d.Private.SSHKeys = keys
		return nil
	}); err != nil {
		return model.SSHKey{}, err
	}
	s.log.Info("ssh key added", "fingerprint", k.Fingerprint, "alg", k.Alg)
	return k.SSHKey, s.syncAuthorizedKeys()
}

// SSHList is ssh.list, oldest first.
func (s *Server) SSHList(context.Context) ([]model.SSHKey, error) {
	_, doc := s.db.Read()
	out := []model.SSHKey{}
	for _, k := range ssh.List(doc.Private.SSHKeys) {
		out = append(out, k.SSHKey)
	}
	return out, nil
}

// SSHRemove is ssh.remove by SHA256 fingerprint.
func (s *Server) SSHRemove(ctx context.Context, p model.SSHRemoveParams) (model.Empty, error) {
	if _, err := s.db.Mutate(ctx, func(d *model.Document) error {
		if _, ok := d.Private.SSHKeys[p.Fingerprint]; !ok {
			return fmt.Errorf("no authorized SSH key has fingerprint %s: %w", p.Fingerprint, errdefs.ErrNotFound)
		}
		keys := make(map[string]model.StoredSSHKey, len(d.Private.SSHKeys))
		for fp, k := range d.Private.SSHKeys {
			if fp != p.Fingerprint {
				keys[fp] = k
			}
		}
		d.Private.SSHKeys = keys
		return nil
	}); err != nil {
		return model.Empty{}, err
	}
	s.log.Info("ssh key removed", "fingerprint", p.Fingerprint)
	return model.Empty{}, s.syncAuthorizedKeys()
}

// maxServerName bounds the display name; it is shown in titles and tabs.
const maxServerName = 64

// checkServerName accepts 1-64 printable characters, no leading or trailing
// space.
func checkServerName(n string) error {
	bad := func(why string) error {
		return fmt.Errorf("server name %q: %s: %w", n, why, errdefs.ErrInvalidRequest)
	}
	switch {
	case !utf8.ValidString(n):
		return bad("not valid UTF-8")
	case n == "":
		return bad("empty")
	case utf8.RuneCountInString(n) > maxServerName:
		return bad(fmt.Sprintf("longer than %d characters", maxServerName))
	case strings.TrimSpace(n) != n:
		return bad("leading or trailing space")
	}
	for _, r := range n {
		if !unicode.IsPrint(r) {
			return bad("holds a control or invisible character")
		}
	}
	return nil
}

// SetName is server.set-name.
func (s *Server) SetName(ctx context.Context, p model.SetNameParams) (model.Empty, error) {
	if err := checkServerName(p.Name); err != nil {
		return model.Empty{}, err
	}
	_, err := s.db.Mutate(ctx, func(d *model.Document) error {
		d.Public.ServerInfo.Name = p.Name
		return nil
	})
	return model.Empty{}, err
}

// SetHostname is server.set-hostname: an RFC 1123 label, lowercase.
func (s *Server) SetHostname(ctx context.Context, p model.SetHostnameParams) (model.Empty, error) {
	hostname, name := deref(p.Hostname), deref(p.Name)
	if hostname == "" && name == "" {
		return model.Empty{}, fmt.Errorf("set-hostname: give a hostname, a name or both: %w", errdefs.ErrInvalidRequest)
	}
	if hostname != "" {
		if err := checkHostname(hostname); err != nil {
			return model.Empty{}, err
		}
	}
	if name != "" {
		if err := checkServerName(name); err != nil {
			return model.Empty{}, err
		}
	}
	_, err := s.db.Mutate(ctx, func(d *model.Document) error {
		if hostname != "" {
			d.Public.ServerInfo.Hostname = hostname
		}
		if name != "" {
			d.Public.ServerInfo.Name = name
		}
		return nil
	})
	return model.Empty{}, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
