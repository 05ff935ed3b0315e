package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// wirePassword is a password as StartOS's PasswordType carries it: a plain
// string, or EncryptedWire {"encrypted": <JWE>}.
type wirePassword struct {
	plain     string
	encrypted json.RawMessage
}

func (w *wirePassword) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &w.plain)
	}
	if len(b) == 0 || b[0] != '{' {
		return errPasswordForm
	}
	var e struct {
		Encrypted json.RawMessage `json:"encrypted"`
	}
	if err := strictUnmarshal(b, &e); err != nil || len(e.Encrypted) == 0 || string(e.Encrypted) == "null" {
		return errPasswordForm
	}
	w.encrypted = e.Encrypted
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

var errPasswordForm = errors.New(`a password is a string or {"encrypted": <JWE>} and nothing else`)

// passwordError names the param whose password could not be read, and
// reports other errors as the plain decoder would (without the path of
// the embedded struct that decoded them).
func passwordError(name string, err error) error {
	if errors.Is(err, errPasswordForm) {
		return fmt.Errorf("param %q: %w", name, err)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		c := *te
		c.Field = strings.TrimPrefix(c.Field, "plain.")
		return &c
	}
	return err
}

// UnmarshalJSON reads password plain or encrypted, the rest as usual
// (strictly: the RPC decoder's unknown-field check does not reach inside a
// type with its own UnmarshalJSON).
func (p *SetupParams) UnmarshalJSON(b []byte) error {
	type plain SetupParams
	w := struct {
		plain
		Password *wirePassword `json:"password"`
	}{plain: plain(*p)}
	if err := strictUnmarshal(b, &w); err != nil {
		return passwordError("password", err)
	}
	*p = SetupParams(w.plain)
	if w.Password != nil {
		p.Password, p.PasswordEncrypted = w.Password.plain, w.Password.encrypted
	}
	return nil
}

// UnmarshalJSON reads the backup password plain or encrypted.
func (r *RecoverySource) UnmarshalJSON(b []byte) error {
	type plain RecoverySource
	w := struct {
		plain
		Password *wirePassword `json:"password"`
	}{plain: plain(*r)}
	if err := strictUnmarshal(b, &w); err != nil {
		return passwordError("recoverySource.password", err)
	}
	*r = RecoverySource(w.plain)
	if w.Password != nil {
		r.Password, r.PasswordEncrypted = w.Password.plain, w.Password.encrypted
	}
	return nil
}

// UnmarshalJSON reads both passwords plain or encrypted.
func (p *ResetPasswordParams) UnmarshalJSON(b []byte) error {
	type plain ResetPasswordParams
	w := struct {
		plain
		OldPassword *wirePassword `json:"oldPassword"`
		NewPassword *wirePassword `json:"newPassword"`
	}{plain: plain(*p)}
	if err := strictUnmarshal(b, &w); err != nil {
		return passwordError("oldPassword/newPassword", err)
	}
	*p = ResetPasswordParams(w.plain)
	if w.OldPassword != nil {
		p.OldPassword, p.OldPasswordEncrypted = w.OldPassword.plain, w.OldPassword.encrypted
	}
	if w.NewPassword != nil {
		p.NewPassword, p.NewPasswordEncrypted = w.NewPassword.plain, w.NewPassword.encrypted
	}
	return nil
}

// MarshalJSON writes only the fields StartOS gives for the status.
func (s SetupStatus) MarshalJSON() ([]byte, error) {
	switch s.Status {
	case SetupIncomplete:
		return json.Marshal(struct {
			Status      string  `json:"status"`
			GUID        *string `json:"guid"`
			Attach      bool    `json:"attach"`
			MokEnrolled bool    `json:"mokEnrolled"`
		}{s.Status, s.GUID, s.Attach, s.MokEnrolled})
	case SetupComplete:
		return json.Marshal(struct {
			Status       string `json:"status"`
			Hostname     string `json:"hostname"`
			RootCA       string `json:"rootCa"`
			NeedsRestart bool   `json:"needsRestart"`
		}{s.Status, s.Hostname, s.RootCA, s.NeedsRestart})
	}
	type plain SetupStatus
	return json.Marshal(plain(s))
}
