package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

func TestReplicaFollowsMutations(t *testing.T) {
	ts := startServer(t, newBackend(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, target := range []string{"unix://" + ts.sock, ts.wsURL} {
		c, err := rpc.Dial(ctx, target, ts.opts())
		if err != nil {
			t.Fatal(err)
		}
		r, err := rpc.NewReplica(ctx, c, "")
		if err != nil {
			t.Fatal(err)
		}
		var pub model.PublicDocument
		if _, err := r.Decode(&pub); err != nil || pub.ServerInfo.ID == "" {
			t.Fatalf("initial copy: %+v %v", pub.ServerInfo, err)
		}
		// Mutations from another client, over HTTP: the revision comes back
		// in X-Patch-Sequence and the replica reaches it.
		h, _ := rpc.Dial(ctx, ts.httpURL, ts.opts())
		resp, err := h.Invoke(ctx, "db.put.ui", model.PutUIParams{Pointer: "/theme", Value: json.RawMessage(`"dark"`)})
		if err != nil || resp.Revision == 0 {
			t.Fatalf("put-ui over http: %+v %v", resp, err)
		}
		if err := r.WaitFor(ctx, resp.Revision); err != nil {
			t.Fatal(err)
		}
		r.Decode(&pub)
		if string(pub.UI) == "" || !json.Valid(pub.UI) {
			t.Fatalf("ui = %s", pub.UI)
		}
		var ui map[string]any
		json.Unmarshal(pub.UI, &ui)
		if ui["theme"] != "dark" {
			t.Fatalf("ui after put = %v", ui)
		}

		// Many concurrent writers; the copy converges on db.dump.
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					h.Invoke(ctx, "db.put.ui", model.PutUIParams{Pointer: fmt.Sprintf("/w%d", w), Value: json.RawMessage(fmt.Sprint(i))})
				}
			}()
		}
		wg.Wait()
		var dump model.Dump
		if err := h.Call(ctx, "db.dump", model.DumpParams{}, &dump); err != nil {
			t.Fatal(err)
		}
		if err := r.WaitFor(ctx, dump.ID); err != nil {
			t.Fatal(err)
		}
		got, rev := r.Value()
		if rev != dump.ID || !sameJSON(t, string(got), string(dump.Value)) {
			t.Fatalf("replica at %d differs from dump at %d", rev, dump.ID)
		}
		// Stream transports carry the revision in the response meta.
		resp, err = c.Invoke(ctx, "db.put.ui", model.PutUIParams{Pointer: "/theme", Value: json.RawMessage(`"light"`)})
		if err != nil || resp.Revision != dump.ID+1 {
			t.Fatalf("stream revision meta = %+v, %v (want %d)", resp, err, dump.ID+1)
		}
		r.Close()
		if !errors.Is(r.Err(), rpc.ErrReplicaClosed) {
			t.Fatalf("err after close = %v", r.Err())
		}
		h.Close()
		c.Close()
	}
}

func TestDumpRefusesPrivate(t *testing.T) {
	ts := startServer(t, newBackend(t))
	for _, ptr := range []string{"/private", "/private/passwordHash", ""} {
		status, _, body := postRaw(t, ts.httpURL, fmt.Sprintf(`{"id":1,"method":"db.dump","params":{"pointer":%q}}`, ptr))
		if ptr == "" {
			if status != 200 || !json.Valid([]byte(body)) || containsAny(body, `"private":`, "$argon2") /* serverInfo.passwordHash is StartOS's field, always "" */ {
				t.Fatalf("public dump leaks: %.300s", body)
			}
			continue
		}
		if !containsAny(body, `"code":34`) {
			t.Fatalf("dump %s: %s", ptr, body)
		}
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
