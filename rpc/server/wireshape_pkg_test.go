package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// TestStartOSWireShapesWithPackages is the StartOS wire table for the
// methods that need an installed, running package: a real test package on
// the real engine, then testdata/startos/packages.json's cases in order on
// one server ("$pkg" is the package's id in params and literal shapes).
func TestStartOSWireShapesWithPackages(t *testing.T) {
	eng := testpkg.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	pkg := testpkg.Build(t, eng, testpkg.Options{HelloInput: true})
	id := pkg.Manifest.ID
	archive := filepath.Join(t.TempDir(), id+".s9pk")
	pkg.WriteArchive(t, archive)

	b := newBackend(t)
	ts := startServer(t, b)
	local := []*http.Cookie{{Name: rpc.LocalCookie, Value: ts.cookie}}
	up, err := b.Sideload(ctx, model.SideloadParams{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	err = b.ReceiveUpload(ctx, up.Upload, f, st.Size())
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		b.Uninstall(ctx, model.UninstallParams{ID: id})
	})
	if _, e, _ := postAs(t, ts, local, wireBody("package.start", mustJSON(t, map[string]string{"id": id}))); e != nil {
		t.Fatalf("package.start: %v", e)
	}
	// The action runs only while the service runs: wait until the
	// document says it started.
	for {
		d, err := b.Dump(ctx, model.DumpParams{Pointer: "/public/packageData/" + id + "/statusInfo"})
		var si struct{ Started *string }
		if err == nil && json.Unmarshal(d.Value, &si) == nil && si.Started != nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the package never started")
		case <-time.After(100 * time.Millisecond):
		}
	}

	raw, err := os.ReadFile(filepath.Join("testdata", "startos", "packages.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Method string `json:"method"`
		wireCase
	}
	if err := json.Unmarshal([]byte(strings.ReplaceAll(string(raw), "$pkg", id)), &cases); err != nil || len(cases) == 0 {
		t.Fatalf("packages.json: %v", err)
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.Method] = true
		t.Run(c.Method+"/"+c.Name, func(t *testing.T) {
			if c.Differs != "" && !strings.Contains(differencesTable(t), "`"+c.Method+"`") {
				t.Errorf("%s differs from StartOS (%s) but docs/rpc.md's table does not name it", c.Method, c.Differs)
			}
			body := wireBody(c.Method, substParams(t, ts, orEmpty(c.Params), ""))
			res, e, _ := postAs(t, ts, local, body)
			checkWireAnswer(t, c.Method+" ("+c.Binding+")", res, e, c.Result, c.Error)
			for _, a := range c.After {
				res, e, _ := postAs(t, ts, local, wireBody(a.Method, substParams(t, ts, orEmpty(a.Params), "")))
				checkWireAnswer(t, "after: "+a.Method, res, e, a.Result, a.Error)
			}
		})
	}
	for _, m := range packageMethods {
		if !covered[m] {
			t.Errorf("%s: no case in packages.json", m)
		}
	}
}

// packageMethods are the shared methods that need an installed package.
var packageMethods = []string{
	"package.list", "package.installed-version", "package.stats", "package.logs", "package.logs.follow",
	"package.action.get-input", "package.action.run", "package.start", "package.stop", "package.restart",
}

func orEmpty(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	return raw
}
