package patch

import (
	"encoding/json"

	"github.com/startos-go/startos/startos/model"
)

var jsonNull = json.RawMessage("null")

// Scope re-roots p for a subscriber watching the value at ptr, following
// patch-db:
//   - operations outside ptr are dropped;
//   - operations at or under ptr keep their op with the path made relative to
//     ptr; an op at ptr itself becomes replace "" (remove: replace "" null);
//   - an add or replace of an ancestor of ptr becomes replace "" with the part
//     of its value at ptr (null when the new value has nothing there), and a
//     remove of an ancestor becomes replace "" null.
//
// An operation can also change the value at ptr without touching its path:
// inserting into or removing from an array on ptr's way shifts the element ptr
// names, and move/copy carry values around. The patch alone does not say
// what ptr then holds, so Scope reports resync and the caller sends
// replace "" with the value at ptr in the new document instead (see Resync).
// Test operations are dropped.
func Scope(p model.Patch, ptr Pointer) (scoped model.Patch, resync bool) {
	out := model.Patch{}
	for _, op := range p {
		path, err := ParsePointer(op.Path)
		if err != nil {
			return nil, true
		}
		switch op.Op {
		case model.OpTest:
			continue
		case model.OpMove, model.OpCopy:
			from, err := ParsePointer(op.From)
			if err != nil || related(path, ptr) || related(from, ptr) ||
				shifts(model.OpAdd, path, ptr) || (op.Op == model.OpMove && shifts(model.OpRemove, from, ptr)) {
				return nil, true
			}
			continue
		case model.OpAdd, model.OpReplace, model.OpRemove:
		default:
			return nil, true
		}
		if op.Op == model.OpAdd && len(path) > 0 && path[len(path)-1] == "-" && ptr.HasPrefix(path) {
			// An append lands at an index the patch does not name; ptr
			// may be that index.
			return nil, true
		}
		switch {
		case path.HasPrefix(ptr):
			rel := path[len(ptr):]
			if len(rel) > 0 {
				out = append(out, model.PatchOp{Op: op.Op, Path: rel.String(), Value: op.Value})
			} else if op.Op == model.OpRemove {
				out = append(out, model.PatchOp{Op: model.OpReplace, Path: "", Value: jsonNull})
			} else {
				out = append(out, model.PatchOp{Op: model.OpReplace, Path: "", Value: op.Value})
			}
		case ptr.HasPrefix(path):
			if op.Op == model.OpRemove {
				if _, isIndex := arrayIndex(path[len(path)-1]); isIndex {
					// The next element may shift into ptr's place.
					return nil, true
				}
			}
			v := jsonNull
			if op.Op != model.OpRemove {
				sub, ok, err := Extract(op.Value, ptr[len(path):])
				if err != nil {
					return nil, true
				}
				if ok {
					v = sub
				}
			}
			out = append(out, model.PatchOp{Op: model.OpReplace, Path: "", Value: v})
		case shifts(op.Op, path, ptr):
			return nil, true
		}
	}
	return out, false
}

// Resync is the scoped patch that sets a subscriber's whole value: replace ""
// with the value at ptr in doc, or null when there is none.
func Resync(doc any, ptr Pointer) (model.Patch, error) {
	v, ok := Get(doc, ptr)
	if !ok {
		return model.Patch{{Op: model.OpReplace, Path: "", Value: jsonNull}}, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return model.Patch{{Op: model.OpReplace, Path: "", Value: raw}}, nil
}

// related reports whether a and b are the same path or one is an ancestor of
// the other.
func related(a, b Pointer) bool { return a.HasPrefix(b) || b.HasPrefix(a) }

// shifts reports whether an add or remove at path moves the array element
// that ptr passes through: path is an element of an array on ptr's way at an
// index at or before ptr's. A parent that is an object with numeric keys is
// taken for an array too, which costs a needless resync, never a wrong patch.
func shifts(op string, path, ptr Pointer) bool {
	if (op != model.OpAdd && op != model.OpRemove) || len(path) == 0 || len(path) > len(ptr) {
		return false
	}
	parent := path[:len(path)-1]
	if !ptr.HasPrefix(parent) {
		return false
	}
	at, ok := arrayIndex(ptr[len(parent)])
	if !ok {
		return false
	}
	last := path[len(path)-1]
	if last == "-" {
		return op == model.OpAdd
	}
	i, ok := arrayIndex(last)
	return ok && i <= at
}
