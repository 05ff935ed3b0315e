package s9pk

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/startos-go/startos/startos/manifest"
)

// ImageArchive describes a Docker image archive (the output of docker save).
type ImageArchive struct {
	RepoTags     []string
	Config       string // the config's path inside the archive
	Architecture string // Docker's name: amd64, arm64, ...
	OS           string
	Entrypoint   []string
	Cmd          []string
}

// maxImageMeta bounds the JSON files kept while scanning an image archive.
const (
	maxImageMetaFile  = 1 << 20
	maxImageMetaTotal = 16 << 20
)

// InspectImageArchive reads a docker save archive to its end and returns its
// tags and configuration. It accepts both the classic layout and the OCI
// layout newer engines write (both carry manifest.json).
func InspectImageArchive(r io.Reader) (*ImageArchive, error) {
	tr := tar.NewReader(r)
	small := map[string][]byte{}
	var kept int
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar archive: %v", err)
		}
		if h.Typeflag != tar.TypeReg || h.Size > maxImageMetaFile || kept+int(h.Size) > maxImageMetaTotal {
			continue
		}
		name := path.Clean(h.Name)
		if name != "manifest.json" && !strings.HasSuffix(name, ".json") && !strings.HasPrefix(name, "blobs/") {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %v", name, err)
		}
		small[name] = b
		kept += len(b)
	}
	mj, ok := small["manifest.json"]
	if !ok {
		return nil, errors.New("no manifest.json: not a docker save archive")
	}
	var entries []struct {
		Config   string
		RepoTags []string
	}
	if err := json.Unmarshal(mj, &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %v", err)
	}
	if len(entries) != 1 {
		return nil, fmt.Errorf("holds %d images; a package image archive holds exactly one", len(entries))
	}
	ia := &ImageArchive{RepoTags: entries[0].RepoTags, Config: entries[0].Config}
	cfg, ok := small[path.Clean(ia.Config)]
	if !ok {
		return nil, fmt.Errorf("image config %s is missing", ia.Config)
	}
	var c struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
		Config       struct {
			Entrypoint []string
			Cmd        []string
		} `json:"config"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return nil, fmt.Errorf("image config: %v", err)
	}
	ia.Architecture, ia.OS = c.Architecture, c.OS
	ia.Entrypoint, ia.Cmd = c.Config.Entrypoint, c.Config.Cmd
	return ia, nil
}

// Problem is one reason an archive fails Check.
type Problem struct {
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Message
	}
	return p.Path + ": " + p.Message
}

// Check does everything `start-sdk verify` reports on, reading the archive
// once: every file against its hash, the manifest's validation, the required
// files, an image archive for every image of every architecture, and each
// image's tag (start9/<id>/<image>:<version>) and architecture. Open has
// already checked the signature and tables of contents. progress, when set,
// is told the bytes read so far out of the total.
func (a *Archive) Check(progress func(done, total int64)) []Problem {
	var problems []Problem
	add := func(p, format string, args ...any) {
		problems = append(problems, Problem{Path: p, Message: fmt.Sprintf(format, args...)})
	}
	m := a.manifest
	if err := a.manifestErr; err != nil {
		var merr *manifest.Error
		if errors.As(err, &merr) {
			for _, p := range merr.Problems {
				add("manifest.json", "%s", p.String())
			}
		} else {
			add("manifest.json", "%v", err)
		}
	}
	if e := a.iconEntry(); e == nil {
		add("icon", "missing: the package needs icon.<png|jpg|svg|webp|gif>")
	} else if e.Size > maxSmallFile {
		add(e.Path, "is %d bytes; the limit is %d", e.Size, maxSmallFile)
	}
	for _, p := range []string{LicensePath, InstructionsPath} {
		if e, err := a.Stat(p); err != nil || e.Type != FileEntry {
			add(p, "missing")
		}
	}

	expected := map[string]Image{} // path -> image, for the tag check
	if m != nil {
		arches := a.Arches()
		if len(arches) == 0 {
			add(ImagesDir, "no images: the package needs images/<arch>/<image-id>.tar")
		}
		for _, arch := range arches {
			if !slices.Contains(manifest.Arches, arch) {
				add(ImagesDir+"/"+arch, "unknown architecture %q", arch)
			}
			if hw := m.HardwareRequirements.Arch; len(hw) > 0 && !slices.Contains(hw, arch) {
				add(ImagesDir+"/"+arch, "hardware-requirements.arch does not list %s", arch)
			}
			have := map[string]bool{}
			for _, img := range a.Images(arch) {
				have[img.ID] = true
				expected[img.Path] = img
			}
			for _, id := range m.ImageIDs() {
				if !have[id] {
					add(ImagesDir+"/"+arch+"/"+id+".tar", "missing: the manifest uses image %q", id)
				}
			}
			dir, _ := a.Stat(ImagesDir + "/" + arch)
			for _, c := range dir.Children {
				id, _ := strings.CutSuffix(c.Name, ".tar")
				if c.Type != FileEntry || !strings.HasSuffix(c.Name, ".tar") || !slices.Contains(m.ImageIDs(), id) {
					add(c.Path, "not an image of this package")
				}
			}
		}
		if dir := a.root.Child(AssetsDir); dir != nil {
			for _, c := range dir.Children {
				if v, ok := m.Volumes[c.Name]; !ok || v.Type != manifest.VolumeAssets {
					add(c.Path, "no assets volume %q in the manifest", c.Name)
				}
			}
		}
	}

	var total, done int64
	files := a.Files()
	for _, e := range files {
		total += e.Size
	}
	for _, e := range files {
		var err error
		if img, isImage := expected[e.Path]; isImage {
			var problem string
			problem, err = a.checkImage(e, img, m)
			if problem != "" {
				add(e.Path, "%s", problem)
			}
		} else {
			err = a.VerifyFile(e, nil)
		}
		if err != nil {
			add(e.Path, "%v", err)
		}
		done += e.Size
		if progress != nil {
			progress(done, total)
		}
	}
	return problems
}

// checkImage verifies an image archive and inspects it in the same pass. A
// problem with its contents comes back as text; err is a failed read or hash.
func (a *Archive) checkImage(e *Entry, img Image, m *manifest.Manifest) (problem string, err error) {
	pr, pw := io.Pipe()
	type result struct {
		ia  *ImageArchive
		err error
	}
	done := make(chan result, 1)
	go func() {
		ia, err := InspectImageArchive(pr)
		// Drain what the tar reader left so the writer never blocks.
		_, _ = io.Copy(io.Discard, pr)
		done <- result{ia, err}
	}()
	verr := a.VerifyFile(e, pw)
	pw.CloseWithError(verr)
	res := <-done
	switch {
	case verr != nil:
		return "", verr
	case res.err != nil:
		return "not a Docker image archive: " + res.err.Error(), nil
	}
	if want := manifest.DockerTag(m.ID, img.ID, m.Version); !slices.Contains(res.ia.RepoTags, want) {
		return fmt.Sprintf("image is tagged %q; want %s", res.ia.RepoTags, want), nil
	}
	if res.ia.Architecture != manifest.DockerArch(img.Arch) {
		return fmt.Sprintf("image is for %s/%s, not %s", res.ia.OS, res.ia.Architecture, manifest.DockerArch(img.Arch)), nil
	}
	return "", nil
}
