package install

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/startos-go/startos/startos/db"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

// Phase names, as StartOS shows them in progress.phases.
const (
	PhaseUploading   = "Uploading"
	PhaseDownloading = "Downloading"
	PhaseValidating  = "Validating"
	PhaseUnpacking   = "Unpacking"
	PhaseInstalling  = "Installing"
	PhaseUpdating    = "Updating"
)

// publishEvery throttles document writes and stream frames (StartOS streams
// progress at 200 ms intervals).
const publishEvery = 200 * time.Millisecond

// progressFeedSize bounds each progress subscriber's queue.
const progressFeedSize = 64

// tracker holds one install's FullProgress. Setters only mark it dirty; a
// goroutine owned by the tracker writes it to the document and to
// subscribers at most every publishEvery, so a byte counter can call it as
// often as it likes.
type tracker struct {
	store *db.Store
	log   hclog.Logger

	mu    sync.Mutex
	id    string // package id; "" until the manifest is known
	fp    model.FullProgress
	dirty bool
	subs  []*feed.Feed[model.FullProgress]

	kick chan struct{}
	quit chan struct{}
	done chan struct{}
}

func newTracker(store *db.Store, log hclog.Logger, phases ...string) *tracker {
	t := &tracker{
		store: store, log: log,
		kick: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	t.fp.Overall = model.Progress{Kind: model.ProgressIndeterminate}
	for _, p := range phases {
		t.fp.Phases = append(t.fp.Phases, model.NamedProgress{Name: p})
	}
	go t.run()
	return t
}

// setID tells the tracker which package entry to write to.
func (t *tracker) setID(id string) {
	t.mu.Lock()
	t.id = id
	t.dirty = true
	t.mu.Unlock()
}

// set changes one phase. A phase change is published at once; byte counts
// wait for the next tick.
func (t *tracker) set(phase string, p model.Progress) {
	t.mu.Lock()
	now := false
	for i := range t.fp.Phases {
		if t.fp.Phases[i].Name == phase {
			now = t.fp.Phases[i].Progress.Kind != p.Kind
			t.fp.Phases[i].Progress = p
		}
	}
	t.recomputeLocked()
	t.dirty = true
	t.mu.Unlock()
	if now {
		select {
		case t.kick <- struct{}{}:
		default:
		}
	}
}

func (t *tracker) start(phase string) {
	t.set(phase, model.Progress{Kind: model.ProgressIndeterminate})
}

func (t *tracker) complete(phase string) {
	t.set(phase, model.Progress{Kind: model.ProgressComplete})
}

func (t *tracker) bytes(phase string, done uint64, total int64) {
	p := model.Progress{Kind: model.ProgressMeasured, Done: done, Units: "bytes"}
	if total >= 0 {
		tot := uint64(total)
		p.Total = &tot
	}
	t.set(phase, p)
}

// recomputeLocked sets overall as done phases out of all phases.
func (t *tracker) recomputeLocked() {
	total := uint64(len(t.fp.Phases))
	var done uint64
	for _, ph := range t.fp.Phases {
		if ph.Progress.Kind == model.ProgressComplete {
			done++
		}
	}
	if done == total {
		t.fp.Overall = model.Progress{Kind: model.ProgressComplete}
		return
	}
	t.fp.Overall = model.Progress{Kind: model.ProgressMeasured, Done: done, Total: &total, Units: "steps"}
}

// snapshot returns a copy of the progress.
func (t *tracker) snapshot() model.FullProgress {
	t.mu.Lock()
	defer t.mu.Unlock()
	return copyProgress(t.fp)
}

func copyProgress(fp model.FullProgress) model.FullProgress {
	out := model.FullProgress{Overall: fp.Overall, Phases: append([]model.NamedProgress(nil), fp.Phases...)}
	return out
}

// subscribe returns the current progress and a feed of later values.
func (t *tracker) subscribe() (model.FullProgress, *feed.Feed[model.FullProgress]) {
	f := feed.New[model.FullProgress](progressFeedSize)
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.done:
		f.End(nil)
	default:
		t.subs = append(t.subs, f)
	}
	return copyProgress(t.fp), f
}

func (t *tracker) run() {
	defer close(t.done)
	tick := time.NewTicker(publishEvery)
	defer tick.Stop()
	for {
		select {
		case <-t.quit:
			return
		case <-tick.C:
		case <-t.kick:
		}
		t.publish()
	}
}

// publish writes a dirty progress to the document and the subscribers.
func (t *tracker) publish() {
	t.mu.Lock()
	if !t.dirty {
		t.mu.Unlock()
		return
	}
	t.dirty = false
	fp := copyProgress(t.fp)
	id := t.id
	subs := t.subs[:0]
	for _, f := range t.subs {
		if !f.Ended() {
			subs = append(subs, f)
		}
	}
	t.subs = subs
	live := append([]*feed.Feed[model.FullProgress](nil), subs...)
	t.mu.Unlock()

	for _, f := range live {
		f.Offer(copyProgress(fp))
	}
	if id == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := t.store.MutatePackage(ctx, id, func(e *model.PackageDataEntry) error {
		if e.StateInfo.InstallingInfo != nil {
			e.StateInfo.InstallingInfo.Progress = fp
		}
		return nil
	})
	if err != nil && !errors.Is(err, db.ErrNoPackage) {
		t.log.Warn("writing install progress", "package", id, "error", err)
	}
}

// stop ends the tracker's goroutine and every subscriber's feed with err
// (nil: the install finished).
func (t *tracker) stop(err error) {
	select {
	case <-t.quit:
	default:
		close(t.quit)
	}
	<-t.done
	t.mu.Lock()
	subs := t.subs
	t.subs = nil
	last := copyProgress(t.fp)
	t.mu.Unlock()
	for _, f := range subs {
		if err == nil {
			f.Offer(last)
		}
		f.End(err)
	}
}

// Progress returns the progress of the install or update of package id and
// a feed of its later values (throttled to one every 200 ms). The feed ends
// when the install ends: with feed.ErrSourceClosed after its last value when
// it succeeded, with the install's error when it failed.
func (in *Installer) Progress(id string) (model.FullProgress, *feed.Feed[model.FullProgress], error) {
	in.mu.Lock()
	j, ok := in.jobs[id]
	in.mu.Unlock()
	if !ok || j.progress == nil {
		return model.FullProgress{}, nil, fmt.Errorf("package %s: no install in progress: %w", id, errdefs.ErrNotFound)
	}
	fp, f := j.progress.subscribe()
	return fp, f, nil
}
