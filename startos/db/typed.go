package db

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/patch"
)

// The document is diffed and read as Go values, not as JSON: a mutation's
// patch comes from walking the old and new documents side by side, skipping
// whatever the two share (the copy shares RawMessage bytes, see
// cloneDocument), and encoding only the values that changed. A read of one
// pointer encodes only the value there. Both follow encoding/json's rules
// for the shapes the model uses (structs with json tags, maps with string or
// integer keys, slices, pointers); anything else (a type with its own
// MarshalJSON, an interface, a tag this file does not model) is a leaf: it is
// encoded, and two differing leaves are diffed as decoded JSON.

// kind is how a type is walked.
type kind int

const (
	kindLeaf   kind = iota // encode it; diff the decoded JSON
	kindScalar             // bool, number or string: compare, replace
	kindRaw                // json.RawMessage: compare bytes, diff decoded
	kindPointer
	kindStruct
	kindMap
	kindSlice
)

type field struct {
	name      string
	index     int
	omitEmpty bool
}

type plan struct {
	kind   kind
	fields []field        // kindStruct
	byName map[string]int // kindStruct: json name -> index in fields
	intKey bool           // kindMap: integer keys, written in decimal
	elem   reflect.Type   // kindPointer, kindMap, kindSlice
}

var (
	plans           sync.Map // reflect.Type -> *plan
	marshalerType   = reflect.TypeFor[json.Marshaler]()
	textMarshalType = reflect.TypeFor[encoding.TextMarshaler]()
)

func planOf(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p := makePlan(t)
	plans.Store(t, p)
	return p
}

func makePlan(t reflect.Type) *plan {
	if t == rawMessageType {
		return &plan{kind: kindRaw}
	}
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) ||
		t.Implements(textMarshalType) || reflect.PointerTo(t).Implements(textMarshalType) {
		return &plan{kind: kindLeaf}
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return &plan{kind: kindScalar}
	case reflect.Pointer:
		return &plan{kind: kindPointer, elem: t.Elem()}
	case reflect.Map:
		if t.Key().Kind() != reflect.String && t.Key().Implements(textMarshalType) {
			return &plan{kind: kindLeaf}
		}
		switch t.Key().Kind() {
		case reflect.String:
			return &plan{kind: kindMap, elem: t.Elem()}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			return &plan{kind: kindMap, elem: t.Elem(), intKey: true}
		}
	case reflect.Slice:
		if t.Elem().Kind() != reflect.Uint8 { // []byte is base64: a leaf
			return &plan{kind: kindSlice, elem: t.Elem()}
		}
	case reflect.Struct:
		return structPlan(t)
	}
	return &plan{kind: kindLeaf}
}

// structPlan models plain json tags: a name, "-", omitempty. Embedded
// fields and other options make the struct a leaf.
func structPlan(t reflect.Type) *plan {
	p := &plan{kind: kindStruct, byName: map[string]int{}}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			return &plan{kind: kindLeaf}
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		omit := false
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "":
			case "omitempty":
				omit = true
			default:
				return &plan{kind: kindLeaf}
			}
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := p.byName[name]; dup {
			return &plan{kind: kindLeaf}
		}
		p.byName[name] = 0
		p.fields = append(p.fields, field{name: name, index: i, omitEmpty: omit})
	}
	// In key order, as a diff of the encoded documents lists them.
	slices.SortFunc(p.fields, func(a, b field) int { return strings.Compare(a.name, b.name) })
	for i, f := range p.fields {
		p.byName[f.name] = i
	}
	return p
}

// isEmpty is encoding/json's omitempty test.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// encode is json.Marshal of v as it sits in the document (addressable values
// get pointer-receiver marshalers, as when the whole document is encoded).
func encode(v reflect.Value) (json.RawMessage, error) {
	if v.CanAddr() {
		return json.Marshal(v.Addr().Interface())
	}
	return json.Marshal(v.Interface())
}

// differ collects the operations between two values of the same type.
type differ struct {
	path []string
	ops  model.Patch
}

func (d *differ) at() string { return patch.Pointer(d.path).String() }

func (d *differ) set(op string, v reflect.Value) error {
	raw, err := encode(v)
	if err != nil {
		return fmt.Errorf("encoding %q: %w", d.at(), err)
	}
	d.ops = append(d.ops, model.PatchOp{Op: op, Path: d.at(), Value: raw})
	return nil
}

func (d *differ) push(tok string) { d.path = append(d.path, tok) }
func (d *differ) pop()            { d.path = d.path[:len(d.path)-1] }

// diffDocuments is the patch from old to new, equal in effect to diffing
// their JSON encodings.
func diffDocuments(old, new *model.Document) (model.Patch, error) {
	d := &differ{ops: model.Patch{}}
	if err := d.diff(reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem()); err != nil {
		return nil, fmt.Errorf("db: diffing the document: %w", err)
	}
	return d.ops, nil
}

func (d *differ) diff(a, b reflect.Value) error {
	p := planOf(a.Type())
	switch p.kind {
	case kindScalar:
		if !scalarEqual(a, b) {
			return d.set(model.OpReplace, b)
		}
		return nil
	case kindRaw:
		ra, rb := a.Bytes(), b.Bytes()
		if bytes.Equal(ra, rb) {
			return nil
		}
		return d.json(nullIfEmpty(ra), nullIfEmpty(rb))
	case kindPointer:
		switch {
		case a.IsNil() && b.IsNil(), a.Pointer() == b.Pointer():
			return nil
		case a.IsNil() || b.IsNil():
			return d.set(model.OpReplace, b)
		}
		return d.diff(a.Elem(), b.Elem())
	case kindStruct:
		for _, f := range p.fields {
			fa, fb := a.Field(f.index), b.Field(f.index)
			d.push(f.name)
			var err error
			if f.omitEmpty {
				ea, eb := isEmpty(fa), isEmpty(fb)
				switch {
				case ea && eb:
				case ea:
					err = d.set(model.OpAdd, fb)
				case eb:
					d.ops = append(d.ops, model.PatchOp{Op: model.OpRemove, Path: d.at()})
				default:
					err = d.diff(fa, fb)
				}
			} else {
				err = d.diff(fa, fb)
			}
			d.pop()
			if err != nil {
				return err
			}
		}
		return nil
	case kindMap:
		switch {
		case a.IsNil() && b.IsNil(), a.UnsafePointer() == b.UnsafePointer():
			return nil
		case a.IsNil() || b.IsNil():
			return d.set(model.OpReplace, b)
		}
		// Operations come grouped by key in key order, as a diff of the
		// encoded documents lists them; only the changed keys are sorted.
		start := len(d.ops)
		var changed []keyOps
		note := func(key string, from int) {
			if len(d.ops) > from {
				changed = append(changed, keyOps{key: key, from: from, to: len(d.ops)})
			}
		}
		it := a.MapRange()
		for it.Next() {
			k := mapKey(it.Key(), p.intKey)
			from := len(d.ops)
			d.push(k)
			var err error
			if vb := b.MapIndex(it.Key()); !vb.IsValid() {
				d.ops = append(d.ops, model.PatchOp{Op: model.OpRemove, Path: d.at()})
			} else {
				err = d.diff(it.Value(), vb)
			}
			d.pop()
			if err != nil {
				return err
			}
			note(k, from)
		}
		it = b.MapRange()
		for it.Next() {
			if a.MapIndex(it.Key()).IsValid() {
				continue
			}
			k := mapKey(it.Key(), p.intKey)
			from := len(d.ops)
			d.push(k)
			err := d.set(model.OpAdd, it.Value())
			d.pop()
			if err != nil {
				return err
			}
			note(k, from)
		}
		if len(changed) > 1 {
			slices.SortFunc(changed, func(x, y keyOps) int { return strings.Compare(x.key, y.key) })
			sorted := make(model.Patch, 0, len(d.ops)-start)
			for _, c := range changed {
				sorted = append(sorted, d.ops[c.from:c.to]...)
			}
			d.ops = append(d.ops[:start], sorted...)
		}
		return nil
	case kindSlice:
		switch {
		case a.IsNil() && b.IsNil():
			return nil
		case a.IsNil() || b.IsNil():
			return d.set(model.OpReplace, b)
		case a.Len() == b.Len() && (a.Len() == 0 || a.Pointer() == b.Pointer()):
			return nil
		}
		// Index by index; a shorter array loses its tail, a longer one
		// gains it by appends (the diff of encoded documents does the same).
		la, lb := a.Len(), b.Len()
		common := min(la, lb)
		if lb < la {
			d.push(strconv.Itoa(common))
			for range la - lb {
				d.ops = append(d.ops, model.PatchOp{Op: model.OpRemove, Path: d.at()})
			}
			d.pop()
		}
		for i := range common {
			d.push(strconv.Itoa(i))
			err := d.diff(a.Index(i), b.Index(i))
			d.pop()
			if err != nil {
				return err
			}
		}
		if lb > la {
			d.push("-")
			for i := la; i < lb; i++ {
				if err := d.set(model.OpAdd, b.Index(i)); err != nil {
					return err
				}
			}
			d.pop()
		}
		return nil
	default:
		// Most leaves are unchanged (a progress, a plugin, a time): a
		// comparison spares their two encodings.
		if sameValue(a, b) {
			return nil
		}
		ra, err := encode(a)
		if err != nil {
			return fmt.Errorf("encoding %q: %w", d.at(), err)
		}
		rb, err := encode(b)
		if err != nil {
			return fmt.Errorf("encoding %q: %w", d.at(), err)
		}
		if bytes.Equal(ra, rb) {
			return nil
		}
		return d.json(ra, rb)
	}
}

// sameValue reports whether a and b, of one type, hold the same data, and
// so encode alike (the model's marshalers depend on nothing else). It is
// reflect.DeepEqual without boxing the values, unexported fields included,
// and quick where they share memory. It may call equal values different (a
// NaN, a nil and an empty collection): that only costs the encodings.
func sameValue(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return a.Float() == b.Float()
	case reflect.Complex64, reflect.Complex128:
		return a.Complex() == b.Complex()
	case reflect.String:
		return a.String() == b.String()
	case reflect.Pointer:
		if a.Pointer() == b.Pointer() {
			return true
		}
		return !a.IsNil() && !b.IsNil() && sameValue(a.Elem(), b.Elem())
	case reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() && b.IsNil()
		}
		return a.Elem().Type() == b.Elem().Type() && sameValue(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		if a.Len() == 0 || a.Pointer() == b.Pointer() {
			return true
		}
		fallthrough
	case reflect.Array:
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		if a.UnsafePointer() == b.UnsafePointer() {
			return true
		}
		it := a.MapRange()
		for it.Next() {
			vb := b.MapIndex(it.Key())
			if !vb.IsValid() || !sameValue(it.Value(), vb) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := range a.NumField() {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	}
	return false // channels, functions: not in the document
}

type keyOps struct {
	key      string
	from, to int // its operations: ops[from:to]
}

// json diffs two encoded values at the current path.
func (d *differ) json(a, b []byte) error {
	ops, err := patch.DiffJSON(a, b)
	if err != nil {
		return fmt.Errorf("at %q: %w", d.at(), err)
	}
	prefix := d.at()
	for _, op := range ops {
		op.Path = prefix + op.Path
		d.ops = append(d.ops, op)
	}
	return nil
}

func nullIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return []byte("null")
	}
	return b
}

func scalarEqual(a, b reflect.Value) bool {
	switch a.Kind() {
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.String:
		return a.String() == b.String()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return a.Uint() == b.Uint()
	default: // floats: NaN never equals, like the JSON it cannot encode
		return a.Float() == b.Float()
	}
}

func mapKey(k reflect.Value, intKey bool) string {
	if !intKey {
		return k.String()
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10)
	default:
		return strconv.FormatUint(k.Uint(), 10)
	}
}

// jsonAt is the encoded value at ptr in doc and whether there is one; it
// encodes only that value.
func jsonAt(doc *model.Document, ptr patch.Pointer) (json.RawMessage, bool, error) {
	v := reflect.ValueOf(doc).Elem()
	for i := 0; i < len(ptr); {
		p := planOf(v.Type())
		tok := ptr[i]
		switch p.kind {
		case kindPointer:
			if v.IsNil() {
				return nil, false, nil
			}
			v = v.Elem()
			continue // the same token applies to what it points at
		case kindStruct:
			n, ok := p.byName[tok]
			if !ok {
				return nil, false, nil
			}
			f := p.fields[n]
			v = v.Field(f.index)
			if f.omitEmpty && isEmpty(v) {
				return nil, false, nil
			}
		case kindMap:
			k, ok := mapKeyValue(v.Type().Key(), tok, p.intKey)
			if !ok {
				return nil, false, nil
			}
			if v = v.MapIndex(k); !v.IsValid() {
				return nil, false, nil
			}
		case kindSlice:
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n >= v.Len() || strconv.Itoa(n) != tok {
				return nil, false, nil
			}
			v = v.Index(n)
		case kindScalar:
			return nil, false, nil
		default: // leaves and RawMessage: encode, then look inside
			raw, err := encode(v)
			if err != nil {
				return nil, false, err
			}
			if p.kind == kindRaw {
				raw = nullIfEmpty(raw)
			}
			return patch.Extract(raw, ptr[i:])
		}
		i++
	}
	raw, err := encode(v)
	if err != nil {
		return nil, false, err
	}
	return raw, true, nil
}

// mapKeyValue parses a pointer token as a key of type t; a token that is
// not a key encoding/json would write names nothing.
func mapKeyValue(t reflect.Type, tok string, intKey bool) (reflect.Value, bool) {
	k := reflect.New(t).Elem()
	if !intKey {
		k.SetString(tok)
		return k, true
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(tok, 10, t.Bits())
		if err != nil || strconv.FormatInt(n, 10) != tok {
			return k, false
		}
		k.SetInt(n)
	default:
		n, err := strconv.ParseUint(tok, 10, t.Bits())
		if err != nil || strconv.FormatUint(n, 10) != tok {
			return k, false
		}
		k.SetUint(n)
	}
	return k, true
}
