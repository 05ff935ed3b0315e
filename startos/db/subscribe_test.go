package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/patch"
)

func setDesired(id, main string) func(*model.Document) error {
	return func(d *model.Document) error {
		e := d.Public.PackageData[id]
		e.StateInfo.State = model.PackageInstalled
		e.StatusInfo.Desired.Main = main
		d.Public.PackageData[id] = e
		return nil
	}
}

func TestSubscribeScoped(t *testing.T) {
	s := openTemp(t, Options{})
	sub := subscribe(t, s, "/public/packageData/btc/statusInfo", 0)
	if string(sub.dump.Value) != "null" || sub.dump.ID != s.Revision() {
		t.Fatalf("dump of a missing package: %+v", sub.dump)
	}
	steps := []struct {
		name string
		fn   func(*model.Document) error
		want string // scoped patch JSON
	}{
		{"private only", func(d *model.Document) error { d.Private.PasswordHash = "h"; return nil }, `[]`},
		{"another package", setDesired("lnd", "running"), `[]`},
		{"package installed: ancestor added", setDesired("btc", "stopped"),
			`[{"op":"replace","path":"","value":{"desired":{"main":"stopped"},"error":null,"health":{},"started":null}}]`},
		{"inside", setDesired("btc", "running"), `[{"op":"replace","path":"/desired/main","value":"running"}]`},
		{"health added", func(d *model.Document) error {
			d.Public.PackageData["btc"].StatusInfo.Health["rpc"] = model.HealthCheckResult{Name: "RPC", Result: model.HealthStarting}
			return nil
		}, `[{"op":"add","path":"/health/rpc","value":{"name":"RPC","result":"starting","message":""}}]`},
		{"package removed: ancestor removed", func(d *model.Document) error { delete(d.Public.PackageData, "btc"); return nil },
			`[{"op":"replace","path":"","value":null}]`},
	}
	value := decode(t, string(sub.dump.Value))
	for i, st := range steps {
		r := mutate(t, s, st.fn)
		got := recv(t, sub.feed)
		if got.ID != sub.dump.ID+uint64(i)+1 || got.ID != r.ID {
			t.Fatalf("%s: revision %d (committed %d), want %d", st.name, got.ID, r.ID, sub.dump.ID+uint64(i)+1)
		}
		// Compared as JSON values: key order inside a value is the model's.
		if b, _ := json.Marshal(got.Patch); !patch.Equal(decode(t, string(b)), decode(t, st.want)) {
			t.Fatalf("%s: scoped patch\n got %s\nwant %s", st.name, b, st.want)
		}
		var err error
		if value, err = patch.Apply(value, got.Patch); err != nil {
			t.Fatalf("%s: applying: %v", st.name, err)
		}
		_, now := dumpJSON(t, s, "/public/packageData/btc/statusInfo")
		if !patch.Equal(value, decode(t, now)) {
			t.Fatalf("%s: subscriber copy %v, dump %s", st.name, value, now)
		}
	}
}

// Subscribers join at random moments while writers commit. Each one's dump
// plus its revisions must equal the final document, with ids following each
// other from the dump's: nothing lost, nothing twice.
func TestSubscribeAtomicWithCommits(t *testing.T) {
	s := openTemp(t, Options{QueueSize: 4096})
	const writers, perWriter, subscribers = 4, 50, 20
	pointers := []string{"/public", "/public/ui", "/public/packageData", "/public/packageData/p1", "/public/serverInfo/name"}

	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				var fn func(*model.Document) error
				switch i % 4 {
				case 0:
					fn = setUI(fmt.Sprintf("w%d", w), i)
				case 1:
					fn = setDesired(fmt.Sprintf("p%d", w), []string{"running", "stopped"}[i%2])
				case 2:
					fn = func(d *model.Document) error { d.Private.PasswordHash = fmt.Sprint(w, i); return nil }
				default:
					fn = func(d *model.Document) error { d.Public.ServerInfo.Name = fmt.Sprint("box", w, i); return nil }
				}
				if _, err := s.Mutate(context.Background(), fn); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	type joined struct {
		ptr   string
		value any
		next  uint64
		f     *feed.Feed[model.Revision]
	}
	var subs []*joined
	for i := range subscribers {
		d, f, err := s.Subscribe(pointers[i%len(pointers)], 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		subs = append(subs, &joined{ptr: pointers[i%len(pointers)], value: decode(t, string(d.Value)), next: d.ID + 1, f: f})
		time.Sleep(time.Duration(i%3) * time.Millisecond)
	}
	wg.Wait()
	final := s.Revision()
	for _, j := range subs {
		for j.next <= final {
			r := recv(t, j.f)
			if r.ID != j.next {
				t.Fatalf("%s: got revision %d, want %d", j.ptr, r.ID, j.next)
			}
			var err error
			if j.value, err = patch.Apply(j.value, r.Patch); err != nil {
				t.Fatalf("%s: revision %d: %v", j.ptr, r.ID, err)
			}
			j.next++
		}
		if n := j.f.Len(); n != 0 {
			t.Fatalf("%s: %d revisions past the last commit", j.ptr, n)
		}
		_, want := dumpJSON(t, s, j.ptr)
		if !patch.Equal(j.value, decode(t, want)) {
			t.Fatalf("%s: subscriber copy differs from the dump\n got %s\nwant %s", j.ptr, mustJSON(t, j.value), want)
		}
	}
}

func mustJSON(t testing.TB, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A subscriber that never reads fills its queue and is ended with
// ErrFellBehind; writers carry on and a reading subscriber gets everything.
func TestSlowSubscriberIsDropped(t *testing.T) {
	const queue, writes = 8, 100
	s := openTemp(t, Options{QueueSize: queue})
	slow := subscribe(t, s, "/public", 0)
	fast := subscribe(t, s, "/public", 0)

	// The reading subscriber keeps up: the writer waits for it to receive
	// each revision (as a reader with the whole machine would), the slow
	// one does not read at all.
	received := make(chan uint64)
	go func() {
		defer close(received)
		for range writes {
			r, err := fast.feed.Recv(context.Background())
			if err != nil {
				return
			}
			received <- r.ID
		}
	}()
	for i := range writes {
		r := mutate(t, s, setUI("n", i))
		if id, ok := <-received; !ok || id != r.ID {
			t.Fatalf("reading subscriber got revision %d (open %v) after mutation %d, want %d", id, ok, i, r.ID)
		}
	}

	select {
	case <-slow.feed.Done():
	default:
		t.Fatal("the slow subscriber was not ended")
	}
	if !errors.Is(slow.feed.Err(), feed.ErrFellBehind) {
		t.Fatalf("slow subscriber ended with %v, want ErrFellBehind", slow.feed.Err())
	}
	// What it had queued is still delivered, then the notice.
	for want := slow.dump.ID + 1; want <= slow.dump.ID+queue; want++ {
		if r := recv(t, slow.feed); r.ID != want {
			t.Fatalf("queued revision %d, want %d", r.ID, want)
		}
	}
	if _, err := slow.feed.Recv(context.Background()); !errors.Is(err, feed.ErrFellBehind) {
		t.Fatalf("after the queue: %v, want ErrFellBehind", err)
	}
	if st := s.Stats(); st.Subscribers != 1 {
		t.Fatalf("%d subscribers counted, want only the reading one", st.Subscribers)
	}
}

// Sixteen concurrent writers: the commits (one fsync each) must be far fewer
// than the revisions they carry.
func TestGroupCommit(t *testing.T) {
	s := openTemp(t, Options{})
	const writers, each = 16, 40
	before := s.Stats()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Mutate(context.Background(), setUI(fmt.Sprint("w", w), i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	commits, muts := st.Commits-before.Commits, st.Mutations-before.Mutations
	t.Logf("%d revisions in %d commits (%.1f per fsync)", muts, commits, float64(muts)/float64(commits))
	if muts != writers*each {
		t.Fatalf("%d revisions committed, want %d", muts, writers*each)
	}
	if commits*2 > muts {
		t.Fatalf("%d commits for %d revisions: mutations are not grouped", commits, muts)
	}
	// Grouped revisions are still separate, consecutive revisions.
	if st.Revision != before.Revision+writers*each {
		t.Fatalf("revision %d, want %d", st.Revision, before.Revision+writers*each)
	}
}

// A mutation that fails inside a group leaves the others of the group alone.
func TestFailureInsideGroup(t *testing.T) {
	s := openTemp(t, Options{})
	entered, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s.Mutate(context.Background(), func(d *model.Document) error {
			close(entered)
			<-release
			return setUI("hold", 1)(d)
		})
	})
	<-entered
	results := make([]error, 5)
	for i := range results {
		wg.Go(func() {
			_, results[i] = s.Mutate(context.Background(), func(d *model.Document) error {
				if i == 2 {
					d.Public.ServerInfo.Name = "never"
					return errors.New("refused")
				}
				return setUI(fmt.Sprint("k", i), i)(d)
			})
		})
	}
	for s.queued.Load() < uint64(len(results)) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i, err := range results {
		if (err != nil) != (i == 2) {
			t.Fatalf("mutation %d: %v", i, err)
		}
	}
	_, doc := s.Read()
	if doc.Public.ServerInfo.Name == "never" {
		t.Fatal("the failed mutation leaked into the group")
	}
	if ui := string(doc.Public.UI); !strings.Contains(ui, `"k4":4`) || !strings.Contains(ui, `"k0":0`) || strings.Contains(ui, "k2") {
		t.Fatalf("ui %s", ui)
	}
}
