package testpkg

import "runtime"

var goarch = runtime.GOARCH
