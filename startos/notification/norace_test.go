//go:build !race

package notification

const raceEnabled = false
