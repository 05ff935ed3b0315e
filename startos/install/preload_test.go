package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/startos-go/startos/internal/testpkg"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/s9pk"
)

// preloads records what the installer's preloads loaded.
type preloads struct {
	mu   sync.Mutex
	refs map[string][]string
	errs map[string]error
}

func watchPreloads(in *Installer) *preloads {
	p := &preloads{refs: map[string][]string{}, errs: map[string]error{}}
	in.preloaded = func(image string, refs []string, err error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.refs[image], p.errs[image] = refs, err
	}
	return p
}

func (p *preloads) get(image string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refs[image], p.errs[image]
}

// paddedImage is a valid docker-save archive followed by pad zero bytes,
// which a load ignores: it lets the engine finish loading an image while
// the rest of the image file is still arriving.
func paddedImage(t *testing.T, e *env, spec testpkg.Options, pad int) []byte {
	t.Helper()
	img, err := e.b.Image(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return append(img, make([]byte, pad)...)
}

// An image is loaded while its archive arrives. When the archive then fails
// verification, the install fails and the image it loaded is removed: the
// box is left as it was. The image file here ends in padding longer than
// all the preload buffers, so the engine has finished loading the image
// (from the tar before the padding) before the receive reaches the flipped
// byte and the end of the file, where the hash fails.
func TestPreloadedImageRemovedWhenVerificationFails(t *testing.T) {
	e := newEnv(t, nil)
	watch := watchPreloads(e.in)
	spec := testpkg.Options{ID: testID(), Version: "0.1.0"}
	m, err := testpkg.NewManifest(spec)
	if err != nil {
		t.Fatal(err)
	}
	e.cleanupImages(m)
	pad := preloadBuffers*preloadBuffer + 4<<20
	img := paddedImage(t, e, spec, pad)
	path := filepath.Join(t.TempDir(), "padded.s9pk")
	if _, err := e.b.Archive(context.Background(), path, spec, img, ""); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s9pk.Open(bytes.NewReader(good), int64(len(good)), nil)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := a.Stat(s9pk.ImagesDir + "/" + e.opts.Arch + "/" + manifest.MainImage + ".tar")
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(good)
	bad[entry.Pos+entry.Size-int64(pad)/2] ^= 0x01 // in the padding: the engine never reads it

	res, _ := e.in.Sideload(context.Background())
	err = e.in.Receive(context.Background(), res.Upload, bytes.NewReader(bad), int64(len(bad)))
	if !errors.Is(err, errdefs.ErrParseS9pk) || !strings.Contains(err.Error(), "failed verification") {
		t.Fatalf("tampered archive: %v", err)
	}
	refs, lerr := watch.get(manifest.MainImage)
	if lerr != nil || len(refs) != 1 {
		t.Fatalf("the engine did not load the image before verification failed (refs %v, error %v): the test proves nothing", refs, lerr)
	}
	if _, err := e.eng.Inspect(context.Background(), refs[0]); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("image %s loaded from the tampered archive is still in the engine: %v", refs[0], err)
	}
	e.assertPristine(m.ID, "0.1.0")
	e.wantFailureNotice("Install Failed", "failed verification")

	// The same archive untouched installs, from its preloaded image.
	if err := e.in.Receive(context.Background(), mustUpload(t, e), bytes.NewReader(good), int64(len(good))); err != nil {
		t.Fatal(err)
	}
	refs, _ = watch.get(manifest.MainImage)
	got, err := e.eng.Inspect(context.Background(), manifest.DockerTag(m.ID, manifest.MainImage, m.Version))
	if err != nil || len(refs) != 1 || got.ID != refs[0] {
		t.Fatalf("installed image %+v (%v), preloaded %v", got, err, refs)
	}
}

// A package refused after its images were loaded (here: by its developer
// key pin) leaves no image behind either.
func TestPreloadedImageRemovedWhenRefused(t *testing.T) {
	e := newEnv(t, nil)
	watch := watchPreloads(e.in)
	id := testID()
	e.mustSideload(e.pkg(testpkg.Options{ID: id, Version: "0.1.0"}))

	// 0.2.0 signed by another developer: the pin refuses it, after its
	// image has arrived and been loaded.
	other, err := testpkg.NewBuilder(e.eng)
	if err != nil {
		t.Fatal(err)
	}
	spec := testpkg.Options{ID: id, Version: "0.2.0"}
	m, err := testpkg.NewManifest(spec)
	if err != nil {
		t.Fatal(err)
	}
	e.cleanupImages(m)
	path := filepath.Join(t.TempDir(), "other.s9pk")
	if _, err := other.Archive(context.Background(), path, spec, nil, ""); err != nil {
		t.Fatal(err)
	}
	err = e.sideload(path)
	if !errors.Is(err, errdefs.ErrInvalidSignature) {
		t.Fatalf("update signed by another key: %v", err)
	}
	refs, lerr := watch.get(manifest.MainImage)
	if lerr != nil || len(refs) != 1 {
		t.Fatalf("the image was not preloaded (refs %v, error %v)", refs, lerr)
	}
	if _, err := e.eng.Inspect(context.Background(), refs[0]); !errors.Is(err, errdefs.ErrNotFound) {
		t.Errorf("image %s of the refused update is still in the engine: %v", refs[0], err)
	}
	if v := e.installedVersion(id); v != "0.1.0" {
		t.Errorf("installed version %s after the refused update", v)
	}
	if !e.imageExists(manifest.DockerTag(id, manifest.MainImage, manifest.MustParseVersion("0.1.0"))) {
		t.Error("the installed version's image went with the refused update's")
	}
}

func mustUpload(t *testing.T, e *env) string {
	t.Helper()
	res, err := e.in.Sideload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res.Upload
}

// An image archive changed where the engine does not look (a tar header's
// modification time, its checksum fixed up) is one the engine loads, but it
// fails the archive's hash at the end of the file: the install fails and
// leaves no image. (The engine gets the end of an image only after its hash
// matched, so here it never finishes the load: see TestPreloadHoldsBackTheEnd.)
func TestTamperedImageNeverLoads(t *testing.T) {
	e := newEnv(t, nil)
	watch := watchPreloads(e.in)
	spec := testpkg.Options{ID: testID(), Version: "0.1.0"}
	m, err := testpkg.NewManifest(spec)
	if err != nil {
		t.Fatal(err)
	}
	e.cleanupImages(m)
	img, err := e.b.Image(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "p.s9pk")
	if _, err := e.b.Archive(context.Background(), path, spec, img, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The image's first tar header: bump its mtime's last octal digit and
	// recompute the header checksum.
	at := bytes.Index(b, img[:512])
	if at < 0 {
		t.Fatal("image not found in the archive")
	}
	hdr := b[at : at+512]
	hdr[136+10] ^= 0x01 // '0'<->'1', ... stays an octal digit
	copy(hdr[148:156], "        ")
	var sum int
	for _, c := range hdr {
		sum += int(c)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))

	res, _ := e.in.Sideload(context.Background())
	err = e.in.Receive(context.Background(), res.Upload, bytes.NewReader(b), int64(len(b)))
	if !errors.Is(err, errdefs.ErrParseS9pk) || !strings.Contains(err.Error(), "failed verification") {
		t.Fatalf("tampered archive: %v", err)
	}
	if refs, lerr := watch.get(manifest.MainImage); lerr == nil || len(refs) > 0 {
		t.Errorf("the engine loaded %v from the tampered image (error %v)", refs, lerr)
	}
	e.assertPristine(m.ID, "0.1.0")

	// The change is one the engine accepts.
	refs, err := e.eng.LoadUntagged(context.Background(), bytes.NewReader(b[at:at+len(img)]))
	if err != nil || len(refs) != 1 {
		t.Fatalf("the engine refuses the tampered image archive (%v, %v): the test proves nothing", refs, err)
	}
	if err := e.eng.Remove(context.Background(), refs[0], true); err != nil {
		t.Error(err)
	}
}

// The load gets an image's last holdBack bytes only once the image has
// matched its hash: an abandoned image's load never sees its end, a
// verified one's sees every byte, in order.
func TestPreloadHoldsBackTheEnd(t *testing.T) {
	data := make([]byte, 3*holdBack+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, verified := range []bool{false, true} {
		for _, chunk := range []int{1 << 20, holdBack - 1, 1000} {
			l, pr := newPreload(int64(len(data)))
			got := make(chan []byte)
			go func() {
				b, _ := io.ReadAll(pr)
				got <- b
			}()
			for p := data; len(p) > 0; {
				k := min(chunk, len(p))
				if _, err := l.Write(p[:k]); err != nil {
					t.Fatal(err)
				}
				p = p[k:]
			}
			if verified {
				if err := l.Verified(); err != nil {
					t.Fatal(err)
				}
			} else {
				l.abandon()
			}
			<-l.fed
			b := <-got
			switch {
			case verified && !bytes.Equal(b, data):
				t.Errorf("chunk %d, verified: the load got %d of %d bytes, or other bytes", chunk, len(b), len(data))
			case !verified && (len(b) > len(data)-holdBack || !bytes.Equal(b, data[:len(b)])):
				t.Errorf("chunk %d, abandoned: the load got %d bytes, %d of them from the end it must not see", chunk, len(b), max(0, len(b)-(len(data)-holdBack)))
			}
		}
	}
}
