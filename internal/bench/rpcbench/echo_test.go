package rpcbench

import (
	"context"
	"testing"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// BenchmarkEcho is the bench's echo loop, for profiles: go test -bench Echo
// -cpuprofile.
func BenchmarkEcho(b *testing.B) {
	ctx := context.Background()
	e, err := serve(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer e.close()
	for _, tg := range []struct{ name, target string }{
		{"http", e.hs.URL}, {"ws", "ws" + e.hs.URL[len("http"):]}, {"unix", "unix://" + e.sock},
	} {
		b.Run(tg.name, func(b *testing.B) {
			c, err := rpc.Dial(ctx, tg.target, rpc.ClientOptions{LocalCookie: string(e.cookie)})
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
