package install

import (
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"sync/atomic"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/s9pk"
)

// preloader loads a package's images into the engine while the archive is
// still arriving, so the upload and the engine's load overlap instead of
// following one another. The Verifier hands it each image of the box's
// architecture as the image's bytes come in, and it streams them into an
// untagged load (LoadUntagged: the archive names nothing).
//
// What it loads is not trusted: an untagged image is used by nothing, and
// loadImages tags one only after the whole archive has verified and the
// install has checked the package. release removes every image it loaded
// that is still untagged, so an archive that fails verification, or a
// package refused later, leaves no image behind. (A crash before release
// can leave an untagged image, as one between a load and its tag always
// could: image storage is disposable, and no package refers to it.)
//
// One install's receive loop drives it; it holds no lock.
type preloader struct {
	in    *Installer
	ctx   context.Context
	dir   string              // images/<arch>
	loads map[string]*preload // by image id
}

// holdBack is how much of an image's end the engine gets only once the
// whole image has matched its hash: with the end of its image archive
// missing, a load cannot finish from bytes that then fail verification.
// (A hostile archive can end its tar early; release removes what that
// loaded.)
const holdBack = 64 << 10

// preload is one image's load. The receive loop copies the image's bytes
// into a queue, which a feeder goroutine writes into the load's input, so
// the receive reads, hashes and writes the next bytes while the engine
// takes these.
type preload struct {
	size     int64
	received int64
	tail     []byte // the held-back end
	queue    chan []byte
	free     chan []byte // buffers back from the feeder
	buffers  int         // buffers made so far
	ended    bool        // the queue is closed

	pw        *io.PipeWriter
	abandoned atomic.Bool
	fed       chan struct{} // closed when the feeder has returned

	done chan struct{} // closed when the load has returned
	refs []string
	err  error
}

// preloadBuffers bound what waits for the engine: preloadBuffers buffers
// of preloadBuffer bytes per image.
const (
	preloadBuffers = 8
	preloadBuffer  = 1 << 20
)

func (in *Installer) newPreloader(ctx context.Context) *preloader {
	return &preloader{in: in, ctx: ctx, dir: s9pk.ImagesDir + "/" + in.arch, loads: map[string]*preload{}}
}

// sink is the Verifier's SinkFiles hook: it starts a load for each image of
// the box's architecture.
func (p *preloader) sink(e *s9pk.Entry) s9pk.FileSink {
	id, ok := strings.CutSuffix(path.Base(e.Path), ".tar")
	if !ok || path.Dir(e.Path) != p.dir || p.loads[id] != nil {
		return nil
	}
	l, pr := newPreload(e.Size)
	p.loads[id] = l
	go func() {
		defer close(l.done)
		l.refs, l.err = p.in.engine.LoadUntagged(p.ctx, pr)
		// Whatever still arrives for this image is dropped (see feed).
		pr.CloseWithError(errLoadEnded)
		if p.in.preloaded != nil {
			p.in.preloaded(id, l.refs, l.err)
		}
	}()
	return l
}

// newPreload starts the feeder of an image of size bytes; the load reads
// pr.
func newPreload(size int64) (l *preload, pr *io.PipeReader) {
	pr, pw := io.Pipe()
	l = &preload{
		size: size, pw: pw,
		queue: make(chan []byte, preloadBuffers), free: make(chan []byte, preloadBuffers),
		fed: make(chan struct{}), done: make(chan struct{}),
	}
	go l.feed()
	return l, pr
}

var (
	errLoadEnded = errors.New("the image load has ended")
	errAbandoned = errors.New("the install stopped receiving the image")
)

// Write queues the image's bytes for the load, keeping back its last
// holdBack bytes.
func (l *preload) Write(b []byte) (int, error) {
	n := len(b)
	pass := min(int64(n), max(0, l.size-holdBack-l.received))
	l.received += int64(n)
	l.enqueue(b[:pass])
	l.tail = append(l.tail, b[pass:]...)
	return n, nil
}

// Verified releases the end of the image and ends the load's input.
func (l *preload) Verified() error {
	l.enqueue(l.tail)
	l.tail = nil
	l.ended = true
	close(l.queue)
	return nil
}

func (l *preload) enqueue(b []byte) {
	for len(b) > 0 {
		var buf []byte
		select {
		case buf = <-l.free:
		default:
			if l.buffers < preloadBuffers {
				buf = make([]byte, min(preloadBuffer, l.size))
				l.buffers++
			} else {
				buf = <-l.free
			}
		}
		k := copy(buf[:cap(buf)], b)
		l.queue <- buf[:k]
		b = b[k:]
	}
}

// feed writes the queue into the load's input, then ends it. A load that
// has ended (failed, or finished before the end of its input) takes no
// more: the rest is dropped, and the load's own result says what happened.
// The receive goes on regardless, so the archive is still verified whole.
func (l *preload) feed() {
	defer close(l.fed)
	for b := range l.queue {
		if !l.abandoned.Load() {
			_, _ = l.pw.Write(b)
		}
		l.free <- b
	}
	if l.abandoned.Load() {
		l.pw.CloseWithError(errAbandoned)
	} else {
		l.pw.Close()
	}
}

// abandon cuts the load's input short, so the load fails unless it has
// already finished.
func (l *preload) abandon() {
	l.abandoned.Store(true)
	l.pw.CloseWithError(errAbandoned) // unblocks the feeder
	l.ended = true
	close(l.queue)
}

// streamed is the size of the images whose every byte has reached a load.
func (p *preloader) streamed() int64 {
	var n int64
	for _, l := range p.loads {
		if l.received == l.size {
			n += l.size
		}
	}
	return n
}

// result waits for image id's load and returns what it loaded; ok is false
// when the image was not preloaded.
func (p *preloader) result(ctx context.Context, id string) (refs []string, ok bool, err error) {
	l := p.loads[id]
	if l == nil {
		return nil, false, nil
	}
	select {
	case <-l.done:
		return l.refs, true, l.err
	case <-ctx.Done():
		return nil, true, cause(ctx)
	}
}

// release stops every load, waits for it, and removes each image a load
// created that nothing has tagged. It runs when the install has ended, in
// success or failure, and after the install's own undo.
func (p *preloader) release(ctx context.Context) {
	ctx, cancel := cleanupCtx(ctx)
	defer cancel()
	for id, l := range p.loads {
		if !l.ended {
			l.abandon()
		}
		<-l.fed
		<-l.done
		for _, ref := range l.refs {
			p.removeUntagged(ctx, id, ref)
		}
	}
}

// removeUntagged removes image ref if it has no name. Only then is it
// certainly not another package's: a load of an image the engine already
// has returns that image's id. The removal is not forced, so an image a
// container uses stays.
func (p *preloader) removeUntagged(ctx context.Context, id, ref string) {
	img, err := p.in.engine.Inspect(ctx, ref)
	if errors.Is(err, errdefs.ErrNotFound) {
		return
	}
	if err == nil && len(img.RepoTags) > 0 {
		return
	}
	if err == nil {
		err = p.in.engine.Remove(ctx, ref, false)
	}
	if err != nil && !errors.Is(err, errdefs.ErrNotFound) {
		p.in.log.Warn("removing an image loaded for an install that did not use it", "image", id, "ref", ref, "error", err)
	}
}
