package db

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/patch"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(crashChild())
	}
	goleak.VerifyTestMain(m)
}

// testLogger sends the store's log lines to t.Log.
func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "db", Level: hclog.Debug, Output: testWriter{t}})
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func openAt(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	opts.Path = path
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openTemp(t testing.TB, opts Options) *Store {
	return openAt(t, filepath.Join(t.TempDir(), "state.db"), opts)
}

func mutate(t testing.TB, s *Store, fn func(*model.Document) error) model.Revision {
	t.Helper()
	r, err := s.Mutate(context.Background(), fn)
	if err != nil {
		t.Fatalf("Mutate: %v", err)
	}
	return r
}

func setUI(key string, v any) func(*model.Document) error {
	return func(d *model.Document) error {
		ui := map[string]any{}
		if err := json.Unmarshal(d.Public.UI, &ui); err != nil {
			return err
		}
		ui[key] = v
		raw, err := json.Marshal(ui)
		d.Public.UI = raw
		return err
	}
}

func dumpJSON(t testing.TB, s *Store, ptr string) (uint64, string) {
	t.Helper()
	d, err := s.Dump(ptr)
	if err != nil {
		t.Fatalf("Dump(%q): %v", ptr, err)
	}
	return d.ID, string(d.Value)
}

func TestOpenInitAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	init := func(version string) func(*model.Document) {
		return func(d *model.Document) {
			si := &d.Public.ServerInfo
			si.Name, si.Hostname, si.Version, si.Arch, si.RAM = "Brave Otter", "brave-otter", version, "x86_64", 8<<30
		}
	}
	s := openAt(t, path, Options{Init: init("0.1.0")})
	rev, doc := s.Read()
	if rev != 1 {
		t.Fatalf("fresh store at revision %d, want 1 (the Init revision)", rev)
	}
	id := doc.Public.ServerInfo.ID
	if len(id) != 16 || strings.ToLower(id) != id {
		t.Fatalf("server id %q: want 16 lower-case characters", id)
	}
	if si := doc.Public.ServerInfo; si.Name != "Brave Otter" || si.Version != "0.1.0" || si.RAM != 8<<30 {
		t.Fatalf("Init not applied: %+v", si)
	}
	if doc.Public.PackageData == nil || doc.Private.Sessions == nil || string(doc.Public.UI) != "{}" {
		t.Fatalf("document not normalized: %+v", doc)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Same Init: nothing changes, no revision is used, the id is kept.
	s = openAt(t, path, Options{Init: init("0.1.0")})
	rev, doc = s.Read()
	if rev != 1 || doc.Public.ServerInfo.ID != id {
		t.Fatalf("reopen: revision %d id %q, want 1 %q", rev, doc.Public.ServerInfo.ID, id)
	}
	s.Close()

	// A new version is one more revision.
	s = openAt(t, path, Options{Init: init("0.2.0")})
	rev, doc = s.Read()
	if rev != 2 || doc.Public.ServerInfo.Version != "0.2.0" || doc.Public.ServerInfo.ID != id {
		t.Fatalf("upgrade: revision %d %+v", rev, doc.Public.ServerInfo)
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	for name, opts := range map[string]Options{
		"no path":          {},
		"negative compact": {Path: filepath.Join(t.TempDir(), "x"), CompactEvery: -1},
		"negative queue":   {Path: filepath.Join(t.TempDir(), "x"), QueueSize: -5},
	} {
		if _, err := Open(context.Background(), opts); !errors.Is(err, errdefs.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
	_, err := Open(context.Background(), Options{Path: filepath.Join(t.TempDir(), "missing", "dir", "state.db")})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("open in a missing directory: err = %v", err)
	}
}

func TestOpenLockedFileFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	openAt(t, path, Options{})
	start := time.Now()
	_, err := Open(context.Background(), Options{Path: path})
	if !errors.Is(err, errdefs.ErrUnavailable) || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: err = %v, want a locked-file error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("second Open took %v", d)
	}
}

func TestMutateEmitsPatchAndRevision(t *testing.T) {
	s := openTemp(t, Options{})
	rev0, before := dumpJSON(t, s, "/public")
	r := mutate(t, s, func(d *model.Document) error {
		d.Public.PackageData["bitcoind"] = model.PackageDataEntry{
			StateInfo:  model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(`{"id":"bitcoind"}`)},
			StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: model.DesiredRunning}},
		}
		d.Private.PasswordHash = "$argon2id$secret"
		return nil
	})
	if r.ID != rev0+1 || s.Revision() != r.ID {
		t.Fatalf("revision %d (store %d), want %d", r.ID, s.Revision(), rev0+1)
	}
	var paths []string
	for _, op := range r.Patch {
		paths = append(paths, op.Op+" "+op.Path)
	}
	want := []string{"add /private/passwordHash", "add /public/packageData/bitcoind"}
	if strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Fatalf("patch ops %q, want %q", paths, want)
	}
	// The revision's patch, scoped to /public, turns the old dump into the
	// new one.
	scoped, resync := patch.Scope(r.Patch, patch.Pointer{"public"})
	if resync {
		t.Fatal("unexpected resync")
	}
	got, err := patch.ApplyJSON([]byte(before), scoped)
	if err != nil {
		t.Fatal(err)
	}
	_, after := dumpJSON(t, s, "/public")
	if !patch.Equal(decode(t, string(got)), decode(t, after)) {
		t.Fatalf("old dump + patch = %s\nnew dump = %s", got, after)
	}
	_, doc := s.Read()
	if doc.Public.PackageData["bitcoind"].StatusInfo.Desired.Main != "running" {
		t.Fatalf("Read does not show the change")
	}
}

func decode(t testing.TB, s string) any {
	t.Helper()
	v, err := patch.Decode([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMutateWithoutChangeUsesNoRevision(t *testing.T) {
	s := openTemp(t, Options{})
	mutate(t, s, setUI("a", 1))
	rev, before := s.Revision(), s.Stats()
	r := mutate(t, s, setUI("a", 1))
	if r.ID != rev || len(r.Patch) != 0 || s.Revision() != rev {
		t.Fatalf("no-op mutation: %+v, store at %d; want id %d and an empty patch", r, s.Revision(), rev)
	}
	if st := s.Stats(); st.Mutations != before.Mutations || st.Commits != before.Commits {
		t.Fatalf("a no-op mutation was committed: %+v -> %+v", before, st)
	}
	if b, _ := json.Marshal(r); string(b) != `{"id":`+jsonUint(rev)+`,"patch":[]}` {
		t.Fatalf("empty revision encodes as %s", b)
	}
}

func jsonUint(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestFailedMutationChangesNothing(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		fn      func(*model.Document) error
		wantErr string
		is      error
	}{
		{"error after edits", func(d *model.Document) error {
			d.Public.ServerInfo.Name = "changed"
			d.Private.PasswordHash = "changed"
			return errBoom
		}, "boom", errBoom},
		{"panic after edits", func(d *model.Document) error {
			d.Public.ServerInfo.Name = "changed"
			panic("kaput")
		}, "mutation panicked (nothing was changed): kaput", errdefs.ErrUnknown},
		{"nil map write panics", func(d *model.Document) error {
			d.Public.PackageData = nil
			d.Public.PackageData["x"] = model.PackageDataEntry{}
			return nil
		}, "assignment to entry in nil map", errdefs.ErrUnknown},
		{"invalid ui JSON", func(d *model.Document) error {
			d.Public.UI = json.RawMessage(`{"a":`)
			return nil
		}, "does not encode", errdefs.ErrInvalidRequest},
		{"nil fn", nil, "mutation function is nil", errdefs.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{Logger: hclog.NewNullLogger()})
			mutate(t, s, setUI("k", "v"))
			sub := subscribe(t, s, "/public", 0)
			rev, before := s.Read()
			beforeJSON, _ := json.Marshal(before)

			_, err := s.Mutate(context.Background(), tt.fn)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %q wrapping %v", err, tt.wantErr, tt.is)
			}
			rev2, after := s.Read()
			afterJSON, _ := json.Marshal(after)
			if rev2 != rev || !bytes.Equal(beforeJSON, afterJSON) {
				t.Fatalf("document changed: revision %d -> %d\n%s\n%s", rev, rev2, beforeJSON, afterJSON)
			}
			// The next good mutation takes the next id and is the only
			// thing the subscriber sees.
			r := mutate(t, s, setUI("k", "w"))
			if r.ID != rev+1 {
				t.Fatalf("next revision %d, want %d", r.ID, rev+1)
			}
			got := recv(t, sub.feed)
			if got.ID != rev+1 {
				t.Fatalf("subscriber got revision %d, want %d", got.ID, rev+1)
			}
		})
	}
}

type subscription struct {
	dump model.Dump
	feed *feed.Feed[model.Revision]
}

func subscribe(t testing.TB, s *Store, ptr string, since uint64) subscription {
	t.Helper()
	d, f, err := s.Subscribe(ptr, since)
	if err != nil {
		t.Fatalf("Subscribe(%q, %d): %v", ptr, since, err)
	}
	t.Cleanup(f.Close)
	return subscription{d, f}
}

func recv(t testing.TB, f *feed.Feed[model.Revision]) model.Revision {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := f.Recv(ctx)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return r
}

func TestDumpAndSubscribeRefuseOutsidePublic(t *testing.T) {
	s := openTemp(t, Options{})
	mutate(t, s, func(d *model.Document) error {
		d.Private.PasswordHash = "$argon2id$very-secret"
		d.Private.Sessions["sess1"] = model.Session{UserAgent: "secret-agent"}
		return nil
	})
	tests := []struct {
		ptr  string
		want error // nil: allowed
	}{
		{"", nil},
		{"/public", nil},
		{"/public/serverInfo/id", nil},
		{"/public/packageData/missing", nil},
		{"/private", errdefs.ErrUnauthorized},
		{"/private/passwordHash", errdefs.ErrUnauthorized},
		{"/private/sessions/sess1", errdefs.ErrUnauthorized},
		{"/", errdefs.ErrInvalidRequest},
		{"/publicx", errdefs.ErrInvalidRequest},
		{"/other", errdefs.ErrInvalidRequest},
		{"public", errdefs.ErrInvalidRequest},
		{"/public/a~2", errdefs.ErrInvalidRequest},
	}
	for _, tt := range tests {
		d, err := s.Dump(tt.ptr)
		_, f, serr := s.Subscribe(tt.ptr, 0)
		if f != nil {
			f.Close()
		}
		if tt.want == nil {
			if err != nil || serr != nil {
				t.Errorf("%q: Dump err %v, Subscribe err %v", tt.ptr, err, serr)
			}
			if bytes.Contains(d.Value, []byte("secret")) {
				t.Errorf("%q: dump leaks private data: %s", tt.ptr, d.Value)
			}
			continue
		}
		if !errors.Is(err, tt.want) || !errors.Is(serr, tt.want) {
			t.Errorf("%q: Dump err %v, Subscribe err %v; want %v", tt.ptr, err, serr, tt.want)
		}
		if err != nil && !strings.Contains(err.Error(), tt.ptr) {
			t.Errorf("%q: error %q does not name the pointer", tt.ptr, err)
		}
	}
	// The root is refused with a word on why.
	if _, err := s.Dump("/private"); !strings.Contains(err.Error(), "never leaves") {
		t.Errorf("private refusal: %v", err)
	}
	if _, v := dumpJSON(t, s, "/public/packageData/missing"); v != "null" {
		t.Errorf("missing value dumps as %s, want null", v)
	}
}

func TestDumpIsACopy(t *testing.T) {
	s := openTemp(t, Options{})
	mutate(t, s, setUI("a", "b"))
	d, _ := s.Dump("/public/ui")
	for i := range d.Value {
		d.Value[i] = 'x'
	}
	if _, v := dumpJSON(t, s, "/public/ui"); v != `{"a":"b"}` {
		t.Fatalf("changing a dump changed the store: %s", v)
	}
}

func TestPutUI(t *testing.T) {
	s := openTemp(t, Options{})
	steps := []struct {
		ptr, value string
		wantErr    string
		wantUI     string
	}{
		{"/theme", `"dark"`, "", `{"theme":"dark"}`},
		{"/registries", `{"a":1}`, "", `{"registries":{"a":1},"theme":"dark"}`},
		{"/registries/b", `[1,2]`, "", `{"registries":{"a":1,"b":[1,2]},"theme":"dark"}`},
		{"/registries/b/-", `3`, "", `{"registries":{"a":1,"b":[1,2,3]},"theme":"dark"}`},
		{"/missing/child", `1`, `"/missing" does not exist`, ""},
		{"theme", `1`, `must be empty or start with "/"`, ""},
		{"/x", `{"a":`, `value`, ""},
		{"", `[]`, `the whole ui must be a JSON object`, ""},
		{"", `{"fresh":true}`, "", `{"fresh":true}`},
		{"/big", `"` + strings.Repeat("x", MaxUIBytes) + `"`, "over the ui's limit of 262144", ""},
		{"/half", `"` + strings.Repeat("h", MaxUIBytes/2) + `"`, "", `{"fresh":true,"half":"` + strings.Repeat("h", MaxUIBytes/2) + `"}`},
		{"/half2", `"` + strings.Repeat("h", MaxUIBytes/2) + `"`, "the ui would be", ""},
	}
	for _, st := range steps {
		rev := s.Revision()
		r, err := s.PutUI(context.Background(), st.ptr, json.RawMessage(st.value))
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) || !errors.Is(err, errdefs.ErrInvalidRequest) {
				t.Fatalf("PutUI(%q, %s): err = %v, want %q", st.ptr, st.value, err, st.wantErr)
			}
			if s.Revision() != rev {
				t.Fatalf("failed PutUI changed the revision")
			}
			continue
		}
		if err != nil {
			t.Fatalf("PutUI(%q, %s): %v", st.ptr, st.value, err)
		}
		if r.ID != rev+1 {
			t.Fatalf("PutUI revision %d, want %d", r.ID, rev+1)
		}
		if _, ui := dumpJSON(t, s, "/public/ui"); !patch.Equal(decode(t, ui), decode(t, st.wantUI)) {
			t.Fatalf("ui = %s, want %s", ui, st.wantUI)
		}
	}
}

func TestMutateContextCancelled(t *testing.T) {
	s := openTemp(t, Options{})
	rev := s.Revision()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Mutate(ctx, setUI("a", 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}

	// Hold the committer inside a mutation, queue a second one and give up
	// on it: it must never be applied.
	entered, release := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		_, err := s.Mutate(context.Background(), func(d *model.Document) error {
			close(entered)
			<-release
			return setUI("first", true)(d)
		})
		first <- err
	}()
	<-entered
	ctx, cancel = context.WithCancel(context.Background())
	second := make(chan error, 1)
	go func() {
		_, err := s.Mutate(ctx, setUI("second", true))
		second <- err
	}()
	// Cancel once the second one is queued (the channel or the committer,
	// waiting for the first, holds it).
	for s.queued.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("second: err = %v, want context.Canceled", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	mutate(t, s, setUI("third", true)) // flushes the queue past the cancelled one
	_, ui := dumpJSON(t, s, "/public/ui")
	if ui != `{"first":true,"third":true}` {
		t.Fatalf("ui = %s: the cancelled mutation was applied or another was lost", ui)
	}
	if s.Revision() != rev+2 {
		t.Fatalf("revision %d, want %d", s.Revision(), rev+2)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	s := openTemp(t, Options{})
	sub := subscribe(t, s, "/public", 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := sub.feed.Recv(context.Background()); !errors.Is(err, feed.ErrSourceClosed) {
		t.Fatalf("feed after Close: %v", err)
	}
	if _, err := s.Mutate(context.Background(), setUI("a", 1)); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Mutate after Close: %v", err)
	}
	if _, _, err := s.Subscribe("/public", 0); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	// Readers still get the last snapshot.
	if _, doc := s.Read(); doc == nil || doc.Public.ServerInfo.ID == "" {
		t.Fatal("Read after Close lost the document")
	}
}

// Readers run while writers commit; every snapshot a reader sees is whole
// (its two counters agree) and revisions never go back.
func TestReadersSeeConsistentSnapshots(t *testing.T) {
	s := openTemp(t, Options{})
	const writes = 200
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			var last uint64
			for ctx.Err() == nil {
				rev, doc := s.Read()
				if rev < last {
					errs <- errors.New("revision went back")
					return
				}
				last = rev
				var ui struct{ N, Double int }
				if err := json.Unmarshal(doc.Public.UI, &ui); err != nil {
					errs <- err
					return
				}
				if ui.Double != 2*ui.N {
					errs <- errors.New("torn snapshot")
					return
				}
			}
		})
	}
	for i := 1; i <= writes; i++ {
		mutate(t, s, func(d *model.Document) error {
			d.Public.UI = json.RawMessage(`{"N":` + jsonUint(uint64(i)) + `,"Double":` + jsonUint(uint64(2*i)) + `}`)
			return nil
		})
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestReopenAfterCompaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path, Options{CompactEvery: 10, QueueSize: 16})
	for i := range 35 {
		mutate(t, s, setUI("n", i))
	}
	rev, before := dumpJSON(t, s, "/public")
	s.Close()

	n, snapRev := logStats(t, path)
	if n > 2*10 || n < 10 {
		t.Fatalf("log holds %d entries after compaction every 10, want 10..20", n)
	}
	if snapRev != 30 {
		t.Fatalf("snapshot at revision %d, want 30 (compactions at 10, 20, 30)", snapRev)
	}

	s = openAt(t, path, Options{CompactEvery: 10, QueueSize: 16})
	rev2, after := dumpJSON(t, s, "/public")
	if rev2 != rev || after != before {
		t.Fatalf("after reopen: revision %d (want %d)\n%s\nwant\n%s", rev2, rev, after, before)
	}
	if r := mutate(t, s, setUI("n", "next")); r.ID != rev+1 {
		t.Fatalf("numbering after reopen: %d, want %d", r.ID, rev+1)
	}
}

func TestSubscribeResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path, Options{QueueSize: 8})
	for i := range 10 {
		mutate(t, s, setUI("n", i))
	}
	rev := s.Revision()

	// Within the window: no dump, the missed revisions first.
	sub := subscribe(t, s, "/public/ui", rev-3)
	if sub.dump.ID != rev-3 || sub.dump.Value != nil {
		t.Fatalf("resume dump = %+v, want id %d and no value", sub.dump, rev-3)
	}
	for want := rev - 2; want <= rev; want++ {
		r := recv(t, sub.feed)
		if r.ID != want || len(r.Patch) != 1 || r.Patch[0].Path != "/n" {
			t.Fatalf("backlog revision %+v, want id %d replacing /n", r, want)
		}
	}
	mutate(t, s, setUI("n", "live"))
	if r := recv(t, sub.feed); r.ID != rev+1 {
		t.Fatalf("live revision %d after the backlog, want %d", r.ID, rev+1)
	}
	rev++

	// Up to date: nothing to send.
	if sub := subscribe(t, s, "/public/ui", rev); sub.dump.ID != rev || sub.dump.Value != nil || sub.feed.Len() != 0 {
		t.Fatalf("resume at head: %+v (%d queued)", sub.dump, sub.feed.Len())
	}
	// Too old, or from the future: a fresh dump.
	for _, since := range []uint64{rev - 9, rev + 5} {
		sub := subscribe(t, s, "/public/ui", since)
		if sub.dump.ID != rev || string(sub.dump.Value) != `{"n":"live"}` || sub.feed.Len() != 0 {
			t.Fatalf("since %d: dump %+v, want a fresh dump at %d", since, sub.dump, rev)
		}
	}

	// After a restart the window comes back from the log.
	s.Close()
	s = openAt(t, path, Options{QueueSize: 8})
	sub = subscribe(t, s, "/public", rev-2)
	if sub.dump.Value != nil {
		t.Fatalf("resume after restart gave a dump: %+v", sub.dump)
	}
	for want := rev - 1; want <= rev; want++ {
		if r := recv(t, sub.feed); r.ID != want {
			t.Fatalf("backlog after restart: %d, want %d", r.ID, want)
		}
	}
}

func TestDamagedFileIsReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path, Options{})
	mutate(t, s, setUI("a", 1))
	s.Close()
	corruptLog(t, path)
	_, err := Open(context.Background(), Options{Path: path})
	if !errors.Is(err, errdefs.ErrFilesystem) || !strings.Contains(err.Error(), "log entry") {
		t.Fatalf("open of a damaged file: %v", err)
	}
}

// TestPingWaitsForTheCommitter: Ping answers in turn with the mutations (it
// waits for one in progress), changes no revision, and fails once the
// store is closed.
func TestPingWaitsForTheCommitter(t *testing.T) {
	s := openTemp(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	rev := s.Revision()
	release := make(chan struct{})
	entered := make(chan struct{})
	mutated := make(chan error, 1)
	go func() {
		_, err := s.Mutate(ctx, func(d *model.Document) error {
			close(entered)
			<-release
			d.Public.ServerInfo.Name = "pinged"
			return nil
		})
		mutated <- err
	}()
	<-entered
	pinged := make(chan error, 1)
	go func() { pinged <- s.Ping(ctx) }()
	select {
	case err := <-pinged:
		t.Fatalf("Ping answered (%v) while a mutation held the committer", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-mutated; err != nil {
		t.Fatal(err)
	}
	if err := <-pinged; err != nil {
		t.Fatal(err)
	}
	if got := s.Revision(); got != rev+1 {
		t.Fatalf("revision %d after one mutation and pings, want %d", got, rev+1)
	}
	s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping of a closed store succeeded")
	}
}
