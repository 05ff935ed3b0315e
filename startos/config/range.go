package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// NumRange is StartOS's interval notation: "[0,100]", "(0,*)", "[1,65535)";
// "*" is unbounded and a square bracket includes its end.
type NumRange struct {
	Min, Max         *float64
	MinIncl, MaxIncl bool
	text             string
}

// Unbounded is "(*,*)".
var Unbounded = NumRange{text: "(*,*)"}

// ParseRange reads interval notation.
func ParseRange(s string) (NumRange, error) {
	t := strings.TrimSpace(s)
	bad := func() (NumRange, error) {
		return NumRange{}, fmt.Errorf("invalid range %q: want interval notation such as [0,100] or (0,*)", s)
	}
	if len(t) < 5 {
		return bad()
	}
	r := NumRange{text: t}
	switch t[0] {
	case '[':
		r.MinIncl = true
	case '(':
	default:
		return bad()
	}
	switch t[len(t)-1] {
	case ']':
		r.MaxIncl = true
	case ')':
	default:
		return bad()
	}
	lo, hi, ok := strings.Cut(t[1:len(t)-1], ",")
	if !ok {
		return bad()
	}
	end := func(x string) (*float64, bool) {
		x = strings.TrimSpace(x)
		if x == "*" {
			return nil, true
		}
		f, err := strconv.ParseFloat(x, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		return &f, true
	}
	if r.Min, ok = end(lo); !ok {
		return bad()
	}
	if r.Max, ok = end(hi); !ok {
		return bad()
	}
	if r.Min == nil {
		r.MinIncl = false
	}
	if r.Max == nil {
		r.MaxIncl = false
	}
	if r.Min != nil && r.Max != nil && (*r.Min > *r.Max || (*r.Min == *r.Max && !(r.MinIncl && r.MaxIncl))) {
		return NumRange{}, fmt.Errorf("invalid range %q: it holds no number", s)
	}
	return r, nil
}

// Contains reports whether x is in the range.
func (r NumRange) Contains(x float64) bool {
	if r.Min != nil && (x < *r.Min || (x == *r.Min && !r.MinIncl)) {
		return false
	}
	if r.Max != nil && (x > *r.Max || (x == *r.Max && !r.MaxIncl)) {
		return false
	}
	return true
}

func (r NumRange) String() string {
	if r.text == "" {
		return "(*,*)"
	}
	return r.text
}
