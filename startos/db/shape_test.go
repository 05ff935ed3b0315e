package db

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/golden"
	"github.com/startos-go/startos/startos/model"
)

func ptr[T any](v T) *T { return &v }

// The public document as clients see it: StartOS 0.4 names, nulls where
// StartOS has them, every progress form. Compared with
// testdata/public.golden.json (go test -run Shape -update rewrites it).
func TestPublicDocumentShape(t *testing.T) {
	s := openTemp(t, Options{Init: func(d *model.Document) {
		d.Public.ServerInfo.ID = "fixedserverid000" // replaces the random one for the golden file
		si := &d.Public.ServerInfo
		si.Name, si.Hostname, si.Version, si.Arch, si.Platform, si.RAM = "Brave Otter", "brave-otter", "0.1.0", "x86_64", "x86_64", 8123456789
		si.NTPSynced = true
	}})
	started := time.Date(2026, 3, 25, 12, 0, 0, 0, time.UTC)
	mutate(t, s, func(d *model.Document) error {
		d.Public.ServerInfo.StatusInfo.UpdateProgress = &model.FullProgress{
			Overall: model.Progress{Kind: model.ProgressMeasured, Done: 3, Total: ptr[uint64](10), Units: "steps"},
			Phases: []model.NamedProgress{
				{Name: "Downloading", Progress: model.Progress{Kind: model.ProgressComplete}},
				{Name: "Validating", Progress: model.Progress{Kind: model.ProgressIndeterminate}},
				{Name: "Unpacking", Progress: model.Progress{}},
				{Name: "Installing", Progress: model.Progress{Kind: model.ProgressMeasured, Done: 5}},
			},
		}
		d.Public.PackageData["bitcoind"] = model.PackageDataEntry{
			StateInfo: model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(`{"id":"bitcoind","version":"27.0"}`)},
			S9pk:      "/var/lib/startos/packages/bitcoind.s9pk",
			StatusInfo: model.PackageStatusInfo{
				Health:  map[string]model.HealthCheckResult{"rpc": {Name: "RPC", Result: model.HealthFailure, Message: "connection refused"}},
				Started: &started,
				Desired: model.DesiredStatus{Main: model.DesiredRestarting, RestartAgain: ptr(false)},
			},
			CurrentDependencies: map[string]model.CurrentDependency{},
		}
		d.Public.PackageData["lnd"] = model.PackageDataEntry{
			StateInfo: model.StateInfo{State: model.PackageInstalling, InstallingInfo: &model.InstallingInfo{
				NewManifest: json.RawMessage(`{"id":"lnd"}`),
				Progress:    model.FullProgress{Overall: model.Progress{Kind: model.ProgressIndeterminate}}, // nil phases: []
			}},
			StatusInfo: model.PackageStatusInfo{Error: &model.ErrorData{Details: "image load failed"}},
			Registry:   ptr("https://registry.example"),
		}
		d.Private.PasswordHash = "$argon2id$never-in-the-dump"
		return nil
	})
	d, err := s.Dump("/public")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, d.Value, "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	goldenFile := filepath.Join("testdata", "public.golden.json")
	want := golden.Read(t, goldenFile, got.Bytes())
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("public document differs from %s (run with -update if intended):\n%s", goldenFile, got.String())
	}

	// Every progress form reads back as it was written.
	_, doc := s.Read()
	back := new(model.FullProgress)
	raw, _ := json.Marshal(doc.Public.ServerInfo.StatusInfo.UpdateProgress)
	if err := json.Unmarshal(raw, back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if !bytes.Equal(raw, again) {
		t.Fatalf("progress round trip: %s -> %s", raw, again)
	}
	if err := json.Unmarshal([]byte(`"half"`), &model.Progress{}); err == nil {
		t.Fatal("a string was accepted as progress")
	}
}
