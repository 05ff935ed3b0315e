package router

import (
	"fmt"
	"strings"
)

// MaxLabel is the longest DNS label (RFC 1035 section 2.3.4, RFC 1123).
const MaxLabel = 63

// BoxName is the box's own LAN name: <hostname>.local, the hostname made
// one DNS label (see Label).
func BoxName(hostname string) string { return Label(hostname) + ".local" }

// Label makes a hostname one DNS label: lowercase, its first dot-separated
// part, other characters than letters, digits and hyphens turned into
// hyphens, cut to 63; "start" when nothing is left.
func Label(hostname string) string {
	h, _, _ := strings.Cut(strings.ToLower(hostname), ".")
	b := []byte(h)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			b[i] = '-'
		}
	}
	h = strings.Trim(string(b), "-")
	if len(h) > MaxLabel {
		h = strings.TrimRight(h[:MaxLabel], "-")
	}
	if h == "" {
		return "start"
	}
	return h
}

// InterfaceName is the LAN name of one package interface:
// <interface>-<package>-<hostname>.local, one DNS label before .local. The
// name is stable across restarts, updates and reinstalls, and differs
// between packages, so two packages may both declare port 443. When the
// label would exceed 63 characters it is refused: the caller reports it.
func InterfaceName(iface, pkg, hostname string) (string, error) {
	label := strings.ToLower(iface + "-" + pkg + "-" + Label(hostname))
	if len(label) > MaxLabel {
		return "", fmt.Errorf("the LAN name %s.local is %d characters before .local; a DNS label holds at most %d (shorten the hostname)", label, len(label), MaxLabel)
	}
	for i, r := range label {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') || (r == '-' && (i == 0 || i == len(label)-1)) {
			return "", fmt.Errorf("the LAN name %s.local is not a DNS label: use letters, digits and inner hyphens", label)
		}
	}
	return label + ".local", nil
}
