package model

import "encoding/json"

// StartOS writes an absent optional value as null, never leaves the key
// out; a strictly typed client (TypeScript's `string | null`, the Rust CLI)
// reads the key. These marshallers keep Go's zero values ("" for none) and
// write them as StartOS does.

// nullIfEmpty is s, or nil for "".
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// MarshalJSON writes current as null when the caller has no session.
func (l SessionList) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Current  *string                `json:"current"`
		Sessions map[string]SessionInfo `json:"sessions"`
	}{nullIfEmpty(l.Current), l.Sessions})
}

// MarshalJSON writes userAgent as null when the client sent none.
func (s SessionInfo) MarshalJSON() ([]byte, error) {
	type plain SessionInfo
	return json.Marshal(struct {
		plain
		UserAgent *string `json:"userAgent"`
	}{plain(s), nullIfEmpty(s.UserAgent)})
}

// MarshalJSON writes packageId as null for a notification of the box.
func (n Notification) MarshalJSON() ([]byte, error) {
	type plain Notification
	return json.Marshal(struct {
		plain
		PackageID *string `json:"packageId"`
	}{plain(n), nullIfEmpty(n.PackageID)})
}

// MarshalJSON writes the cursors of an empty page as null.
func (p LogPage) MarshalJSON() ([]byte, error) {
	type plain LogPage
	return json.Marshal(struct {
		plain
		StartCursor *string `json:"startCursor"`
		EndCursor   *string `json:"endCursor"`
	}{plain(p), nullIfEmpty(p.StartCursor), nullIfEmpty(p.EndCursor)})
}

// MarshalJSON writes the cursors of an empty page as null.
func (p PackageLogPage) MarshalJSON() ([]byte, error) {
	type plain PackageLogPage
	return json.Marshal(struct {
		plain
		StartCursor *string `json:"startCursor"`
		EndCursor   *string `json:"endCursor"`
	}{plain(p), nullIfEmpty(p.StartCursor), nullIfEmpty(p.EndCursor)})
}
