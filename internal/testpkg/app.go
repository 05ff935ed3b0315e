package testpkg

// appSource is the test service: one static binary with subcommands.
//
//	serve    the main process: HTTP on :8080 (/health), prints StartupLine
//	health   health check: GET /health; exit 1 with a message on stderr when
//	         /data/fail-health exists (its content is the message)
//	action   reads JSON input on stdin, answers a StartOS action result
//	migrate  reads JSON on stdin, writes it to /data/migrated, appends
//	         "migrated from <stdin>" to /data/state.txt, prints JSON
//	fail     writes "something went wrong" to stderr and exits 3
//	sleep    sleeps for an hour (a procedure past its deadline)
//	backup-create   copies /data and /extra to /mnt/backup/{data,extra}
//	backup-restore  replaces /data and /extra with /mnt/backup/{data,extra}
const appSource = `package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	cmd := "serve"
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	switch cmd {
	case "serve":
		serve()
	case "health":
		if b, err := os.ReadFile("/data/fail-health"); err == nil {
			fmt.Fprintln(os.Stderr, "first line")
			fmt.Fprint(os.Stderr, string(b))
			os.Exit(1)
		}
		c := http.Client{Timeout: 5 * time.Second}
		r, err := c.Get("http://127.0.0.1:8080/health")
		if err != nil {
			fmt.Fprintln(os.Stderr, "not answering:", err)
			os.Exit(1)
		}
		r.Body.Close()
	case "action":
		in, _ := io.ReadAll(os.Stdin)
		var v map[string]any
		json.Unmarshal(in, &v)
		val := fmt.Sprint(v["name"])
		json.NewEncoder(os.Stdout).Encode(map[string]any{
			"version": "0", "message": "Hello, " + val, "value": "secret-" + val, "copyable": true, "qr": false,
		})
	case "migrate":
		in, _ := io.ReadAll(os.Stdin)
		if err := os.WriteFile("/data/migrated", in, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "migrate:", err)
			os.Exit(2)
		}
		f, err := os.OpenFile("/data/state.txt", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "migrate:", err)
			os.Exit(2)
		}
		fmt.Fprintf(f, "migrated from %s\n", in)
		f.Close()
		json.NewEncoder(os.Stdout).Encode(map[string]any{"configured": true, "input": string(in)})
	case "fail":
		fmt.Fprintln(os.Stderr, "something went wrong")
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Hour)
	case "backup-create":
		for _, v := range []string{"data", "extra"} {
			must(copyTree("/"+v, "/mnt/backup/"+v))
		}
	case "backup-restore":
		for _, v := range []string{"data", "extra"} {
			entries, _ := os.ReadDir("/" + v)
			for _, e := range entries {
				must(os.RemoveAll(filepath.Join("/"+v, e.Name())))
			}
			must(copyTree("/mnt/backup/"+v, "/"+v))
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown command", cmd)
		os.Exit(64)
	}
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

func copyTree(src, dst string) error {
	return filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(to, info.Mode().Perm())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, info.Mode().Perm())
	})
}

func serve() {
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from testpkg\n") })
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		<-sig
		fmt.Println("testpkg: stopping")
		os.Exit(0)
	}()
	fmt.Println("` + StartupLine + `")
	if err := http.ListenAndServe(":8080", nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`
