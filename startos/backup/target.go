package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
)

// Target types.
const (
	TypeLocal = "local"
	TypeSFTP  = "sftp"
	TypeS3    = "s3"
	TypeREST  = "rest"
)

// credentialKeys are the credentials each target type accepts.
var credentialKeys = map[string][]string{
	TypeLocal: {},
	TypeSFTP:  {"sshPrivateKey", "sshPort", "sshKnownHosts"},
	TypeS3:    {"awsAccessKeyId", "awsSecretAccessKey"},
	TypeREST:  {},
}

var (
	sshUser = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$`)
	sshHost = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$|^\[[0-9A-Fa-f:.]+\]$`)
)

// sftpURL is a parsed sftp:user@host:/path.
type sftpURL struct{ user, host, path string }

func parseSFTP(u string) (sftpURL, error) {
	rest := strings.TrimPrefix(u, "sftp:")
	if strings.HasPrefix(rest, "//") {
		return sftpURL{}, fmt.Errorf("target url %q: use the form sftp:user@host:/path: %w", u, errdefs.ErrInvalidRequest)
	}
	at := strings.Index(rest, "@")
	var user, hostPath string
	if at < 0 {
		return sftpURL{}, fmt.Errorf("target url %q: name the user (sftp:user@host:/path): %w", u, errdefs.ErrInvalidRequest)
	}
	user, hostPath = rest[:at], rest[at+1:]
	var host, path string
	if strings.HasPrefix(hostPath, "[") {
		end := strings.Index(hostPath, "]")
		if end < 0 || len(hostPath) < end+2 || hostPath[end+1] != ':' {
			return sftpURL{}, fmt.Errorf("target url %q: want sftp:user@[v6addr]:/path: %w", u, errdefs.ErrInvalidRequest)
		}
		host, path = hostPath[:end+1], hostPath[end+2:]
	} else {
		i := strings.Index(hostPath, ":")
		if i < 0 {
			return sftpURL{}, fmt.Errorf("target url %q: want sftp:user@host:/path: %w", u, errdefs.ErrInvalidRequest)
		}
		host, path = hostPath[:i], hostPath[i+1:]
	}
	if !sshUser.MatchString(user) {
		return sftpURL{}, fmt.Errorf("target url %q: user %q: use letters, digits, '.', '_' and '-', not first: %w", u, user, errdefs.ErrInvalidRequest)
	}
	if !sshHost.MatchString(host) {
		return sftpURL{}, fmt.Errorf("target url %q: host %q is not a host name or address: %w", u, host, errdefs.ErrInvalidRequest)
	}
	if path == "" || strings.ContainsAny(path, "\x00\n\r") || hasDotDot(path) {
		return sftpURL{}, fmt.Errorf("target url %q: path %q must be non-empty without '..': %w", u, path, errdefs.ErrInvalidRequest)
	}
	return sftpURL{user: user, host: host, path: path}, nil
}

func hasDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// TargetType validates a repository string and returns its type. A local
// path must be absolute and clean and may not be inside the data
// directory's state or volumes, or a system folder.
func TargetType(dataDir, u string) (string, error) {
	if strings.ContainsAny(u, "\x00\n\r") {
		return "", fmt.Errorf("target url: control characters are not allowed: %w", errdefs.ErrInvalidRequest)
	}
	switch {
	case strings.HasPrefix(u, "/"):
		if hasDotDot(u) || filepath.Clean(u) != u {
			return "", fmt.Errorf("target path %q: must be absolute and clean (no '..', '//' or trailing '/'): %w", u, errdefs.ErrInvalidRequest)
		}
		if u == "/" {
			return "", fmt.Errorf("target path %q: the root folder cannot be a target: %w", u, errdefs.ErrInvalidRequest)
		}
		for _, sys := range []string{"/proc", "/sys", "/dev", "/run", "/boot", "/etc", "/bin", "/sbin", "/usr", "/lib"} {
			if within(sys, u) {
				return "", fmt.Errorf("target path %q: inside the system folder %s: %w", u, sys, errdefs.ErrInvalidRequest)
			}
		}
		if dataDir != "" {
			if within(u, dataDir) {
				return "", fmt.Errorf("target path %q: holds the data directory %s: %w", u, dataDir, errdefs.ErrInvalidRequest)
			}
			for _, sub := range []string{"db", "volumes", "packages", "backup", "tmp"} {
				if within(filepath.Join(dataDir, sub), u) {
					return "", fmt.Errorf("target path %q: inside the data directory's %s/: %w", u, sub, errdefs.ErrInvalidRequest)
				}
			}
		}
		return TypeLocal, nil
	case strings.HasPrefix(u, "sftp:"):
		if _, err := parseSFTP(u); err != nil {
			return "", err
		}
		return TypeSFTP, nil
	case strings.HasPrefix(u, "s3:"):
		return TypeS3, nil
	case strings.HasPrefix(u, "rest:"):
		return TypeREST, nil
	}
	return "", fmt.Errorf("target url %q: want an absolute local path, sftp:user@host:/path, s3:… or rest:…: %w", u, errdefs.ErrInvalidRequest)
}

// within reports whether p is dir or below it.
func within(dir, p string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// checkCredentials refuses keys the target type does not use and values
// that would change a command line.
func checkCredentials(typ string, creds map[string]string) error {
	allowed := credentialKeys[typ]
	for k, v := range creds {
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			return fmt.Errorf("credential %q: a %s target takes only %v: %w", k, typ, allowed, errdefs.ErrInvalidRequest)
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("credential %q: contains a NUL byte: %w", k, errdefs.ErrInvalidRequest)
		}
		if k == "sshPort" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 65535 {
				return fmt.Errorf("credential sshPort %q: want a port number 1-65535: %w", v, errdefs.ErrInvalidRequest)
			}
		}
		if (k == "awsAccessKeyId" || k == "awsSecretAccessKey") && strings.ContainsAny(v, "\n\r") {
			return fmt.Errorf("credential %q: contains a line break: %w", k, errdefs.ErrInvalidRequest)
		}
	}
	return nil
}

// publicTarget strips credentials.
func publicTarget(dataDir, id string, t model.BackupTargetPrivate) model.BackupTarget {
	typ, _ := TargetType(dataDir, t.URL)
	keys := make([]string, 0, len(t.Credentials))
	for k := range t.Credentials {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return model.BackupTarget{ID: id, Name: t.Name, URL: t.URL, Type: typ, CredentialKeys: keys,
		Initialized: t.PasswordHash != "", LastBackup: t.LastBackup}
}

// resticFor returns a Restic for target t and a cleanup that removes the
// files holding its secrets.
func resticFor(bin, dataDir string, t model.BackupTargetPrivate) (*Restic, func(), error) {
	typ, err := TargetType(dataDir, t.URL)
	if err != nil {
		return nil, nil, err
	}
	r := &Restic{Bin: bin, Repo: t.URL}
	switch typ {
	case TypeS3:
		if v := t.Credentials["awsAccessKeyId"]; v != "" {
			r.Env = append(r.Env, "AWS_ACCESS_KEY_ID="+v)
		}
		if v := t.Credentials["awsSecretAccessKey"]; v != "" {
			r.Env = append(r.Env, "AWS_SECRET_ACCESS_KEY="+v)
		}
	case TypeSFTP:
		u, _ := parseSFTP(t.URL)
		dir, err := os.MkdirTemp("", "startos-ssh-")
		if err != nil {
			return nil, nil, fmt.Errorf("ssh settings: %v: %w", err, errdefs.ErrFilesystem)
		}
		cleanup := func() { os.RemoveAll(dir) }
		known := filepath.Join(dataDir, "backup", "known_hosts")
		strict := "accept-new" // trust on first use, kept per box
		if kh := t.Credentials["sshKnownHosts"]; kh != "" {
			known, strict = filepath.Join(dir, "known_hosts"), "yes"
			if err := os.WriteFile(known, []byte(kh+"\n"), 0o600); err != nil {
				cleanup()
				return nil, nil, err
			}
		} else if err := os.MkdirAll(filepath.Dir(known), 0o700); err != nil {
			cleanup()
			return nil, nil, err
		}
		cmd := []string{"ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=" + strict, "-o", "UserKnownHostsFile=" + known,
			"-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15", "-F", "/dev/null"}
		if key := t.Credentials["sshPrivateKey"]; key != "" {
			kf := filepath.Join(dir, "id")
			if err := os.WriteFile(kf, []byte(strings.TrimSpace(key)+"\n"), 0o600); err != nil {
				cleanup()
				return nil, nil, err
			}
			cmd = append(cmd, "-i", kf, "-o", "IdentitiesOnly=yes")
		}
		if p := t.Credentials["sshPort"]; p != "" {
			cmd = append(cmd, "-p", p)
		}
		for _, part := range cmd {
			if strings.ContainsAny(part, " \t'\"\\") {
				cleanup()
				return nil, nil, fmt.Errorf("ssh settings: path %q has a space or quote, which restic's sftp.command cannot carry: %w", part, errdefs.ErrInvalidRequest)
			}
		}
		cmd = append(cmd, "-l", u.user, "-s", "--", strings.Trim(u.host, "[]"), "sftp")
		r.Options = append(r.Options, "sftp.command="+strings.Join(cmd, " "))
		r.TempDir = dir
		return r, cleanup, nil
	}
	return r, func() {}, nil
}
