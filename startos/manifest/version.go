package manifest

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a StartOS "emver" version: semver with a fourth number, the
// revision, which a wrapper maintainer bumps when they repackage an upstream
// release without changing it ("0.3.5.1"). The zero Version is "unset".
type Version struct {
	nums  [4]uint64
	valid bool
}

// NewVersion returns major.minor.patch.revision.
func NewVersion(major, minor, patch, revision uint64) Version {
	return Version{nums: [4]uint64{major, minor, patch, revision}, valid: true}
}

// ParseVersion reads "1.2.3" or "1.2.3.4".
func ParseVersion(s string) (Version, error) {
	parts := strings.Split(s, ".")
	if len(parts) < 3 || len(parts) > 4 {
		return Version{}, fmt.Errorf("invalid version %q: want MAJOR.MINOR.PATCH or MAJOR.MINOR.PATCH.REVISION", s)
	}
	var v Version
	for i, p := range parts {
		n, err := parseNumber(p)
		if err != nil {
			return Version{}, fmt.Errorf("invalid version %q: %v", s, err)
		}
		v.nums[i] = n
	}
	v.valid = true
	return v, nil
}

// MustParseVersion is ParseVersion for constants in code and tests.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

func parseNumber(p string) (uint64, error) {
	if p == "" {
		return 0, fmt.Errorf("empty number")
	}
	for _, c := range p {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", p)
		}
	}
	n, err := strconv.ParseUint(p, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", p)
	}
	return n, nil
}

// IsZero reports whether v was never set.
func (v Version) IsZero() bool { return !v.valid }

// Major, Minor, Patch and Revision return the four numbers.
func (v Version) Major() uint64    { return v.nums[0] }
func (v Version) Minor() uint64    { return v.nums[1] }
func (v Version) Patch() uint64    { return v.nums[2] }
func (v Version) Revision() uint64 { return v.nums[3] }

// String prints three numbers, or four when the revision is not zero, as
// StartOS does.
func (v Version) String() string {
	if !v.valid {
		return ""
	}
	s := fmt.Sprintf("%d.%d.%d", v.nums[0], v.nums[1], v.nums[2])
	if v.nums[3] != 0 {
		s += "." + strconv.FormatUint(v.nums[3], 10)
	}
	return s
}

// Compare returns -1, 0 or 1. "1.2.3" and "1.2.3.0" are equal.
func (v Version) Compare(o Version) int {
	for i := range v.nums {
		switch {
		case v.nums[i] < o.nums[i]:
			return -1
		case v.nums[i] > o.nums[i]:
			return 1
		}
	}
	return 0
}

// MarshalText writes the version as a string.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads a version string.
func (v *Version) UnmarshalText(b []byte) error {
	p, err := ParseVersion(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

func (v *Version) decodeNode(d *decoder, n *node, path string) {
	s, ok := d.scalarString(n, path)
	if !ok {
		return
	}
	p, err := ParseVersion(s)
	if err != nil {
		d.problem(path, "%v", err)
		return
	}
	*v = p
}
