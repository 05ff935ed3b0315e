package model

// SideloadResult is the result of package.sideload: the one-shot id the
// package file is sent to (/rest/rpc/<upload>).
type SideloadResult struct {
	Upload string `json:"upload"`
}

// InstallParams are the params of package.install: an http(s) URL of a
// .s9pk file.
type InstallParams struct {
	URL string `json:"url"`
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
