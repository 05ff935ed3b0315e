package config

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/startos/errdefs"
)

// Config is a config value: a JSON object.
type Config = map[string]any

// ValueError is a config value that does not match its spec, at Path
// ("users[1].name"). It wraps errdefs.ErrConfigSpecViolation.
type ValueError struct {
	Path    string
	Message string
}

func (e *ValueError) Error() string {
	if e.Path == "" {
		return "invalid config: " + e.Message
	}
	return "invalid config: " + e.Path + ": " + e.Message
}

func (e *ValueError) Unwrap() error { return errdefs.ErrConfigSpecViolation }

// ParseValue reads a config written as YAML or JSON into JSON types
// (numbers as float64), refusing aliases, non-string keys and more than
// MaxDepth levels. An empty document is an empty config.
func ParseValue(data []byte) (Config, error) {
	if len(data) > MaxValueBytes {
		return nil, &ValueError{Message: fmt.Sprintf("is %d bytes; the limit is %d", len(data), MaxValueBytes)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &ValueError{Message: "not YAML or JSON: " + firstLine(err.Error())}
	}
	if doc.Kind == 0 || (doc.Kind == yaml.DocumentNode && len(doc.Content) == 0) {
		return Config{}, nil
	}
	if err := checkKeys(&doc, "", 0); err != nil {
		return nil, err
	}
	raw, err := nodeJSON(&doc, 0)
	if err != nil {
		return nil, &ValueError{Message: err.Error()}
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, &ValueError{Message: err.Error()}
	}
	if v == nil {
		return Config{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &ValueError{Message: "want a mapping of keys to values, not " + typeOf(v)}
	}
	return m, nil
}

func checkKeys(n *yaml.Node, path string, depth int) error {
	if depth > MaxDepth+1 {
		return &ValueError{Path: path, Message: fmt.Sprintf("nested deeper than %d", MaxDepth)}
	}
	switch n.Kind {
	case yaml.AliasNode:
		return &ValueError{Path: path, Message: "YAML aliases are not allowed"}
	case yaml.MappingNode:
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" || k.ShortTag() == "!!map" {
				return &ValueError{Path: path, Message: "keys must be strings"}
			}
			if seen[k.Value] {
				return &ValueError{Path: joinKey(path, k.Value), Message: "duplicate key"}
			}
			seen[k.Value] = true
			if err := checkKeys(n.Content[i+1], joinKey(path, k.Value), depth+1); err != nil {
				return err
			}
		}
	case yaml.SequenceNode, yaml.DocumentNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = fmt.Sprintf("%s[%d]", path, i)
			}
			if err := checkKeys(c, p, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// Normalize turns a value decoded from anywhere (ints, nested maps) into
// JSON types by a JSON round trip.
func Normalize(v any) (Config, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &ValueError{Message: err.Error()}
	}
	return ParseValue(b)
}

func typeOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64, int, int64, json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func indexKey(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// Validate checks cfg against the spec: every key of the spec matches, no
// key is unknown. The error names the path of the first bad value.
func (s *Spec) Validate(cfg Config) error {
	return s.match(cfg, "", nil)
}

func (s *Spec) match(obj map[string]any, path string, skip *string) error {
	for _, k := range s.Keys {
		if err := s.Fields[k].Match(obj[k], joinKey(path, k)); err != nil {
			return err
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, ok := s.Fields[k]; !ok && (skip == nil || k != *skip) {
			return &ValueError{Path: joinKey(path, k), Message: "unknown key (the spec has: " + strings.Join(s.Keys, ", ") + ")"}
		}
	}
	return nil
}

func (v *ValueSpec) numberProblem(x float64) string {
	if v.Integral && x != math.Trunc(x) {
		return fmt.Sprintf("%s is not a whole number", strconv.FormatFloat(x, 'f', -1, 64))
	}
	if v.Range != nil && !v.Range.Contains(x) {
		return fmt.Sprintf("%s is outside the range %s", strconv.FormatFloat(x, 'f', -1, 64), v.Range)
	}
	return ""
}

// Match checks one value at path against v.
func (v *ValueSpec) Match(val any, path string) error {
	bad := func(format string, args ...any) error {
		return &ValueError{Path: path, Message: fmt.Sprintf(format, args...)}
	}
	if val == nil {
		switch {
		case v.Type == TypePointer:
			return nil
		case v.Nullable && (v.Type == TypeString || v.Type == TypeNumber):
			return nil
		}
		return bad("required (it may not be null)")
	}
	switch v.Type {
	case TypeString:
		s, ok := val.(string)
		if !ok {
			return bad("want a string, not %s", typeOf(val))
		}
		if v.re != nil && !v.re.MatchString(s) {
			return bad("does not match the pattern: %s", v.PatternDescription)
		}
	case TypeNumber:
		x, ok := number(val)
		if !ok {
			return bad("want a number, not %s", typeOf(val))
		}
		if msg := v.numberProblem(x); msg != "" {
			return bad("%s", msg)
		}
	case TypeBoolean:
		if _, ok := val.(bool); !ok {
			return bad("want true or false, not %s", typeOf(val))
		}
	case TypeEnum:
		s, ok := val.(string)
		if !ok {
			return bad("want one of %s, not %s", strings.Join(v.Values, ", "), typeOf(val))
		}
		if !slices.Contains(v.Values, s) {
			return bad("%q is not one of %s", s, strings.Join(v.Values, ", "))
		}
	case TypeList:
		l, ok := val.([]any)
		if !ok {
			return bad("want a list, not %s", typeOf(val))
		}
		if v.Range != nil && !v.Range.Contains(float64(len(l))) {
			return bad("has %d items; the length must be in %s", len(l), v.Range)
		}
		for i, it := range l {
			if err := v.Item.Match(it, indexKey(path, i)); err != nil {
				return err
			}
			for j := 0; j < i; j++ {
				if v.Item.same(l[j], it) {
					return &ValueError{Path: indexKey(path, i), Message: fmt.Sprintf("is the same as item %d; the items must be unique", j)}
				}
			}
		}
	case TypeObject:
		m, ok := val.(map[string]any)
		if !ok {
			return bad("want an object, not %s", typeOf(val))
		}
		return v.Spec.match(m, path, nil)
	case TypeUnion:
		m, ok := val.(map[string]any)
		if !ok {
			return bad("want an object, not %s", typeOf(val))
		}
		tag, ok := m[v.Tag.ID].(string)
		if !ok {
			return &ValueError{Path: joinKey(path, v.Tag.ID), Message: "required: one of " + strings.Join(v.VariantKeys, ", ")}
		}
		vs := v.Variants[tag]
		if vs == nil {
			return &ValueError{Path: joinKey(path, v.Tag.ID), Message: fmt.Sprintf("%q is not one of %s", tag, strings.Join(v.VariantKeys, ", "))}
		}
		return vs.match(m, path, &v.Tag.ID)
	case TypePointer:
		// Filled in by the box; any value is accepted.
	}
	return nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, !math.IsNaN(x) && !math.IsInf(x, 0)
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// same is StartOS's equality for list uniqueness: primitives by value,
// objects and unions by unique-by (never the same without it).
func (v *ValueSpec) same(a, b any) bool {
	switch v.Type {
	case TypeObject, TypeUnion:
		ma, okA := a.(map[string]any)
		mb, okB := b.(map[string]any)
		if !okA || !okB {
			return false
		}
		if v.Type == TypeUnion && ma[v.Tag.ID] != mb[v.Tag.ID] {
			return false
		}
		return v.UniqueBy.same(ma, mb)
	}
	return reflect.DeepEqual(a, b)
}

func (u UniqueBy) same(a, b map[string]any) bool {
	switch {
	case u.Key != "":
		return reflect.DeepEqual(a[u.Key], b[u.Key])
	case u.Any != nil:
		for _, s := range u.Any {
			if s.same(a, b) {
				return true
			}
		}
		return false
	case u.All != nil:
		for _, s := range u.All {
			if !s.same(a, b) {
				return false
			}
		}
		return len(u.All) > 0
	}
	return false
}

// Defaults generates a config from the spec's defaults: literal defaults,
// random strings for {charset, len}, null where there is none.
func (s *Spec) Defaults() (Config, error) {
	out := make(Config, len(s.Keys))
	for _, k := range s.Keys {
		v, err := s.Fields[k].Generate()
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

// Generate makes v's default value.
func (v *ValueSpec) Generate() (any, error) {
	switch v.Type {
	case TypeString:
		return genString(v.Default)
	case TypeNumber, TypeBoolean, TypeEnum:
		return v.Default, nil
	case TypeObject:
		return v.Spec.Defaults()
	case TypeUnion:
		return v.genVariant(v.Default.(string))
	case TypeList:
		items, _ := v.Default.([]any)
		out := make([]any, 0, len(items))
		for _, it := range items {
			var g any
			var err error
			switch v.Subtype {
			case TypeString:
				g, err = genString(it)
			case TypeUnion:
				g, err = v.Item.genVariant(it.(string))
			default:
				g = it
			}
			if err != nil {
				return nil, err
			}
			out = append(out, g)
		}
		// Objects are padded with generated ones up to the minimum length.
		if v.Subtype == TypeObject && v.Range != nil && v.Range.Min != nil {
			for float64(len(out)) < *v.Range.Min && len(out) < 1000 {
				g, err := v.Item.Spec.Defaults()
				if err != nil {
					return nil, err
				}
				out = append(out, g)
			}
		}
		return out, nil
	}
	return nil, nil
}

func (v *ValueSpec) genVariant(tag string) (any, error) {
	vs := v.Variants[tag]
	if vs == nil {
		return nil, &SpecError{Message: fmt.Sprintf("union default %q is not a variant", tag)}
	}
	m, err := vs.Defaults()
	if err != nil {
		return nil, err
	}
	m[v.Tag.ID] = tag
	return m, nil
}

func genString(d any) (any, error) {
	switch x := d.(type) {
	case nil:
		return nil, nil
	case string:
		return x, nil
	case *Entropy:
		return x.Generate()
	}
	return nil, fmt.Errorf("unexpected string default %T", d)
}

// Generate draws Len characters from the charset with crypto/rand.
func (e *Entropy) Generate() (string, error) {
	runes := e.runes
	if runes == nil {
		var err error
		if runes, err = parseCharset(e.Charset); err != nil {
			return "", err
		}
	}
	var b strings.Builder
	max := big.NewInt(int64(len(runes)))
	for i := 0; i < e.Len; i++ {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b.WriteRune(runes[n.Int64()])
	}
	return b.String(), nil
}

// parseCharset reads "a-z,A-Z,0-9" (ranges and single characters separated
// by commas; "," itself as the first or a lone item); empty is letters and
// digits.
func parseCharset(s string) ([]rune, error) {
	if s == "" {
		s = "a-z,A-Z,0-9"
	}
	if utf8.RuneCountInString(s) > 512 {
		return nil, fmt.Errorf("charset is longer than 512 characters")
	}
	seen := map[rune]bool{}
	var out []rune
	add := func(r rune) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, part := range strings.Split(s, ",") {
		rs := []rune(part)
		switch {
		case len(rs) == 0:
			add(',')
		case len(rs) == 1:
			add(rs[0])
		case len(rs) == 3 && rs[1] == '-':
			if rs[0] > rs[2] || rs[2]-rs[0] > 1<<12 {
				return nil, fmt.Errorf("invalid charset range %q", part)
			}
			for r := rs[0]; r <= rs[2]; r++ {
				add(r)
			}
		default:
			return nil, fmt.Errorf("invalid charset item %q: want a character or a range such as a-z", part)
		}
	}
	return out, nil
}

// MarshalJSON writes {charset, len}.
func (e *Entropy) MarshalJSON() ([]byte, error) {
	type plain Entropy
	return json.Marshal((*plain)(e))
}

// CanonicalJSON encodes a config with sorted keys, for comparing configs.
func CanonicalJSON(c Config) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(c)
	return bytes.TrimSpace(b.Bytes())
}

// ParseGetResult reads the output of a config get procedure, {spec,
// config} in YAML or JSON, keeping the spec's key order. A missing or null
// config is nil.
func ParseGetResult(data []byte) (*Spec, Config, error) {
	if len(data) > MaxValueBytes {
		return nil, nil, &SpecError{Message: fmt.Sprintf("config get printed %d bytes; the limit is %d", len(data), MaxValueBytes)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, &SpecError{Message: "config get printed something that is not YAML or JSON: " + firstLine(err.Error())}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil, &SpecError{Message: "config get printed no {spec, config} mapping"}
	}
	var specNode, cfgNode *yaml.Node
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		switch top.Content[i].Value {
		case "spec":
			specNode = top.Content[i+1]
		case "config":
			cfgNode = top.Content[i+1]
		}
	}
	if specNode == nil {
		return nil, nil, &SpecError{Path: "spec", Message: "config get printed no spec"}
	}
	p := &specParser{}
	s := p.spec(specNode, "", 0)
	if p.err != nil {
		return nil, nil, p.err
	}
	if cfgNode == nil || isNull(cfgNode) {
		return s, nil, nil
	}
	if err := checkKeys(cfgNode, "", 0); err != nil {
		return nil, nil, err
	}
	raw, err := nodeJSON(cfgNode, 0)
	if err != nil {
		return nil, nil, &ValueError{Message: err.Error()}
	}
	var c Config
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, nil, &ValueError{Message: "config: want a mapping: " + err.Error()}
	}
	return s, c, nil
}

// Res is the answer of package.config.get: the spec and the current config
// (generated from the spec's defaults while none is saved).
type Res struct {
	Spec   *Spec  `json:"spec"`
	Config Config `json:"config"`
}

// AutoConfigureRes is the answer of package.dependency.configure: the
// dependency's config before and after the dependent's auto-configure.
type AutoConfigureRes struct {
	OldConfig Config `json:"oldConfig"`
	NewConfig Config `json:"newConfig"`
	Spec      *Spec  `json:"spec"`
}
