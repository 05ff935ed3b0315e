package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestREADMECommandsWork runs every ./bin/start-cli line of README.md as
// written, from a checkout-like folder where just run's socket and cookie are
// (.data/run), against a real daemon: a new user's first commands succeed.
func TestREADMECommandsWork(t *testing.T) {
	d := startDaemon(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	checkout := t.TempDir()
	run := filepath.Join(checkout, ".data", "run")
	if err := os.MkdirAll(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(d.sock, filepath.Join(run, "rpc.sock")); err != nil {
		t.Fatal(err)
	}
	cookie, err := os.ReadFile(d.cookie)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(run, "rpc.authcookie"), cookie, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(checkout)
	line := regexp.MustCompile(`(?m)^\s+\./bin/start-cli (.*?)\s*(#.*)?$`)
	ran := 0
	for _, m := range line.FindAllStringSubmatch(string(readme), -1) {
		words := shellWords(t, strings.ReplaceAll(m[1], "http://127.0.0.1:5959", d.http))
		if len(words) >= 2 && words[0] == "package" && words[1] == "install" {
			continue // needs the package start-sdk packs just above; TestPackageLifecycleThroughCLI installs one
		}
		var out, errb bytes.Buffer
		code := runArgs(append([]string{"start-cli", "--cookie-jar=" + filepath.Join(checkout, "jar.json"), "--config="}, words...), &out, &errb)
		if code != 0 {
			t.Errorf("README: ./bin/start-cli %s: exit %d\n%s", m[1], code, errb.String())
		}
		ran++
	}
	if ran < 4 {
		t.Fatalf("only %d start-cli lines found in README.md", ran)
	}
}

// TestCLIDocCommandsParse runs every command form in docs/cli.md's table
// with its placeholders filled in: each is a command start-cli knows, with
// the arguments it takes (exit 0, or 1 when the box refuses the made-up ids);
// never a usage error.
func TestCLIDocCommandsParse(t *testing.T) {
	d := startDaemon(t)
	doc, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "## Commands at a glance")
	if !ok {
		t.Fatal("docs/cli.md has no command table")
	}
	fill := strings.NewReplacer("FILE.tar.gz", filepath.Join(t.TempDir(), "d.tar.gz"), "FILE", "/nonexistent.s9pk",
		"URL", "http://127.0.0.1:1/x.s9pk", "ID...", "1", "ID", "no-such-id", "ACTION", "hello", "POINTER", "/ui",
		"JSON", "{}", "METHOD", "echo", "N", "5")
	cell := regexp.MustCompile("`([^`]+)`")
	forms := 0
	for _, row := range strings.Split(table, "\n") {
		for _, m := range cell.FindAllStringSubmatch(row, -1) {
			form := strings.ReplaceAll(m[1], `\|`, "|")
			form = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(form, "") // optional parts
			words := strings.Fields(form)
			if len(words) == 0 || !knownCommand(words[0]) {
				continue // an alias cell (`ls`) or prose
			}
			for _, variant := range expand(words) {
				for i, w := range variant {
					variant[i] = fill.Replace(w)
				}
				if variant[0] == "call" { // its optional JSON is needed by the method filled in
					variant = []string{"call", "echo", `{"message":"x"}`}
				}
				forms++
				var out, errb bytes.Buffer
				ctx, cancel := context.WithCancel(context.Background())
				stop := time.AfterFunc(3*time.Second, cancel) // a stream runs until interrupted, as by ^C
				code := run(ctx, append([]string{"start-cli", "--config=", "--cookie-jar=" + jarPath, "--socket", d.sock}, variant...), nil, &out, &errb)
				stop.Stop()
				cancel()
				if code != 0 && code != 1 {
					t.Errorf("docs/cli.md: start-cli %s: exit %d\n%s", strings.Join(variant, " "), code, errb.String())
				}
			}
		}
	}
	if forms < 30 {
		t.Fatalf("only %d command forms found in docs/cli.md", forms)
	}
}

// runArgs is run with a background context and no stdin.
func runArgs(args []string, stdout, stderr *bytes.Buffer) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return run(ctx, args, nil, stdout, stderr)
}

func knownCommand(word string) bool {
	for _, c := range newApp(nil, nil, nil).Commands {
		if c.HasName(word) {
			return true
		}
	}
	return false
}

// expand turns "package start|stop ID" into one form per alternative.
func expand(words []string) [][]string {
	out := [][]string{nil}
	for _, w := range words {
		alts := []string{w}
		if strings.Contains(w, "|") && !strings.HasPrefix(w, "/") {
			alts = strings.Split(w, "|")
		}
		var next [][]string
		for _, prefix := range out {
			for _, a := range alts {
				next = append(next, append(append([]string(nil), prefix...), a))
			}
		}
		out = next
	}
	return out
}

// shellWords splits a README line as a shell would for the quoting it uses
// (single quotes).
func shellWords(t *testing.T, line string) []string {
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, r := range line {
		switch {
		case r == '\'':
			inQuote, inWord = !inQuote, true
		case r == ' ' && !inQuote:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inQuote {
		t.Fatalf("unbalanced quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
