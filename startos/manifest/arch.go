package manifest

import "runtime"

// Arches are the architecture names StartOS uses.
var Arches = []string{"x86_64", "aarch64", "riscv64"}

// archNames pairs each StartOS architecture with Go's (and Docker's) name for it.
var archNames = []struct{ startos, goarch string }{
	{"x86_64", "amd64"},
	{"aarch64", "arm64"},
	{"riscv64", "riscv64"},
}

// HostArch is this machine's architecture in StartOS's names.
func HostArch() string { return ArchFromGo(runtime.GOARCH) }

// ArchFromGo maps a GOARCH value to StartOS's name. An architecture StartOS
// has no name for is returned unchanged, so it matches no package's images
// (it is never taken for x86_64).
func ArchFromGo(goarch string) string {
	for _, n := range archNames {
		if n.goarch == goarch {
			return n.startos
		}
	}
	return goarch
}

// DockerArch maps a StartOS architecture name to Docker's (Go's). An unknown
// name is returned unchanged.
func DockerArch(arch string) string {
	for _, n := range archNames {
		if n.startos == arch {
			return n.goarch
		}
	}
	return arch
}
