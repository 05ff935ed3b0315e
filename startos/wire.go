package startos

import (
	"context"
	"fmt"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

// StartOS's wire forms of the setup and password calls: the key for
// encrypted passwords, setup.execute's {progress, guid}, setup.status's
// fields.

// WirePubkey is the public key (a P-256 JWK) a client encrypts passwords
// with, as StartOS's auth.get-pubkey and setup.get-pubkey answer. The key is
// made at every start and never stored, as in StartOS.
func (s *Server) WirePubkey(context.Context) (model.JWK, error) {
	return s.sessions.WireKey().Public(), nil
}

// openSetupPasswords decrypts setup.execute's encrypted passwords in place.
func (s *Server) openSetupPasswords(p *model.SetupParams) error {
	var err error
	if p.Password, err = s.sessions.OpenPassword("password", p.Password, p.PasswordEncrypted); err != nil {
		return err
	}
	p.PasswordEncrypted = nil
	if r := p.RecoverySource; r != nil {
		src := *r
		if src.Password, err = s.sessions.OpenPassword("recoverySource.password", src.Password, src.PasswordEncrypted); err != nil {
			return err
		}
		src.PasswordEncrypted = nil
		p.RecoverySource = &src
	}
	return nil
}

// SetupExecute is setup.execute as StartOS answers it: the setup's
// progress and a stream of it. Setup here runs to the end before the
// answer, so the progress is complete and the stream ends at once (over
// plain HTTP: {progress, guid}, and /ws/rpc/<guid> closes "complete").
func (s *Server) SetupExecute(ctx context.Context, p model.SetupParams) (model.FullProgress, *feed.Feed[model.FullProgress], error) {
	if _, err := s.Setup(ctx, p); err != nil {
		return model.FullProgress{}, nil, err
	}
	done := model.FullProgress{
		Overall: model.Progress{Kind: model.ProgressComplete},
		Phases:  []model.NamedProgress{{Name: "Setup", Progress: model.Progress{Kind: model.ProgressComplete}}},
	}
	f := feed.New[model.FullProgress](1)
	f.End(nil)
	return done, f, nil
}

// checkSetupTarget honours setup.execute's guid and kiosk: the guid may
// only name this box's data folder (setup.status's guid), and there is no
// screen to show a kiosk on.
func (s *Server) checkSetupTarget(p model.SetupParams) error {
	if _, doc := s.db.Read(); p.GUID != "" && p.GUID != doc.Public.ServerInfo.ID {
		return fmt.Errorf("setup: guid %q: this box sets up its data folder, guid %q (setup.status); there are no drives to choose: %w",
			p.GUID, doc.Public.ServerInfo.ID, errdefs.ErrNotFound)
	}
	if p.Kiosk {
		return fmt.Errorf("setup: kiosk: startd shows no UI on an attached screen; send kiosk false: %w", errdefs.ErrInvalidRequest)
	}
	return nil
}

// setupStatus fills setup.status's fields beside status.
func (s *Server) setupStatus(doc *model.Document) model.SetupStatus {
	if doc.Private.PasswordHash == "" {
		id := doc.Public.ServerInfo.ID
		return model.SetupStatus{Status: model.SetupIncomplete, GUID: &id}
	}
	return model.SetupStatus{Status: model.SetupComplete, Hostname: doc.Public.ServerInfo.Hostname, RootCA: string(s.ca.PEM())}
}
