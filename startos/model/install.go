package model

// SideloadResult is the result of package.sideload: the one-shot id the
// package file is sent to (/rest/rpc/<upload>).
type SideloadResult struct {
	Upload string `json:"upload"`
}

// InstallParams are the params of package.install: an http(s) URL of a
// .s9pk file. AllowKeyChange is the fingerprint of a new developer key the
// owner accepts for an installed package id ("SHA256:..."); without it an
// update signed by another key than the first install's is refused.
type InstallParams struct {
	// URL installs from an http(s) URL; without it, ID (with an optional
	// Version range and Registry) installs from the configured registries.
	URL            string `json:"url,omitempty"`
	ID             string `json:"id,omitempty"`
	Version        string `json:"version,omitempty"`
	Registry       string `json:"registry,omitempty"`
	AllowKeyChange string `json:"allowKeyChange,omitempty"`
}

// SideloadParams are the params of package.sideload (all optional).
type SideloadParams struct {
	AllowKeyChange string `json:"allowKeyChange,omitempty"`
}

// CancelInstallParams are the params of package.cancel-install.
type CancelInstallParams struct {
	ID string `json:"id"`
}

// UninstallParams are the params of package.uninstall. Soft keeps the data
// volumes; Force uninstalls even when other installed packages require this
// one.
type UninstallParams struct {
	ID    string `json:"id"`
	Soft  bool   `json:"soft,omitempty"`
	Force bool   `json:"force,omitempty"`
}

// InstallProgressParams are the params of the install progress stream.
type InstallProgressParams struct {
	ID string `json:"id"`
}
