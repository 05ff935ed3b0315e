// Command enginecfg makes sure the Docker Engine configuration file
// (default /etc/docker/daemon.json) sets what startd wants of the engine:
// "live-restore": true, so services keep running while the engine restarts
// or upgrades (docs/startd.md). Other settings in the file are kept as they
// are; the file is replaced atomically. It prints "changed" when it wrote
// the file and "unchanged" otherwise. `just engine` runs it.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/startos-go/startos/internal/atomicfile"
)

func main() {
	path := "/etc/docker/daemon.json"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	changed, err := ensure(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "enginecfg:", err)
		os.Exit(1)
	}
	if changed {
		fmt.Println("changed")
	} else {
		fmt.Println("unchanged")
	}
}

// want is what startd needs set in daemon.json.
var want = map[string]any{"live-restore": true}

// ensure merges want into the JSON object at path (created if missing) and
// reports whether it wrote the file.
func ensure(path string) (bool, error) {
	cfg := map[string]json.RawMessage{}
	mode := fs.FileMode(0o644)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, err
	default:
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
		if len(bytes.TrimSpace(b)) > 0 {
			if err := json.Unmarshal(b, &cfg); err != nil {
				return false, fmt.Errorf("%s is not a JSON object; fix it by hand: %w", path, err)
			}
		}
	}
	changed := false
	for k, v := range want {
		vb, _ := json.Marshal(v)
		if cur, ok := cfg[k]; ok && bytes.Equal(bytes.TrimSpace(cur), vb) {
			continue
		}
		cfg[k] = vb
		changed = true
	}
	if !changed {
		return false, nil
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	return true, atomicfile.Write(path, append(out, '\n'), mode)
}
