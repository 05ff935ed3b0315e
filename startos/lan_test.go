package startos

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/auth"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/net/router"
)

// TestLANFollowsHostname: the CA's fingerprint is in the document and
// survives a restart; the box answers TLS for <hostname>.local, and after
// the hostname changes, for the new name only, with a certificate for it.
func TestLANFollowsHostname(t *testing.T) {
	dir := t.TempDir()
	cheap := auth.Params{Memory: 1024, Time: 1, Threads: 1}
	s, err := Open(context.Background(), Config{DataDir: dir, Stderr: io.Discard, PasswordParams: &cheap})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, _ := s.CA(context.Background())
	_, doc := s.db.Read()
	if info.Fingerprint == "" || doc.Public.ServerInfo.CAFingerprint != info.Fingerprint {
		t.Fatalf("caFingerprint %q, CA %q", doc.Public.ServerInfo.CAFingerprint, info.Fingerprint)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.StartLAN(LANOptions{Box: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "box") }), HTTPSPort: 443})
	if err != nil {
		t.Fatal(err)
	}
	go r.ServeTLS(ln)
	handshake := func(name string) error {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), &tls.Config{ServerName: name, RootCAs: s.ca.Pool()})
		if err == nil {
			c.Close()
		}
		return err
	}
	old := router.BoxName(s.Hostname())
	if err := handshake(old); err != nil {
		t.Fatalf("%s: %v", old, err)
	}
	if _, err := s.Setup(context.Background(), model.SetupParams{Password: "correct horse battery", Hostname: "renamed"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for handshake("renamed.local") != nil {
		if time.Now().After(deadline) {
			t.Fatalf("renamed.local never served: %v", handshake("renamed.local"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if old != "renamed.local" && handshake(old) == nil {
		t.Errorf("the old name %s is still served", old)
	}
	s.Close()

	again, err := Open(context.Background(), Config{DataDir: dir, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if info2, _ := again.CA(context.Background()); info2.Fingerprint != info.Fingerprint {
		t.Fatalf("the root changed across a restart: %s -> %s", info.Fingerprint, info2.Fingerprint)
	}
}
