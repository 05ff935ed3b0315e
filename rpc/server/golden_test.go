package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/startos-go/startos/internal/golden"
	"github.com/startos-go/startos/rpc/apidoc"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// cheapPassword keeps argon2id fast in tests; the format is the same.
var cheapPassword = auth.Params{Memory: 1024, Time: 1, Threads: 1}

var fixedNow = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// hookBackend is the real library with a few trigger messages on echo, so
// tests can reach the error, panic and cancellation paths through the real
// transports.
type hookBackend struct {
	*startos.Server
	cancelled chan error // receives ctx.Err() of a "block" echo
}

func (b *hookBackend) Echo(ctx context.Context, p model.EchoParams) (string, error) {
	switch p.Message {
	case "panic":
		panic("boom")
	case "not-found":
		return "", fmt.Errorf("thing %q: %w", "x", errdefs.ErrNotFound)
	case "block":
		<-ctx.Done()
		b.cancelled <- ctx.Err()
		return "", ctx.Err()
	}
	return b.Server.Echo(ctx, p)
}

// serve is New with the hooks' echo in place of the table's.
func (b *hookBackend) serve(opts Options) *Server {
	opts.Methods = append(opts.Methods, echoWith(b.Echo))
	return New(b.Server, opts)
}

// echoWith is the table's echo entry served by fn instead.
func echoWith(fn func(context.Context, model.EchoParams) (string, error)) *Method {
	return unary("echo", "Echo, with test hooks.", public, func(_ *startos.Server, ctx context.Context, p model.EchoParams) (string, error) {
		return fn(ctx, p)
	})
}

func newBackend(t *testing.T) *hookBackend {
	t.Helper()
	dir := t.TempDir()
	s, err := startos.Open(context.Background(), startos.Config{DataDir: dir, Stderr: io.Discard, Now: func() time.Time { return fixedNow }, PasswordParams: &cheapPassword})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &hookBackend{Server: s, cancelled: make(chan error, 4)}
}

type fixture struct {
	name       string
	transports []string
	request    string
	want       string
	path       string
}

func loadFixtures(t *testing.T) []fixture {
	t.Helper()
	paths, err := filepath.Glob("testdata/golden/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	var out []fixture
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		head, want, ok := strings.Cut(string(b), "\n----------\n")
		if !ok {
			t.Fatalf("%s: no ---------- separator", p)
		}
		lines := strings.SplitN(head, "\n", 2)
		tr, ok := strings.CutPrefix(lines[0], "# transports: ")
		if !ok || len(lines) != 2 {
			t.Fatalf("%s: first line must be '# transports: ...'", p)
		}
		out = append(out, fixture{
			name:       strings.TrimSuffix(filepath.Base(p), ".txt"),
			transports: strings.Fields(tr),
			request:    strings.TrimSpace(lines[1]),
			want:       strings.TrimSpace(want),
			path:       p,
		})
	}
	return out
}

// TestGoldenFixtures sends each fixture's request over every transport it
// names and compares the answer with the recorded one.
func TestGoldenFixtures(t *testing.T) {
	ts := startServer(t, newBackend(t))
	for _, fx := range loadFixtures(t) {
		t.Run(fx.name, func(t *testing.T) {
			for _, tr := range fx.transports {
				var got string
				switch tr {
				case "http":
					status, _, body := postRaw(t, ts.httpURL, fx.request)
					if status != 200 {
						t.Fatalf("http: status %d, want 200 (body %q)", status, body)
					}
					got = body
				case "unix", "ws":
					var c rawConn
					if tr == "unix" {
						c = dialUnix(t, ts.sock)
					} else {
						c = dialWS(t, ts.wsURL)
					}
					c.send(t, fx.request)
					got = c.recv(t)
					c.close()
				default:
					t.Fatalf("unknown transport %q", tr)
				}
				if golden.Update() && tr == fx.transports[0] {
					var buf bytes.Buffer
					json.Indent(&buf, []byte(got), "", "  ")
					head := "# transports: " + strings.Join(fx.transports, " ") + "\n" + fx.request + "\n----------\n"
					if err := os.WriteFile(fx.path, []byte(head+buf.String()+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
					fx.want = got
				}
				if !sameJSON(t, got, fx.want) {
					t.Errorf("%s: got\n%s\nwant\n%s", tr, got, fx.want)
				}
			}
		})
	}
}

// TestClientTableIsCurrent fails when rpc/table_gen.go (what clients and
// start-cli read) no longer matches Table.
func TestClientTableIsCurrent(t *testing.T) {
	got, err := os.ReadFile("../table_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, apidoc.GoTable(Descriptions())) {
		t.Fatal("rpc/table_gen.go is stale: run `go run ./internal/apidoc -table rpc/table_gen.go` and commit the result")
	}
}
