//go:build !faultinject

package main

// blockingLogFault is the fault-injection switch for the liveness tests; the
// shipped daemon has none, so no environment can bring the original hang back.
func blockingLogFault() bool { return false }
