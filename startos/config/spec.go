// Package config is StartOS 0.3's configuration system: the config spec
// (ValueSpec: string, number, boolean, enum, list, object, union, pointer),
// checking a spec is itself valid, validating config values against it,
// generating defaults, and the properties (version 2) a package shows.
//
// Every error names the key path of what is wrong: "users[1].name" for a
// value, "users.spec.spec.name.pattern" for a spec. Specs and values come from
// packages and clients, so both parsers bound size and depth and refuse YAML
// aliases.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/startos/errdefs"
)

// Limits on outside input.
const (
	MaxSpecBytes  = 1 << 20 // a config_spec.yaml or a spec in a procedure's output
	MaxValueBytes = 4 << 20 // a config
	MaxDepth      = 32      // nesting of objects, lists and unions
	maxEntropyLen = 4096
)

// Value types.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeEnum    = "enum"
	TypeList    = "list"
	TypeObject  = "object"
	TypeUnion   = "union"
	TypePointer = "pointer"
)

// SpecError is a spec that is not a valid StartOS 0.3 config spec, at Path.
// It wraps errdefs.ErrInvalidConfigSpec.
type SpecError struct {
	Path    string
	Message string
}

func (e *SpecError) Error() string {
	if e.Path == "" {
		return "invalid config spec: " + e.Message
	}
	return "invalid config spec: " + e.Path + ": " + e.Message
}

func (e *SpecError) Unwrap() error { return errdefs.ErrInvalidConfigSpec }

// Spec is a config spec: keys in the order the package wrote them, each with
// its value spec. Its JSON is the StartOS 0.3 form (kebab-case keys), in
// that order.
type Spec struct {
	Keys   []string
	Fields map[string]*ValueSpec
	raw    json.RawMessage
}

// Entropy is a generated string default: Len characters drawn from Charset
// ("a-z,A-Z,0-9" style ranges; empty is letters and digits).
type Entropy struct {
	Charset string `json:"charset,omitempty"`
	Len     int    `json:"len"`
	runes   []rune
}

// UnionTag describes the key that selects a union's variant.
type UnionTag struct {
	ID           string
	Name         string
	Description  string
	VariantNames map[string]string
}

// UniqueBy says when two objects of a list are the same: by a key, any or
// all of several rules. The zero value (null in a spec) never matches.
type UniqueBy struct {
	Key string
	Any []UniqueBy
	All []UniqueBy
}

// ValueSpec is one value of a spec. Which fields mean something depends on
// Type; a list's elements are described by Item (its Type is the list's
// subtype).
type ValueSpec struct {
	Type        string
	Name        string
	Description string
	Warning     string
	Nullable    bool
	// Default is the literal default (a JSON value), or for strings and
	// string list items an *Entropy.
	Default any
	// string
	Pattern            string
	PatternDescription string
	Masked             bool
	Copyable           bool
	Textarea           bool
	Placeholder        string
	// number; Range is also a list's length range
	Range    *NumRange
	Integral bool
	Units    string
	// enum
	Values     []string
	ValueNames map[string]string
	// list
	Subtype string
	Item    *ValueSpec
	// object and union
	Spec      *Spec
	UniqueBy  UniqueBy
	DisplayAs string
	// union
	Tag         *UnionTag
	VariantKeys []string
	Variants    map[string]*Spec
	// pointer (Subtype is package or system)
	PackageID string
	Target    string
	Interface string
	Selector  string
	Multi     bool

	re *regexp.Regexp
}

// ParseSpec reads a config spec written as YAML or JSON and checks it.
func ParseSpec(data []byte) (*Spec, error) {
	if len(data) > MaxSpecBytes {
		return nil, &SpecError{Message: fmt.Sprintf("is %d bytes; the limit is %d", len(data), MaxSpecBytes)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &SpecError{Message: "not YAML or JSON: " + firstLine(err.Error())}
	}
	n := &doc
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil, &SpecError{Message: "empty"}
		}
		n = n.Content[0]
	}
	p := &specParser{}
	s := p.spec(n, "", 0)
	if p.err != nil {
		return nil, p.err
	}
	return s, nil
}

// SpecFromValue turns a decoded JSON or YAML value (a map) into a Spec, for
// a spec that arrived inside a larger document.
func SpecFromValue(v any) (*Spec, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &SpecError{Message: err.Error()}
	}
	return ParseSpec(b)
}

// MarshalJSON writes the spec as the package wrote it, keys in order.
func (s *Spec) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	if s.raw == nil {
		return []byte("{}"), nil
	}
	return s.raw, nil
}

// UnmarshalJSON parses and checks a spec.
func (s *Spec) UnmarshalJSON(b []byte) error {
	p, err := ParseSpec(b)
	if err != nil {
		return err
	}
	*s = *p
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

type specParser struct {
	err *SpecError
}

func (p *specParser) fail(path, format string, args ...any) {
	if p.err == nil {
		p.err = &SpecError{Path: path, Message: fmt.Sprintf(format, args...)}
	}
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// mapping returns the key/value pairs of a mapping node, refusing aliases,
// duplicate keys and non-string keys.
func (p *specParser) mapping(n *yaml.Node, path string) ([]string, map[string]*yaml.Node, bool) {
	if n == nil {
		p.fail(path, "required")
		return nil, nil, false
	}
	if n.Kind == yaml.AliasNode {
		p.fail(path, "YAML aliases are not allowed")
		return nil, nil, false
	}
	if n.Kind != yaml.MappingNode {
		p.fail(path, "want a mapping, not %s", nodeKind(n))
		return nil, nil, false
	}
	keys := make([]string, 0, len(n.Content)/2)
	vals := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode || (k.ShortTag() != "!!str" && k.ShortTag() != "!!int") {
			p.fail(path, "keys must be strings")
			return nil, nil, false
		}
		if _, dup := vals[k.Value]; dup {
			p.fail(joinKey(path, k.Value), "duplicate key")
			return nil, nil, false
		}
		keys = append(keys, k.Value)
		vals[k.Value] = n.Content[i+1]
	}
	return keys, vals, true
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!bool":
			return "a boolean"
		case "!!int", "!!float":
			return "a number"
		}
		return "a string"
	}
	return "nothing"
}

// spec reads a mapping of key -> value spec.
func (p *specParser) spec(n *yaml.Node, path string, depth int) *Spec {
	if depth > MaxDepth {
		p.fail(path, "nested deeper than %d", MaxDepth)
		return nil
	}
	keys, vals, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	s := &Spec{Keys: keys, Fields: make(map[string]*ValueSpec, len(keys))}
	for _, k := range keys {
		if k == "" {
			p.fail(path, "empty key")
			return nil
		}
		v := p.value(vals[k], joinKey(path, k), depth+1, "")
		if p.err != nil {
			return nil
		}
		s.Fields[k] = v
	}
	raw, err := nodeJSON(n, 0)
	if err != nil {
		p.fail(path, "%v", err)
		return nil
	}
	s.raw = raw
	return s
}

// fields reads a value spec's keys with type checks.
type fields struct {
	p    *specParser
	path string
	vals map[string]*yaml.Node
	used map[string]bool
}

func (f *fields) has(k string) bool { _, ok := f.vals[k]; return ok }

func (f *fields) node(k string) *yaml.Node {
	f.used[k] = true
	n := f.vals[k]
	if n != nil && n.Kind == yaml.AliasNode {
		f.p.fail(joinKey(f.path, k), "YAML aliases are not allowed")
		return nil
	}
	return n
}

func (f *fields) str(k string, required bool) string {
	n := f.node(k)
	if n == nil || isNull(n) {
		if required {
			f.p.fail(joinKey(f.path, k), "required")
		}
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		f.p.fail(joinKey(f.path, k), "want a string, not %s", nodeKind(n))
		return ""
	}
	return n.Value
}

func (f *fields) boolean(k string) bool {
	n := f.node(k)
	if n == nil || isNull(n) {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
		f.p.fail(joinKey(f.path, k), "want true or false, not %s", nodeKind(n))
		return false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE"
}

func (f *fields) strMap(k string) map[string]string {
	n := f.node(k)
	if n == nil || isNull(n) {
		return nil
	}
	keys, vals, ok := f.p.mapping(n, joinKey(f.path, k))
	if !ok {
		return nil
	}
	out := make(map[string]string, len(keys))
	for _, key := range keys {
		v := vals[key]
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
			f.p.fail(joinKey(joinKey(f.path, k), key), "want a string, not %s", nodeKind(v))
			return nil
		}
		out[key] = v.Value
	}
	return out
}

// done refuses keys the value spec does not know.
func (f *fields) done(tolerated ...string) {
	for k := range f.vals {
		if !f.used[k] && !slices.Contains(tolerated, k) {
			f.p.fail(joinKey(f.path, k), "unknown key")
			return
		}
	}
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// Keys every value spec may carry.
var commonTolerated = []string{"change-warning"}

// value reads one value spec. listOf is set when it is a list's element
// spec (which has no name, description or default of its own).
func (p *specParser) value(n *yaml.Node, path string, depth int, listOf string) *ValueSpec {
	if depth > MaxDepth {
		p.fail(path, "nested deeper than %d", MaxDepth)
		return nil
	}
	_, vals, ok := p.mapping(n, path)
	if !ok {
		return nil
	}
	f := &fields{p: p, path: path, vals: vals, used: map[string]bool{}}
	v := &ValueSpec{}
	if listOf != "" {
		v.Type = listOf
	} else {
		v.Type = f.str("type", true)
		v.Name = f.str("name", true)
		v.Description = f.str("description", false)
		v.Warning = f.str("warning", false)
	}
	if p.err != nil {
		return nil
	}
	switch v.Type {
	case TypeString:
		p.stringSpec(f, v, listOf != "")
	case TypeNumber:
		p.numberSpec(f, v, listOf != "")
	case TypeBoolean:
		d := f.node("default")
		if d == nil || d.Kind != yaml.ScalarNode || d.ShortTag() != "!!bool" {
			p.fail(joinKey(path, "default"), "required: true or false")
			return nil
		}
		v.Default = f.boolean("default")
	case TypeEnum:
		p.enumSpec(f, v, listOf != "")
	case TypeList:
		p.listSpec(f, v, depth)
	case TypeObject:
		v.Spec = p.spec(f.node("spec"), joinKey(path, "spec"), depth+1)
		f.boolean("nullable") // 0.2 specs carry it; objects are never null in 0.3
		v.DisplayAs = f.str("display-as", false)
		v.UniqueBy = p.uniqueBy(f.node("unique-by"), joinKey(path, "unique-by"), v.Spec)
	case TypeUnion:
		p.unionSpec(f, v, depth, listOf != "")
	case TypePointer:
		if listOf != "" {
			p.fail(path, "a list cannot hold pointers")
			return nil
		}
		p.pointerSpec(f, v)
	case "":
		p.fail(joinKey(path, "type"), "required")
	default:
		p.fail(joinKey(path, "type"), "unknown type %q: want string, number, boolean, enum, list, object, union or pointer", v.Type)
	}
	if p.err != nil {
		return nil
	}
	f.done(commonTolerated...)
	if p.err != nil {
		return nil
	}
	return v
}

func (p *specParser) stringSpec(f *fields, v *ValueSpec, item bool) {
	v.Pattern = f.str("pattern", false)
	v.PatternDescription = f.str("pattern-description", false)
	if f.has("pattern") && p.err == nil {
		re, err := regexp.Compile(v.Pattern)
		if err != nil {
			p.fail(joinKey(f.path, "pattern"), "invalid regular expression: %v", err)
			return
		}
		v.re = re
		if v.PatternDescription == "" {
			p.fail(joinKey(f.path, "pattern-description"), "required with a pattern")
			return
		}
	}
	v.Masked = f.boolean("masked")
	v.Copyable = f.boolean("copyable")
	v.Textarea = f.boolean("textarea")
	v.Placeholder = f.str("placeholder", false)
	if item {
		return
	}
	v.Nullable = f.boolean("nullable")
	if d := f.node("default"); d != nil && !isNull(d) {
		v.Default = p.stringDefault(d, joinKey(f.path, "default"), v)
	}
}

// stringDefault reads a literal string or {charset, len}.
func (p *specParser) stringDefault(d *yaml.Node, path string, v *ValueSpec) any {
	if d.Kind == yaml.ScalarNode && d.ShortTag() == "!!str" {
		if v.re != nil && !v.re.MatchString(d.Value) {
			p.fail(path, "%q does not match the pattern (%s)", d.Value, v.PatternDescription)
		}
		return d.Value
	}
	if d.Kind != yaml.MappingNode {
		p.fail(path, "want a string or {charset, len}, not %s", nodeKind(d))
		return nil
	}
	_, vals, ok := p.mapping(d, path)
	if !ok {
		return nil
	}
	f := &fields{p: p, path: path, vals: vals, used: map[string]bool{}}
	e := &Entropy{Charset: f.str("charset", false)}
	ln := f.node("len")
	if ln == nil || ln.Kind != yaml.ScalarNode || ln.ShortTag() != "!!int" {
		p.fail(joinKey(path, "len"), "required: a whole number")
		return nil
	}
	n, err := strconv.Atoi(ln.Value)
	if err != nil || n < 1 || n > maxEntropyLen {
		p.fail(joinKey(path, "len"), "want 1 to %d", maxEntropyLen)
		return nil
	}
	e.Len = n
	f.done()
	if p.err != nil {
		return nil
	}
	runes, err := parseCharset(e.Charset)
	if err != nil {
		p.fail(joinKey(path, "charset"), "%v", err)
		return nil
	}
	e.runes = runes
	return e
}

func (p *specParser) numberSpec(f *fields, v *ValueSpec, item bool) {
	if rs := f.str("range", false); rs != "" {
		r, err := ParseRange(rs)
		if err != nil {
			p.fail(joinKey(f.path, "range"), "%v", err)
			return
		}
		v.Range = &r
	}
	v.Integral = f.boolean("integral")
	v.Units = f.str("units", false)
	if ph := f.node("placeholder"); ph != nil && !isNull(ph) {
		if ph.Kind != yaml.ScalarNode {
			p.fail(joinKey(f.path, "placeholder"), "want a number")
			return
		}
		v.Placeholder = ph.Value
	}
	if item {
		return
	}
	v.Nullable = f.boolean("nullable")
	if d := f.node("default"); d != nil && !isNull(d) {
		x, ok := nodeNumber(d)
		if !ok {
			p.fail(joinKey(f.path, "default"), "want a number, not %s", nodeKind(d))
			return
		}
		if msg := v.numberProblem(x); msg != "" {
			p.fail(joinKey(f.path, "default"), "%s", msg)
			return
		}
		v.Default = x
	}
}

func nodeNumber(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return 0, false
	}
	var x float64
	if err := n.Decode(&x); err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	return x, true
}

func (p *specParser) enumSpec(f *fields, v *ValueSpec, item bool) {
	n := f.node("values")
	path := joinKey(f.path, "values")
	if n == nil || n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.fail(path, "required: a list of at least one value")
		return
	}
	for i, c := range n.Content {
		if c.Kind != yaml.ScalarNode || isNull(c) {
			p.fail(fmt.Sprintf("%s[%d]", path, i), "want a string, not %s", nodeKind(c))
			return
		}
		if slices.Contains(v.Values, c.Value) {
			p.fail(fmt.Sprintf("%s[%d]", path, i), "%q appears twice", c.Value)
			return
		}
		v.Values = append(v.Values, c.Value)
	}
	v.ValueNames = f.strMap("value-names")
	for k := range v.ValueNames {
		if !slices.Contains(v.Values, k) {
			p.fail(joinKey(joinKey(f.path, "value-names"), k), "is not one of the values")
			return
		}
	}
	if item {
		return
	}
	d := f.str("default", true)
	if p.err == nil && !slices.Contains(v.Values, d) {
		p.fail(joinKey(f.path, "default"), "%q is not one of the values (%s)", d, strings.Join(v.Values, ", "))
		return
	}
	v.Default = d
}

var listSubtypes = []string{TypeString, TypeNumber, TypeEnum, TypeObject, TypeUnion}

func (p *specParser) listSpec(f *fields, v *ValueSpec, depth int) {
	v.Subtype = f.str("subtype", true)
	if p.err != nil {
		return
	}
	if !slices.Contains(listSubtypes, v.Subtype) {
		p.fail(joinKey(f.path, "subtype"), "unknown subtype %q: want string, number, enum, object or union", v.Subtype)
		return
	}
	r := Unbounded
	if rs := f.str("range", false); rs != "" {
		var err error
		if r, err = ParseRange(rs); err != nil {
			p.fail(joinKey(f.path, "range"), "%v", err)
			return
		}
		if r.Min != nil && *r.Min < 0 {
			p.fail(joinKey(f.path, "range"), "a length cannot be negative")
			return
		}
	}
	v.Range = &r
	sn := f.node("spec")
	if sn == nil {
		sn = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	v.Item = p.value(sn, joinKey(f.path, "spec"), depth+1, v.Subtype)
	if p.err != nil {
		return
	}
	d := f.node("default")
	if d == nil || isNull(d) {
		v.Default = []any{}
		return
	}
	path := joinKey(f.path, "default")
	if d.Kind != yaml.SequenceNode {
		p.fail(path, "want a list, not %s", nodeKind(d))
		return
	}
	items := make([]any, 0, len(d.Content))
	for i, c := range d.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		switch v.Subtype {
		case TypeString:
			items = append(items, p.stringDefault(c, ip, v.Item))
		case TypeNumber:
			x, ok := nodeNumber(c)
			if !ok {
				p.fail(ip, "want a number, not %s", nodeKind(c))
				return
			}
			if msg := v.Item.numberProblem(x); msg != "" {
				p.fail(ip, "%s", msg)
				return
			}
			items = append(items, x)
		case TypeEnum:
			if c.Kind != yaml.ScalarNode || !slices.Contains(v.Item.Values, c.Value) {
				p.fail(ip, "want one of %s", strings.Join(v.Item.Values, ", "))
				return
			}
			items = append(items, c.Value)
		case TypeUnion:
			if c.Kind != yaml.ScalarNode || v.Item.Variants[c.Value] == nil {
				p.fail(ip, "want a variant name (%s)", strings.Join(v.Item.VariantKeys, ", "))
				return
			}
			items = append(items, c.Value)
		case TypeObject:
			raw, err := nodeJSON(c, 0)
			if err != nil {
				p.fail(ip, "%v", err)
				return
			}
			var obj any
			if err := json.Unmarshal(raw, &obj); err != nil {
				p.fail(ip, "%v", err)
				return
			}
			if _, ok := obj.(map[string]any); !ok {
				p.fail(ip, "want an object, not %s", nodeKind(c))
				return
			}
			items = append(items, obj)
		}
		if p.err != nil {
			return
		}
	}
	v.Default = items
}

func (p *specParser) unionSpec(f *fields, v *ValueSpec, depth int, item bool) {
	tn := f.node("tag")
	tp := joinKey(f.path, "tag")
	if tn == nil {
		p.fail(tp, "required")
		return
	}
	_, tv, ok := p.mapping(tn, tp)
	if !ok {
		return
	}
	tf := &fields{p: p, path: tp, vals: tv, used: map[string]bool{}}
	v.Tag = &UnionTag{ID: tf.str("id", true), Name: tf.str("name", true), Description: tf.str("description", false),
		VariantNames: tf.strMap("variant-names")}
	tf.done(commonTolerated...)
	if p.err != nil {
		return
	}
	vn := f.node("variants")
	vp := joinKey(f.path, "variants")
	if vn == nil {
		p.fail(vp, "required")
		return
	}
	keys, vals, ok := p.mapping(vn, vp)
	if !ok {
		return
	}
	if len(keys) == 0 {
		p.fail(vp, "a union needs at least one variant")
		return
	}
	v.VariantKeys = keys
	v.Variants = make(map[string]*Spec, len(keys))
	for _, k := range keys {
		s := p.spec(vals[k], joinKey(vp, k), depth+1)
		if p.err != nil {
			return
		}
		if _, clash := s.Fields[v.Tag.ID]; clash {
			p.fail(joinKey(joinKey(vp, k), v.Tag.ID), "a variant cannot have a key named like the tag id")
			return
		}
		v.Variants[k] = s
	}
	for k := range v.Tag.VariantNames {
		if v.Variants[k] == nil {
			p.fail(joinKey(joinKey(tp, "variant-names"), k), "is not a variant")
			return
		}
	}
	v.DisplayAs = f.str("display-as", false)
	v.UniqueBy = p.uniqueBy(f.node("unique-by"), joinKey(f.path, "unique-by"), nil)
	// A union always has a default variant, in a list too (for new items).
	d := f.str("default", !item)
	if d == "" && item {
		d = keys[0]
	}
	if p.err == nil && v.Variants[d] == nil {
		p.fail(joinKey(f.path, "default"), "%q is not a variant (%s)", d, strings.Join(keys, ", "))
		return
	}
	v.Default = d
}

var pointerTargets = map[string][]string{
	"package": {"tor-address", "lan-address", "tor-key", "config"},
	"system":  {"certificate"},
}

func (p *specParser) pointerSpec(f *fields, v *ValueSpec) {
	v.Subtype = f.str("subtype", true)
	v.Target = f.str("target", true)
	if p.err != nil {
		return
	}
	targets, ok := pointerTargets[v.Subtype]
	if !ok {
		p.fail(joinKey(f.path, "subtype"), "unknown pointer subtype %q: want package or system", v.Subtype)
		return
	}
	if !slices.Contains(targets, v.Target) {
		p.fail(joinKey(f.path, "target"), "unknown %s pointer target %q: want %s", v.Subtype, v.Target, strings.Join(targets, ", "))
		return
	}
	if v.Subtype == "package" {
		v.PackageID = f.str("package-id", true)
		switch v.Target {
		case "tor-address", "lan-address", "tor-key":
			v.Interface = f.str("interface", true)
		case "config":
			v.Selector = f.str("selector", true)
			v.Multi = f.boolean("multi")
			if _, err := Select(Config{}, v.Selector, false); p.err == nil && err != nil {
				p.fail(joinKey(f.path, "selector"), "%v", err)
			}
		}
	}
}

func (p *specParser) uniqueBy(n *yaml.Node, path string, obj *Spec) UniqueBy {
	if n == nil || isNull(n) {
		return UniqueBy{}
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		if obj != nil && obj.Fields[n.Value] == nil {
			p.fail(path, "%q is not a key of the object", n.Value)
		}
		return UniqueBy{Key: n.Value}
	}
	keys, vals, ok := p.mapping(n, path)
	if !ok {
		return UniqueBy{}
	}
	if len(keys) != 1 || (keys[0] != "any" && keys[0] != "all") {
		p.fail(path, "want null, a key, {any: [...]} or {all: [...]}")
		return UniqueBy{}
	}
	list := vals[keys[0]]
	if list.Kind != yaml.SequenceNode {
		p.fail(joinKey(path, keys[0]), "want a list")
		return UniqueBy{}
	}
	var subs []UniqueBy
	for i, c := range list.Content {
		subs = append(subs, p.uniqueBy(c, fmt.Sprintf("%s.%s[%d]", path, keys[0], i), obj))
		if p.err != nil {
			return UniqueBy{}
		}
	}
	if keys[0] == "any" {
		return UniqueBy{Any: subs}
	}
	return UniqueBy{All: subs}
}

// nodeJSON writes a YAML node as JSON, keeping mapping order.
func nodeJSON(n *yaml.Node, depth int) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := writeNodeJSON(&b, n, depth); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeNodeJSON(b *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > 2*MaxDepth+8 {
		return fmt.Errorf("nested too deeply")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			b.WriteString("null")
			return nil
		}
		return writeNodeJSON(b, n.Content[0], depth)
	case yaml.AliasNode:
		return fmt.Errorf("YAML aliases are not allowed")
	case yaml.MappingNode:
		b.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(n.Content[i].Value)
			b.Write(k)
			b.WriteByte(':')
			if err := writeNodeJSON(b, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeNodeJSON(b, c, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			var x bool
			if err := n.Decode(&x); err != nil {
				return err
			}
			b.WriteString(strconv.FormatBool(x))
		case "!!int", "!!float":
			var x float64
			if err := n.Decode(&x); err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("%q is not a finite number", n.Value)
			}
			out, _ := json.Marshal(x)
			b.Write(out)
		default:
			out, _ := json.Marshal(n.Value)
			b.Write(out)
		}
	default:
		return fmt.Errorf("unexpected YAML node")
	}
	return nil
}
