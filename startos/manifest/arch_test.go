package manifest

import (
	"runtime"
	"slices"
	"testing"
)

func TestArchNames(t *testing.T) {
	for _, tc := range []struct {
		goarch, startos string
	}{
		{"amd64", "x86_64"},
		{"arm64", "aarch64"},
		{"riscv64", "riscv64"},
		// An architecture StartOS does not name stays as it is: never x86_64.
		{"386", "386"},
		{"ppc64le", "ppc64le"},
		{"", ""},
	} {
		if got := ArchFromGo(tc.goarch); got != tc.startos {
			t.Errorf("ArchFromGo(%q) = %q, want %q", tc.goarch, got, tc.startos)
		}
		if got := DockerArch(tc.startos); got != tc.goarch {
			t.Errorf("DockerArch(%q) = %q, want %q", tc.startos, got, tc.goarch)
		}
	}
	for _, a := range Arches {
		if ArchFromGo(DockerArch(a)) != a {
			t.Errorf("%s does not survive DockerArch and back", a)
		}
	}
}

func TestHostArch(t *testing.T) {
	got := HostArch()
	if got != ArchFromGo(runtime.GOARCH) {
		t.Fatalf("HostArch() = %q on %s", got, runtime.GOARCH)
	}
	if slices.Contains([]string{"amd64", "arm64", "riscv64"}, runtime.GOARCH) && !slices.Contains(Arches, got) {
		t.Fatalf("HostArch() = %q is not a StartOS name", got)
	}
}
