package config

// StartOS 0.3's config rules (config_rules.yaml), which the compat image
// checked and applied for `compat dependency check|auto-configure` and
// `compat config set`: a list of {rule, description, suggestions}. A rule is
// a boolean expression over the config:
//
//	x.y?          the value at x.y as a boolean (false and null are false)
//	'x.y          the value as a string       "text"  a string literal
//	#x.y          the value as a number       1.5     a number literal
//	users.*.name  any item (a rule holds when it holds for one of them)
//	users.&.name  all items
//	users.[0]     an index; users.[first(item => 'item.name = "a")] the
//	              first item a predicate holds for (also last, any, all)
//	= != < <= > >=, + - * / ^ (+ joins strings), ! AND OR XOR (also && ||),
//	parentheses, true, false
//
// A suggestion SETs a path (to-value, to-entropy or to: an expression),
// PUSHes a value onto a list, or DELETEs a path, optionally only `if` a rule
// holds. Auto-configure applies the suggestions of each failing rule in
// order and checks the rule again. References to other packages' configs
// are not supported (no package in the 0.3 registry used them in dependency
// rules); such a rule is refused when the rules are read.

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/startos/errdefs"
)

// MaxRulesBytes bounds a config_rules.yaml.
const MaxRulesBytes = 256 << 10

const maxRuleLen = 4096

// Rules is a parsed config_rules.yaml.
type Rules []RuleEntry

// RuleEntry is one rule with what to do when it fails.
type RuleEntry struct {
	Rule        string
	Description string
	Suggestions []Suggestion
	expr        node
}

// Suggestion is one change auto-configure makes when its rule fails.
type Suggestion struct {
	If      string // optional rule; the change is made only when it holds
	Op      string // SET, PUSH or DELETE
	Path    string // SET var, PUSH to, DELETE src
	Value   any    // SET to-value, PUSH value
	To      string // SET to (an expression)
	Entropy *Entropy
	cond    node
	path    []segment
	to      node
}

// RulesError is a config_rules.yaml that cannot be read; Path names the
// entry.
type RulesError struct {
	Path    string
	Message string
}

func (e *RulesError) Error() string {
	if e.Path == "" {
		return "config rules: " + e.Message
	}
	return "config rules: " + e.Path + ": " + e.Message
}

func (e *RulesError) Unwrap() error { return errdefs.ErrInvalidRequest }

// RuleViolation is a config that fails rules; Descriptions are the failing
// rules' descriptions in order.
type RuleViolation struct{ Descriptions []string }

func (e *RuleViolation) Error() string { return strings.Join(e.Descriptions, "; ") }

func (e *RuleViolation) Unwrap() error { return errdefs.ErrConfigSpecViolation }

// ParseRules reads a config_rules.yaml.
func ParseRules(data []byte) (Rules, error) {
	if len(data) > MaxRulesBytes {
		return nil, &RulesError{Message: fmt.Sprintf("is %d bytes; the limit is %d", len(data), MaxRulesBytes)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &RulesError{Message: "not YAML: " + firstLine(err.Error())}
	}
	if doc.Kind == 0 || (doc.Kind == yaml.DocumentNode && len(doc.Content) == 0) {
		return Rules{}, nil
	}
	if err := checkKeys(&doc, "", 0); err != nil {
		return nil, &RulesError{Message: err.Error()}
	}
	raw, err := nodeJSON(&doc, 0)
	if err != nil {
		return nil, &RulesError{Message: err.Error()}
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, &RulesError{Message: err.Error()}
	}
	list, ok := v.([]any)
	if v == nil {
		return Rules{}, nil
	}
	if !ok {
		return nil, &RulesError{Message: "want a list of rules, not " + typeOf(v)}
	}
	out := make(Rules, 0, len(list))
	for i, it := range list {
		p := fmt.Sprintf("[%d]", i)
		m, ok := it.(map[string]any)
		if !ok {
			return nil, &RulesError{Path: p, Message: "want {rule, description, suggestions}, not " + typeOf(it)}
		}
		var e RuleEntry
		if e.Rule, ok = m["rule"].(string); !ok {
			return nil, &RulesError{Path: p + ".rule", Message: "required: a string"}
		}
		if e.expr, err = parseExpr(e.Rule); err != nil {
			return nil, &RulesError{Path: p + ".rule", Message: err.Error()}
		}
		if e.Description, ok = m["description"].(string); !ok {
			return nil, &RulesError{Path: p + ".description", Message: "required: a string"}
		}
		sl, _ := m["suggestions"].([]any)
		if m["suggestions"] != nil && sl == nil {
			return nil, &RulesError{Path: p + ".suggestions", Message: "want a list"}
		}
		for j, sv := range sl {
			sp := fmt.Sprintf("%s.suggestions[%d]", p, j)
			s, err := parseSuggestion(sv)
			if err != nil {
				return nil, &RulesError{Path: sp, Message: err.Error()}
			}
			e.Suggestions = append(e.Suggestions, s)
		}
		out = append(out, e)
	}
	return out, nil
}

func parseSuggestion(v any) (Suggestion, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Suggestion{}, fmt.Errorf("want a mapping, not %s", typeOf(v))
	}
	var s Suggestion
	if c, ok := m["if"]; ok {
		if s.If, ok = c.(string); !ok {
			return s, fmt.Errorf("if: want a rule")
		}
		var err error
		if s.cond, err = parseExpr(s.If); err != nil {
			return s, fmt.Errorf("if: %v", err)
		}
	}
	n := 0
	for _, op := range []string{"SET", "PUSH", "DELETE"} {
		if _, ok := m[op]; ok {
			s.Op, n = op, n+1
		}
	}
	if n != 1 || len(m) > 1+btoi(s.If != "") {
		return s, fmt.Errorf("want exactly one of SET, PUSH, DELETE (and optionally if)")
	}
	var err error
	switch s.Op {
	case "DELETE":
		if s.Path, ok = m["DELETE"].(string); !ok {
			return s, fmt.Errorf("DELETE: want a path")
		}
	case "PUSH":
		b, ok := m["PUSH"].(map[string]any)
		if !ok {
			return s, fmt.Errorf("PUSH: want {to, value}")
		}
		if s.Path, ok = b["to"].(string); !ok {
			return s, fmt.Errorf("PUSH.to: want a path")
		}
		s.Value = b["value"]
	case "SET":
		b, ok := m["SET"].(map[string]any)
		if !ok {
			return s, fmt.Errorf("SET: want {var, to-value|to-entropy|to}")
		}
		if s.Path, ok = b["var"].(string); !ok {
			return s, fmt.Errorf("SET.var: want a path")
		}
		switch {
		case hasKey(b, "to-value"):
			s.Value = b["to-value"]
		case hasKey(b, "to-entropy"):
			em, _ := b["to-entropy"].(map[string]any)
			ln, _ := number(em["len"])
			cs, _ := em["charset"].(string)
			if em == nil || ln < 0 || ln > 1<<12 || ln != math.Trunc(ln) {
				return s, fmt.Errorf("SET.to-entropy: want {charset, len}")
			}
			s.Entropy = &Entropy{Charset: cs, Len: int(ln)}
			if s.Entropy.runes, err = parseCharset(cs); err != nil {
				return s, fmt.Errorf("SET.to-entropy: %v", err)
			}
		case hasKey(b, "to"):
			if s.To, ok = b["to"].(string); !ok {
				return s, fmt.Errorf("SET.to: want an expression")
			}
			if s.to, err = parseExpr(s.To); err != nil {
				return s, fmt.Errorf("SET.to: %v", err)
			}
		default:
			return s, fmt.Errorf("SET: want one of to-value, to-entropy, to")
		}
	}
	if s.path, err = parsePath(s.Path); err != nil {
		return s, fmt.Errorf("%s: %v", s.Op, err)
	}
	return s, nil
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Check returns a *RuleViolation naming every rule cfg fails, or nil.
func (r Rules) Check(cfg Config) error {
	var failed []string
	for _, e := range r {
		if !truthy(e.expr.eval(cfg)) {
			failed = append(failed, e.Description)
		}
	}
	if failed != nil {
		return &RuleViolation{Descriptions: failed}
	}
	return nil
}

// AutoConfigure returns a copy of cfg changed by the suggestions of the
// rules it fails, in order; a rule still failing after its suggestions is a
// *RuleViolation.
func (r Rules) AutoConfigure(cfg Config) (Config, error) {
	out, _ := deepCopy(map[string]any(cfg)).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	var failed []string
	for _, e := range r {
		if truthy(e.expr.eval(out)) {
			continue
		}
		for _, s := range e.Suggestions {
			if s.cond != nil && !truthy(s.cond.eval(out)) {
				continue
			}
			if err := s.apply(out); err != nil {
				return nil, fmt.Errorf("config rule %q: %s %s: %w", e.Rule, s.Op, s.Path, err)
			}
		}
		if !truthy(e.expr.eval(out)) {
			failed = append(failed, e.Description)
		}
	}
	if failed != nil {
		return nil, &RuleViolation{Descriptions: failed}
	}
	return out, nil
}

func (s Suggestion) apply(cfg map[string]any) error {
	switch s.Op {
	case "DELETE":
		return deletePath(cfg, s.path)
	case "PUSH":
		return setPath(cfg, s.path, func(old any) (any, error) {
			l, ok := old.([]any)
			if old != nil && !ok {
				return nil, fmt.Errorf("not a list")
			}
			return append(l, deepCopy(s.Value)), nil
		})
	}
	var v any
	switch {
	case s.Entropy != nil:
		str, err := s.Entropy.Generate()
		if err != nil {
			return err
		}
		v = str
	case s.to != nil:
		r := s.to.eval(cfg)
		if r.kind != exactly {
			return fmt.Errorf("to: the expression has more than one value")
		}
		v = r.v
	default:
		v = deepCopy(s.Value)
	}
	return setPath(cfg, s.path, func(any) (any, error) { return v, nil })
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepCopy(e)
		}
		return l
	}
	return v
}

// ---- paths ----

type segKind int

const (
	segKey segKind = iota
	segIndex
	segAny   // *
	segAll   // &
	segFirst // [first(item => pred)]
	segLast
	segAnyFn
	segAllFn
)

type segment struct {
	kind  segKind
	key   string
	index int
	item  string // the predicate's variable
	pred  node
}

// parsePath reads a bare path (a SET var, a PUSH to, a DELETE src).
func parsePath(s string) ([]segment, error) {
	l := &lexer{src: s}
	segs, err := l.path()
	if err != nil {
		return nil, err
	}
	if l.skipSpace(); l.pos != len(l.src) {
		return nil, fmt.Errorf("unexpected %q after the path", l.src[l.pos:])
	}
	for _, sg := range segs {
		if sg.kind == segAny || sg.kind == segAll || sg.kind == segAnyFn || sg.kind == segAllFn {
			return nil, fmt.Errorf("a path to change cannot use *, &, any or all")
		}
	}
	return segs, nil
}

// setPath replaces the value at path with f(old), creating missing object
// keys (and one item past a list's end) on the way, as StartOS did.
func setPath(cfg map[string]any, path []segment, f func(any) (any, error)) error {
	var cur any = cfg
	set := func(any) {}
	for i, sg := range path {
		var next any
		switch sg.kind {
		case segKey:
			m, ok := cur.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: not an object", pathString(path[:i]))
			}
			k := sg.key
			next = m[k]
			set = func(v any) { m[k] = v }
		case segIndex:
			l, ok := cur.([]any)
			if !ok {
				return fmt.Errorf("%s: not a list", pathString(path[:i]))
			}
			switch {
			case sg.index < len(l):
				next = l[sg.index]
				idx := sg.index
				set = func(v any) { l[idx] = v }
			case sg.index == len(l):
				parent := set
				idx := sg.index
				l = append(l, nil)
				parent(l)
				set = func(v any) { l[idx] = v }
			default:
				return fmt.Errorf("%s: index %d is past the end", pathString(path[:i]), sg.index)
			}
		case segFirst, segLast:
			l, ok := cur.([]any)
			if !ok {
				return fmt.Errorf("%s: not a list", pathString(path[:i]))
			}
			idx := findItem(l, sg)
			if idx < 0 {
				return fmt.Errorf("%s: no item matches", pathString(path[:i+1]))
			}
			next = l[idx]
			set = func(v any) { l[idx] = v }
		}
		if i < len(path)-1 && next == nil {
			if path[i+1].kind == segKey {
				next = map[string]any{}
			} else {
				next = []any{}
			}
			set(next)
		}
		if i == len(path)-1 {
			v, err := f(next)
			if err != nil {
				return fmt.Errorf("%s: %v", pathString(path), err)
			}
			set(v)
			return nil
		}
		cur = next
	}
	return nil
}

func deletePath(cfg map[string]any, path []segment) error {
	if len(path) == 0 {
		return nil
	}
	parent := path[:len(path)-1]
	last := path[len(path)-1]
	var holder any = cfg
	if len(parent) > 0 {
		holder = getPath(cfg, parent)
	}
	switch h := holder.(type) {
	case map[string]any:
		if last.kind == segKey {
			delete(h, last.key)
		}
		return nil
	case []any:
		idx := last.index
		if last.kind == segFirst || last.kind == segLast {
			idx = findItem(h, last)
		}
		if last.kind == segKey || idx < 0 || idx >= len(h) {
			return nil
		}
		nl := append(append([]any{}, h[:idx]...), h[idx+1:]...)
		return setPath(cfg, parent, func(any) (any, error) { return nl, nil })
	}
	return nil
}

func getPath(cfg map[string]any, path []segment) any {
	var cur any = cfg
	for _, sg := range path {
		switch sg.kind {
		case segKey:
			m, _ := cur.(map[string]any)
			cur = m[sg.key]
		case segIndex:
			l, _ := cur.([]any)
			if sg.index >= len(l) {
				return nil
			}
			cur = l[sg.index]
		case segFirst, segLast:
			l, _ := cur.([]any)
			i := findItem(l, sg)
			if i < 0 {
				return nil
			}
			cur = l[i]
		}
	}
	return cur
}

func findItem(l []any, sg segment) int {
	idx := -1
	for i, it := range l {
		if truthy(sg.pred.eval(map[string]any{sg.item: it})) {
			idx = i
			if sg.kind == segFirst {
				break
			}
		}
	}
	return idx
}

func pathString(path []segment) string {
	var b strings.Builder
	for i, sg := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		switch sg.kind {
		case segKey:
			b.WriteString(sg.key)
		case segIndex:
			fmt.Fprintf(&b, "[%d]", sg.index)
		default:
			b.WriteString("[…]")
		}
	}
	if b.Len() == 0 {
		return "the config"
	}
	return b.String()
}

// ---- values with multiplicity (StartOS's VarRes) ----

type resKind int

const (
	exactly resKind = iota
	anyOf
	allOf
)

type res struct {
	kind  resKind
	v     any
	items []res
}

func one(v any) res { return res{v: v} }

func (r res) mapv(f func(any) any) res {
	if r.kind == exactly {
		return one(f(r.v))
	}
	out := res{kind: r.kind, items: make([]res, len(r.items))}
	for i, it := range r.items {
		out.items[i] = it.mapv(f)
	}
	return out
}

func (r res) then(f func(any) res) res {
	if r.kind == exactly {
		return f(r.v)
	}
	out := res{kind: r.kind, items: make([]res, len(r.items))}
	for i, it := range r.items {
		out.items[i] = it.then(f)
	}
	return out
}

// truthy resolves a boolean result: any holds for one, all for every item.
func truthy(r res) bool {
	switch r.kind {
	case anyOf:
		for _, it := range r.items {
			if truthy(it) {
				return true
			}
		}
		return false
	case allOf:
		for _, it := range r.items {
			if !truthy(it) {
				return false
			}
		}
		return true
	}
	b, _ := r.v.(bool)
	return b
}

// ---- expressions ----

type node interface{ eval(cfg map[string]any) res }

type litNode struct{ v any }

func (n litNode) eval(map[string]any) res { return one(n.v) }

type castKind int

const (
	castNone castKind = iota
	castBool
	castString
	castNumber
)

type varNode struct {
	cast castKind
	path []segment
}

func (n varNode) eval(cfg map[string]any) res {
	r := walk(one(cfg), n.path)
	return r.mapv(func(v any) any {
		switch n.cast {
		case castBool:
			b, isBool := v.(bool)
			return v != nil && (!isBool || b)
		case castString:
			switch x := v.(type) {
			case string:
				return x
			case float64:
				return strconv.FormatFloat(x, 'f', -1, 64)
			case bool:
				return strconv.FormatBool(x)
			}
			return nil
		case castNumber:
			switch x := v.(type) {
			case float64:
				return x
			case string:
				f, err := strconv.ParseFloat(x, 64)
				if err != nil {
					return math.NaN()
				}
				return f
			case bool:
				return float64(btoi(x))
			}
			return math.NaN()
		}
		return v
	})
}

func walk(r res, path []segment) res {
	for _, sg := range path {
		sg := sg
		r = r.then(func(v any) res {
			switch sg.kind {
			case segKey:
				m, _ := v.(map[string]any)
				return one(m[sg.key])
			case segIndex:
				l, _ := v.([]any)
				if sg.index < len(l) {
					return one(l[sg.index])
				}
				return one(nil)
			case segAny, segAll:
				k := anyOf
				if sg.kind == segAll {
					k = allOf
				}
				out := res{kind: k}
				for _, it := range items(v) {
					out.items = append(out.items, one(it))
				}
				if out.items == nil {
					return one(nil)
				}
				return out
			case segFirst, segLast:
				l, _ := v.([]any)
				if i := findItem(l, sg); i >= 0 {
					return one(l[i])
				}
				return one(nil)
			case segAnyFn, segAllFn:
				hold := 0
				its := items(v)
				for _, it := range its {
					if truthy(sg.pred.eval(map[string]any{sg.item: it})) {
						hold++
					}
				}
				if sg.kind == segAnyFn {
					return one(hold > 0)
				}
				return one(hold == len(its))
			}
			return one(nil)
		})
	}
	return r
}

func items(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case map[string]any:
		out := make([]any, 0, len(x))
		for _, k := range sortedMapKeys(x) {
			out = append(out, x[k])
		}
		return out
	}
	return nil
}

func sortedMapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

type notNode struct{ x node }

func (n notNode) eval(cfg map[string]any) res {
	return n.x.eval(cfg).mapv(func(v any) any { b, _ := v.(bool); return !b })
}

type binNode struct {
	op   string
	l, r node
}

func (n binNode) eval(cfg map[string]any) res {
	switch n.op {
	case "AND":
		return one(truthy(n.l.eval(cfg)) && truthy(n.r.eval(cfg)))
	case "OR":
		return one(truthy(n.l.eval(cfg)) || truthy(n.r.eval(cfg)))
	case "XOR":
		return one(truthy(n.l.eval(cfg)) != truthy(n.r.eval(cfg)))
	}
	rv := n.r.eval(cfg)
	return n.l.eval(cfg).then(func(a any) res {
		return rv.mapv(func(b any) any { return binop(n.op, a, b) })
	})
}

func binop(op string, a, b any) any {
	af, aNum := a.(float64)
	bf, bNum := b.(float64)
	as, aStr := a.(string)
	bs, bStr := b.(string)
	switch op {
	case "+":
		if aStr || bStr {
			if !aStr || !bStr {
				return nil
			}
			return as + bs
		}
		return af + bf
	case "-":
		return af - bf
	case "*":
		return af * bf
	case "/":
		return af / bf
	case "^":
		return math.Pow(af, bf)
	}
	var c int // -1, 0, 1; 2 when the values do not compare
	switch {
	case aNum && bNum:
		switch {
		case af < bf:
			c = -1
		case af > bf:
			c = 1
		case af == bf:
			c = 0
		default:
			c = 2 // NaN
		}
	case aStr && bStr:
		c = strings.Compare(as, bs)
	case a == nil && b == nil:
		c = 0
	case a == nil && bStr:
		c = -1 // null sorts before every string, as Option did
	case aStr && b == nil:
		c = 1
	default:
		ab, aBool := a.(bool)
		bb, bBool := b.(bool)
		if aBool && bBool && ab == bb {
			c = 0
		} else {
			c = 2
		}
	}
	switch op {
	case "=":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c == -1
	case "<=":
		return c == -1 || c == 0
	case ">":
		return c == 1
	case ">=":
		return c == 1 || c == 0
	}
	return nil
}

// ---- parser ----

type lexer struct {
	src   string
	pos   int
	depth int
}

func (l *lexer) skipSpace() {
	for l.pos < len(l.src) && strings.ContainsRune(" \t\r\n", rune(l.src[l.pos])) {
		l.pos++
	}
}

func (l *lexer) peek(s string) bool {
	l.skipSpace()
	return strings.HasPrefix(l.src[l.pos:], s)
}

func (l *lexer) eat(s string) bool {
	if l.peek(s) {
		l.pos += len(s)
		return true
	}
	return false
}

func (l *lexer) word(w string) bool {
	l.skipSpace()
	if !strings.HasPrefix(l.src[l.pos:], w) {
		return false
	}
	end := l.pos + len(w)
	if end < len(l.src) && isIdent(l.src[end]) {
		return false
	}
	l.pos = end
	return true
}

func isIdent(c byte) bool {
	return c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func parseExpr(s string) (node, error) {
	if len(s) > maxRuleLen {
		return nil, fmt.Errorf("longer than %d characters", maxRuleLen)
	}
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("not UTF-8")
	}
	l := &lexer{src: s}
	n, err := l.expr(0)
	if err != nil {
		return nil, err
	}
	if l.skipSpace(); l.pos != len(l.src) {
		return nil, fmt.Errorf("unexpected %q at %d", l.src[l.pos:], l.pos)
	}
	return n, nil
}

// Binding powers: OR < XOR < AND < comparisons < + - < * / < ^.
var binOps = []struct {
	tok, op string
	prec    int
	word    bool
}{
	{"OR", "OR", 1, true}, {"||", "OR", 1, false},
	{"XOR", "XOR", 2, true},
	{"AND", "AND", 3, true}, {"&&", "AND", 3, false},
	{"!=", "!=", 4, false}, {"<=", "<=", 4, false}, {">=", ">=", 4, false},
	{"=", "=", 4, false}, {"<", "<", 4, false}, {">", ">", 4, false},
	{"+", "+", 5, false}, {"-", "-", 5, false},
	{"*", "*", 6, false}, {"/", "/", 6, false},
	{"^", "^", 7, false},
}

func (l *lexer) expr(minPrec int) (node, error) {
	l.depth++
	defer func() { l.depth-- }()
	if l.depth > 64 {
		return nil, fmt.Errorf("nested too deeply")
	}
	lhs, err := l.unary()
	if err != nil {
		return nil, err
	}
	for {
		matched := false
		for _, o := range binOps {
			if o.prec < minPrec {
				continue
			}
			save := l.pos
			ok := false
			if o.word {
				ok = l.word(o.tok)
			} else {
				ok = l.eat(o.tok)
			}
			if !ok {
				continue
			}
			next := o.prec + 1
			if o.op == "^" {
				next = o.prec // right-associative
			}
			rhs, err := l.expr(next)
			if err != nil {
				l.pos = save
				return nil, err
			}
			lhs = binNode{op: o.op, l: lhs, r: rhs}
			matched = true
			break
		}
		if !matched {
			return lhs, nil
		}
	}
}

func (l *lexer) unary() (node, error) {
	l.skipSpace()
	if l.pos >= len(l.src) {
		return nil, fmt.Errorf("unexpected end of the rule")
	}
	switch c := l.src[l.pos]; {
	case c == '!' && !strings.HasPrefix(l.src[l.pos:], "!="):
		l.pos++
		x, err := l.unary()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case c == '(':
		l.pos++
		x, err := l.expr(0)
		if err != nil {
			return nil, err
		}
		if !l.eat(")") {
			return nil, fmt.Errorf("missing ) at %d", l.pos)
		}
		return x, nil
	case c == '"':
		return l.stringLit()
	case c >= '0' && c <= '9' || c == '.' || (c == '-' && l.pos+1 < len(l.src) && l.src[l.pos+1] >= '0' && l.src[l.pos+1] <= '9'):
		start := l.pos
		l.pos++
		for l.pos < len(l.src) && (l.src[l.pos] >= '0' && l.src[l.pos] <= '9' || l.src[l.pos] == '.' || l.src[l.pos] == 'e' || l.src[l.pos] == 'E') {
			l.pos++
		}
		f, err := strconv.ParseFloat(l.src[start:l.pos], 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", l.src[start:l.pos])
		}
		return litNode{f}, nil
	case c == '\'':
		l.pos++
		p, err := l.path()
		return varNode{cast: castString, path: p}, err
	case c == '#':
		l.pos++
		p, err := l.path()
		return varNode{cast: castNumber, path: p}, err
	case c == '[' || c == '{':
		return nil, fmt.Errorf("references to other packages' configs are not supported (at %d)", l.pos)
	}
	if l.word("true") {
		return litNode{true}, nil
	}
	if l.word("false") {
		return litNode{false}, nil
	}
	p, err := l.path()
	if err != nil {
		return nil, err
	}
	if l.pos < len(l.src) && l.src[l.pos] == '?' {
		l.pos++
		return varNode{cast: castBool, path: p}, nil
	}
	return varNode{cast: castNone, path: p}, nil
}

func (l *lexer) stringLit() (node, error) {
	l.pos++ // the opening quote
	var b strings.Builder
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		l.pos++
		switch c {
		case '"':
			return litNode{b.String()}, nil
		case '\\':
			if l.pos < len(l.src) {
				b.WriteByte(l.src[l.pos])
				l.pos++
			}
		default:
			b.WriteByte(c)
		}
	}
	return nil, fmt.Errorf("a string is not closed")
}

// path reads key(.key | .* | .& | .[N] | .[first(x => rule)])*.
func (l *lexer) path() ([]segment, error) {
	l.skipSpace()
	var segs []segment
	for {
		if l.pos >= len(l.src) {
			return nil, fmt.Errorf("a path ends early")
		}
		switch c := l.src[l.pos]; {
		case c == '*':
			l.pos++
			segs = append(segs, segment{kind: segAny})
		case c == '&':
			l.pos++
			segs = append(segs, segment{kind: segAll})
		case c == '[':
			l.pos++
			sg, err := l.bracket()
			if err != nil {
				return nil, err
			}
			segs = append(segs, sg)
		case isIdent(c):
			start := l.pos
			for l.pos < len(l.src) && isIdent(l.src[l.pos]) {
				l.pos++
			}
			segs = append(segs, segment{kind: segKey, key: l.src[start:l.pos]})
		default:
			return nil, fmt.Errorf("unexpected %q in a path at %d", c, l.pos)
		}
		if len(segs) > 64 {
			return nil, fmt.Errorf("a path is too long")
		}
		if l.pos < len(l.src) && l.src[l.pos] == '.' {
			l.pos++
			continue
		}
		return segs, nil
	}
}

func (l *lexer) bracket() (segment, error) {
	l.skipSpace()
	start := l.pos
	for l.pos < len(l.src) && l.src[l.pos] >= '0' && l.src[l.pos] <= '9' {
		l.pos++
	}
	if l.pos > start {
		n, err := strconv.Atoi(l.src[start:l.pos])
		if err != nil || n > 1<<20 {
			return segment{}, fmt.Errorf("bad index %q", l.src[start:l.pos])
		}
		if !l.eat("]") {
			return segment{}, fmt.Errorf("missing ] at %d", l.pos)
		}
		return segment{kind: segIndex, index: n}, nil
	}
	kinds := map[string]segKind{"first": segFirst, "last": segLast, "any": segAnyFn, "all": segAllFn}
	for name, k := range kinds {
		if !l.word(name) {
			continue
		}
		if !l.eat("(") {
			return segment{}, fmt.Errorf("want ( after %s", name)
		}
		l.skipSpace()
		vs := l.pos
		for l.pos < len(l.src) && isIdent(l.src[l.pos]) {
			l.pos++
		}
		item := l.src[vs:l.pos]
		if item == "" || !l.eat("=>") {
			return segment{}, fmt.Errorf("want %s(name => rule)", name)
		}
		pred, err := l.expr(0)
		if err != nil {
			return segment{}, err
		}
		if !l.eat(")") || !l.eat("]") {
			return segment{}, fmt.Errorf("missing )] at %d", l.pos)
		}
		return segment{kind: k, item: item, pred: pred}, nil
	}
	return segment{}, fmt.Errorf("want [N] or [first|last|any|all(item => rule)] at %d", l.pos)
}
