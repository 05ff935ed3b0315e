package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/registry"
	"github.com/startos-go/startos/startos/s9pk"
)

// indexCommands are `start-sdk index ...` and `start-sdk publish`.
func (e *env) indexCommands(formatFlag cli.Flag) []*cli.Command {
	keyFlag := &cli.StringFlag{Name: "registry-key-path", Usage: "the registry's signing key (default ~/.startos/registry.key.pem; never inside the served folder)", EnvVars: []string{"STARTOS_REGISTRY_KEY_PATH"}}
	validFlag := &cli.DurationFlag{Name: "valid-for", Value: registry.DefaultValidity, Usage: "how long the signed index stays valid; re-sign within it"}
	return []*cli.Command{
		{
			Name:  "index",
			Usage: "create, re-sign and verify a package index any static file server can host",
			Subcommands: []*cli.Command{
				{
					Name: "init", Usage: "create a registry key (if missing) and an empty signed index in DIR", ArgsUsage: "DIR",
					Flags:  []cli.Flag{keyFlag, validFlag, &cli.StringFlag{Name: "name", Usage: "the registry's name"}, formatFlag},
					Action: e.indexInit,
				},
				{
					Name: "sign", Usage: "re-sign DIR's index with a new sequence and expiry", ArgsUsage: "DIR",
					Flags:  []cli.Flag{keyFlag, validFlag, formatFlag},
					Action: e.indexSign,
				},
				{
					Name: "verify", Usage: "verify an index (a folder or a URL): signature, expiry, every entry and developer signature; for a folder, every archive too", ArgsUsage: "DIR|URL",
					Flags:  []cli.Flag{&cli.StringFlag{Name: "fingerprint", Usage: "the registry key fingerprint the index must be signed by"}, formatFlag},
					Action: e.indexVerify,
				},
			},
		},
		{
			Name:      "publish",
			Usage:     "add a package archive to an index folder",
			ArgsUsage: "PKG.s9pk",
			Flags: []cli.Flag{keyFlag, validFlag,
				&cli.StringFlag{Name: "index", Usage: "the index folder", Required: true},
				&cli.StringFlag{Name: "url-base", Usage: "make the archive's URL absolute: `URL`/packages/..."},
				&cli.StringSliceFlag{Name: "category", Usage: "list the version under `CATEGORY` (repeatable)"},
				&cli.BoolFlag{Name: "trust-developer", Usage: "trust the archive's developer key for its id besides those already trusted"},
				formatFlag,
			},
			Action: e.publish,
		},
	}
}

func registryFolder(c *cli.Context, dir string, create bool) (*registry.Folder, error) {
	p := c.String("registry-key-path")
	if p == "" {
		var err error
		if p, err = registry.DefaultKeyPath(); err != nil {
			return nil, err
		}
	}
	if abs, err := filepath.Abs(p); err == nil {
		if d, err := filepath.Abs(dir); err == nil && strings.HasPrefix(abs, d+string(filepath.Separator)) {
			return nil, usageError("the registry key %s is inside the served folder %s: keep it elsewhere", p, dir)
		}
	}
	key, err := registry.LoadOrCreateKey(p, create)
	if err != nil {
		return nil, err
	}
	return &registry.Folder{Dir: dir, Key: key, Validity: c.Duration("valid-for")}, nil
}

func oneArg(c *cli.Context, what string) (string, error) {
	if c.Args().Len() != 1 {
		return "", usageError("%s takes one argument, %s", c.Command.FullName(), what)
	}
	return c.Args().First(), nil
}

// folderCommand is the common start of index init, index sign and publish:
// the output format, the one argument (what names it in the usage error),
// and the registry folder with its key: dir, or the argument when dir is "".
func folderCommand(c *cli.Context, what, dir string, create bool) (jsonOut bool, arg string, f *registry.Folder, err error) {
	if jsonOut, err = checkFormat(c); err != nil {
		return false, "", nil, err
	}
	if arg, err = oneArg(c, what); err != nil {
		return false, "", nil, err
	}
	if dir == "" {
		dir = arg
	}
	f, err = registryFolder(c, dir, create)
	return jsonOut, arg, f, err
}

func (e *env) indexInit(c *cli.Context) error {
	jsonOut, dir, f, err := folderCommand(c, "DIR", "", true)
	if err != nil {
		return err
	}
	if err := f.Init(c.String("name")); err != nil {
		return err
	}
	fp := registry.Fingerprint(f.Key.Public().(ed25519.PublicKey))
	if jsonOut {
		return writeJSON(e.stdout, map[string]string{"dir": dir, "fingerprint": fp})
	}
	fmt.Fprintf(e.stdout, "Created an empty index in %s\nRegistry key fingerprint: %s\n(boxes pin it: start-cli registry add URL --fingerprint %s)\n", dir, fp, fp)
	return nil
}

func (e *env) indexSign(c *cli.Context) error {
	jsonOut, _, f, err := folderCommand(c, "DIR", "", false)
	if err != nil {
		return err
	}
	idx, err := f.Sign()
	if err != nil {
		return err
	}
	if jsonOut {
		return writeJSON(e.stdout, map[string]any{"sequence": idx.Sequence, "expires": idx.Expires})
	}
	fmt.Fprintf(e.stdout, "Signed sequence %d, valid until %s\n", idx.Sequence, idx.Expires.Format(time.RFC3339))
	return nil
}

func (e *env) publish(c *cli.Context) error {
	if c.String("index") == "" {
		return usageError("publish needs --index DIR, the index folder")
	}
	jsonOut, pkg, f, err := folderCommand(c, "PKG.s9pk", c.String("index"), false)
	if err != nil {
		return err
	}
	v, err := f.Publish(pkg, registry.PublishOptions{URLBase: c.String("url-base"), Categories: c.StringSlice("category"), TrustDeveloper: c.Bool("trust-developer")})
	if err != nil {
		return err
	}
	if jsonOut {
		return writeJSON(e.stdout, v)
	}
	fmt.Fprintf(e.stdout, "Published %s %s (%s, %d bytes) at %s\n", v.ID, v.Version, strings.Join(v.Arch, ", "), v.Size, v.URL)
	return nil
}

// indexReport is what index verify prints.
type indexReport struct {
	Fingerprint string    `json:"fingerprint"`
	Name        string    `json:"name,omitempty"`
	Sequence    uint64    `json:"sequence"`
	Expires     time.Time `json:"expires"`
	Packages    int       `json:"packages"`
	Versions    int       `json:"versions"`
	Archives    int       `json:"archivesChecked"`
}

func (e *env) indexVerify(c *cli.Context) error {
	jsonOut, err := checkFormat(c)
	if err != nil {
		return err
	}
	src, err := oneArg(c, "DIR or URL")
	if err != nil {
		return err
	}
	var data []byte
	isURL := strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
	if isURL {
		u, err := registry.IndexURL(src)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.Context, time.Minute)
		defer cancel()
		if data, err = registry.Fetch(ctx, u, registry.FetchOptions{}); err != nil {
			return err
		}
	} else {
		st, err := os.Stat(filepath.Join(src, registry.IndexFile))
		if err != nil {
			return fmt.Errorf("no index in %s: %w", src, err)
		}
		if st.Size() > registry.MaxIndexSize {
			return fmt.Errorf("%s: index over %d bytes", src, registry.MaxIndexSize)
		}
		if data, err = os.ReadFile(filepath.Join(src, registry.IndexFile)); err != nil {
			return err
		}
	}
	ver, err := registry.Verify(data, registry.VerifyOptions{DeveloperSignatures: true})
	if err != nil {
		return err
	}
	if fp := c.String("fingerprint"); fp != "" && fp != ver.Fingerprint {
		return fmt.Errorf("the index is signed by %s, not %s: %w", ver.Fingerprint, fp, registry.ErrWrongKey)
	}
	rep := indexReport{Fingerprint: ver.Fingerprint, Name: ver.Name, Sequence: ver.Sequence, Expires: ver.Expires, Packages: len(ver.Packages)}
	ids := make([]string, 0, len(ver.Packages))
	for id := range ver.Packages {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, v := range ver.Packages[id].Versions {
			rep.Versions++
			if isURL || strings.Contains(v.URL, "://") {
				continue
			}
			if err := checkArchive(filepath.Join(src, filepath.FromSlash(v.URL)), v); err != nil {
				return fmt.Errorf("%s %s: %w", id, v.Version, err)
			}
			rep.Archives++
		}
	}
	if jsonOut {
		return writeJSON(e.stdout, rep)
	}
	fmt.Fprintf(e.stdout, "OK: index signed by %s, sequence %d, valid until %s\n%d packages, %d versions, %d archives checked\n",
		rep.Fingerprint, rep.Sequence, rep.Expires.Format(time.RFC3339), rep.Packages, rep.Versions, rep.Archives)
	return nil
}

// checkArchive opens a folder's archive and compares it with its entry.
func checkArchive(path string, v *registry.Version) error {
	f, err := s9pk.OpenFile(path, nil)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Commitment() != v.Commitment || f.Size() != v.Size || registry.EncodeKey(f.PublicKey()) != v.DeveloperKey {
		return fmt.Errorf("%s differs from its index entry (commitment, size or developer key): %w", path, registry.ErrCommitmentMismatch)
	}
	return f.VerifyAll(nil)
}
