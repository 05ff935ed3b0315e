package db

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/model"
)

// crashChildEnv switches the test binary into the crash child: it opens the
// store named by the variable and commits mutations from three goroutines
// until it is killed, printing "ack <revision> <n>" for each one Mutate
// acknowledged.
const crashChildEnv = "STARTOS_DB_CRASH_CHILD"

// crashUI is the document part the child changes. Each mutation adds one to
// N and keeps Double = 2N, so a torn write shows.
type crashUI struct {
	N      uint64 `json:"n"`
	Double uint64 `json:"double"`
}

func crashChild() int {
	s, err := Open(context.Background(), Options{Path: os.Getenv(crashChildEnv), CompactEvery: 50, QueueSize: 16})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 2
	}
	var mu sync.Mutex
	fmt.Printf("open %d\n", s.Revision())
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for {
				var n uint64
				r, err := s.Mutate(context.Background(), func(d *model.Document) error {
					var ui crashUI
					if err := json.Unmarshal(d.Public.UI, &ui); err != nil {
						return err
					}
					ui.N++
					ui.Double = 2 * ui.N
					n = ui.N
					raw, err := json.Marshal(ui)
					d.Public.UI = raw
					d.Private.PasswordHash = strconv.FormatUint(n, 10)
					return err
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, "mutate:", err)
					os.Exit(3)
				}
				mu.Lock()
				fmt.Printf("ack %d %d\n", r.ID, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

type crashRun struct {
	openRev        uint64
	acks           int
	maxRev, nAtMax uint64
	stderr         string
}

// runCrashChild starts a child on path and SIGKILLs it either after it has
// acknowledged ackTarget mutations or after delay, whichever the caller
// picked (ackTarget < 0 means use delay).
func runCrashChild(t *testing.T, exe, path string, ackTarget int, delay time.Duration) crashRun {
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var run crashRun
	reached := make(chan struct{})
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 2 && f[0] == "open":
				run.openRev, _ = strconv.ParseUint(f[1], 10, 64)
			case len(f) == 3 && f[0] == "ack":
				rev, _ := strconv.ParseUint(f[1], 10, 64)
				n, _ := strconv.ParseUint(f[2], 10, 64)
				run.acks++
				if rev > run.maxRev {
					run.maxRev, run.nAtMax = rev, n
				}
			}
			if !signalled && ackTarget >= 0 && run.acks >= ackTarget {
				signalled = true
				close(reached)
			}
		}
	}()
	timeout := time.After(20 * time.Second) // a stuck child fails the test, not hangs it
	if ackTarget < 0 {
		timeout = time.After(delay)
	}
	select {
	case <-reached:
	case <-timeout:
		if ackTarget >= 0 {
			cmd.Process.Kill()
			cmd.Wait()
			<-lines
			t.Fatalf("child made %d of %d acks in 20s; stderr: %s", run.acks, ackTarget, stderr.String())
		}
	case <-lines:
		// Output ended early: the child died on its own.
		cmd.Wait()
		if !cmd.ProcessState.Exited() {
			break // killed by something else; still check the file
		}
		t.Fatalf("child exited before it was killed: %s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	<-lines // every ack the child wrote before it died is read
	run.stderr = stderr.String()
	return run
}

// The child commits in a loop and is killed at random moments; after each
// kill every acknowledged revision is on disk, the document is whole and the
// numbering carries on.
func TestCrashSafety(t *testing.T) {
	const kills = 200
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.db")
	rng := rand.New(rand.NewPCG(42, 4242))
	var lastRev uint64
	totalAcks := 0
	start := time.Now()
	for i := range kills {
		var run crashRun
		if i%2 == 0 {
			run = runCrashChild(t, exe, path, rng.IntN(40), 0)
		} else {
			// Any moment from start-up on, opening included.
			run = runCrashChild(t, exe, path, -1, time.Duration(rng.IntN(40))*time.Millisecond)
		}
		totalAcks += run.acks
		wantOpen := max(lastRev, 1) // a fresh file opens at 1: the id assignment
		if run.openRev != 0 && run.openRev != wantOpen {
			t.Fatalf("kill %d: child opened at revision %d, want %d", i, run.openRev, wantOpen)
		}
		if run.acks > 0 && run.maxRev <= lastRev {
			t.Fatalf("kill %d: acknowledged revision %d does not follow %d", i, run.maxRev, lastRev)
		}

		s, err := Open(context.Background(), Options{Path: path, CompactEvery: 50, QueueSize: 16})
		if err != nil {
			t.Fatalf("kill %d: reopen: %v (child stderr: %s)", i, err, run.stderr)
		}
		rev, doc := s.Read()
		var ui crashUI
		if err := json.Unmarshal(doc.Public.UI, &ui); err != nil {
			t.Fatalf("kill %d: ui %s: %v", i, doc.Public.UI, err)
		}
		s.Close()
		if ui.Double != 2*ui.N || doc.Private.PasswordHash != strconv.FormatUint(ui.N, 10) && ui.N > 0 {
			t.Fatalf("kill %d: torn document: ui %+v, private %q", i, ui, doc.Private.PasswordHash)
		}
		// Revision 1 is the id assignment; every later revision is one
		// mutation, so the revision is exactly N + 1.
		if rev != ui.N+1 {
			t.Fatalf("kill %d: revision %d holds n=%d: revisions and mutations disagree", i, rev, ui.N)
		}
		if run.acks > 0 && (rev < run.maxRev || ui.N < run.nAtMax) {
			t.Fatalf("kill %d: acknowledged revision %d (n=%d) lost: the file is at %d (n=%d)", i, run.maxRev, run.nAtMax, rev, ui.N)
		}
		if rev < lastRev {
			t.Fatalf("kill %d: revision went back from %d to %d", i, lastRev, rev)
		}
		lastRev = rev
	}
	t.Logf("%d kills, %d acknowledged mutations, final revision %d, %v", kills, totalAcks, lastRev, time.Since(start).Round(time.Millisecond))
	if totalAcks < kills {
		t.Fatalf("only %d acknowledged mutations over %d runs: the kills came too early to test anything", totalAcks, kills)
	}
}
