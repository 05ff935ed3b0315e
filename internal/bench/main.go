// Command bench is `just bench`: every figure the issues ask for, each next
// to the Docker Engine doing comparable work in the same run.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/startos-go/startos/internal/bench/backupbench"
	"github.com/startos-go/startos/internal/bench/dbbench"
	"github.com/startos-go/startos/internal/bench/footbench"
	"github.com/startos-go/startos/internal/bench/goal"
	"github.com/startos-go/startos/internal/bench/installbench"
	"github.com/startos-go/startos/internal/bench/lanbench"
	"github.com/startos-go/startos/internal/bench/logbench"
	"github.com/startos-go/startos/internal/bench/registrybench"
	"github.com/startos-go/startos/internal/bench/rpcbench"
	"github.com/startos-go/startos/internal/bench/s9pkbench"
	"github.com/startos-go/startos/internal/bench/scalebench"
	"github.com/startos-go/startos/internal/bench/servicebench"
	"github.com/startos-go/startos/internal/bench/watchbench"
	"github.com/startos-go/startos/internal/bench/webbench"
)

type suite struct {
	name string
	run  func(context.Context, io.Writer) error
}

var suites = []suite{
	{"rpc", rpcbench.Run},
	{"logging", logbench.Run},
	{"db", dbbench.Run},
	{"watchdog", watchbench.Run},
	{"s9pk", s9pkbench.Run},
	{"install", installbench.Run},
	{"services", servicebench.Run},
	{"lan", lanbench.Run},
	{"web", webbench.Run},
	{"backup", backupbench.Run},
	{"registry", registrybench.Run},
	{"footprint", footbench.Run},
	{"scale", scalebench.Run},
	// Only when named: a part of "services".
	{"list", servicebench.RunList},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	only := map[string]bool{}
	for _, a := range os.Args[1:] {
		only[a] = true
	}
	failed := false
	for _, s := range suites {
		if len(only) == 0 && s.name == "list" || len(only) > 0 && !only[s.name] {
			continue
		}
		fmt.Printf("== %s\n", s.name)
		start := time.Now()
		if err := s.run(ctx, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.name, err)
			failed = true
		}
		fmt.Printf("   (%s in %s)\n", s.name, time.Since(start).Round(time.Millisecond))
	}
	goal.Table(os.Stdout)
	if failed {
		os.Exit(1)
	}
}
