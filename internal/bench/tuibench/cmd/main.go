// Command cmd runs the start-tui benchmark in its own process, so the main
// bench binary does not link bubbletea (which probes the terminal at init).
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/startos-go/startos/internal/bench/tuibench"
)

func main() {
	fmt.Println("== tui")
	if err := tuibench.Run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench tui:", err)
		os.Exit(1)
	}
}
