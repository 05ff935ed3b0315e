package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/model"
)

// readmeExpectations says what each README command prints; a README command
// without one fails TestREADMEAsANewUserTypesIt, so a new line is checked
// too. The key is the command as the README writes it (comment dropped).
var readmeExpectations = map[string]func(t *testing.T, out, errs string){
	"./bin/start-cli server time": func(t *testing.T, out, errs string) {
		mustMatch(t, out, `(?m)^now\s+\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}`)
		mustMatch(t, out, `(?m)^uptime\s+\d+s$`)
	},
	"./bin/start-cli --host http://127.0.0.1:5959 echo hello": func(t *testing.T, out, errs string) {
		mustMatch(t, out, `^hello\n$`)
	},
	"./bin/start-cli -o json call server.device-info '{}'": func(t *testing.T, out, errs string) {
		var info model.DeviceInfo
		if err := json.Unmarshal([]byte(out), &info); err != nil || info.OS.Version == "" || info.Hostname == "" {
			t.Errorf("not the device info as JSON (%v):\n%s", err, out)
		}
	},
	"./bin/start-cli package ls -o json": func(t *testing.T, out, errs string) {
		var list []json.RawMessage
		if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 0 {
			t.Errorf("not an empty JSON list on a new box (%v):\n%s", err, out)
		}
	},
	`curl -s 127.0.0.1:5959/rpc/v1 -H 'Content-Type: application/json' -d '{"id":1,"method":"echo","params":{"message":"hi"}}'`: func(t *testing.T, out, errs string) {
		var env struct {
			Result string `json:"result"`
		}
		if err := json.Unmarshal([]byte(out), &env); err != nil || env.Result != "hi" {
			t.Errorf("not the StartOS envelope with result hi (%v):\n%s", err, out)
		}
	},
	"./bin/start-sdk key init": func(t *testing.T, out, errs string) {
		mustMatch(t, out, `^-----BEGIN PUBLIC KEY-----\n`)
		mustMatch(t, errs, `Created the developer key at .*/\.startos/developer\.key\.pem`)
	},
	"./bin/start-sdk init hello && ./bin/start-sdk pack hello -o hello.s9pk": func(t *testing.T, out, errs string) {
		mustMatch(t, out, `Created package hello in hello`)
		if st, err := os.Stat("hello.s9pk"); err != nil || st.Size() == 0 {
			t.Errorf("no hello.s9pk: %v", err)
		}
	},
	"./bin/start-cli package install hello.s9pk": func(t *testing.T, out, errs string) {
		mustMatch(t, out, `(?i)hello`)
	},
	"./bin/start-cli package ls": func(t *testing.T, out, errs string) {
		mustMatch(t, out, `(?m)^ID\s+.*VERSION`)
		mustMatch(t, out, `(?m)^hello\s+.*0\.1\.0`)
	},
}

// TestREADMEAsANewUserTypesIt follows README.md literally, as a new user
// would: the binaries in ./bin of a checkout-like folder, startd started as
// `just run` starts it (its data and socket in ./.data), then every
// indented command line of the README run by bash in that folder, checking
// what each one prints, not only its exit status. Only the address changes
// (a free port for 5959, which another daemon may hold); start-tui, a full
// screen program, is driven by the tmux tests instead.
func TestREADMEAsANewUserTypesIt(t *testing.T) {
	eng := testpkg.Engine(t) // the sample package is built with the engine
	t.Cleanup(func() { testpkg.Sweep(eng, "hello") })
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	checkout := t.TempDir()
	bin := filepath.Join(checkout, "bin")
	for name, pkg := range map[string]string{"start-cli": "../cli", "start-sdk": "../sdk", "startd": "../daemon"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, name), pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	// `just run`, as the README's table spells it, on a free port.
	justRun := regexp.MustCompile("runs `startd (--data-dir ./.data --run-dir ./.data/run --listen 127.0.0.1:5959)`").FindStringSubmatch(string(readme))
	if justRun == nil {
		t.Fatal("README.md no longer says how just run starts startd")
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testpkg.FreePort(t))
	d := testdaemon.RunStartdOn(t, filepath.Join(bin, "startd"), filepath.Join(checkout, ".data"), addr)
	if d.Sock != filepath.Join(checkout, ".data", "run", "rpc.sock") {
		t.Fatalf("startd's socket is %s, not where just run puts it", d.Sock)
	}
	t.Chdir(checkout)

	ran := 0
	line := regexp.MustCompile(`(?m)^    (\./bin/\S.*?|curl .*?)(\s+#.*)?$`)
	for _, m := range line.FindAllStringSubmatch(string(readme), -1) {
		command := m[1]
		if command == "./bin/start-tui" {
			continue // full screen: TestInTmux drives it
		}
		check, ok := readmeExpectations[command]
		if !ok {
			t.Errorf("README command %q has no expectation in readmeExpectations", command)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		sh := exec.CommandContext(ctx, "bash", "-c", strings.ReplaceAll(command, "127.0.0.1:5959", addr))
		sh.Env = append(os.Environ(), "HOME="+checkout, "STARTOS_SOCKET=", "STARTOS_HOST=", "STARTOS_FORMAT=", "NO_COLOR=1")
		var stdout, stderr strings.Builder
		sh.Stdout, sh.Stderr = &stdout, &stderr
		err := sh.Run()
		cancel()
		if err != nil {
			t.Errorf("README: %s: %v\n%s%s", command, err, stdout.String(), stderr.String())
			continue
		}
		t.Run(command, func(t *testing.T) { check(t, stdout.String(), stderr.String()) })
		ran++
	}
	if ran < len(readmeExpectations) {
		t.Errorf("ran %d README commands, %d are expected", ran, len(readmeExpectations))
	}
	out, err := exec.Command(filepath.Join(bin, "start-cli"), "package", "uninstall", "hello", "--yes").CombinedOutput()
	if err != nil {
		t.Errorf("uninstall hello: %v\n%s", err, out)
	}
}

func mustMatch(t *testing.T, out, pattern string) {
	t.Helper()
	if !regexp.MustCompile(pattern).MatchString(out) {
		t.Errorf("output does not match %s:\n%s", pattern, out)
	}
}
