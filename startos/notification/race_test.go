//go:build race

package notification

// raceEnabled: the race detector makes the JSON work of each write about ten
// times slower, so the long tests do fewer rounds.
const raceEnabled = true
