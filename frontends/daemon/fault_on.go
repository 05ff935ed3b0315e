//go:build faultinject

package main

import "os"

// blockingLogFault: in a build with -tags faultinject (the liveness tests'
// control only), STARTD_FAULT_BLOCKING_LOG=1 logs straight to stderr under
// hclog's lock, as StartOS did.
func blockingLogFault() bool { return os.Getenv("STARTD_FAULT_BLOCKING_LOG") == "1" }
