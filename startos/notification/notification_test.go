package notification

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var ctx = context.Background()

func openStore(t *testing.T, path string) *db.Store {
	t.Helper()
	s, err := db.Open(ctx, db.Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// checkCount asserts the public unread count matches the private data, as
// seen both by a reader and by a client's dump.
func checkCount(t *testing.T, s *db.Store, wantUnread int) {
	t.Helper()
	_, doc := s.Read()
	unread := 0
	for _, n := range doc.Private.Notifications {
		if !n.Seen {
			unread++
		}
	}
	if got := doc.Public.ServerInfo.UnreadNotificationCount; got != uint64(unread) {
		t.Fatalf("unreadNotificationCount %d, but %d notifications are unseen", got, unread)
	}
	if unread != wantUnread {
		t.Fatalf("%d unseen notifications, want %d", unread, wantUnread)
	}
	d, err := s.Dump("/public/serverInfo/unreadNotificationCount")
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Value) != jsonOf(unread) {
		t.Fatalf("dumped count %s, want %d", d.Value, unread)
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

func create(t *testing.T, s *db.Store, title string, level model.NotificationLevel) uint32 {
	t.Helper()
	id, err := Create(ctx, s, model.NotificationInput{Level: level, Title: title, Message: "m " + title})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func listIDs(t *testing.T, s *db.Store, before uint32, limit int) []uint32 {
	t.Helper()
	ns, err := List(s, before, limit)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uint32, len(ns))
	for i, n := range ns {
		ids[i] = n.ID
	}
	return ids
}

func TestCreateValidates(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	tests := []struct {
		name    string
		in      model.NotificationInput
		wantErr string
	}{
		{"success", model.NotificationInput{Level: "success", Title: "t"}, ""},
		{"info", model.NotificationInput{Level: "info", Title: "t", PackageID: "bitcoind"}, ""},
		{"warning", model.NotificationInput{Level: "warning", Title: "t", Code: 2, Data: json.RawMessage(`"text"`)}, ""},
		{"error", model.NotificationInput{Level: "error", Title: "t", Code: 1, Data: json.RawMessage(`{"server":{"attempted":true}}`)}, ""},
		{"unknown level", model.NotificationInput{Level: "critical", Title: "t"}, `notification level "critical" is not one of success, info, warning, error`},
		{"empty level", model.NotificationInput{Title: "t"}, `notification level ""`},
		{"level is case sensitive", model.NotificationInput{Level: "Error", Title: "t"}, `"Error"`},
		{"empty title", model.NotificationInput{Level: "info"}, "title is empty"},
		{"bad data", model.NotificationInput{Level: "info", Title: "t", Data: json.RawMessage(`{"a":`)}, "notification data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev := s.Revision()
			id, err := Create(ctx, s, tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, errdefs.ErrInvalidRequest) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if s.Revision() != rev {
					t.Fatal("a refused notification changed the document")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ns, _ := List(s, 0, 1)
			n := ns[0]
			if n.ID != id || n.Level != tt.in.Level || n.PackageID != tt.in.PackageID || n.Code != tt.in.Code || n.Seen || n.CreatedAt.IsZero() {
				t.Fatalf("stored %+v from %+v", n, tt.in)
			}
			if want := string(tt.in.Data); want != "" && !bytes.Equal(n.Data, tt.in.Data) {
				t.Fatalf("data %s, want %s", n.Data, want)
			}
		})
	}
}

// Every operation keeps serverInfo.unreadNotificationCount equal to the
// number of unseen notifications.
func TestOperationsKeepCount(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	checkCount(t, s, 0)
	var ids []uint32
	for i, l := range []model.NotificationLevel{"success", "info", "warning", "error", "info", "info"} {
		ids = append(ids, create(t, s, string(rune('a'+i)), l))
		checkCount(t, s, i+1)
	}
	steps := []struct {
		name   string
		op     func() error
		unread int
		left   []uint32 // ids still there, newest first
	}{
		{"mark seen", func() error { return MarkSeen(ctx, s, []uint32{ids[0], ids[1]}) }, 4, []uint32{6, 5, 4, 3, 2, 1}},
		{"mark seen again", func() error { return MarkSeen(ctx, s, []uint32{ids[1]}) }, 4, []uint32{6, 5, 4, 3, 2, 1}},
		{"mark unseen", func() error { return MarkUnseen(ctx, s, []uint32{ids[0]}) }, 5, []uint32{6, 5, 4, 3, 2, 1}},
		{"mark seen before 4", func() error { return MarkSeenBefore(ctx, s, ids[3]) }, 3, []uint32{6, 5, 4, 3, 2, 1}},
		{"remove an unseen one", func() error { return Remove(ctx, s, []uint32{ids[4]}) }, 2, []uint32{6, 4, 3, 2, 1}},
		{"remove missing ids too", func() error { return Remove(ctx, s, []uint32{ids[4], 999}) }, 2, []uint32{6, 4, 3, 2, 1}},
		{"remove before 3", func() error { return RemoveBefore(ctx, s, ids[2]) }, 2, []uint32{6, 4, 3}},
		{"remove the newest", func() error { return Remove(ctx, s, []uint32{ids[5]}) }, 1, []uint32{4, 3}},
		{"mark seen before everything", func() error { return MarkSeenBefore(ctx, s, 1000) }, 0, []uint32{4, 3}},
		{"remove before everything", func() error { return RemoveBefore(ctx, s, 1000) }, 0, []uint32{}},
	}
	for _, st := range steps {
		if err := st.op(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		checkCount(t, s, st.unread)
		if got := listIDs(t, s, 0, 0); !slicesEqual(got, st.left) {
			t.Fatalf("%s: ids %v, want %v", st.name, got, st.left)
		}
	}

	// Ids are never reused: the newest (6) was removed, the next is 7.
	if id := create(t, s, "after", "info"); id != 7 {
		t.Fatalf("next id %d, want 7", id)
	}
	checkCount(t, s, 1)
}

func slicesEqual(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMarkUnknownChangesNothing(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	id := create(t, s, "one", "info")
	rev := s.Revision()
	for name, op := range map[string]func() error{
		"seen":   func() error { return MarkSeen(ctx, s, []uint32{id, 42}) },
		"unseen": func() error { return MarkUnseen(ctx, s, []uint32{42}) },
	} {
		err := op()
		if !errors.Is(err, errdefs.ErrNotFound) || !strings.Contains(err.Error(), "notification 42") {
			t.Fatalf("%s: err = %v, want not found naming 42", name, err)
		}
	}
	if s.Revision() != rev {
		t.Fatal("a failed mark changed the document")
	}
	checkCount(t, s, 1)
}

func TestListPages(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	for range 45 {
		create(t, s, "n", "info")
	}
	first := listIDs(t, s, 0, 0)
	if len(first) != DefaultLimit || first[0] != 45 || first[39] != 6 {
		t.Fatalf("default page: %d ids from %d to %d, want 40 from 45 to 6", len(first), first[0], first[len(first)-1])
	}
	if rest := listIDs(t, s, first[len(first)-1], 0); !slicesEqual(rest, []uint32{5, 4, 3, 2, 1}) {
		t.Fatalf("next page %v", rest)
	}
	if got := listIDs(t, s, 10, 3); !slicesEqual(got, []uint32{9, 8, 7}) {
		t.Fatalf("before 10 limit 3: %v", got)
	}
	if got := listIDs(t, s, 1, 0); len(got) != 0 {
		t.Fatalf("before 1: %v", got)
	}
	if _, err := List(s, 0, -1); !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), "-1") {
		t.Fatalf("negative limit: %v", err)
	}
	// List hands out copies: changing one does not touch the store.
	ns, _ := List(s, 0, 1)
	ns[0].Title = "changed"
	if again, _ := List(s, 0, 1); again[0].Title != "n" {
		t.Fatal("List returned the stored notification, not a copy")
	}
}

func TestNotificationsStayPrivate(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "state.db"))
	create(t, s, "secret-title", "warning")
	d, err := s.Dump("/public")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(d.Value, []byte("secret-title")) {
		t.Fatal("the public dump holds a notification")
	}
	if _, err := s.Dump("/private/notifications"); !errors.Is(err, errdefs.ErrUnauthorized) {
		t.Fatalf("dump of /private/notifications: %v", err)
	}
}

func TestIDsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openStore(t, path)
	create(t, s, "a", "info")
	last := create(t, s, "b", "info")
	if err := Remove(ctx, s, []uint32{last}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, path)
	if id := create(t, s, "c", "info"); id != last+1 {
		t.Fatalf("id after restart %d, want %d", id, last+1)
	}
	checkCount(t, s, 2)
}

// TestNotificationsAreBounded: 2,000 large notifications (the attack that
// made each small write cost 0.4-0.7 s) keep the count, the total and so
// the document bounded: the oldest are evicted, the newest kept.
func TestNotificationsAreBounded(t *testing.T) {
	// tmpfs: 2,500 fsyncs on a loaded disk would take minutes; the bound is
	// about the document, not the disk.
	dir, err := os.MkdirTemp("/dev/shm", "notification-test-")
	if err != nil {
		dir = t.TempDir()
	} else {
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	s := openStore(t, filepath.Join(dir, "db"))
	big := strings.Repeat("x", MaxMessageBytes)
	n := 2000
	if raceEnabled {
		n = 300 // still 1.2 MiB of messages against a 256 KiB bound
	}
	for i := range n {
		in := model.NotificationInput{Level: model.NotificationInfo, Title: strings.Repeat("t", MaxTitleBytes), Message: big}
		if i%2 == 1 {
			in.Message = "small"
		}
		if _, err := Create(ctx, s, in); err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	_, doc := s.Read()
	all := doc.Private.Notifications
	total := 0
	for _, x := range all {
		total += len(x.Title) + len(x.Message) + len(x.Data)
	}
	if len(all) > MaxCount || total > MaxTotalBytes {
		t.Fatalf("%d notifications, %d bytes: over the bounds %d, %d", len(all), total, MaxCount, MaxTotalBytes)
	}
	if _, ok := all[uint32(n)]; !ok {
		t.Fatal("the newest notification was evicted")
	}
	if _, ok := all[1]; ok {
		t.Fatal("the oldest notification survived 2,000 newer ones")
	}
	checkCount(t, s, len(all))
	// What every write of the document costs in proportion to.
	b, _ := json.Marshal(doc)
	if len(b) > 2*MaxTotalBytes {
		t.Fatalf("document is %d bytes after %d notifications", len(b), n)
	}

	// Count bound alone: many small ones.
	for range MaxCount + 10 {
		if _, err := Create(ctx, s, model.NotificationInput{Level: model.NotificationInfo, Title: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, doc := s.Read(); len(doc.Private.Notifications) != MaxCount {
		t.Fatalf("%d small notifications kept, want %d", len(doc.Private.Notifications), MaxCount)
	}
}

func TestNotificationSizeLimits(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "db"))
	long := func(n int) string { return strings.Repeat("é", n/2+1) }
	for _, c := range []struct {
		in   model.NotificationInput
		want string
	}{
		{model.NotificationInput{Level: model.NotificationInfo, Title: long(MaxTitleBytes)}, "notification title is 258 bytes, over the limit of 256"},
		{model.NotificationInput{Level: model.NotificationInfo, Title: "t", Message: long(MaxMessageBytes)}, "notification message is"},
		{model.NotificationInput{Level: model.NotificationInfo, Title: "t", Data: json.RawMessage(`"` + strings.Repeat("d", MaxDataBytes) + `"`)}, "notification data is"},
	} {
		_, err := Create(ctx, s, c.in)
		if !errors.Is(err, errdefs.ErrInvalidRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
		fit := Fit(c.in)
		if _, err := Create(ctx, s, fit); err != nil {
			t.Errorf("fitted: %v", err)
		}
	}
	if got := truncate("aé", 3); got != "a…"[:len("a…")] && len(got) > 3 {
		t.Errorf("truncate: %q", got)
	}
}
