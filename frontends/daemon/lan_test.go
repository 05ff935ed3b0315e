package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/startos-go/startos/internal/testdaemon"
	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/net/mdns"
)

// lan is a small LAN the test makes: a network namespace (the "phone") and
// a veth pair whose host end holds the box's address. Addresses exist only
// on this pair; nothing routes anywhere else.
type lan struct {
	ns, hostIf, host, phone string
}

func makeLAN(t *testing.T) *lan {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("LAN test: needs root to create a network namespace (ip netns add); CI runs as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("LAN test: needs the ip command (iproute2) to create a network namespace")
	}
	b := make([]byte, 3)
	rand.Read(b)
	tag := hex.EncodeToString(b)
	l := &lan{ns: "startos-lan-" + tag, hostIf: "slh" + tag, host: fmt.Sprintf("10.213.%d.1", b[0]), phone: fmt.Sprintf("10.213.%d.2", b[0])}
	nsIf := "sln" + tag
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", l.ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.ns).Run() }) // takes the veth pair with it
	run("link", "add", l.hostIf, "type", "veth", "peer", "name", nsIf)
	t.Cleanup(func() { exec.Command("ip", "link", "del", l.hostIf).Run() })
	run("link", "set", nsIf, "netns", l.ns)
	run("addr", "add", l.host+"/24", "dev", l.hostIf)
	run("link", "set", l.hostIf, "up")
	run("-n", l.ns, "addr", "add", l.phone+"/24", "dev", nsIf)
	run("-n", l.ns, "link", "set", nsIf, "up")
	run("-n", l.ns, "link", "set", "lo", "up")
	// mDNS queries leave on the veth: the group is on-link.
	run("-n", l.ns, "route", "add", "224.0.0.0/4", "dev", nsIf)
	return l
}

// phoneResult is what the phone helper reports.
type phoneResult struct {
	Resolved map[string]string `json:"resolved"` // name -> address from mDNS
	Fetched  map[string]fetch  `json:"fetched"`  // url -> outcome
	WS       string            `json:"ws"`
	TCP      string            `json:"tcp"`
	Errors   []string          `json:"errors"`
}

type fetch struct {
	Status int      `json:"status"`
	Body   string   `json:"body"`
	SANs   []string `json:"sans"`
	Chain  int      `json:"chain"`
	Proto  string   `json:"proto"`
}

// TestLANPhoneHelper is not a test: run inside the namespace by
// TestLANAccess (ip netns exec), it plays a phone on the LAN. It resolves
// the names over mDNS, downloads the CA over plain HTTP, then fetches the
// https URLs trusting only that CA.
func TestLANPhoneHelper(t *testing.T) {
	spec := os.Getenv("STARTOS_LAN_PHONE")
	if spec == "" {
		t.Skip("helper process for TestLANAccess")
	}
	var in struct {
		Box, WSURL, TCP string
		Names, URLs     []string
	}
	if err := json.Unmarshal([]byte(spec), &in); err != nil {
		t.Fatal(err)
	}
	res := phoneResult{Resolved: map[string]string{}, Fetched: map[string]fetch{}}
	fail := func(format string, a ...any) { res.Errors = append(res.Errors, fmt.Sprintf(format, a...)) }
	for _, name := range append([]string{in.Box}, in.Names...) {
		if ip, err := mdnsLookup(name); err != nil {
			fail("mdns %s: %v", name, err)
		} else {
			res.Resolved[name] = ip
		}
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, _ := net.SplitHostPort(addr)
		ip, ok := res.Resolved[host]
		if !ok {
			return nil, fmt.Errorf("%s was not resolved over mDNS", host)
		}
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(ip, port))
	}
	plain := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial}}
	pool := x509.NewCertPool()
	if resp, err := plain.Get("http://" + in.Box + "/static/local-root-ca.crt"); err != nil {
		fail("CA download: %v", err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !pool.AppendCertsFromPEM(b) {
			fail("CA download: %d, not a PEM certificate: %q", resp.StatusCode, b)
		}
	}
	tlsCfg := &tls.Config{RootCAs: pool}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}}
	for _, u := range in.URLs {
		resp, err := client.Get(u)
		if err != nil {
			fail("GET %s: %v", u, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		f := fetch{Status: resp.StatusCode, Body: string(b), Proto: resp.Proto}
		if resp.TLS != nil {
			f.Chain = len(resp.TLS.VerifiedChains[0])
			f.SANs = resp.TLS.PeerCertificates[0].DNSNames
		}
		res.Fetched[u] = f
	}
	if in.WSURL != "" {
		res.WS = wsRoundTrip(in.WSURL, dial, tlsCfg, fail)
	}
	if in.TCP != "" {
		host, port, _ := net.SplitHostPort(in.TCP)
		c, err := dial(context.Background(), "tcp", net.JoinHostPort(host, port))
		if err != nil {
			fail("tcp %s: %v", in.TCP, err)
		} else {
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "ping over the forward\n")
			res.TCP, _ = bufio.NewReader(c).ReadString('\n')
			c.Close()
		}
	}
	json.NewEncoder(os.Stdout).Encode(res)
}

// mdnsLookup asks the group for name's A record from an ephemeral port
// (a one-shot querier, RFC 6762 section 5.1), as a phone's resolver does.
func mdnsLookup(name string) (string, error) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{})
	if err != nil {
		return "", err
	}
	defer c.Close()
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	b, _ := q.Pack()
	deadline := time.Now().Add(10 * time.Second)
	for attempt := 0; time.Now().Before(deadline); attempt++ {
		if _, err := c.WriteToUDP(b, mdns.Group); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 9000)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			continue // lost or not yet answering: ask again
		}
		var resp dns.Msg
		if resp.Unpack(buf[:n]) == nil && resp.Id == q.Id {
			for _, rr := range resp.Answer {
				if a, ok := rr.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, dns.Fqdn(name)) {
					return a.A.String(), nil
				}
			}
		}
	}
	return "", fmt.Errorf("no mDNS answer within 10 s")
}

// wsRoundTrip does a WebSocket handshake and one text message by hand
// through the TLS router, so the helper needs nothing but the standard
// library.
func wsRoundTrip(u string, dial func(context.Context, string, string) (net.Conn, error), cfg *tls.Config, fail func(string, ...any)) string {
	host := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(u, "wss://"), "/", 2)[0], "")
	raw, err := dial(context.Background(), "tcp", net.JoinHostPort(host, "443"))
	if err != nil {
		fail("ws dial: %v", err)
		return ""
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, &tls.Config{RootCAs: cfg.RootCAs, ServerName: host, NextProtos: []string{"http/1.1"}})
	key := make([]byte, 16)
	rand.Read(key)
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n", host, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		fail("ws handshake: %v %v", resp, err)
		return ""
	}
	msg := []byte("hello over wss")
	mask := []byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | byte(len(msg))}
	frame = append(frame, mask...)
	for i, ch := range msg {
		frame = append(frame, ch^mask[i%4])
	}
	c.Write(frame)
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		fail("ws read: %v", err)
		return ""
	}
	payload := make([]byte, h[1]&0x7f)
	io.ReadFull(br, payload)
	return string(payload)
}

// TestLANAccess: startd's LAN router on a veth address; from a namespace,
// a phone resolves the box's and two packages' names over mDNS, downloads
// the CA and fetches both packages (same manifest port 443) over https
// trusting only it, checks chain and SANs, a WebSocket and the raw TCP
// forward; a stopped package gives the 502 page; a third package that
// wants the same raw port is refused at install, naming both.
func TestLANAccess(t *testing.T) {
	l := makeLAN(t)
	eng := testpkg.Engine(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	tcpPort := testpkg.FreePort(t)
	a := testpkg.Build(t, eng, testpkg.Options{Port: 443, TCPPort: tcpPort})
	b := testpkg.Build(t, eng, testpkg.Options{Port: 443})
	clash := testpkg.Build(t, eng, testpkg.Options{Port: 443, TCPPort: tcpPort})
	files := t.TempDir()
	for _, p := range []*testpkg.Package{a, b, clash} {
		p.WriteArchive(t, filepath.Join(files, p.Manifest.ID+".s9pk"))
		t.Cleanup(func() { testpkg.Sweep(eng, p.Manifest.ID) })
	}

	bx := &box{t: t, bin: buildStartd(t), data: t.TempDir()}
	bx.proc = testdaemon.RunStartd(t, bx.bin, bx.data, "--lan-listen", l.host+":443", "--lan-http-listen", l.host+":80")
	c, err := rpc.Dial(ctx, "unix://"+filepath.Join(bx.data, "run", "rpc.sock"), rpc.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bx.c = c
	defer c.Close()
	dump, err := rpc.Call[model.Dump](ctx, c, "db.dump", map[string]string{"pointer": "/public/serverInfo"})
	if err != nil {
		t.Fatal(err)
	}
	var si model.ServerInfo
	json.Unmarshal(dump.Value, &si)
	caInfo, err := rpc.Call[model.CAInfo](ctx, c, "server.ca", nil)
	if err != nil || caInfo.Fingerprint == "" || caInfo.Fingerprint != si.CAFingerprint {
		t.Fatalf("server.ca %+v %v; serverInfo.caFingerprint %q", caInfo, err, si.CAFingerprint)
	}

	for _, p := range []*testpkg.Package{a, b} {
		bx.sideload(ctx, filepath.Join(files, p.Manifest.ID+".s9pk"))
	}
	t.Log("a third package wanting the same raw TCP port is refused before it installs")
	res, err := rpc.Call[model.SideloadResult](ctx, c, "package.sideload", nil)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(filepath.Join(files, clash.Manifest.ID+".s9pk"))
	st, _ := f.Stat()
	err = c.Upload(ctx, res.Upload, f, st.Size())
	f.Close()
	if err == nil || !strings.Contains(err.Error(), clash.Manifest.ID) || !strings.Contains(err.Error(), a.Manifest.ID) || !strings.Contains(err.Error(), strconv.Itoa(int(tcpPort))) {
		t.Fatalf("clashing install: %v (want an error naming %s, %s and port %d)", err, clash.Manifest.ID, a.Manifest.ID, tcpPort)
	}
	if list, _ := rpc.Call[[]model.PackageSummary](ctx, c, "package.list", nil); len(list) != 2 {
		t.Fatalf("after the refused install: %+v", list)
	}

	bx.waitRunningHealthy(ctx, a.Manifest.ID, "0.1.0")
	bx.waitRunningHealthy(ctx, b.Manifest.ID, "0.1.0")
	addrs := func(id string) model.InterfaceAddresses {
		for {
			info, err := rpc.Call[model.PackageInfo](ctx, c, "package.info", model.PackageIDParams{ID: id})
			if err == nil {
				dump, _ := rpc.Call[model.Dump](ctx, c, "db.dump", map[string]string{"pointer": "/public/packageData/" + id + "/interfaceAddresses"})
				var m map[string]model.InterfaceAddresses
				if json.Unmarshal(dump.Value, &m) == nil && m["main"].HTTPS != "" && len(info.Interfaces) > 0 && len(info.Interfaces[0].Addresses) > 0 {
					if info.Interfaces[0].Addresses[0] != m["main"].HTTPS {
						t.Fatalf("package.info %v disagrees with the document %v", info.Interfaces, m)
					}
					if id == a.Manifest.ID && len(m["peer"].TCP) != 1 {
						t.Fatalf("peer interface without a TCP address: %+v", m)
					}
					return m["main"]
				}
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: no addresses in the document", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	addrA, addrB := addrs(a.Manifest.ID), addrs(b.Manifest.ID)
	boxName := "" // <hostname>.local, from the TCP address of a's peer port
	if dump, err := rpc.Call[model.Dump](ctx, c, "db.dump", map[string]string{"pointer": "/public/packageData/" + a.Manifest.ID + "/interfaceAddresses/peer/tcp/0"}); err == nil {
		var hp string
		json.Unmarshal(dump.Value, &hp)
		boxName, _, _ = net.SplitHostPort(hp)
	}
	if addrA.LanAddress == addrB.LanAddress || !strings.HasPrefix(addrA.LanAddress, "main-"+a.Manifest.ID+"-") || boxName == "" {
		t.Fatalf("names: %+v %+v box %q", addrA, addrB, boxName)
	}

	phone := func(spec map[string]any) phoneResult {
		t.Helper()
		b, _ := json.Marshal(spec)
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns, os.Args[0], "-test.run=^TestLANPhoneHelper$", "-test.v=false")
		cmd.Env = append(os.Environ(), "STARTOS_LAN_PHONE="+string(b))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("phone: %v\n%s", err, out)
		}
		var r phoneResult
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "{") {
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatalf("phone output %q: %v", line, err)
				}
			}
		}
		if len(r.Errors) > 0 {
			t.Fatalf("phone: %v", r.Errors)
		}
		return r
	}
	r := phone(map[string]any{
		"Box": boxName, "Names": []string{addrA.LanAddress, addrB.LanAddress},
		"URLs":  []string{addrA.HTTPS + "/", addrB.HTTPS + "/", "https://" + boxName + "/rpc/v1"},
		"WSURL": "wss://" + addrA.LanAddress + "/ws", "TCP": boxName + ":" + strconv.Itoa(int(tcpPort)),
	})
	for name, ip := range r.Resolved {
		if ip != l.host {
			t.Errorf("mDNS: %s resolved to %s, want the box's LAN address %s", name, ip, l.host)
		}
	}
	for _, ad := range []model.InterfaceAddresses{addrA, addrB} {
		got := r.Fetched[ad.HTTPS+"/"]
		if got.Status != 200 || !strings.Contains(got.Body, "hello from testpkg") || !strings.Contains(got.Body, "host="+ad.LanAddress) ||
			!strings.Contains(got.Body, "xff="+l.phone) || !strings.Contains(got.Body, "proto=https") {
			t.Errorf("%s: %+v", ad.HTTPS, got)
		}
		if len(got.SANs) != 1 || got.SANs[0] != ad.LanAddress || got.Chain != 2 || got.Proto != "HTTP/2.0" {
			t.Errorf("%s: SANs %v, chain %d, %s", ad.HTTPS, got.SANs, got.Chain, got.Proto)
		}
	}
	// The box's own surface: /rpc/v1 answers GET with 405 (POST only).
	if got := r.Fetched["https://"+boxName+"/rpc/v1"]; got.Status != http.StatusMethodNotAllowed || got.SANs[0] != boxName {
		t.Errorf("box surface: %+v", got)
	}
	if r.WS != "echo hello over wss" {
		t.Errorf("WebSocket through the router: %q", r.WS)
	}
	if r.TCP != "ping over the forward\n" {
		t.Errorf("raw TCP forward: %q", r.TCP)
	}
	// The CA the phone trusted is the box's.
	if blk, _ := pem.Decode([]byte(caInfo.PEM)); blk == nil {
		t.Fatal("server.ca PEM does not decode")
	}

	// The watchdog's probe does a handshake and an echo through the router;
	// it has run many times by now (the phone took seconds).
	rep, err := rpc.Call[model.WatchdogReport](ctx, c, "server.watchdog", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, p := range rep.Watchdog.Probes {
		if p.Name == "lan.proxy" {
			found = true
			if p.State != model.ProbeOK || p.LastError != "" {
				t.Errorf("lan.proxy probe: %+v", p)
			}
		}
	}
	if !found {
		t.Errorf("no lan.proxy probe in %+v", rep.Watchdog.Probes)
	}

	t.Log("a stopped package: 502 with a page naming it and its status")
	if _, err := rpc.Call[model.Empty](ctx, c, "package.stop", model.PackageIDParams{ID: b.Manifest.ID}); err != nil {
		t.Fatal(err)
	}
	for {
		list, _ := rpc.Call[[]model.PackageSummary](ctx, c, "package.list", nil)
		stopped := false
		for _, p := range list {
			stopped = stopped || (p.ID == b.Manifest.ID && p.Primary == model.DesiredStopped)
		}
		if stopped {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("package never stopped")
		}
		time.Sleep(200 * time.Millisecond)
	}
	r = phone(map[string]any{"Box": boxName, "Names": []string{addrB.LanAddress}, "URLs": []string{addrB.HTTPS + "/"}})
	if got := r.Fetched[addrB.HTTPS+"/"]; got.Status != http.StatusBadGateway || !strings.Contains(got.Body, "Test Package") || !strings.Contains(got.Body, "stopped") {
		t.Errorf("stopped package: %+v", got)
	}

	t.Log("uninstall withdraws the name")
	if _, err := rpc.Call[model.Empty](ctx, c, "package.uninstall", model.UninstallParams{ID: b.Manifest.ID}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := mdnsLookupFrom(ctx, l, addrB.LanAddress); err != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the uninstalled package's name is still answered")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// mdnsLookupFrom resolves name from the phone, reporting an error when
// there is no answer.
func mdnsLookupFrom(ctx context.Context, l *lan, name string) (string, error) {
	b, _ := json.Marshal(map[string]any{"Box": name})
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", l.ns, os.Args[0], "-test.run=^TestLANPhoneHelper$")
	cmd.Env = append(os.Environ(), "STARTOS_LAN_PHONE="+string(b))
	out, _ := cmd.Output()
	for _, line := range strings.Split(string(out), "\n") {
		var r phoneResult
		if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &r) == nil {
			if ip, ok := r.Resolved[name]; ok {
				return ip, nil
			}
		}
	}
	return "", fmt.Errorf("%s not resolved", name)
}
