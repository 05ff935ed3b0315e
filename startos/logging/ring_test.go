package logging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

func seqs(p model.LogPage) []int {
	out := []int{}
	for _, e := range p.Entries {
		n, _ := strconv.Atoi(e.Cursor)
		out = append(out, n)
	}
	return out
}

func span(from, to int) []int {
	out := []int{}
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestRingPaging(t *testing.T) {
	// A ring of 10 after 15 entries holds cursors 6..15.
	r := newRing(10, 1<<20)
	for i := 1; i <= 15; i++ {
		r.add(time.Unix(int64(i), 0), hclog.Info, fmt.Sprintf("entry %d", i))
	}
	tests := []struct {
		name string
		p    model.LogsParams
		want []int
	}{
		{"newest by default", model.LogsParams{}, span(6, 15)},
		{"newest limited", model.LogsParams{Limit: 3}, span(13, 15)},
		{"before without cursor is newest", model.LogsParams{Limit: 2, Before: true}, span(14, 15)},
		{"after cursor", model.LogsParams{Cursor: "8"}, span(9, 15)},
		{"after cursor limited reads forward", model.LogsParams{Cursor: "8", Limit: 2}, span(9, 10)},
		{"before cursor", model.LogsParams{Cursor: "12", Before: true}, span(6, 11)},
		{"before cursor limited is nearest", model.LogsParams{Cursor: "12", Before: true, Limit: 2}, span(10, 11)},
		{"cursor evicted reads from oldest", model.LogsParams{Cursor: "3", Limit: 2}, span(6, 7)},
		{"after newest is empty", model.LogsParams{Cursor: "15"}, []int{}},
		{"cursor beyond newest is empty", model.LogsParams{Cursor: "99"}, []int{}},
		{"before beyond newest is newest", model.LogsParams{Cursor: "99", Before: true, Limit: 3}, span(13, 15)},
		{"before oldest is empty", model.LogsParams{Cursor: "6", Before: true}, []int{}},
		{"largest cursor is empty", model.LogsParams{Cursor: "18446744073709551615"}, []int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page, err := r.entries(tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(page); !slices.Equal(got, tc.want) {
				t.Fatalf("cursors = %v, want %v", got, tc.want)
			}
			if page.Entries == nil {
				t.Error("Entries is nil; it must marshal as []")
			}
			if len(tc.want) == 0 {
				if page.StartCursor != "" || page.EndCursor != "" {
					t.Errorf("empty page has cursors %q..%q", page.StartCursor, page.EndCursor)
				}
				return
			}
			if page.StartCursor != strconv.Itoa(tc.want[0]) || page.EndCursor != strconv.Itoa(tc.want[len(tc.want)-1]) {
				t.Errorf("page cursors %q..%q, want %d..%d", page.StartCursor, page.EndCursor, tc.want[0], tc.want[len(tc.want)-1])
			}
			for _, e := range page.Entries {
				if e.Message != "entry "+e.Cursor || e.Level != "info" || e.Timestamp.Unix() != int64(must(strconv.Atoi(e.Cursor))) {
					t.Errorf("entry %+v does not match its cursor", e)
				}
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestRingPagingRejectsBadParams(t *testing.T) {
	r := newRing(10, 1<<20)
	for _, tc := range []struct {
		p    model.LogsParams
		want string
	}{
		{model.LogsParams{Limit: -1}, "limit -1"},
		{model.LogsParams{Cursor: "abc"}, `cursor "abc"`},
		{model.LogsParams{Cursor: "0"}, `cursor "0"`},
		{model.LogsParams{Cursor: "-3", Before: true}, `cursor "-3"`},
	} {
		_, err := r.entries(tc.p)
		if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("entries(%+v) = %v, want ErrInvalidRequest naming %s", tc.p, err, tc.want)
		}
	}
}

func TestRingCapsLimit(t *testing.T) {
	r := newRing(3000, 8<<20)
	for i := range 2500 {
		r.add(time.Now(), hclog.Info, strconv.Itoa(i))
	}
	page, err := r.entries(model.LogsParams{Limit: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Entries) != MaxLimit || page.EndCursor != "2500" {
		t.Errorf("got %d entries ending at %s, want the newest %d", len(page.Entries), page.EndCursor, MaxLimit)
	}
}

func TestRingBoundedByBytes(t *testing.T) {
	const budget = 64 << 10
	r := newRing(1000, budget)
	big := strings.Repeat("m", 1000)
	for range 500 {
		r.add(time.Now(), hclog.Info, big)
	}
	if r.msgBytes > r.maxBytes {
		t.Fatalf("ring holds %d message bytes, over its %d", r.msgBytes, r.maxBytes)
	}
	if int64(len(r.buf))*ringEntrySize+r.msgBytes > budget {
		t.Errorf("slots plus messages = %d, over the budget %d", int64(len(r.buf))*ringEntrySize+r.msgBytes, budget)
	}
	page, _ := r.entries(model.LogsParams{Limit: MaxLimit})
	if len(page.Entries) == 0 || len(page.Entries) >= 500 || page.EndCursor != "500" {
		t.Errorf("kept %d entries ending at %s; want fewer than 500, newest last", len(page.Entries), page.EndCursor)
	}
}

func newTestLogging(t *testing.T, opts Options) *Logging {
	t.Helper()
	if opts.Stderr == nil {
		opts.Stderr = discard{}
	}
	l, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func recv(t *testing.T, f *feed.Feed[model.LogEntry]) model.LogEntry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := f.Recv(ctx)
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	return e
}

func TestFollowDeliversNewEntries(t *testing.T) {
	l := newTestLogging(t, Options{Name: "startd"})
	log := l.Logger()
	for i := range 5 {
		log.Info("before", "i", i)
	}
	page, f, err := l.Follow(model.LogsParams{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := seqs(page); !slices.Equal(got, []int{4, 5}) {
		t.Fatalf("history = %v, want [4 5]", got)
	}
	log.Named("db").Warn("after", "rev", 7)
	log.Info("again")
	e1, e2 := recv(t, f), recv(t, f)
	if e1.Cursor != "6" || e1.Message != "startd.db: after: rev=7" || e1.Level != "warn" {
		t.Errorf("first followed entry = %+v", e1)
	}
	if e2.Cursor != "7" || e2.Message != "startd: again" {
		t.Errorf("second followed entry = %+v", e2)
	}

	// Resuming from a cursor: the newest entries after it, then the feed.
	page, f2, err := l.Follow(model.LogsParams{Cursor: "5"})
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if got := seqs(page); !slices.Equal(got, []int{6, 7}) {
		t.Errorf("resumed history = %v, want [6 7]", got)
	}

	if _, _, err := l.Follow(model.LogsParams{Before: true}); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Errorf("Follow with before = %v, want ErrInvalidRequest", err)
	}

	closeLogging(t, l)
	for _, fd := range []*feed.Feed[model.LogEntry]{f, f2} {
		select {
		case <-fd.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("Close did not end the follower")
		}
	}
	if err := f2.Err(); !errors.Is(err, feed.ErrSourceClosed) {
		t.Errorf("follower ended with %v, want ErrSourceClosed", err)
	}
	if _, _, err := l.Follow(model.LogsParams{}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Errorf("Follow after Close = %v, want ErrUnavailable", err)
	}
	// The ring stays readable for diagnostics after Close.
	if page, err := l.Entries(model.LogsParams{Limit: 1}); err != nil || page.EndCursor != "7" {
		t.Errorf("Entries after Close = %+v, %v", page, err)
	}
}

func TestFollowerThatFallsBehindIsEnded(t *testing.T) {
	l := newTestLogging(t, Options{FollowQueue: 8})
	_, slow, err := l.Follow(model.LogsParams{})
	if err != nil {
		t.Fatal(err)
	}
	_, keeping, err := l.Follow(model.LogsParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer keeping.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan int)
	go func() {
		n := 0
		for {
			if _, err := keeping.Recv(ctx); err != nil {
				got <- n
				return
			}
			if n++; n == 20 {
				got <- n
				return
			}
		}
	}()
	for i := range 20 {
		l.Logger().Info("flood", "i", i)
		// The keeping follower reads each entry before the next, so only the
		// slow one overflows.
		waitFor(t, "keeping follower to read", func() bool { return keeping.Len() == 0 })
	}
	received := 0
	for {
		_, err := slow.Recv(ctx)
		if err != nil {
			if !errors.Is(err, feed.ErrFellBehind) {
				t.Fatalf("slow follower ended with %v, want ErrFellBehind", err)
			}
			break
		}
		received++
	}
	if received != 8 {
		t.Errorf("slow follower received %d entries before it was ended, want its queue of 8", received)
	}
	select {
	case n := <-got:
		if n != 20 {
			t.Errorf("keeping follower received %d of 20", n)
		}
	case <-ctx.Done():
		t.Fatal("keeping follower stalled")
	}
	l.ring.mu.Lock()
	followers := len(l.ring.followers)
	l.ring.mu.Unlock()
	if followers != 1 {
		t.Errorf("%d followers registered, want the ended one pruned", followers)
	}
}

func TestLevelFiltersSinksAndRing(t *testing.T) {
	l := newTestLogging(t, Options{Level: hclog.Warn})
	log := l.Logger().Named("x")
	log.Info("hidden")
	log.Warn("shown")
	log.SetLevel(hclog.Debug)
	log.Debug("now shown")
	log.Trace("still hidden")
	page, err := l.Entries(model.LogsParams{})
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, e := range page.Entries {
		msgs = append(msgs, e.Level+" "+e.Message)
	}
	if want := []string{"warn x: shown", "debug x: now shown"}; !slices.Equal(msgs, want) {
		t.Errorf("ring = %q, want %q", msgs, want)
	}
	flush(t, l)
	if st := l.Stats()[0]; st.Enqueued != 2 {
		t.Errorf("stderr enqueued %d lines, want 2", st.Enqueued)
	}
}

// The ring's text for a range of calls, against testdata/ring.golden.
func TestRingMessagesGolden(t *testing.T) {
	l := newTestLogging(t, Options{Name: "startd", Level: hclog.Trace})
	log := l.Logger()
	log.Info("plain")
	log.Named("db").With("rev", 42).Debug("committed", "ops", 3, "path", "/public/serverInfo")
	log.Named("rpc").Warn("slow call", "method", "server.logs", "took", 1500*time.Millisecond, "err", errors.New("deadline exceeded"))
	log.Error("quoted", "value", "has spaces", "empty", "")
	log.Trace("odd args", "lonely")
	log.ResetNamed("watchdog").Info("multi-line", "dump", "goroutine 1\ngoroutine 2")
	log.Info("format", "hex", hclog.Hex(255), "fmt", hclog.Fmt("%05d", 7))
	log.Info(strings.Repeat("long ", 4000))

	page, err := l.Entries(model.LogsParams{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range page.Entries {
		fmt.Fprintf(&b, "%s %s %s\n---\n", e.Cursor, e.Level, e.Message)
	}
	got := []byte(b.String())
	if want := readGolden(t, "ring.golden", got); string(got) != string(want) {
		t.Errorf("ring messages differ from testdata/ring.golden (run with -update):\ngot:\n%s", got)
	}
}

func TestMarkerFormat(t *testing.T) {
	text := newSink(SinkStderr, discard{}, nil, 1, false, time.Now()).appendMarker(nil, 12)
	if m := markerRE.FindStringSubmatch(strings.TrimSuffix(string(text), "\n")); m == nil || m[1] != "12" || m[2] != "stderr" {
		t.Errorf("text marker %q does not read as 12 dropped on stderr", text)
	}
	js := newSink(SinkFile, discard{}, nil, 1, true, time.Now()).appendMarker(nil, 7)
	var v struct {
		Level   string `json:"@level"`
		Message string `json:"@message"`
		Dropped int    `json:"dropped"`
		Sink    string `json:"sink"`
	}
	if err := json.Unmarshal(js, &v); err != nil || v.Level != "warn" || v.Dropped != 7 || v.Sink != "file" || v.Message != "7 log lines dropped" {
		t.Errorf("JSON marker %s = %+v, %v", js, v, err)
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{QueueBytes: 1000}, "QueueBytes 1000 is below the minimum"},
		{Options{RingSize: -1}, "RingSize -1"},
		{Options{FileKeep: -2}, "FileKeep -2"},
		{Options{FileMaxBytes: -1}, "FileMaxBytes -1"},
		{Options{FollowQueue: -1}, "FollowQueue -1"},
		{Options{StuckAfter: -time.Second}, "StuckAfter -1s"},
		{Options{CloseTimeout: -time.Second}, "CloseTimeout -1s"},
		{Options{Level: hclog.Level(42)}, "Level 42"},
		{Options{FileName: "../escape.log"}, `FileName "../escape.log"`},
	} {
		_, err := New(tc.opts)
		if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want ErrInvalidRequest naming %q", tc.opts, err, tc.want)
		}
	}
}

func TestBudgetSplit(t *testing.T) {
	for _, tc := range []struct {
		dir                 bool
		stderr, file, ringB int64
	}{
		{true, 2 << 20, 4 << 20, 2 << 20},
		{false, 6 << 20, 0, 2 << 20},
	} {
		opts := Options{}
		if tc.dir {
			opts.Dir = t.TempDir()
		}
		l := newTestLogging(t, opts)
		if got := l.sinks[0].budget; got != tc.stderr {
			t.Errorf("dir=%v: stderr budget %d, want %d", tc.dir, got, tc.stderr)
		}
		if tc.dir && l.sinks[1].budget != tc.file {
			t.Errorf("file budget %d, want %d", l.sinks[1].budget, tc.file)
		}
		if ring := int64(len(l.ring.buf))*ringEntrySize + l.ring.maxBytes; ring != tc.ringB {
			t.Errorf("dir=%v: ring slots+messages %d, want %d", tc.dir, ring, tc.ringB)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// JSON lines go to the sinks; the ring keeps the same text as in text mode.
func TestJSONSinksKeepTextRing(t *testing.T) {
	var out syncBuffer
	l := newTestLogging(t, Options{Stderr: &out, JSON: true, Name: "startd"})
	l.Logger().Named("db").Info("committed", "rev", 3)
	flush(t, l)
	var v map[string]any
	if err := json.Unmarshal([]byte(out.String()), &v); err != nil {
		t.Fatalf("stderr line %q is not JSON: %v", out.String(), err)
	}
	if v["@message"] != "committed" || v["@module"] != "startd.db" || v["rev"] != float64(3) {
		t.Errorf("JSON line = %v", v)
	}
	page, _ := l.Entries(model.LogsParams{})
	if len(page.Entries) != 1 || page.Entries[0].Message != "startd.db: committed: rev=3" {
		t.Errorf("ring = %+v", page.Entries)
	}
}
