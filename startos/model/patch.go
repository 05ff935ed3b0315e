package model

import "encoding/json"

// Patch operation names (RFC 6902). The state document emits only add,
// remove and replace; appliers accept all six.
const (
	OpAdd     = "add"
	OpRemove  = "remove"
	OpReplace = "replace"
	OpMove    = "move"
	OpCopy    = "copy"
	OpTest    = "test"
)

// PatchOp is one RFC 6902 operation. Path and From are RFC 6901 JSON Pointers.
type PatchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
	From  string          `json:"from,omitempty"`
}

// Patch is an RFC 6902 JSON Patch. It is always sent as an array, never null.
type Patch []PatchOp

// MarshalJSON writes a nil patch as [] so clients can always iterate it.
func (p Patch) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte("[]"), nil
	}
	return json.Marshal([]PatchOp(p))
}

// Revision is one committed change of the state document. ID is the global
// revision number; a subscriber scoped to part of the document gets every
// revision, with an empty patch when nothing in its scope changed, so it can
// check that ids follow each other.
type Revision struct {
	ID    uint64 `json:"id"`
	Patch Patch  `json:"patch"`
}

// Dump is the value at a pointer as of revision ID.
type Dump struct {
	ID    uint64          `json:"id"`
	Value json.RawMessage `json:"value"`
}

// DumpParams are the params of db.dump and db.subscribe. An empty pointer
// means /public.
type DumpParams struct {
	Pointer string `json:"pointer,omitempty"`
}

// PutUIParams are the params of db.put.ui: Pointer is relative to /public/ui.
type PutUIParams struct {
	Pointer string          `json:"pointer"`
	Value   json.RawMessage `json:"value"`
}
