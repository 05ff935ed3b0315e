package model

import "time"

// SSHKey is an authorized SSH key as ssh.list and ssh.add answer it
// (StartOS shape).
type SSHKey struct {
	Alg         string    `json:"alg"`
	Fingerprint string    `json:"fingerprint"` // "SHA256:..." as ssh-keygen -l prints it
	Hostname    string    `json:"hostname"`    // the key's comment
	CreatedAt   time.Time `json:"createdAt"`
}

// StoredSSHKey is an SSHKey with its normalised authorized_keys line, as the
// private document keeps it.
type StoredSSHKey struct {
	SSHKey
	Line string `json:"line"`
}

// SSHAddParams is ssh.add: one public key line (type, base64, comment).
type SSHAddParams struct {
	Key string `json:"key"`
}

// SSHRemoveParams is ssh.remove.
type SSHRemoveParams struct {
	Fingerprint string `json:"fingerprint"`
}

// SetNameParams is server.set-name.
type SetNameParams struct {
	Name string `json:"name"`
}

// SetHostnameParams is server.set-hostname: StartOS's
// SetServerHostnameParams, the hostname and (optionally) the display name;
// either may be null, not both.
type SetHostnameParams struct {
	Hostname *string `json:"hostname"`
	Name     *string `json:"name,omitempty"`
}

// PowerParams is server.restart and server.shutdown.
type PowerParams struct {
	// Force goes ahead while an install, update, restore or removal runs.
	Force bool `json:"force,omitempty"`
}
