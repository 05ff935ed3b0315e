package service

import (
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/model"
)

// engineProxy stands between the manager and the engine's socket, so a test
// can make the engine vanish and come back without restarting the real
// dockerd, which other work on this machine uses.
type engineProxy struct {
	path, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
	wg           sync.WaitGroup
}

func newEngineProxy(t *testing.T, target string) *engineProxy {
	p := &engineProxy{path: filepath.Join(t.TempDir(), "engine.sock"), target: target, conns: map[net.Conn]bool{}}
	p.up(t)
	t.Cleanup(p.close)
	return p
}

func (p *engineProxy) up(t *testing.T) {
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			p.wg.Add(2)
			go p.pipe(c, up)
			go p.pipe(up, c)
		}
	}()
}

func (p *engineProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// down closes the listener and cuts every connection, like a dead engine.
func (p *engineProxy) down() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
	p.mu.Unlock()
}

func (p *engineProxy) close() {
	p.down()
	p.wg.Wait()
}

func TestEngineOutage(t *testing.T) {
	direct := testpkg.Engine(t)
	proxy := newEngineProxy(t, strings.TrimPrefix(container.DefaultHost, "unix://"))
	ctx := context.Background()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	via, err := container.Connect(cctx, container.Options{Host: "unix://" + proxy.path, CallTimeout: 3 * time.Second})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer via.Close()

	e := &env{t: t, engine: via, dataDir: t.TempDir()}
	e.store = newStore(t, e.dataDir)
	opts := fastOptions(e)
	// Only engine events (and the outage handling) may notice changes.
	opts.ResyncInterval = time.Minute
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.m = m

	pkg := testpkg.Build(t, direct, testpkg.Options{Port: testpkg.FreePort(t)})
	id := pkg.Manifest.ID
	e.record(pkg.Manifest, model.DesiredRunning)
	if err := m.Adopt(ctx, id); err != nil {
		t.Fatal(err)
	}
	defer m.Release(ctx, id)
	first := *e.waitFor(id, "healthy", 30*time.Second, healthy).StatusInfo.Started

	// The engine goes away, and its containers stop with it.
	proxy.down()
	if err := direct.StopContainer(ctx, ContainerName(id), time.Second); err != nil {
		t.Fatal(err)
	}
	en := e.waitFor(id, "waiting for the engine", 20*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Error != nil && strings.Contains(en.StatusInfo.Error.Details, waitingForEngine)
	})
	t.Logf("while down: %s", en.StatusInfo.Error.Details)

	// It comes back: the service runs again, without a crash error.
	proxy.up(t)
	e.waitFor(id, "running after the engine came back", 30*time.Second, func(en model.PackageDataEntry) bool {
		return healthy(en) && en.StatusInfo.Started.After(first) && en.StatusInfo.Error == nil
	})

	// The event stream was resubscribed: a crash is noticed at once,
	// not at the next one-minute resync.
	second := *e.entry(id).StatusInfo.Started
	if err := direct.KillContainer(ctx, ContainerName(id), ""); err != nil {
		t.Fatal(err)
	}
	e.waitFor(id, "restart after a crash seen through events", 15*time.Second, func(en model.PackageDataEntry) bool {
		return en.StatusInfo.Started != nil && en.StatusInfo.Started.After(second)
	})
}
