package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/config"
	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/s9pk"
)

// manifestNames are the files pack looks for, in order.
var manifestNames = []string{"manifest.yaml", "manifest.yml", "manifest.json"}

// readManifest finds and parses a package folder's manifest, printing
// warnings.
func readManifest(dir string, stderr io.Writer) (*manifest.Manifest, string, error) {
	for _, name := range manifestNames {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		m, warnings, err := manifest.Parse(data)
		for _, w := range warnings {
			fmt.Fprintf(stderr, "warning: %s: %s\n", name, w)
		}
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", p, err)
		}
		return m, p, nil
	}
	return nil, "", fmt.Errorf("no manifest.yaml or manifest.json in %s: %w", dir, errdefs.ErrNotFound)
}

// packOptions are pack's settings, apart from the folder.
type packOptions struct {
	output     string
	arches     []string
	dockerTags map[string]string // image id -> existing reference
	noBuild    bool
	noCache    bool
	dockerHost string
	key        ed25519.PrivateKey
}

// packResult is what pack prints.
type packResult struct {
	Path       string          `json:"path"`
	Size       int64           `json:"size"`
	ID         string          `json:"id"`
	Version    string          `json:"version"`
	Arches     []string        `json:"arches"`
	Commitment s9pk.Commitment `json:"commitment"`
	PublicKey  string          `json:"publicKey"`
}

func (e *env) pack(c *cli.Context) error {
	jsonOut, err := checkFormat(c)
	if err != nil {
		return err
	}
	if c.Args().Len() > 1 {
		return usageError("pack takes at most one folder")
	}
	dir := c.Args().First()
	if dir == "" {
		dir = "."
	}
	opts := packOptions{
		output:     c.String("output"),
		arches:     c.StringSlice("arch"),
		noBuild:    c.Bool("no-build"),
		noCache:    c.Bool("no-cache"),
		dockerHost: c.String("docker-host"),
		dockerTags: map[string]string{},
	}
	for _, t := range c.StringSlice("docker-tag") {
		id, ref, ok := strings.Cut(t, "=")
		if !ok || strings.Contains(id, ":") || strings.Contains(id, "/") {
			id, ref = manifest.MainImage, t
		}
		opts.dockerTags[id] = ref
	}
	if opts.key, err = loadKey(c); err != nil {
		return err
	}
	res, err := e.packDir(c.Context, dir, opts)
	if err != nil {
		return err
	}
	if jsonOut {
		return writeJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "Wrote %s (%s)\n  package:     %s %s for %s\n  rootSighash: %s\n  rootMaxsize: %d\n",
		res.Path, size(res.Size), res.ID, res.Version, strings.Join(res.Arches, ", "),
		base64.StdEncoding.EncodeToString(res.Commitment.RootSighash[:]), res.Commitment.RootMaxSize)
	return nil
}

// packDir builds everything and writes the archive.
func (e *env) packDir(ctx context.Context, dir string, opts packOptions) (*packResult, error) {
	m, _, err := readManifest(dir, e.stderr)
	if err != nil {
		return nil, err
	}
	for id := range opts.dockerTags {
		if !slices.Contains(m.ImageIDs(), id) {
			return nil, usageError("--docker-tag %s: the manifest has no image %q (images: %s)", id, id, strings.Join(m.ImageIDs(), ", "))
		}
	}
	arches := opts.arches
	if len(arches) == 0 {
		arches = []string{manifest.HostArch()}
	}
	slices.Sort(arches)
	arches = slices.Compact(arches)
	for _, a := range arches {
		if !slices.Contains(manifest.Arches, a) {
			return nil, usageError("--arch %s: want one of %s", a, strings.Join(manifest.Arches, ", "))
		}
		if hw := m.HardwareRequirements.Arch; len(hw) > 0 && !slices.Contains(hw, a) {
			return nil, fmt.Errorf("--arch %s: hardware-requirements.arch does not list it", a)
		}
	}
	if m.GitHash == "" {
		m.GitHash = gitHash(ctx, dir)
	}

	pkg := &s9pk.Package{Manifest: m, IconExt: m.Assets.IconExt()}
	pkg.Icon, err = packFile(dir, "assets.icon", m.Assets.IconPath())
	if err != nil {
		return nil, err
	}
	pkg.License, err = packFile(dir, "assets.license", m.Assets.LicensePath())
	if err != nil {
		return nil, err
	}
	instructions := m.Assets.InstructionsPath()
	if m.Assets.Instructions == "" && !exists(filepath.Join(dir, instructions)) && exists(filepath.Join(dir, "INSTRUCTIONS.md")) {
		instructions = "INSTRUCTIONS.md"
	}
	pkg.Instructions, err = packFile(dir, "assets.instructions", instructions)
	if err != nil {
		return nil, err
	}
	if pkg.Assets, err = packAssets(dir, m); err != nil {
		return nil, err
	}
	if err := checkConfigSpecs(dir, m); err != nil {
		return nil, err
	}

	eng, err := container.Connect(ctx, container.Options{Host: opts.dockerHost})
	if err != nil {
		return nil, err
	}
	defer eng.Close()

	out := opts.output
	if out == "" {
		out = filepath.Join(dir, m.ID+".s9pk")
	}
	spoolDir, err := os.MkdirTemp(filepath.Dir(out), ".start-sdk-images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(spoolDir)

	for i, arch := range arches {
		if !opts.noBuild && len(m.Build) > 0 {
			if err := e.runBuild(ctx, dir, m, arch); err != nil {
				return nil, err
			}
		}
		for _, id := range m.ImageIDs() {
			tag := manifest.DockerTag(m.ID, id, m.Version)
			if err := e.prepareImage(ctx, eng, dir, m, id, arch, tag, opts); err != nil {
				return nil, err
			}
			// The next architecture reuses the tag, so every architecture
			// but the last is saved now; the last streams straight from
			// the engine into the archive.
			src := e.imageSource(ctx, eng, tag, arch, id)
			if i < len(arches)-1 {
				spool := filepath.Join(spoolDir, arch+"-"+id+".tar")
				if err := saveTo(src, spool); err != nil {
					return nil, err
				}
				src = s9pk.FileSource(spool)
			}
			pkg.Images = append(pkg.Images, s9pk.PackageImage{ID: id, Arch: arch, Source: src})
		}
	}

	fmt.Fprintf(e.stderr, "==> Writing %s\n", out)
	res, err := writeArchive(out, opts.key, pkg)
	if err != nil {
		return nil, err
	}
	pub, _ := s9pk.MarshalPublicKey(res.PublicKey)
	return &packResult{
		Path: out, Size: res.Size, ID: m.ID, Version: m.Version.String(), Arches: arches,
		Commitment: res.Commitment, PublicKey: string(pub),
	}, nil
}

// writeArchive writes the package to a temporary file beside out, then
// renames it into place, so a failed pack leaves no half-written archive.
func writeArchive(out string, key ed25519.PrivateKey, pkg *s9pk.Package) (*s9pk.Result, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	res, err := s9pk.WritePackage(tmp, key, pkg)
	if err == nil {
		err = tmp.Truncate(res.Size)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	// A last look: the tables of contents and signature read back.
	if f, err := s9pk.OpenFile(tmp.Name(), &s9pk.Options{Commitment: &res.Commitment}); err != nil {
		return nil, fmt.Errorf("the archive just written does not read back: %w", err)
	} else {
		f.Close()
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return nil, err
	}
	return res, nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// packFile is a Source for a file in the package folder, which must exist.
func packFile(dir, key, rel string) (s9pk.Source, error) {
	p := filepath.Join(dir, rel)
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %s not found in %s", key, rel, dir)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %s is not a file", key, rel)
	}
	return s9pk.FileSource(p), nil
}

// packAssets collects the assets folder: one sub-folder per assets volume.
func packAssets(dir string, m *manifest.Manifest) (map[string]s9pk.Source, error) {
	root := filepath.Join(dir, m.Assets.AssetsPath())
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]s9pk.Source{}
	for _, d := range entries {
		v, ok := m.Volumes[d.Name()]
		if !d.IsDir() || !ok || v.Type != manifest.VolumeAssets {
			return nil, fmt.Errorf("assets: %s is not a folder named after an assets volume", filepath.Join(m.Assets.AssetsPath(), d.Name()))
		}
		err := filepath.WalkDir(filepath.Join(root, d.Name()), func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			if !de.Type().IsRegular() {
				return fmt.Errorf("assets: %s is not a regular file", p)
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out[filepath.ToSlash(rel)] = s9pk.FileSource(p)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// runBuild runs the manifest's build commands for one architecture.
func (e *env) runBuild(ctx context.Context, dir string, m *manifest.Manifest, arch string) error {
	for i, cmdline := range m.Build {
		fmt.Fprintf(e.stderr, "==> Build command %d/%d (%s): %s\n", i+1, len(m.Build), arch, cmdline)
		cmd := exec.CommandContext(ctx, "sh", "-c", cmdline)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"START_ARCH="+arch, "GOOS=linux", "GOARCH="+manifest.DockerArch(arch),
			"PKG_ID="+m.ID, "PKG_VERSION="+m.Version.String())
		pw := &prefixWriter{w: e.stderr, prefix: "    "}
		cmd.Stdout, cmd.Stderr = pw, pw
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build[%d] %q failed: %v", i, cmdline, err)
		}
		fmt.Fprintf(e.stderr, "    done in %.1fs\n", time.Since(start).Seconds())
	}
	return nil
}

// prepareImage builds an image, or tags an existing one, as tag.
func (e *env) prepareImage(ctx context.Context, eng *container.Client, dir string, m *manifest.Manifest, id, arch, tag string, opts packOptions) error {
	spec := m.Images[id]
	ref := opts.dockerTags[id]
	if ref == "" && spec != nil {
		ref = spec.DockerTag
	}
	if ref != "" {
		fmt.Fprintf(e.stderr, "==> Taking image %s (%s) from %s\n", id, arch, ref)
		img, err := eng.Inspect(ctx, ref)
		if err != nil {
			return fmt.Errorf("image %s: %w", id, err)
		}
		if img.Architecture != manifest.DockerArch(arch) {
			return fmt.Errorf("image %s: %s is for %s, not %s", id, ref, img.Architecture, manifest.DockerArch(arch))
		}
		return eng.Tag(ctx, ref, tag)
	}
	ctxDir := filepath.Join(dir, spec.ContextDir())
	dockerfile := spec.DockerfileFor(id)
	if !exists(filepath.Join(ctxDir, dockerfile)) {
		return fmt.Errorf("image %s: %s not found in %s (set images.%s.dockerfile, or --docker-tag)", id, dockerfile, ctxDir, id)
	}
	fmt.Fprintf(e.stderr, "==> Building image %s (%s) from %s as %s\n", id, arch, filepath.Join(spec.ContextDir(), dockerfile), tag)
	platform := ""
	if arch != manifest.HostArch() {
		platform = "linux/" + manifest.DockerArch(arch)
	}
	args := map[string]string{}
	if spec != nil {
		for k, v := range spec.BuildArgs {
			args[k] = v
		}
	}
	start := time.Now()
	imgID, err := eng.Build(ctx, container.BuildOptions{
		ContextDir: ctxDir, Dockerfile: dockerfile, Tags: []string{tag},
		BuildArgs: args, Platform: platform, NoCache: opts.noCache,
		Labels: map[string]string{"dev.startos.package": m.ID, "dev.startos.image": id},
	}, &prefixWriter{w: e.stderr, prefix: "    "})
	if err != nil {
		return fmt.Errorf("image %s: %w", id, err)
	}
	img, err := eng.Inspect(ctx, imgID)
	if err != nil {
		return err
	}
	if img.Architecture != manifest.DockerArch(arch) {
		return fmt.Errorf("image %s: the engine built it for %s, not %s", id, img.Architecture, manifest.DockerArch(arch))
	}
	fmt.Fprintf(e.stderr, "    built %s (%s) in %.1fs\n", imgID, size(img.Size), time.Since(start).Seconds())
	return nil
}

// imageSource streams `docker save` of tag when the archive writer gets to
// it, reporting progress.
func (e *env) imageSource(ctx context.Context, eng *container.Client, tag, arch, id string) s9pk.Source {
	return s9pk.SourceFunc(func() (io.ReadCloser, error) {
		rc, err := eng.Save(ctx, tag)
		if err != nil {
			return nil, err
		}
		return &countingReader{r: rc, p: newProgress(e.stderr, "images/"+arch+"/"+id+".tar", 0)}, nil
	})
}

func saveTo(src s9pk.Source, path string) error {
	r, err := src.Open()
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// gitHash returns the folder's git commit, or "" when it is not a git
// checkout. It only reads.
func gitHash(ctx context.Context, dir string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// checkConfigSpecs refuses a package whose config spec (the compat form's
// config_spec.yaml in an assets volume) or an action's input spec is not a
// valid StartOS 0.3 spec, naming the key path.
func checkConfigSpecs(dir string, m *manifest.Manifest) error {
	if m.Config != nil && m.Config.Get.Native == manifest.NativeConfigGet {
		get := m.Config.Get
		if len(get.Args) < 4 {
			return fmt.Errorf("config.get.args: compat config get wants a config path and a spec path")
		}
		vol, rel, ok := get.VolumeOf(get.Args[3])
		if !ok || m.Volumes[vol] == nil || m.Volumes[vol].Type != manifest.VolumeAssets || rel == "" {
			return fmt.Errorf("config.get.args: the spec %s is not in an assets volume the procedure mounts", get.Args[3])
		}
		file := filepath.Join(m.Assets.AssetsPath(), vol, filepath.FromSlash(rel))
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			return fmt.Errorf("config spec %s: %w", file, err)
		}
		if _, err := config.ParseSpec(b); err != nil {
			return fmt.Errorf("config spec %s: %w", file, err)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(m.Actions)) {
		if in := m.Actions[id].InputSpec; in != nil {
			if _, err := config.SpecFromValue(in); err != nil {
				return fmt.Errorf("actions.%s.input-spec: %w", id, err)
			}
		}
	}
	return nil
}
