package patch

import (
	"encoding/json"
	"fmt"

	"github.com/wI2L/jsondiff"

	"github.com/startos-go/startos/startos/model"
)

// Diff returns the patch that turns old into new: add, remove and replace
// only, objects compared key by key and arrays index by index. A whole
// document replace at "" happens only when the root changes type. Both values
// must be decoded JSON (see Decode).
func Diff(old, new any) (model.Patch, error) {
	ops, err := jsondiff.CompareWithoutMarshal(old, new)
	if err != nil {
		return nil, fmt.Errorf("diffing documents: %w", err)
	}
	p := make(model.Patch, 0, len(ops))
	for _, op := range ops {
		out := model.PatchOp{Op: op.Type, Path: op.Path}
		switch op.Type {
		case jsondiff.OperationAdd, jsondiff.OperationReplace:
			if op.Path == "" {
				// RFC 6902 add at the root is a replace; say so.
				out.Op = model.OpReplace
			}
			v, err := json.Marshal(op.Value)
			if err != nil {
				return nil, fmt.Errorf("diffing documents: encoding value at %q: %w", op.Path, err)
			}
			out.Value = v
		case jsondiff.OperationRemove:
		default:
			// Not reachable without Factorize or Invertible, which Diff
			// does not ask for.
			return nil, fmt.Errorf("diffing documents: unexpected %q operation at %q", op.Type, op.Path)
		}
		p = append(p, out)
	}
	return p, nil
}

// DiffJSON is Diff over two JSON documents.
func DiffJSON(old, new []byte) (model.Patch, error) {
	o, err := Decode(old)
	if err != nil {
		return nil, fmt.Errorf("old document: %w", err)
	}
	n, err := Decode(new)
	if err != nil {
		return nil, fmt.Errorf("new document: %w", err)
	}
	return Diff(o, n)
}
