package testpkg

// appSource is the test service: one static binary with subcommands.
//
//	serve    the main process: HTTP on :8080 (/health, /ws a one-message
//	         WebSocket echo), a TCP echo on :9000, prints StartupLine
//	health   health check: GET /health; exit 1 with a message on stderr when
//	         /data/fail-health exists (its content is the message)
//	action   reads JSON input on stdin, answers a StartOS action result
//	migrate  reads JSON on stdin, writes it to /data/migrated, appends
//	         "migrated from <stdin>" to /data/state.txt, prints JSON
//	fail     writes "something went wrong" to stderr and exits 3
//	sleep    sleeps for an hour (a procedure past its deadline)
//	write P  writes "written" to the file P; exit 4 with the error if it cannot
//	backup-create   copies /data and /extra to /mnt/backup/{data,extra}
//	backup-restore  replaces /data and /extra with /mnt/backup/{data,extra}
//	config-get C S  prints {"spec": <file S>, "config": <file C or null>}
//	config-set C [F]  writes stdin to C and prints {"depends-on": {}} (in
//	                io-format F: json, toml or cbor); a config
//	                holding "boom" is refused (exit 5)
//	garbage         prints something that is not JSON
//	dep-check K W   exit 1 with a message unless stdin's JSON has K = W
//	dep-autoconf K W  prints stdin's JSON with K set to W
//	properties C    prints version 2 properties built from the config file C
//	properties-fixed F  prints fixed properties (Greeting: hi) in io-format
//	                F: toml or cbor
const appSource = `package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
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
	case "write":
		if len(os.Args) < 3 {
			fmt.Fprintln(os.Stderr, "write: no path")
			os.Exit(64)
		}
		if err := os.WriteFile(os.Args[2], []byte("written"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			os.Exit(4)
		}
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
	case "config-get":
		spec, err := os.ReadFile(os.Args[3])
		must(err)
		cfg, err := os.ReadFile(os.Args[2])
		if err != nil || !json.Valid(cfg) {
			cfg = []byte("null") // none, or saved in another io-format
		}
		fmt.Printf("{\"spec\": %s, \"config\": %s}\n", spec, cfg)
	case "config-set":
		in, _ := io.ReadAll(os.Stdin)
		if strings.Contains(string(in), "boom") {
			fmt.Fprintln(os.Stderr, "config-set: refusing a config with boom in it")
			os.Exit(5)
		}
		must(os.MkdirAll(filepath.Dir(os.Args[2]), 0o755))
		must(os.WriteFile(os.Args[2], in, 0o644))
		switch {
		case len(os.Args) > 3 && os.Args[3] == "toml":
			fmt.Println("[depends-on]")
		case len(os.Args) > 3 && os.Args[3] == "cbor":
			os.Stdout.WriteString("\xa1\x6adepends-on\xa0")
		default:
			fmt.Println("{\"depends-on\": {}}")
		}
	case "garbage":
		fmt.Println("this is not json {")
	case "dep-check":
		in, _ := io.ReadAll(os.Stdin)
		var v map[string]any
		json.Unmarshal(in, &v)
		if fmt.Sprint(v[os.Args[2]]) != os.Args[3] {
			fmt.Fprintf(os.Stderr, "%s must be %s, not %v\n", os.Args[2], os.Args[3], v[os.Args[2]])
			os.Exit(1)
		}
	case "dep-autoconf":
		in, _ := io.ReadAll(os.Stdin)
		var v map[string]any
		must(json.Unmarshal(in, &v))
		v[os.Args[2]] = os.Args[3]
		json.NewEncoder(os.Stdout).Encode(v)
	case "properties":
		var v map[string]any
		if b, err := os.ReadFile(os.Args[2]); err == nil {
			json.Unmarshal(b, &v)
		}
		json.NewEncoder(os.Stdout).Encode(map[string]any{"version": 2, "data": map[string]any{
			"Password": map[string]any{"type": "string", "value": fmt.Sprint(v["password"]), "description": "The admin password", "masked": true, "copyable": true, "qr": false},
			"Connection": map[string]any{"type": "object", "value": map[string]any{
				"Greeting": map[string]any{"type": "string", "value": fmt.Sprint(v["greeting"]), "copyable": true, "qr": true, "masked": false},
			}},
		}})
	case "properties-fixed":
		if os.Args[2] == "cbor" {
			os.Stdout.WriteString("\xa2\x67version\x02\x64data\xa1\x68Greeting\xa3\x64type\x66string\x65value\x62hi\x68copyable\xf5")
		} else {
			fmt.Print("version = 2\n[data.Greeting]\ntype = \"string\"\nvalue = \"hi\"\ncopyable = true\n")
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
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from testpkg\nhost="+r.Host+" xff="+r.Header.Get("X-Forwarded-For")+" proto="+r.Header.Get("X-Forwarded-Proto")+"\n")
	})
	http.HandleFunc("/ws", wsEcho)
	go tcpEcho()
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

// tcpEcho echoes every line on :9000.
func tcpEcho() {
	l, err := net.Listen("tcp", ":9000")
	if err != nil {
		return
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { io.Copy(c, c); c.Close() }()
	}
}

// wsEcho is a minimal RFC 6455 server: the handshake, then one short
// client text frame answered with "echo " and its payload.
func wsEcho(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if key == "" {
		http.Error(w, "not a websocket request", 400)
		return
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]))
	rw.Flush()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(rw)
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil || h[1]&0x7f > 125 {
		return
	}
	n := int(h[1] & 0x7f)
	var mask [4]byte
	io.ReadFull(br, mask[:])
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		return
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	out := append([]byte("echo "), payload...)
	conn.Write(append([]byte{0x81, byte(len(out))}, out...))
}
`
