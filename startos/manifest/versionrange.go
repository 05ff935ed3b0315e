package manifest

import (
	"fmt"
	"strings"
)

// VersionRange is a StartOS emver range, as dependencies and migrations use:
//
//   - any version
//     !                      no version
//     =1.2.3  !=1.2.3        exactly / anything but
//     >1.2.3 >=1.2.3 <1.2.3 <=1.2.3
//     1.2.3                  exactly (a bare version)
//     ^1.2.3                 >=1.2.3 <2.0.0 (^0.y.z: <0.(y+1).0; ^0.0.z: <0.0.(z+1))
//     ~1.2.3                 >=1.2.3 <1.3.0 (~1.2.3.4: <1.2.4)
//     1.2.x                  >=1.2.0 <1.3.0
//     1.2.3 - 2.0.0          >=1.2.3 <=2.0.0
//     A B, A && B            both
//     A || B                 either
//     ( ... )                grouping
//
// The zero VersionRange is "unset"; it is satisfied by nothing.
type VersionRange struct {
	src  string
	root rangeExpr
}

// maxRangeLen bounds the text a range parser accepts, so a hostile manifest
// cannot make it spin.
const maxRangeLen = 1024

const maxRangeDepth = 32

// ParseVersionRange reads a range in the syntax above.
func ParseVersionRange(s string) (VersionRange, error) {
	if len(s) > maxRangeLen {
		return VersionRange{}, fmt.Errorf("version range is longer than %d characters", maxRangeLen)
	}
	p := &rangeParser{s: s}
	p.skipSpace()
	if p.eof() {
		return VersionRange{}, fmt.Errorf("empty version range")
	}
	e, err := p.or(0)
	if err != nil {
		return VersionRange{}, fmt.Errorf("invalid version range %q: %v", s, err)
	}
	p.skipSpace()
	if !p.eof() {
		return VersionRange{}, fmt.Errorf("invalid version range %q: unexpected %q at offset %d", s, p.s[p.i:], p.i)
	}
	return VersionRange{src: strings.TrimSpace(s), root: e}, nil
}

// MustParseVersionRange is ParseVersionRange for constants in code and tests.
func MustParseVersionRange(s string) VersionRange {
	r, err := ParseVersionRange(s)
	if err != nil {
		panic(err)
	}
	return r
}

// IsZero reports whether r was never set.
func (r VersionRange) IsZero() bool { return r.root == nil }

// Satisfies reports whether v lies in r.
func (r VersionRange) Satisfies(v Version) bool {
	if r.root == nil || v.IsZero() {
		return false
	}
	return r.root.match(v)
}

// String returns the range as it was written.
func (r VersionRange) String() string { return r.src }

// Canonical returns the range with every shorthand expanded into comparisons,
// for messages and tests.
func (r VersionRange) Canonical() string {
	if r.root == nil {
		return ""
	}
	return r.root.String()
}

// MarshalText writes the range as it was written.
func (r VersionRange) MarshalText() ([]byte, error) { return []byte(r.src), nil }

// UnmarshalText reads a range.
func (r *VersionRange) UnmarshalText(b []byte) error {
	p, err := ParseVersionRange(string(b))
	if err != nil {
		return err
	}
	*r = p
	return nil
}

func (r *VersionRange) decodeNode(d *decoder, n *node, path string) {
	s, ok := d.scalarString(n, path)
	if !ok {
		return
	}
	p, err := ParseVersionRange(s)
	if err != nil {
		d.problem(path, "%v", err)
		return
	}
	*r = p
}

type rangeExpr interface {
	match(Version) bool
	String() string
}

type anyExpr struct{}

func (anyExpr) match(Version) bool { return true }
func (anyExpr) String() string     { return "*" }

type noneExpr struct{}

func (noneExpr) match(Version) bool { return false }
func (noneExpr) String() string     { return "!" }

type cmpExpr struct {
	op string // "=", "!=", ">", ">=", "<", "<="
	v  Version
}

func (c cmpExpr) match(v Version) bool {
	d := v.Compare(c.v)
	switch c.op {
	case "=":
		return d == 0
	case "!=":
		return d != 0
	case ">":
		return d > 0
	case ">=":
		return d >= 0
	case "<":
		return d < 0
	case "<=":
		return d <= 0
	}
	return false
}

func (c cmpExpr) String() string { return c.op + c.v.String() }

type andExpr []rangeExpr

func (a andExpr) match(v Version) bool {
	for _, e := range a {
		if !e.match(v) {
			return false
		}
	}
	return true
}

func (a andExpr) String() string {
	parts := make([]string, len(a))
	for i, e := range a {
		if _, isOr := e.(orExpr); isOr {
			parts[i] = "(" + e.String() + ")"
		} else {
			parts[i] = e.String()
		}
	}
	return strings.Join(parts, " ")
}

type orExpr []rangeExpr

func (o orExpr) match(v Version) bool {
	for _, e := range o {
		if e.match(v) {
			return true
		}
	}
	return false
}

func (o orExpr) String() string {
	parts := make([]string, len(o))
	for i, e := range o {
		parts[i] = e.String()
	}
	return strings.Join(parts, " || ")
}

// between is [lo, hi) or [lo, hi] when inclusive.
func between(lo, hi Version, inclusive bool) rangeExpr {
	op := "<"
	if inclusive {
		op = "<="
	}
	return andExpr{cmpExpr{">=", lo}, cmpExpr{op, hi}}
}

type rangeParser struct {
	s string
	i int
}

func (p *rangeParser) eof() bool { return p.i >= len(p.s) }

func (p *rangeParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *rangeParser) peek(prefix string) bool { return strings.HasPrefix(p.s[p.i:], prefix) }

func (p *rangeParser) or(depth int) (rangeExpr, error) {
	var alts orExpr
	for {
		e, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		alts = append(alts, e)
		p.skipSpace()
		if !p.peek("||") {
			break
		}
		p.i += 2
		p.skipSpace()
	}
	if len(alts) == 1 {
		return alts[0], nil
	}
	return alts, nil
}

func (p *rangeParser) and(depth int) (rangeExpr, error) {
	var all andExpr
	for {
		e, err := p.atom(depth)
		if err != nil {
			return nil, err
		}
		all = append(all, e)
		save := p.i
		p.skipSpace()
		if p.peek("&&") {
			p.i += 2
			p.skipSpace()
			continue
		}
		if p.eof() || p.peek("||") || p.peek(")") {
			p.i = save
			break
		}
		if p.i == save {
			return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.i:], p.i)
		}
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return all, nil
}

func (p *rangeParser) atom(depth int) (rangeExpr, error) {
	if depth > maxRangeDepth {
		return nil, fmt.Errorf("parentheses nested deeper than %d", maxRangeDepth)
	}
	if p.eof() {
		return nil, fmt.Errorf("unexpected end")
	}
	switch {
	case p.peek("("):
		p.i++
		p.skipSpace()
		e, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if !p.peek(")") {
			return nil, fmt.Errorf("missing ) at offset %d", p.i)
		}
		p.i++
		return e, nil
	case p.peek("*"):
		p.i++
		return anyExpr{}, nil
	case p.peek("!="):
		p.i += 2
		v, err := p.version()
		return cmpExpr{"!=", v}, err
	case p.peek("!"):
		p.i++
		return noneExpr{}, nil
	case p.peek(">="), p.peek("<="):
		op := p.s[p.i : p.i+2]
		p.i += 2
		v, err := p.version()
		return cmpExpr{op, v}, err
	case p.peek(">"), p.peek("<"), p.peek("="):
		op := p.s[p.i : p.i+1]
		p.i++
		v, err := p.version()
		return cmpExpr{op, v}, err
	case p.peek("^"):
		p.i++
		v, err := p.version()
		if err != nil {
			return nil, err
		}
		return caret(v), nil
	case p.peek("~"):
		p.i++
		nums, wild, err := p.numbers()
		if err != nil {
			return nil, err
		}
		if wild {
			return nil, fmt.Errorf("~ takes a version without a wildcard")
		}
		return tilde(nums), nil
	}
	nums, wild, err := p.numbers()
	if err != nil {
		return nil, err
	}
	if wild {
		return wildcard(nums)
	}
	v, err := versionOf(nums)
	if err != nil {
		return nil, err
	}
	// "A - B" is an inclusive range.
	save := p.i
	p.skipSpace()
	if p.peek("-") && p.i > save {
		p.i++
		p.skipSpace()
		hi, err := p.version()
		if err != nil {
			return nil, err
		}
		return between(v, hi, true), nil
	}
	p.i = save
	return cmpExpr{"=", v}, nil
}

// numbers reads dot-separated numbers; a last part of x, X or * marks a
// wildcard.
func (p *rangeParser) numbers() (nums []uint64, wild bool, err error) {
	for {
		start := p.i
		if !p.eof() && (p.s[p.i] == 'x' || p.s[p.i] == 'X' || p.s[p.i] == '*') && len(nums) > 0 {
			p.i++
			return nums, true, nil
		}
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start {
			if p.eof() {
				return nil, false, fmt.Errorf("expected a version at the end")
			}
			return nil, false, fmt.Errorf("expected a version at %q", p.s[start:])
		}
		n, err := parseNumber(p.s[start:p.i])
		if err != nil {
			return nil, false, err
		}
		nums = append(nums, n)
		if len(nums) > 4 {
			return nil, false, fmt.Errorf("a version has at most four numbers")
		}
		if !p.peek(".") {
			return nums, false, nil
		}
		p.i++
	}
}

func (p *rangeParser) version() (Version, error) {
	nums, wild, err := p.numbers()
	if err != nil {
		return Version{}, err
	}
	if wild {
		return Version{}, fmt.Errorf("a wildcard cannot follow an operator")
	}
	return versionOf(nums)
}

func versionOf(nums []uint64) (Version, error) {
	if len(nums) < 3 {
		return Version{}, fmt.Errorf("version needs at least three numbers, got %d", len(nums))
	}
	v := Version{valid: true}
	copy(v.nums[:], nums)
	return v, nil
}

func caret(v Version) rangeExpr {
	switch {
	case v.nums[0] == 0 && v.nums[1] == 0 && v.nums[2] == 0:
		return cmpExpr{"=", v}
	case v.nums[0] == 0 && v.nums[1] == 0:
		return between(v, NewVersion(0, 0, v.nums[2]+1, 0), false)
	case v.nums[0] == 0:
		return between(v, NewVersion(0, v.nums[1]+1, 0, 0), false)
	}
	return between(v, NewVersion(v.nums[0]+1, 0, 0, 0), false)
}

func tilde(n []uint64) rangeExpr {
	switch len(n) {
	case 4:
		return between(NewVersion(n[0], n[1], n[2], n[3]), NewVersion(n[0], n[1], n[2]+1, 0), false)
	case 3:
		return between(NewVersion(n[0], n[1], n[2], 0), NewVersion(n[0], n[1]+1, 0, 0), false)
	case 2:
		return between(NewVersion(n[0], n[1], 0, 0), NewVersion(n[0], n[1]+1, 0, 0), false)
	}
	return between(NewVersion(n[0], 0, 0, 0), NewVersion(n[0]+1, 0, 0, 0), false)
}

func wildcard(n []uint64) (rangeExpr, error) {
	switch len(n) {
	case 3:
		return between(NewVersion(n[0], n[1], n[2], 0), NewVersion(n[0], n[1], n[2]+1, 0), false), nil
	case 2:
		return between(NewVersion(n[0], n[1], 0, 0), NewVersion(n[0], n[1]+1, 0, 0), false), nil
	case 1:
		return between(NewVersion(n[0], 0, 0, 0), NewVersion(n[0]+1, 0, 0, 0), false), nil
	}
	return nil, fmt.Errorf("a wildcard version has at most three numbers before the x")
}
