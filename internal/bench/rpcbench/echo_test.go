package rpcbench

import (
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/rpc/server"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/model"
)

// BenchmarkEcho is the bench's echo loop, for profiles: go test -bench Echo
// -cpuprofile.
func BenchmarkEcho(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	lib, err := startos.Open(ctx, startos.Config{DataDir: dir, Stderr: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer lib.Close()
	srv := server.New(lib, server.Options{})
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	sock := filepath.Join(dir, "rpc.sock")
	l, err := server.ListenSocket(sock)
	if err != nil {
		b.Fatal(err)
	}
	go srv.ServeSocket(l)
	defer srv.Shutdown(ctx)
	cookie, err := os.ReadFile(filepath.Join(lib.RunDir(), startos.AuthCookieFile))
	if err != nil {
		b.Fatal(err)
	}
	for _, tg := range []struct{ name, target string }{
		{"http", hs.URL}, {"ws", "ws" + hs.URL[len("http"):]}, {"unix", "unix://" + sock},
	} {
		b.Run(tg.name, func(b *testing.B) {
			c, err := rpc.Dial(ctx, tg.target, rpc.ClientOptions{LocalCookie: string(cookie)})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			p := model.EchoParams{Message: "ping"}
			var out string
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Call(ctx, "echo", p, &out); err != nil || out != "ping" {
					b.Fatal(out, err)
				}
			}
		})
	}
}
