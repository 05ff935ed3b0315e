package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/startos-go/startos/startos/errdefs"
)

// Image is what the engine knows about an image.
type Image struct {
	ID           string
	RepoTags     []string
	Architecture string // Docker's name: amd64, arm64
	OS           string
	Entrypoint   []string
	Cmd          []string
	Size         int64
}

// Inspect describes an image by id or reference.
func (c *Client) Inspect(ctx context.Context, ref string) (Image, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	r, err := c.engine(ctx).ImageInspect(ctx, ref)
	if err != nil {
		return Image{}, c.wrap("inspect "+ref, err)
	}
	img := Image{ID: r.ID, RepoTags: r.RepoTags, Architecture: r.Architecture, OS: r.Os, Size: r.Size}
	if r.Config != nil {
		img.Entrypoint, img.Cmd = r.Config.Entrypoint, r.Config.Cmd
	}
	return img, nil
}

// Tag gives the image src the reference dst.
func (c *Client) Tag(ctx context.Context, src, dst string) error {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if err := c.engine(ctx).ImageTag(ctx, src, dst); err != nil {
		return c.wrap("tag "+src+" as "+dst, err)
	}
	return nil
}

// Remove deletes an image reference (and the image, when it was the last).
// force also removes an image other references or stopped containers use.
func (c *Client) Remove(ctx context.Context, ref string, force bool) error {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if _, err := c.engine(ctx).ImageRemove(ctx, ref, image.RemoveOptions{Force: force, PruneChildren: true}); err != nil {
		return c.wrap("remove "+ref, err)
	}
	return nil
}

// BuildOptions describe an image build.
type BuildOptions struct {
	// ContextDir is the folder sent to the engine; .dockerignore in it is
	// honoured.
	ContextDir string
	// Dockerfile is relative to ContextDir; default "Dockerfile".
	Dockerfile string
	Tags       []string
	BuildArgs  map[string]string
	Labels     map[string]string
	// Platform, such as "linux/arm64"; empty builds for the engine's own.
	Platform string
	NoCache  bool
}

// Build builds an image with the engine's classic builder, which needs no
// registry for FROM scratch images. The build's output lines go to progress
// (when not nil). It returns the image id.
func (c *Client) Build(ctx context.Context, opts BuildOptions, progress io.Writer) (string, error) {
	dockerfile := opts.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	ctx, cancel := c.transferCtx(ctx)
	defer cancel()

	pr, pw := io.Pipe()
	tarDone := make(chan error, 1)
	go func() {
		err := writeContext(pw, opts.ContextDir, dockerfile)
		pw.CloseWithError(err)
		tarDone <- err
	}()
	// However the build ends, stop the tar writer and wait for it.
	defer func() {
		pr.CloseWithError(errors.New("build ended"))
		<-tarDone //nolint:errcheck // the build already failed; the tar writer only has to stop
	}()

	args := make(map[string]*string, len(opts.BuildArgs))
	for k, v := range opts.BuildArgs {
		args[k] = &v
	}
	resp, err := c.engine(ctx).ImageBuild(ctx, pr, build.ImageBuildOptions{
		Tags:        opts.Tags,
		Dockerfile:  dockerfile,
		BuildArgs:   args,
		Labels:      opts.Labels,
		Platform:    opts.Platform,
		NoCache:     opts.NoCache,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		if terr := contextError(tarDone); terr != nil {
			return "", fmt.Errorf("docker build: packing the build context: %w", terr)
		}
		return "", c.wrap("build", err)
	}
	defer resp.Body.Close()
	id, err := readMessages(resp.Body, progress)
	if err != nil {
		if terr := contextError(tarDone); terr != nil {
			return "", fmt.Errorf("docker build: packing the build context: %w", terr)
		}
		return "", c.wrapStream("build", ctx, err)
	}
	if id == "" && len(opts.Tags) > 0 {
		img, err := c.Inspect(ctx, opts.Tags[0])
		if err != nil {
			return "", err
		}
		id = img.ID
	}
	return id, nil
}

// contextError returns the tar writer's error if it has already failed.
func contextError(done chan error) error {
	select {
	case err := <-done:
		done <- err
		return err
	default:
		return nil
	}
}

// wrapStream labels an error met while reading a response stream.
func (c *Client) wrapStream(op string, ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return c.wrap(op, ctx.Err())
	}
	var se *streamError
	if errors.As(err, &se) {
		return fmt.Errorf("docker %s: %s: %w", op, se.msg, errdefs.ErrDocker)
	}
	return c.wrap(op, err)
}

// streamError is an error the engine reported inside a response stream.
type streamError struct{ msg string }

func (e *streamError) Error() string { return e.msg }

// message is one JSON line of a build or load response.
type message struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux *struct {
		ID string `json:"ID"`
	} `json:"aux"`
}

// readMessages reads a response stream to its end. Failures arrive inside the
// stream, not as HTTP errors, so they must be looked for.
func readMessages(r io.Reader, out io.Writer) (auxID string, err error) {
	dec := json.NewDecoder(r)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return auxID, nil
		} else if err != nil {
			return auxID, err
		}
		if m.Error != "" || m.ErrorDetail != nil {
			msg := m.Error
			if msg == "" {
				msg = m.ErrorDetail.Message
			}
			return auxID, &streamError{msg: strings.TrimSpace(msg)}
		}
		if m.Aux != nil && m.Aux.ID != "" {
			auxID = m.Aux.ID
		}
		if out != nil {
			if m.Stream != "" {
				_, _ = io.WriteString(out, m.Stream)
			} else if m.Status != "" {
				_, _ = io.WriteString(out, m.Status+"\n")
			}
		}
	}
}

// Save streams a docker save archive of one image. The stream ends with an
// error if the transfer deadline passes; Close releases it.
func (c *Client) Save(ctx context.Context, ref string) (io.ReadCloser, error) {
	ctx, cancel := c.transferCtx(ctx)
	rc, err := c.engine(ctx).ImageSave(ctx, []string{ref})
	if err != nil {
		cancel()
		return nil, c.wrap("save "+ref, err)
	}
	return &saveStream{rc: rc, cancel: cancel, c: c, ctx: ctx, ref: ref}, nil
}

type saveStream struct {
	rc     io.ReadCloser
	cancel context.CancelFunc
	c      *Client
	ctx    context.Context
	ref    string
}

func (s *saveStream) Read(p []byte) (int, error) {
	n, err := s.rc.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		return n, s.c.wrapStream("save "+s.ref, s.ctx, err)
	}
	return n, err
}

func (s *saveStream) Close() error {
	err := s.rc.Close()
	s.cancel()
	return err
}

// SaveTo writes a docker save archive of one image to w.
func (c *Client) SaveTo(ctx context.Context, ref string, w io.Writer) (int64, error) {
	rc, err := c.Save(ctx, ref)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(w, rc)
}

// Load loads a docker save archive and returns the references (or ids) it
// created.
func (c *Client) Load(ctx context.Context, r io.Reader) ([]string, error) {
	ctx, cancel := c.transferCtx(ctx)
	defer cancel()
	resp, err := c.engine(ctx).ImageLoad(ctx, r, client.ImageLoadWithQuiet(true))
	if err != nil {
		return nil, c.wrap("load", err)
	}
	defer resp.Body.Close()
	var out strings.Builder
	if _, err := readMessages(resp.Body, &out); err != nil {
		return nil, c.wrapStream("load", ctx, err)
	}
	var refs []string
	for _, line := range strings.Split(out.String(), "\n") {
		for _, prefix := range []string{"Loaded image: ", "Loaded image ID: "} {
			if ref, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
				refs = append(refs, ref)
			}
		}
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("docker load: the engine loaded nothing (%q): %w", strings.TrimSpace(out.String()), errdefs.ErrDocker)
	}
	return refs, nil
}
