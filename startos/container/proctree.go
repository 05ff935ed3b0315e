package container

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/startos-go/startos/startos/errdefs"
)

// killTree sends SIGKILL to pid and all its descendants that belong to
// container containerID (by their cgroup), as found in the host's /proc.
func killTree(pid int, containerID string) error {
	if containerID == "" {
		return fmt.Errorf("no container id to check pid %d against: %w", pid, errdefs.ErrInvalidRequest)
	}
	if !inContainer(pid, containerID) {
		// Ended already, or not visible from here (another pid namespace).
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
			return nil
		}
		return fmt.Errorf("pid %d is not in container %.12s as seen from this machine's /proc: %w", pid, containerID, errdefs.ErrUnavailable)
	}
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, ok := parentOf(p); ok {
			children[pp] = append(children[pp], p)
		}
	}
	tree := []int{pid}
	for i := 0; i < len(tree); i++ {
		tree = append(tree, children[tree[i]]...)
	}
	var firstErr error
	for _, p := range tree {
		if !inContainer(p, containerID) {
			continue
		}
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil && err != syscall.ESRCH && firstErr == nil {
			firstErr = fmt.Errorf("killing pid %d: %v: %w", p, err, errdefs.ErrUnavailable)
		}
	}
	return firstErr
}

// inContainer reports whether pid's cgroup names containerID (cgroup v1 and
// v2, cgroupfs and systemd drivers all put the full id in the path).
func inContainer(pid int, containerID string) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	return err == nil && bytes.Contains(b, []byte(containerID))
}

// parentOf reads pid's parent from /proc/<pid>/stat.
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, false
	}
	// The command name is in parentheses and may hold anything; the
	// fields after its last ')' are state, ppid, ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	pp, err := strconv.Atoi(f[1])
	return pp, err == nil
}
