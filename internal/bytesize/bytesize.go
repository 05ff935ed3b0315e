// Package bytesize prints byte counts for people, in binary units, the same
// way in the daemon's messages, start-cli and start-tui.
package bytesize

import "strconv"

var units = []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}

// Format is 2183168 -> "2.1 MiB"; below 1 KiB a whole count: "512 B".
func Format(n float64) string {
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(n, 'f', 0, 64) + " B"
	}
	return strconv.FormatFloat(n, 'f', 1, 64) + " " + units[i]
}
