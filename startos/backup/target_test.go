package backup

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

func TestTargetType(t *testing.T) {
	data := "/var/lib/startos"
	for _, tc := range []struct {
		url, want string
	}{
		{"/mnt/usb/backups", TypeLocal},
		{"/var/lib/startos-backups", TypeLocal},
		{"sftp:backup@nas.local:/srv/box", TypeSFTP},
		{"sftp:backup@[::1]:/srv/box", TypeSFTP},
		{"sftp:backup@nas:relative/path", TypeSFTP},
		{"s3:https://s3.example.com/bucket", TypeS3},
		{"rest:https://user:pw@host:8000/", TypeREST},
		{"", ""},
		{"relative", ""},
		{"/", ""},
		{"/mnt/../etc", ""},
		{"/mnt/usb/", ""},
		{"/mnt//usb", ""},
		{"/proc/self", ""},
		{"/var/lib", ""},         // holds the data dir
		{"/var/lib/startos", ""}, // is the data dir
		{"/var/lib/startos/db", ""},
		{"/var/lib/startos/volumes/x", ""},
		{"/mnt/a\nb", ""},
		{"-o", ""},
		{"sftp:-oProxyCommand=sh@host:/p", ""},
		{"sftp:user@-oProxyCommand=sh:/p", ""},
		{"sftp:user@host", ""},
		{"sftp:host:/p", ""},
		{"sftp:user@host:/a/../b", ""},
		{"sftp://user@host/p", ""},
		{"ftp://host/p", ""},
	} {
		got, err := TargetType(data, tc.url)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("TargetType(%q) = %q, %v; want %q", tc.url, got, err, tc.want)
		}
		if err != nil && !errors.Is(err, errdefs.ErrInvalidRequest) {
			t.Errorf("TargetType(%q): %v is not an invalid request", tc.url, err)
		}
	}
}

func TestCheckCredentials(t *testing.T) {
	for _, tc := range []struct {
		typ   string
		creds map[string]string
		ok    bool
	}{
		{TypeSFTP, map[string]string{"sshPort": "2222", "sshPrivateKey": "k", "sshKnownHosts": "h"}, true},
		{TypeSFTP, map[string]string{"sshPort": "0"}, false},
		{TypeSFTP, map[string]string{"sshPort": "22 -oProxyCommand=x"}, false},
		{TypeSFTP, map[string]string{"awsAccessKeyId": "x"}, false},
		{TypeS3, map[string]string{"awsAccessKeyId": "a", "awsSecretAccessKey": "b"}, true},
		{TypeS3, map[string]string{"awsAccessKeyId": "a\nRESTIC_PASSWORD=x"}, false},
		{TypeLocal, map[string]string{"sshPort": "22"}, false},
		{TypeLocal, nil, true},
	} {
		if err := checkCredentials(tc.typ, tc.creds); (err == nil) != tc.ok {
			t.Errorf("checkCredentials(%s, %v) = %v, want ok=%v", tc.typ, tc.creds, err, tc.ok)
		}
	}
}

// The sftp command is built from validated parts only, the host after --,
// and the key goes to a 0600 file rather than the command line.
func TestSFTPCommand(t *testing.T) {
	r, cleanup, err := resticFor("", t.TempDir(), model.BackupTargetPrivate{URL: "sftp:backup@nas.local:/srv/box",
		Credentials: map[string]string{"sshPrivateKey": "SECRET KEY", "sshPort": "2222"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if len(r.Options) != 1 {
		t.Fatalf("options %v", r.Options)
	}
	o := r.Options[0]
	for _, want := range []string{"sftp.command=ssh ", "-p 2222", "-l backup -s -- nas.local sftp", "BatchMode=yes"} {
		if !strings.Contains(o, want) {
			t.Errorf("sftp.command %q lacks %q", o, want)
		}
	}
	if strings.Contains(o, "SECRET") {
		t.Error("the key is on the command line")
	}
}

func TestResticMissing(t *testing.T) {
	r := &Restic{Bin: "/nonexistent/restic", Repo: "/tmp/x"}
	err := r.Open(context.Background(), "password")
	if !errors.Is(err, ErrResticMissing) || !strings.Contains(err.Error(), "apt-get install restic") {
		t.Fatalf("missing restic: %v", err)
	}
}

func TestCheckArgRefusesFlags(t *testing.T) {
	r := &Restic{Repo: "/tmp/x"}
	if err := r.Restore(context.Background(), "pw", "--target=/etc", "/tmp/y", nil); !errors.Is(err, errdefs.ErrInvalidRequest) {
		t.Fatalf("a flag as snapshot id: %v", err)
	}
}
