package manifest

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// decoder fills Go values from a node tree, collecting problems (errors) and
// warnings (unknown keys) with their paths instead of stopping at the first.
type decoder struct {
	camel    bool // keys are the camelCase json names (manifest.json in an archive)
	problems []Problem
	warnings []Problem
}

// nodeDecoder is implemented by types with their own reading rules.
type nodeDecoder interface {
	decodeNode(d *decoder, n *node, path string)
}

func (d *decoder) problem(path, format string, args ...any) {
	d.problems = append(d.problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (d *decoder) warn(path, format string, args ...any) {
	d.warnings = append(d.warnings, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

var nodeDecoderType = reflect.TypeFor[nodeDecoder]()

func (d *decoder) decode(n *node, v reflect.Value, path string) {
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		if n.kind == nullNode {
			return
		}
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.kind == nullNode {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path, nil)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.String:
		if s, ok := d.scalarString(n, path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if n.kind == nullNode {
			return
		}
		if n.kind != scalarNode || n.tag != "bool" {
			d.problem(path, "expected true or false, found %s", n.describe())
			return
		}
		v.SetBool(n.value == "true")
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.kind == nullNode {
			return
		}
		u, ok := d.integer(n, path)
		if !ok {
			return
		}
		if u < 0 || uint64(u) > maxUint(v.Type().Bits()) {
			d.problem(path, "%d is out of range", u)
			return
		}
		v.SetUint(uint64(u))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.kind == nullNode {
			return
		}
		i, ok := d.integer(n, path)
		if !ok {
			return
		}
		if v.OverflowInt(i) {
			d.problem(path, "%d is out of range", i)
			return
		}
		v.SetInt(i)
	case reflect.Interface:
		v.Set(reflect.ValueOf(anyValue(n)))
	default:
		d.problem(path, "cannot read a value of type %s", v.Type())
	}
}

func maxUint(bits int) uint64 {
	if bits >= 64 {
		return math.MaxUint64
	}
	return 1<<bits - 1
}

func (d *decoder) integer(n *node, path string) (int64, bool) {
	if n.kind != scalarNode || n.tag != "int" {
		d.problem(path, "expected a whole number, found %s", n.describe())
		return 0, false
	}
	i, err := strconv.ParseInt(n.value, 0, 64)
	if err != nil {
		d.problem(path, "%s is not a whole number in range", n.value)
		return 0, false
	}
	return i, true
}

// scalarString reads any scalar as its text: YAML authors write version: 1.2.3
// and port: 80 without quotes.
func (d *decoder) scalarString(n *node, path string) (string, bool) {
	switch n.kind {
	case nullNode:
		return "", false
	case scalarNode:
		return n.value, true
	}
	d.problem(path, "expected a string, found %s", n.describe())
	return "", false
}

func (d *decoder) decodeSlice(n *node, v reflect.Value, path string) {
	if n.kind == nullNode {
		return
	}
	if n.kind != seqNode {
		d.problem(path, "expected a list, found %s", n.describe())
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.items), len(n.items))
	for i, item := range n.items {
		d.decode(item, s.Index(i), indexPath(path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *node, v reflect.Value, path string) {
	if n.kind == nullNode {
		return
	}
	if n.kind != mapNode {
		d.problem(path, "expected a mapping, found %s", n.describe())
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.problem(path, "cannot read a mapping into %s", v.Type())
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(n.keys)))
	}
	seen := make(map[string]bool, len(n.keys))
	for i, k := range n.keys {
		p := joinPath(path, k)
		if seen[k] {
			d.problem(p, "key appears more than once")
			continue
		}
		seen[k] = true
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(n.vals[i], elem, p)
		v.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), elem)
	}
}

// field is one struct field as a key.
type field struct {
	name    string
	aliases []string
	index   int
}

func (d *decoder) fields(t reflect.Type) []field {
	var fs []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		ytag := sf.Tag.Get("yaml")
		yname, yopts, _ := strings.Cut(ytag, ",")
		if yname == "-" || strings.Contains(yopts, "inline") {
			if !d.camel || yname != "-" {
				continue
			}
		}
		f := field{index: i}
		if d.camel {
			jname, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if jname == "" || jname == "-" {
				continue
			}
			f.name = jname
		} else {
			f.name = yname
			for _, opt := range strings.Split(yopts, ",") {
				if a, ok := strings.CutPrefix(opt, "alias="); ok {
					f.aliases = append(f.aliases, a)
				}
			}
		}
		fs = append(fs, f)
	}
	return fs
}

// decodeStruct fills v's fields from a mapping. Keys with no field, or that
// allow rejects, are warned about and ignored.
func (d *decoder) decodeStruct(n *node, v reflect.Value, path string, allow func(key string) bool) {
	if n.kind == nullNode {
		return
	}
	if n.kind != mapNode {
		d.problem(path, "expected a mapping, found %s", n.describe())
		return
	}
	fs := d.fields(v.Type())
	set := make(map[int]string, len(n.keys))
	for i, k := range n.keys {
		p := joinPath(path, k)
		f, ok := lookupField(fs, k)
		if !ok || (allow != nil && !allow(k)) {
			d.warn(p, "unknown key, ignored")
			continue
		}
		if prev, dup := set[f.index]; dup {
			if prev == k {
				d.problem(p, "key appears more than once")
			} else {
				d.problem(p, "key repeats %q", prev)
			}
			continue
		}
		set[f.index] = k
		d.decode(n.vals[i], v.Field(f.index), p)
	}
}

func lookupField(fs []field, k string) (field, bool) {
	for _, f := range fs {
		if f.name == k {
			return f, true
		}
		for _, a := range f.aliases {
			if a == k {
				return f, true
			}
		}
	}
	return field{}, false
}

// key returns the name a Go field has in the document being read, for
// messages about keys of custom-decoded types.
func (d *decoder) key(kebab, camel string) string {
	if d.camel {
		return camel
	}
	return kebab
}

// anyValue turns free-form content (a config spec) into plain Go values.
func anyValue(n *node) any {
	switch n.kind {
	case mapNode:
		m := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			m[k] = anyValue(n.vals[i])
		}
		return m
	case seqNode:
		s := make([]any, len(n.items))
		for i, item := range n.items {
			s[i] = anyValue(item)
		}
		return s
	case scalarNode:
		switch n.tag {
		case "bool":
			return n.value == "true"
		case "int":
			if i, err := strconv.ParseInt(n.value, 0, 64); err == nil {
				return i
			}
			if f, err := strconv.ParseFloat(n.value, 64); err == nil {
				return f
			}
		case "float":
			if f, err := strconv.ParseFloat(n.value, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f
			}
		}
		return n.value
	}
	return nil
}

// decodeNode reads a procedure, refusing JavaScript ones by name.
func (p *Procedure) decodeNode(d *decoder, n *node, path string) {
	if n.kind != mapNode {
		d.problem(path, "expected a procedure (a mapping with type: docker), found %s", n.describe())
		return
	}
	typePath := joinPath(path, "type")
	t := n.get("type")
	if t == nil || t.kind == nullNode {
		d.problem(typePath, "required: procedures must be type: docker")
		return
	}
	s, ok := d.scalarString(t, typePath)
	if !ok {
		return
	}
	switch ProcedureType(s) {
	case ProcedureDocker:
		d.decodeStruct(n, reflect.ValueOf(p).Elem(), path, nil)
	case ProcedureScript:
		d.problem(typePath, `"script" procedures (StartOS JavaScript in embassy.js) are not supported; rewrite this as a docker procedure`)
	default:
		d.problem(typePath, "unknown procedure type %q: want docker", s)
	}
}

// decodeNode reads a health check: its own keys plus a procedure's.
func (h *HealthCheck) decodeNode(d *decoder, n *node, path string) {
	if n.kind != mapNode {
		d.problem(path, "expected a health check (a mapping), found %s", n.describe())
		return
	}
	own := map[string]bool{}
	for _, f := range d.fields(reflect.TypeFor[HealthCheck]()) {
		own[f.name] = true
	}
	mine := &node{kind: mapNode, line: n.line}
	rest := &node{kind: mapNode, line: n.line}
	for i, k := range n.keys {
		if own[k] {
			mine.setKey(k, n.vals[i])
		} else {
			rest.setKey(k, n.vals[i])
		}
	}
	d.decodeStruct(mine, reflect.ValueOf(h).Elem(), path, nil)
	h.Procedure.decodeNode(d, rest, path)
}

// decodeNode reads a volume, warning about keys its type does not use.
func (v *Volume) decodeNode(d *decoder, n *node, path string) {
	if n.kind != mapNode {
		d.problem(path, "expected a volume (a mapping with a type), found %s", n.describe())
		return
	}
	t := n.get("type")
	if t == nil || t.kind == nullNode {
		d.problem(joinPath(path, "type"), "required: one of data, assets, pointer, certificate")
		return
	}
	s, ok := d.scalarString(t, joinPath(path, "type"))
	if !ok {
		return
	}
	keys, known := volumeKeys[VolumeType(s)]
	if !known {
		if s == "backup" {
			d.problem(joinPath(path, "type"), "volume type backup is reserved; procedures mount the backup target as %s", BackupVolume)
		} else {
			d.problem(joinPath(path, "type"), "unknown volume type %q: want data, assets, pointer or certificate", s)
		}
		return
	}
	allowed := map[string]bool{"type": true}
	for _, k := range keys {
		allowed[d.key(k, kebabToCamel(k))] = true
	}
	d.decodeStruct(n, reflect.ValueOf(v).Elem(), path, func(k string) bool { return allowed[k] })
}

func kebabToCamel(s string) string {
	parts := strings.Split(s, "-")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}
