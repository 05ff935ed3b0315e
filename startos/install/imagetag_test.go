package install

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/manifest"
)

// retag rewrites the RepoTags of a docker save archive.
func retag(t *testing.T, img []byte, tags ...string) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(img))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" {
			var entries []map[string]any
			if err := json.Unmarshal(b, &entries); err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				e["RepoTags"] = tags
			}
			b, _ = json.Marshal(entries)
			h.Size = int64(len(b))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	return out.Bytes()
}

// A package's image archive names the tags it is loaded as. One naming
// another package's image (start9/<victim>/main:<version>) must not replace
// that image: the installer loads archives without their names and tags
// the image itself.
func TestImageArchiveCannotTakeAnotherPackagesTag(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	victim := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: victim, Version: "0.1.0"}))
	victimTag := manifest.DockerTag(victim, manifest.MainImage, manifest.MustParseVersion("0.1.0"))
	before, err := e.eng.Inspect(ctx, victimTag)
	if err != nil {
		t.Fatal(err)
	}

	attacker := testpkg.Options{ID: testID(), Version: "0.1.0"}
	img, err := e.b.Image(ctx, attacker)
	if err != nil {
		t.Fatal(err)
	}
	attackerTag := manifest.DockerTag(attacker.ID, manifest.MainImage, manifest.MustParseVersion("0.1.0"))
	path := filepath.Join(t.TempDir(), "attacker.s9pk")
	m, err := e.b.Archive(ctx, path, attacker, retag(t, img, victimTag, attackerTag), "")
	if err != nil {
		t.Fatal(err)
	}
	e.cleanupImages(m)
	e.mustSideload(path)

	after, err := e.eng.Inspect(ctx, victimTag)
	if err != nil {
		t.Fatal(err)
	}
	if after.ID != before.ID {
		t.Fatalf("the attacker's image took %s: %s, was %s", victimTag, after.ID, before.ID)
	}
	mine, err := e.eng.Inspect(ctx, attackerTag)
	if err != nil {
		t.Fatal(err)
	}
	if mine.ID == before.ID {
		t.Errorf("%s is the victim's image", attackerTag)
	}
}
