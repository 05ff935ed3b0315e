package install

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/hostpath"
	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/s9pk"
)

// op is one install or update in progress.
type op struct {
	in      *Installer
	j       *job
	jr      *journal
	tr      *tracker
	id      string
	m       *manifest.Manifest
	mjson   []byte
	sum     *s9pk.Summary
	file    *s9pk.File // the verified archive (upload file, later the archived one)
	preload *preloader // images loaded while the archive arrived
	src     string     // where the archive file is now
	old     *manifest.Manifest
	oldJSON []byte
	adopted bool
	opts    installOptions
	// prevPin is the developer key fingerprint pinned before this install
	// ("" for none), put back if the install is undone after finish.
	prevPin string
}

func (o *op) update() bool { return o.old != nil }

// install runs an install or update of the verified archive at tmp. It
// returns when the package is installed, or the box is back as it was.
func (in *Installer) install(ctx context.Context, tr *tracker, tmp string, sum *s9pk.Summary, opts installOptions, pl *preloader) (err error) {
	m := sum.Manifest
	id := m.ID
	j, jctx, err := in.begin(ctx, id, tr)
	if err != nil {
		os.Remove(tmp)
		tr.stop(err)
		return err
	}
	defer in.end(id, j)

	o := &op{in: in, j: j, tr: tr, id: id, m: m, mjson: sum.ManifestJSON, sum: sum, src: tmp, opts: opts, preload: pl}
	o.jr = &journal{ID: id, Kind: kindInstall, NewManifest: sum.ManifestJSON, Upload: tmp, path: in.journalPath(id)}
	err = o.run(jctx)
	if err == nil {
		return nil
	}
	if c := cause(jctx); c != nil && !errors.Is(err, errdefs.ErrCancelled) {
		err = fmt.Errorf("%w (%v)", asCancelled(c), err)
	}
	tr.stop(err)
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	if o.update() {
		in.undoUpdate(cctx, o.jr, true)
		err = fmt.Errorf("updating %s to %s: %w", id, m.Version, wrapKind(err, errdefs.ErrUpdateFailed))
		in.notify(cctx, model.NotificationInput{PackageID: id, Level: model.NotificationError, Title: "Update Failed",
			Message: fmt.Sprintf("%s %s was put back: %v", o.old.Title, o.old.Version, err)})
	} else {
		if o.adopted {
			if rerr := in.services.Release(cctx, id); rerr != nil {
				in.log.Warn("releasing a failed install", "package", id, "error", rerr)
			}
		}
		in.undoInstall(cctx, o.jr)
		err = fmt.Errorf("installing %s %s: %w", id, m.Version, wrapKind(err, errdefs.ErrInstallFailed))
		in.notify(cctx, model.NotificationInput{PackageID: id, Level: model.NotificationError, Title: "Install Failed",
			Message: err.Error()})
	}
	if o.file != nil {
		o.file.Close()
	}
	return err
}

// wrapKind adds kind to err unless err already carries a sentinel a client
// acts on.
func wrapKind(err, kind error) error {
	for _, k := range []error{errdefs.ErrCancelled, errdefs.ErrDependency, errdefs.ErrInvalidRequest, errdefs.ErrInvalidSignature, errdefs.ErrInstallFailed, errdefs.ErrUpdateFailed} {
		if errors.Is(err, k) {
			return err
		}
	}
	return fmt.Errorf("%w: %w", err, kind)
}

func (o *op) run(ctx context.Context) error {
	in, id := o.in, o.id
	// Flush the received archive to disk alongside the work below; the
	// commit waits for it, so an installed package's archive is durable.
	// The descriptor is opened now: the file is renamed into place below.
	synced := make(chan error, 1)
	if f, err := os.Open(o.src); err != nil {
		synced <- err
	} else {
		go func() {
			defer f.Close()
			synced <- f.Sync()
		}()
	}
	defer func() {
		if synced != nil {
			<-synced //nolint:errcheck // waited for, not judged: the install reports its own outcome
		}
	}()
	o.tr.start(PhaseValidating)
	f, err := s9pk.OpenFile(o.src, nil)
	if err != nil {
		return fmt.Errorf("reading the received archive: %w: %w", err, errdefs.ErrParseS9pk)
	}
	o.file = f
	defer func() {
		if o.file != nil {
			o.file.Close()
			o.file = nil
		}
	}()
	if err := o.createEntry(ctx); err != nil {
		return err
	}
	if err := o.jr.save(); err != nil {
		return err
	}
	o.tr.setID(id)
	if err := o.check(); err != nil {
		return err
	}
	o.tr.complete(PhaseValidating)

	o.tr.start(PhaseUnpacking)
	if !o.update() {
		if err := o.placeArchive(); err != nil {
			return err
		}
		if err := o.createVolumes(ctx); err != nil {
			return err
		}
	}
	o.tr.complete(PhaseUnpacking)

	o.tr.start(PhaseInstalling)
	if err := o.loadImages(ctx); err != nil {
		return err
	}
	if o.update() {
		if err := o.migrate(ctx); err != nil {
			return err
		}
	}
	err, synced = <-synced, nil
	if err != nil {
		return fmt.Errorf("writing the package file to disk: %v: %w", err, errdefs.ErrFilesystem)
	}
	if err := in.commit(ctx, o.j); err != nil {
		return err
	}
	o.tr.complete(PhaseInstalling)
	o.tr.stop(nil)
	return o.finish(ctx)
}

// createEntry adds packageData.<id> in installing, or moves an installed
// older version to updating.
func (o *op) createEntry(ctx context.Context) error {
	files, err := o.in.storeStaticFiles(o.id, o.file.Archive)
	if err != nil {
		return fmt.Errorf("package %s: %w", o.id, err)
	}
	devKey := "ed25519:" + base64.StdEncoding.EncodeToString(o.sum.PublicKey)
	fp := o.tr.snapshot()
	var old []byte
	_, err = o.in.store.Mutate(ctx, func(d *model.Document) error {
		old = nil
		if pf := o.in.preflight; pf != nil {
			if err := pf(d, o.m); err != nil {
				return err
			}
		}
		if d.Public.PackageData == nil {
			d.Public.PackageData = map[string]model.PackageDataEntry{}
		}
		e, exists := d.Public.PackageData[o.id]
		pinned := d.Private.PackageKeys[o.id]
		if pinned == "" && exists {
			pinned = devKeyFingerprint(e.DeveloperKey) // installed before pins were kept
		}
		if err := checkPin(o.id, pinned, KeyFingerprint(o.sum.PublicKey), o.opts.allowKeyChange); err != nil {
			return err
		}
		if !exists {
			d.Public.PackageData[o.id] = model.PackageDataEntry{
				StateInfo: model.StateInfo{State: model.PackageInstalling,
					InstallingInfo: &model.InstallingInfo{NewManifest: json.RawMessage(o.mjson), Progress: fp}},
				StatusInfo:          model.PackageStatusInfo{Health: map[string]model.HealthCheckResult{}, Desired: model.DesiredStatus{Main: model.DesiredStopped}},
				DeveloperKey:        devKey,
				Icon:                files.Icon,
				StaticFiles:         &files,
				CurrentDependencies: map[string]model.CurrentDependency{},
			}
			return nil
		}
		if e.StateInfo.State != model.PackageInstalled {
			return fmt.Errorf("package %s is %s; wait for that to finish: %w", o.id, e.StateInfo.State, errdefs.ErrInvalidRequest)
		}
		cur, _, err := manifest.ParseArchived(e.StateInfo.Manifest)
		if err != nil {
			return fmt.Errorf("package %s: the installed manifest does not read: %v: %w", o.id, err, errdefs.ErrUpdateFailed)
		}
		switch c := o.m.Version.Compare(cur.Version); {
		case c == 0:
			return fmt.Errorf("package %s %s is already installed: %w", o.id, cur.Version, errdefs.ErrDuplicate)
		case c < 0:
			return fmt.Errorf("package %s %s is installed; %s is older (downgrades are not supported; uninstall first): %w", o.id, cur.Version, o.m.Version, errdefs.ErrInvalidRequest)
		}
		old = e.StateInfo.Manifest
		e.StateInfo.State = model.PackageUpdating
		e.StateInfo.InstallingInfo = &model.InstallingInfo{NewManifest: json.RawMessage(o.mjson), Progress: fp}
		e.DeveloperKey = devKey
		d.Public.PackageData[o.id] = e
		return nil
	})
	if err != nil {
		// Nothing was created: the undo must not remove someone else's entry.
		o.jr.path = ""
		return err
	}
	if old != nil {
		o.oldJSON = old
		o.old, _, err = manifest.ParseArchived(old)
		if err != nil {
			return err
		}
		o.jr.Kind = kindUpdate
		o.jr.OldManifest = old
	}
	return nil
}

// check refuses a package the box cannot run, naming what is missing.
func (o *op) check() error {
	in, m := o.in, o.m
	// The archive's manifest was parsed and validated, but whatever becomes
	// a host path is checked again here, by the daemon's own rules.
	if err := hostpath.CheckManifest(m); err != nil {
		return fmt.Errorf("package %s is refused: %w", o.id, err)
	}
	if err := in.checkPorts(m); err != nil {
		return err
	}
	if hw := m.HardwareRequirements.Arch; len(hw) > 0 && !slices.Contains(hw, in.arch) {
		return fmt.Errorf("package %s runs on %s; this box is %s: %w", o.id, strings.Join(hw, ", "), in.arch, errdefs.ErrInstallFailed)
	}
	have := map[string]bool{}
	for _, img := range o.file.Images(in.arch) {
		have[img.ID] = true
	}
	var missing []string
	for _, id := range m.ImageIDs() {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		arches := o.file.Arches()
		return fmt.Errorf("package %s has no %s image for %s (it has images for: %s): %w",
			o.id, strings.Join(missing, ", "), in.arch, strings.Join(arches, ", "), errdefs.ErrInstallFailed)
	}
	if need := m.HardwareRequirements.RAM; need > 0 {
		total, err := in.ram()
		if err != nil {
			return fmt.Errorf("reading the memory size: %v: %w", err, errdefs.ErrInstallFailed)
		}
		if total < need {
			return fmt.Errorf("package %s needs %d MiB of RAM; this box has %d MiB: %w", o.id, need>>20, total>>20, errdefs.ErrInstallFailed)
		}
	}
	if err := in.checkDependencies(m); err != nil {
		return err
	}
	// Images already streamed into the engine need no more room.
	need := uint64(o.file.Size()*diskFactor - o.preload.streamed())
	if o.update() {
		vol, _ := dirSize(filepath.Join(in.dataDir, "volumes", o.id))
		need += uint64(vol)
	}
	return in.checkDisk(need)
}

// checkDependencies refuses a package whose required dependencies are not
// installed in a version in range.
func (in *Installer) checkDependencies(m *manifest.Manifest) error {
	_, doc := in.store.Read()
	var problems []string
	for _, dep := range sortedKeys(m.Dependencies) {
		d := m.Dependencies[dep]
		if d == nil || d.Requirement.Type != "required" {
			continue
		}
		e, ok := doc.Public.PackageData[dep]
		if !ok || e.StateInfo.State != model.PackageInstalled && e.StateInfo.State != model.PackageUpdating {
			problems = append(problems, fmt.Sprintf("%s (%s) is not installed", dep, d.Version))
			continue
		}
		dm, _, err := manifest.ParseArchived(e.StateInfo.Manifest)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: its manifest does not read", dep))
			continue
		}
		if !d.Version.IsZero() && !d.Version.Satisfies(dm.Version) {
			problems = append(problems, fmt.Sprintf("%s %s is installed, %s is required", dep, dm.Version, d.Version))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("package %s: required dependencies missing: %s: %w", m.ID, strings.Join(problems, "; "), errdefs.ErrDependency)
	}
	return nil
}

// checkDisk refuses when the data dir has less than need bytes free (plus a
// margin).
func (in *Installer) checkDisk(need uint64) error {
	free, err := in.free(in.dataDir)
	if err != nil {
		return fmt.Errorf("checking free disk space: %v: %w", err, errdefs.ErrInstallFailed)
	}
	if free < need+minFreeMargin {
		return fmt.Errorf("not enough disk space in %s: the package needs %d MiB, %d MiB are free: %w",
			in.dataDir, (need+minFreeMargin)>>20, free>>20, errdefs.ErrInstallFailed)
	}
	return nil
}

// placeArchive moves the verified upload to packages/<id>.s9pk (a fresh
// install; an update swaps archives only once its migration succeeded).
func (o *op) placeArchive() error {
	dst := o.in.archivePath(o.id)
	o.jr.Archived = true
	if err := o.jr.save(); err != nil {
		return err
	}
	if err := os.Rename(o.src, dst); err != nil {
		return fmt.Errorf("archiving the package as %s: %v: %w", dst, err, errdefs.ErrFilesystem)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("archiving the package as %s: syncing its folder: %v: %w", dst, err, errdefs.ErrFilesystem)
	}
	o.src = dst
	o.jr.Upload = ""
	return o.jr.save()
}

// createVolumes creates the data volume folders and unpacks the assets
// volumes. Folders that exist already (a soft uninstall kept them) are
// reused and never removed by an undo.
func (o *op) createVolumes(ctx context.Context) error {
	root := filepath.Join(o.in.dataDir, "volumes", o.id)
	if err := o.mkdir(root); err != nil {
		return err
	}
	for _, vid := range sortedKeys(o.m.Volumes) {
		v := o.m.Volumes[vid]
		if v == nil || (v.Type != manifest.VolumeData && v.Type != manifest.VolumeAssets) {
			continue
		}
		dir := o.in.volumeDir(o.id, vid)
		if v.Type == manifest.VolumeAssets {
			// Assets come from the archive: replace whatever is there.
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("replacing assets volume %s: %v: %w", dir, err, errdefs.ErrFilesystem)
			}
		}
		if err := o.mkdir(dir); err != nil {
			return err
		}
		if v.Type == manifest.VolumeAssets {
			if err := unpackAssets(ctx, o.file.Archive, vid, dir); err != nil {
				return err
			}
		}
	}
	return nil
}

// mkdir creates dir if it does not exist, journalling that it did.
func (o *op) mkdir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	o.jr.CreatedDirs = append(o.jr.CreatedDirs, dir)
	if err := o.jr.save(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating volume folder %s: %v: %w", dir, err, errdefs.ErrFilesystem)
	}
	return nil
}

// unpackAssets writes the archive's assets/<vol>/... into dir.
func unpackAssets(ctx context.Context, a *s9pk.Archive, vol, dir string) error {
	prefix := s9pk.AssetsDir + "/" + vol + "/"
	for _, e := range a.Files() {
		rel, ok := strings.CutPrefix(e.Path, prefix)
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		if !strings.HasPrefix(dst, dir+string(filepath.Separator)) {
			return fmt.Errorf("assets path %q leaves its volume: %w", e.Path, errdefs.ErrParseS9pk)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("unpacking %s: %v: %w", e.Path, err, errdefs.ErrFilesystem)
		}
		r, err := a.Open(e.Path)
		if err != nil {
			return fmt.Errorf("unpacking %s: %w", e.Path, err)
		}
		err = writeFile(dst, r)
		r.Close()
		if err != nil {
			return fmt.Errorf("unpacking %s: %v: %w", e.Path, err, errdefs.ErrFilesystem)
		}
	}
	return nil
}

func writeFile(dst string, r io.Reader) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// countingReader reports bytes read to the tracker.
type countingReader struct {
	r     io.Reader
	tr    *tracker
	done  *uint64
	total int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.done += uint64(n)
	c.tr.bytes(PhaseInstalling, *c.done, c.total)
	return n, err
}

// loadImages names the package's images for this architecture in the
// engine. Each was loaded while it arrived (see preloader), untagged and
// unused until now; one that was not (an empty file) is loaded now,
// straight from the archive file: its bytes were verified as they arrived
// and the file is the daemon's own.
func (o *op) loadImages(ctx context.Context) error {
	in := o.in
	imgs := o.file.Images(in.arch)
	var total int64
	for _, img := range imgs {
		total += img.Size
	}
	var done uint64
	for _, img := range imgs {
		if !slices.Contains(o.m.ImageIDs(), img.ID) {
			continue
		}
		tag := manifest.DockerTag(o.id, img.ID, o.m.Version)
		if _, err := in.engine.Inspect(ctx, tag); err == nil {
			// Already in the engine (a leftover, or the same tag rebuilt):
			// load over it but do not claim it for removal.
		} else if errors.Is(err, errdefs.ErrNotFound) {
			o.jr.LoadedImages = append(o.jr.LoadedImages, tag)
			if err := o.jr.save(); err != nil {
				return err
			}
		} else {
			return fmt.Errorf("image %s: %w", img.ID, err)
		}
		refs, preloaded, err := o.preload.result(ctx, img.ID)
		if !preloaded {
			refs, err = o.loadFromArchive(ctx, img, &done, total)
		}
		if err != nil {
			if c := cause(ctx); c != nil {
				return asCancelled(c)
			}
			return fmt.Errorf("loading image %s (%s): %w: %w", img.ID, img.Path, err, errdefs.ErrInstallFailed)
		}
		if len(refs) != 1 {
			return fmt.Errorf("image %s: the image archive holds %d images (%s); want one: %w", img.ID, len(refs), strings.Join(refs, ", "), errdefs.ErrInstallFailed)
		}
		if err := in.engine.Tag(ctx, refs[0], tag); err != nil {
			return fmt.Errorf("image %s: %w", img.ID, err)
		}
		if err := cause(ctx); err != nil {
			return err
		}
	}
	return nil
}

// loadFromArchive loads one image from the archive file, without the names
// the archive gives it: those could be another package's tag. The daemon
// names it.
func (o *op) loadFromArchive(ctx context.Context, img s9pk.Image, done *uint64, total int64) ([]string, error) {
	e, err := o.file.Stat(img.Path)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(o.src)
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, errdefs.ErrFilesystem)
	}
	defer f.Close()
	r := &countingReader{r: io.NewSectionReader(f, e.Pos, e.Size), tr: o.tr, done: done, total: total}
	return o.in.engine.LoadUntagged(ctx, r)
}

// finish records the package as installed and hands it to the services.
func (o *op) finish(ctx context.Context) error {
	in := o.in
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()
	_, err := in.store.Mutate(cctx, func(d *model.Document) error {
		e, ok := d.Public.PackageData[o.id]
		if !ok {
			return fmt.Errorf("package %s: the entry vanished during the install: %w", o.id, errdefs.ErrInstallFailed)
		}
		e.StateInfo = model.StateInfo{State: model.PackageInstalled, Manifest: json.RawMessage(o.mjson)}
		e.S9pk = in.archivePath(o.id)
		if o.opts.registry != "" {
			reg := o.opts.registry
			e.Registry = &reg
		}
		if d.Private.PackageKeys == nil {
			d.Private.PackageKeys = map[string]string{}
		}
		o.prevPin = d.Private.PackageKeys[o.id]
		d.Private.PackageKeys[o.id] = KeyFingerprint(o.sum.PublicKey)
		// A fresh install starts, unless the package needs its config
		// first (it then shows needs-config until one is saved).
		if !o.update() && o.m.Config == nil {
			e.StatusInfo.Desired = model.DesiredStatus{Main: model.DesiredRunning}
		}
		d.Public.PackageData[o.id] = e
		return nil
	})
	if err != nil {
		return err
	}
	if o.file != nil {
		o.file.Close()
		o.file = nil
	}
	o.adopted = true
	if err := in.services.Adopt(cctx, o.id); err != nil {
		// Put the entry back in its in-between state, so that a crash during
		// the undo is undone by the next New.
		if uerr := in.mutateRetry(cctx, "putting the entry back after a failed start", func(d *model.Document) error {
			if o.prevPin == "" {
				delete(d.Private.PackageKeys, o.id)
			} else {
				d.Private.PackageKeys[o.id] = o.prevPin
			}
			e, ok := d.Public.PackageData[o.id]
			if !ok {
				return nil
			}
			if o.update() {
				e.StateInfo = model.StateInfo{State: model.PackageUpdating, Manifest: json.RawMessage(o.oldJSON),
					InstallingInfo: &model.InstallingInfo{NewManifest: json.RawMessage(o.mjson), Progress: o.tr.snapshot()}}
			} else {
				e.StateInfo = model.StateInfo{State: model.PackageInstalling,
					InstallingInfo: &model.InstallingInfo{NewManifest: json.RawMessage(o.mjson), Progress: o.tr.snapshot()}}
			}
			d.Public.PackageData[o.id] = e
			return nil
		}); uerr != nil {
			in.log.Error("putting the entry back after a failed start", "package", o.id, "error", uerr)
		}
		return fmt.Errorf("starting the service: %w", err)
	}
	if o.update() {
		in.finishUpdate(cctx, o.jr)
	}
	o.jr.remove()
	in.log.Info("package installed", "package", o.id, "version", o.m.Version.String())
	return nil
}

// undoInstall removes everything a fresh install created: the entry, the
// images it loaded, the archive, the folders it created and the upload.
func (in *Installer) undoInstall(ctx context.Context, jr *journal) {
	if jr.path == "" {
		os.Remove(jr.Upload)
		return
	}
	for _, tag := range jr.LoadedImages {
		if err := in.engine.Remove(ctx, tag, true); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
			in.log.Warn("removing the image of a failed install", "image", tag, "error", err)
		}
	}
	if jr.Archived {
		os.Remove(in.archivePath(jr.ID))
	}
	if jr.Upload != "" {
		os.Remove(jr.Upload)
	}
	dirs := slices.Clone(jr.CreatedDirs)
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			in.log.Warn("removing a volume folder of a failed install", "path", d, "error", err)
		}
	}
	err := in.mutateRetry(ctx, "removing the entry of a failed install", func(d *model.Document) error {
		if e, ok := d.Public.PackageData[jr.ID]; ok && e.StateInfo.State == model.PackageInstalling {
			delete(d.Public.PackageData, jr.ID)
		}
		return nil
	})
	if err != nil {
		in.log.Error("removing the entry of a failed install", "package", jr.ID, "error", err)
		return // keep the journal: the next start finishes the undo
	}
	jr.remove()
}
