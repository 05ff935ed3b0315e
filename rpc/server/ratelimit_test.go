package server

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
)

// TestConcurrentLoginsAreLimited: guesses fired at once from one address get
// no more tries than guesses in turn, and they do not lock out the owner on
// another address.
func TestConcurrentLoginsAreLimited(t *testing.T) {
	ts := startServer(t, newBackend(t))
	setup(t, ts)
	ctx := context.Background()
	const guesses = 40
	counts := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range guesses {
		c, err := rpc.Dial(ctx, ts.httpURL, fromAddr("127.0.0.40"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := c.Call(ctx, "auth.login", model.LoginParams{Password: fmt.Sprintf("guess %d", i)}, nil)
			mu.Lock()
			counts[code(err)]++
			mu.Unlock()
		}()
	}
	close(start)
	wg.Wait()
	if counts[rpc.CodeIncorrectPassword] > 3 || counts[rpc.CodeIncorrectPassword]+counts[rpc.CodeRateLimited] != guesses {
		t.Fatalf("%d concurrent guesses from one address: %v (code: count); want at most 3 checked, the rest rate limited", guesses, counts)
	}
	owner, err := rpc.Dial(ctx, ts.httpURL, fromAddr("127.0.0.41"))
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if err := owner.Call(ctx, "auth.login", model.LoginParams{Password: ownerPassword}, nil); err != nil {
		t.Fatalf("the owner on another address after the burst: %v", err)
	}
}
