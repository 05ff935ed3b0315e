package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestEnsureMergesLiveRestore(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, before string
		changed      bool
		want         map[string]any
	}{
		{"missing file", "", true, map[string]any{"live-restore": true}},
		{"other settings kept", `{"log-driver": "json-file", "live-restore": false}`, true, map[string]any{"log-driver": "json-file", "live-restore": true}},
		{"already set", `{"live-restore": true, "debug": true}`, false, map[string]any{"live-restore": true, "debug": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name, "daemon.json")
			if tc.before != "" {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(tc.before), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			changed, err := ensure(path)
			if err != nil || changed != tc.changed {
				t.Fatalf("ensure: changed %v err %v, want changed %v", changed, err, tc.changed)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
			if st, _ := os.Stat(path); tc.before != "" && st.Mode().Perm() != 0o600 {
				t.Errorf("mode changed to %v", st.Mode().Perm())
			}
		})
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("[1,2]"), 0o644)
	if _, err := ensure(bad); err == nil {
		t.Error("a file that is not a JSON object was accepted")
	}
	if b, _ := os.ReadFile(bad); string(b) != "[1,2]" {
		t.Errorf("a bad file was overwritten: %q", b)
	}
}
