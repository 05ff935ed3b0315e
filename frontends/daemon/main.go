// Command startd is the StartOS daemon: it opens the library on a data
// directory and serves the RPC surface over HTTP, WebSocket and a unix socket.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos"
	"github.com/startos-go/startos/startos/watchdog"
)

// drainTimeout is how long SIGTERM waits for in-flight calls.
const drainTimeout = 10 * time.Second

func main() {
	app := &cli.App{
		Name:    "startd",
		Usage:   "the StartOS daemon",
		Version: startos.Version,
		Flags:   configFlags,
		Action:  run,
	}
	if err := app.Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "startd:", err)
		os.Exit(1)
	}
}

func run(cCtx *cli.Context) error {
	cfg, err := loadConfig(cCtx)
	if err != nil {
		return err
	}
	level := hclog.LevelFromString(cfg.LogLevel)
	if level == hclog.NoLevel {
		return fmt.Errorf("log-level %q: want trace, debug, info, warn or error", cfg.LogLevel)
	}
	// A closed stderr must make the log sink dead, not kill the daemon.
	signal.Ignore(syscall.SIGPIPE)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	srv, err := startos.Open(ctx, startos.Config{
		DataDir: cfg.DataDir, RunDir: cfg.RunDir, LogLevel: level, HandleSignals: true,
		BlockingLogControl: blockingLogFault(),
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	log := srv.Logger()

	rpcSrv := rpc.NewServer(srv, rpc.ServerOptions{Logger: log.Named("rpc")})
	tcp, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	sockPath := filepath.Join(srv.RunDir(), "rpc.sock")
	sock, err := rpc.ListenSocket(sockPath)
	if err != nil {
		tcp.Close()
		return fmt.Errorf("listen on %s: %w", sockPath, err)
	}
	httpSrv := &http.Server{
		Handler:           rpcSrv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 2)
	go func() { errc <- httpSrv.Serve(tcp) }()
	go func() { errc <- rpcSrv.ServeSocket(sock) }()

	if err := addLoopbackProbe(srv, tcp.Addr().String()); err != nil {
		return err
	}
	srv.Ready()
	log.Info("serving", "http", "http://"+tcp.Addr().String()+"/rpc/v1", "websocket", "ws://"+tcp.Addr().String()+"/ws/rpc", "socket", sockPath)
	fmt.Fprintf(os.Stderr, "startd %s ready: http://%s/rpc/v1  ws://%s/ws/rpc  unix:%s\n",
		startos.Version, tcp.Addr(), tcp.Addr(), sockPath)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "drain", drainTimeout)
	case serveErr = <-errc:
		log.Error("listener failed", "error", serveErr)
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(drainCtx); err != nil {
		log.Warn("http drain incomplete", "error", err)
	}
	if err := rpcSrv.Shutdown(drainCtx); err != nil {
		log.Warn("stream drain incomplete", "error", err)
	}
	os.Remove(sockPath)
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	log.Info("stopped")
	return nil
}

// addLoopbackProbe registers the watchdog's most telling probe: an echo
// through the daemon's own TCP listener, HTTP server and RPC middleware, the
// path a hung daemon stops answering on.
func addLoopbackProbe(srv *startos.Server, addr string) error {
	c, err := rpc.Dial(context.Background(), "http://"+addr, rpc.ClientOptions{})
	if err != nil {
		return err
	}
	return srv.AddProbe("rpc.loopback", watchdog.Fatal, func(ctx context.Context) error {
		var out string
		if err := c.Call(ctx, "echo", map[string]string{"message": "watchdog"}, &out); err != nil {
			return err
		}
		if out != "watchdog" {
			return fmt.Errorf("echo answered %q", out)
		}
		return nil
	})
}
