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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/frontends/web"
	"github.com/startos-go/startos/rpc/server"
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

	lanTLS, lanPlain := cfg.lanAddrs()
	refresh, err := cfg.registryRefresh()
	if err != nil {
		return err
	}
	alerts, err := cfg.Alerts.alerts()
	if err != nil {
		return err
	}
	srv, err := startos.Open(ctx, startos.Config{
		DataDir: cfg.DataDir, RunDir: cfg.RunDir, LogLevel: level, HandleSignals: true,
		BlockingLogControl:  blockingLogFault(),
		AllowLocalDownloads: cfg.AllowLocalDownloads, ReservedPorts: listenPorts(cfg.Listen, lanTLS, lanPlain),
		DefaultRegistries: cfg.Registries, RegistryRefresh: refresh,
		AuthorizedKeys: cfg.AuthorizedKeys,
		RestartCommand: strings.Fields(cfg.RestartCommand), ShutdownCommand: strings.Fields(cfg.ShutdownCommand),
		Alerts: alerts,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	log := srv.Logger()

	rpcSrv := server.New(srv, server.Options{
		Logger: log.Named("rpc"), AllowedHosts: cfg.AllowedHosts, HostNames: func() []string { return boxNames(srv) },
	})
	rawTCP, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	tcp := server.LimitListener(rawTCP, server.DefaultConnLimits(), log.Named("rpc"))
	sockPath := filepath.Join(srv.RunDir(), "rpc.sock")
	sock, err := server.ListenSocket(sockPath)
	if err != nil {
		tcp.Close()
		return fmt.Errorf("listen on %s: %w", sockPath, err)
	}
	// The browser UI at "/", the box CA, and the RPC surface behind them.
	handler := withStatic(srv, web.Mount(rpcSrv.Handler()))
	httpSrv := server.NewHTTPServer(handler, log.Named("http"))
	errc := make(chan error, 4)
	go func() { errc <- httpSrv.Serve(tcp) }()
	go func() { errc <- rpcSrv.ServeSocket(sock) }()
	lanRouter, lanLns, err := listenLAN(srv, handler, lanTLS, lanPlain, errc)
	if err != nil {
		// The box stays manageable from the machine itself; the owner is
		// told why the LAN cannot reach it.
		log.Error("LAN router not started", "error", err)
	}

	if err := addLoopbackProbe(srv, tcp.Addr().String()); err != nil {
		return err
	}
	srv.Ready()
	log.Info("serving", "http", "http://"+tcp.Addr().String()+"/rpc/v1", "websocket", "ws://"+tcp.Addr().String()+"/ws/rpc", "socket", sockPath)
	fmt.Fprintf(os.Stderr, "startd %s ready: http://%s/rpc/v1  ws://%s/ws/rpc  unix:%s\n",
		startos.Version, tcp.Addr(), tcp.Addr(), sockPath)
	if code := srv.SetupCode(); code != "" {
		// As Jupyter prints its token: whoever reads the daemon's output (or
		// the 0600 file) may set the box up from another machine.
		fmt.Fprintf(os.Stderr, "startd: the box has no owner yet. Set it up from this machine (start-cli setup), or from another with the setup code %s (also in %s)\n",
			code, filepath.Join(srv.RunDir(), startos.SetupCodeFile))
	}
	printLAN(srv, lanLns)

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
	lanLns.closeMDNS()
	if lanRouter != nil {
		if err := lanRouter.Shutdown(drainCtx); err != nil {
			log.Warn("LAN router drain incomplete", "error", err)
		}
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

// boxNames are the names the box answers to that setup may change: its
// hostname and hostname.local.
func boxNames(srv *startos.Server) []string {
	_, doc := srv.DB().Read()
	if h := doc.Public.ServerInfo.Hostname; h != "" {
		return []string{h, h + ".local"}
	}
	return nil
}

// addLoopbackProbe registers the watchdog's most telling probe: an echo
// through the daemon's own TCP listener, HTTP server and RPC middleware, on
// a new connection each time, the path a hung or deaf daemon stops
// answering on.
func addLoopbackProbe(srv *startos.Server, addr string) error {
	return srv.AddProbe("rpc.loopback", watchdog.Fatal, server.EchoProbe(addr))
}

// listenPorts are the ports of the daemon's listen addresses (RPC and LAN),
// which packages may not take for a raw TCP forward.
func listenPorts(addrs ...string) []uint16 {
	var out []uint16
	for _, addr := range addrs {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseUint(port, 10, 16); err == nil && n != 0 {
			out = append(out, uint16(n))
		}
	}
	return out
}
