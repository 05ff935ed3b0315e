package patch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// Apply returns doc with p applied (RFC 6902, all six operations; "-" only
// as the last token of an add path; no negative indices). doc is not
// modified: the objects and arrays on changed paths are copied and the rest is
// shared, so a caller may keep the old value as a snapshot. On error nothing
// is returned and the error names the operation and what was wrong.
func Apply(doc any, p model.Patch) (any, error) {
	a := applier{root: doc, fresh: map[unsafe.Pointer]bool{}}
	for i, op := range p {
		if err := a.apply(op); err != nil {
			return nil, fmt.Errorf("patch operation %d (%s %q): %w", i, op.Op, op.Path, err)
		}
	}
	return a.root, nil
}

// ApplyJSON applies p to the JSON document doc and returns the result.
func ApplyJSON(doc []byte, p model.Patch) ([]byte, error) {
	v, err := Decode(doc)
	if err != nil {
		return nil, err
	}
	v, err = Apply(v, p)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// DecodePatch parses an RFC 6902 patch.
func DecodePatch(raw []byte) (model.Patch, error) {
	var p model.Patch
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("decoding JSON patch: %w: %w", err, errdefs.ErrInvalidRequest)
	}
	return p, nil
}

type applier struct {
	root any
	// fresh holds the objects this Apply created; only those may change in
	// place, every other one may be shared with the caller's snapshot.
	fresh map[unsafe.Pointer]bool
}

func invalid(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, errdefs.ErrInvalidRequest)...)
}

func (a *applier) apply(op model.PatchOp) error {
	path, err := ParsePointer(op.Path)
	if err != nil {
		return err
	}
	switch op.Op {
	case model.OpAdd, model.OpReplace, model.OpTest:
		v, err := opValue(op)
		if err != nil {
			return err
		}
		switch op.Op {
		case model.OpAdd:
			return a.add(path, v)
		case model.OpReplace:
			return a.replace(path, v)
		default:
			got, ok := Get(a.root, path)
			if !ok {
				return invalid("path does not exist")
			}
			if !Equal(got, v) {
				return invalid("test failed: value differs")
			}
			return nil
		}
	case model.OpRemove:
		_, err := a.remove(path)
		return err
	case model.OpMove, model.OpCopy:
		from, err := ParsePointer(op.From)
		if err != nil {
			return fmt.Errorf("from: %w", err)
		}
		if op.Op == model.OpCopy {
			v, ok := Get(a.root, from)
			if !ok {
				return invalid("from %q does not exist", op.From)
			}
			return a.add(path, clone(v))
		}
		if path.HasPrefix(from) && len(path) > len(from) {
			return invalid("cannot move %q into its own child", op.From)
		}
		if len(path) == len(from) && path.HasPrefix(from) {
			if _, ok := Get(a.root, from); !ok {
				return invalid("from %q does not exist", op.From)
			}
			return nil
		}
		v, err := a.remove(from)
		if err != nil {
			return fmt.Errorf("from: %w", err)
		}
		return a.add(path, v)
	case "":
		return invalid("missing \"op\"")
	default:
		return invalid("unknown op %q", op.Op)
	}
}

func opValue(op model.PatchOp) (any, error) {
	if len(op.Value) == 0 {
		return nil, invalid("missing \"value\"")
	}
	return Decode(op.Value)
}

func (a *applier) add(path Pointer, v any) error {
	if len(path) == 0 {
		a.root = v
		return nil
	}
	root, err := a.update(a.root, path, 0, func(parent any, tok string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			m := a.ownMap(c)
			m[tok] = v
			return m, nil
		case []any:
			i := len(c)
			if tok != "-" {
				var ok bool
				if i, ok = arrayIndex(tok); !ok || i > len(c) {
					return nil, invalid("array index %q out of range 0..%d", tok, len(c))
				}
			}
			s := make([]any, 0, len(c)+1)
			s = append(s, c[:i]...)
			s = append(s, v)
			return append(s, c[i:]...), nil
		default:
			return nil, invalid("parent is not an object or array")
		}
	})
	if err != nil {
		return err
	}
	a.root = root
	return nil
}

func (a *applier) replace(path Pointer, v any) error {
	if len(path) == 0 {
		a.root = v
		return nil
	}
	root, err := a.update(a.root, path, 0, func(parent any, tok string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			if _, ok := c[tok]; !ok {
				return nil, invalid("path does not exist")
			}
			m := a.ownMap(c)
			m[tok] = v
			return m, nil
		case []any:
			i, ok := arrayIndex(tok)
			if !ok || i >= len(c) {
				return nil, invalid("array index %q out of range 0..%d", tok, len(c)-1)
			}
			s := append([]any(nil), c...)
			s[i] = v
			return s, nil
		default:
			return nil, invalid("parent is not an object or array")
		}
	})
	if err != nil {
		return err
	}
	a.root = root
	return nil
}

// remove deletes the value at path and returns it.
func (a *applier) remove(path Pointer) (any, error) {
	if len(path) == 0 {
		return nil, invalid("cannot remove the whole document")
	}
	var removed any
	root, err := a.update(a.root, path, 0, func(parent any, tok string) (any, error) {
		switch c := parent.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, invalid("path does not exist")
			}
			removed = v
			m := a.ownMap(c)
			delete(m, tok)
			return m, nil
		case []any:
			i, ok := arrayIndex(tok)
			if !ok || i >= len(c) {
				return nil, invalid("array index %q out of range 0..%d", tok, len(c)-1)
			}
			removed = c[i]
			s := make([]any, 0, len(c)-1)
			s = append(s, c[:i]...)
			return append(s, c[i+1:]...), nil
		default:
			return nil, invalid("parent is not an object or array")
		}
	})
	if err != nil {
		return nil, err
	}
	a.root = root
	return removed, nil
}

// update walks v down path[depth:], copying the containers it passes through,
// and lets change edit the parent of the last token. It returns the new v.
func (a *applier) update(v any, path Pointer, depth int, change func(parent any, tok string) (any, error)) (any, error) {
	if depth == len(path)-1 {
		return change(v, path[depth])
	}
	tok := path[depth]
	switch c := v.(type) {
	case map[string]any:
		child, ok := c[tok]
		if !ok {
			return nil, invalid("%q does not exist", path[:depth+1].String())
		}
		nc, err := a.update(child, path, depth+1, change)
		if err != nil {
			return nil, err
		}
		m := a.ownMap(c)
		m[tok] = nc
		return m, nil
	case []any:
		i, ok := arrayIndex(tok)
		if !ok || i >= len(c) {
			return nil, invalid("%q does not exist", path[:depth+1].String())
		}
		nc, err := a.update(c[i], path, depth+1, change)
		if err != nil {
			return nil, err
		}
		s := append([]any(nil), c...)
		s[i] = nc
		return s, nil
	default:
		return nil, invalid("%q is not an object or array", path[:depth].String())
	}
}

// ownMap returns a map this Apply may change: m itself if Apply made it,
// otherwise a shallow copy.
func (a *applier) ownMap(m map[string]any) map[string]any {
	if a.fresh[reflect.ValueOf(m).UnsafePointer()] {
		return m
	}
	c := make(map[string]any, len(m)+1)
	for k, v := range m {
		c[k] = v
	}
	a.fresh[reflect.ValueOf(c).UnsafePointer()] = true
	return c
}
