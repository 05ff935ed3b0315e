package model

// DBSubscribeParams is the params of db.subscribe. Pointer scopes the
// subscription (default /public); Since resumes after a revision the client
// already has, when the daemon still holds the revisions that follow it.
type DBSubscribeParams struct {
	Pointer string `json:"pointer,omitempty"`
	Since   uint64 `json:"since,omitempty"`
}

// DBSubscribeResult starts a db.subscribe stream: either a fresh Dump, or
// Resumed when the stream continues from Since (then the missed revisions
// arrive first). ID is the revision the stream continues from.
type DBSubscribeResult struct {
	ID      uint64 `json:"id"`
	Dump    *Dump  `json:"dump,omitempty"`
	Resumed bool   `json:"resumed,omitempty"`
}
