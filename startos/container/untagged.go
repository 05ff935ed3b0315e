package container

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/startos-go/startos/startos/errdefs"
)

// maxImageIndex bounds the manifest.json, index.json and repositories
// files of an image archive, which are read into memory to be rewritten.
const maxImageIndex = 4 << 20

// LoadUntagged loads a docker save (or OCI) archive from an untrusted source
// with every name it carries removed, and returns the ids it created. An
// archive names the tags its images get; loaded as it is, a package's image
// could take another package's tag (start9/<other>/main:<version>) or any
// other image's, and run in its place. The caller tags what it loaded.
func (c *Client) LoadUntagged(ctx context.Context, r io.Reader) ([]string, error) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pw.CloseWithError(stripNames(r, pw))
	}()
	refs, err := c.Load(ctx, pr)
	pr.CloseWithError(errors.New("load finished"))
	<-done
	if err != nil {
		return nil, err
	}
	for _, ref := range refs {
		if !isImageID(ref) {
			return nil, fmt.Errorf("docker load: the engine named an image %q although the archive had its names removed: %w", ref, errdefs.ErrDocker)
		}
	}
	return refs, nil
}

func isImageID(ref string) bool {
	const prefix = "sha256:"
	return len(ref) == len(prefix)+64 && ref[:len(prefix)] == prefix
}

// stripNames copies the tar archive r to w, without the legacy
// "repositories" file, with the RepoTags of manifest.json emptied and the
// image-name annotations of an OCI index.json removed.
func stripNames(r io.Reader, w io.Writer) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	buf := make([]byte, 1<<20)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("image archive: %v: %w", err, errdefs.ErrInvalidRequest)
		}
		name := path.Clean(h.Name)
		var rewrite func([]byte) ([]byte, error)
		switch name {
		case "repositories":
			continue
		case "manifest.json":
			rewrite = stripRepoTags
		case "index.json":
			rewrite = stripIndexNames
		}
		if rewrite == nil || h.Typeflag != tar.TypeReg {
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			// Through a large buffer (hiding tw's ReadFrom, which copies
			// 32 KiB at a time): each write into the pipe to the engine
			// wakes its reader, so fewer writes cost less.
			if _, err := io.CopyBuffer(struct{ io.Writer }{tw}, tr, buf); err != nil {
				return err
			}
			continue
		}
		if h.Size > maxImageIndex {
			return fmt.Errorf("image archive: %s is %d bytes; the limit is %d: %w", name, h.Size, maxImageIndex, errdefs.ErrInvalidRequest)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		if b, err = rewrite(b); err != nil {
			return fmt.Errorf("image archive: %s: %v: %w", name, err, errdefs.ErrInvalidRequest)
		}
		h.Size = int64(len(b))
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
}

// stripRepoTags empties RepoTags in a docker save manifest.json, keeping
// every other field as it is.
func stripRepoTags(b []byte) ([]byte, error) {
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, err
	}
	for _, e := range entries {
		e["RepoTags"] = json.RawMessage("null")
	}
	return json.Marshal(entries)
}

// ociNameAnnotations name the image an OCI index entry is loaded as.
var ociNameAnnotations = []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"}

// stripIndexNames removes the image-name annotations of an OCI index.json.
func stripIndexNames(b []byte) ([]byte, error) {
	var index map[string]json.RawMessage
	if err := json.Unmarshal(b, &index); err != nil {
		return nil, err
	}
	raw, ok := index["manifests"]
	if !ok {
		return b, nil
	}
	var manifests []map[string]json.RawMessage
	err := json.Unmarshal(raw, &manifests)
	if err != nil {
		return nil, err
	}
	for _, m := range manifests {
		ann, ok := m["annotations"]
		if !ok {
			continue
		}
		var a map[string]string
		if err := json.Unmarshal(ann, &a); err != nil {
			return nil, err
		}
		for _, k := range ociNameAnnotations {
			delete(a, k)
		}
		if m["annotations"], err = json.Marshal(a); err != nil {
			return nil, err
		}
	}
	if index["manifests"], err = json.Marshal(manifests); err != nil {
		return nil, err
	}
	return json.Marshal(index)
}
