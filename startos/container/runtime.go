package container

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/startos-go/startos/startos/errdefs"
)

// Mount binds a host folder into a container.
type Mount struct {
	Source   string // host path
	Target   string // path inside the container
	ReadOnly bool
}

// PortBinding publishes a container's TCP port on the host.
type PortBinding struct {
	HostIP        string // default 127.0.0.1: never all interfaces by accident
	HostPort      uint16 // 0: the engine chooses a free port (read it back from ContainerState.Ports)
	ContainerPort uint16
}

// Spec describes a container to create. Only fields the 1.41 API knows are
// used, so an old engine never silently drops one.
type Spec struct {
	Name       string
	Image      string
	Entrypoint []string
	Cmd        []string
	Env        []string
	Labels     map[string]string
	// Network is a user-defined network to attach to; "none" disables
	// networking; empty uses the engine's default bridge.
	Network string
	Mounts  []Mount
	Ports   []PortBinding
	// StopTimeout is how long a stop waits after SIGTERM before SIGKILL.
	StopTimeout time.Duration
	ShmSize     int64 // bytes; 0 is the engine's default
	// Init runs an init process as PID 1 that reaps zombies and forwards
	// signals.
	Init bool
	// Stdin keeps stdin open for one attach (one-off procedures).
	Stdin bool
	// Probe, when set, is a health check the engine runs in the container
	// itself; without one, any HEALTHCHECK of the image is switched off
	// (the daemon owns health).
	Probe *Probe
}

// Probe is a command the engine runs in a running container, as an exec,
// every Interval (the first an Interval after the start), each run ended
// after Timeout; it keeps the newest outcomes (see ContainerState.LastProbe).
// The daemon then reads results instead of running an exec for each, which
// costs it a few milliseconds of CPU every time.
type Probe struct {
	Cmd         []string
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
}

// MinProbeDuration is the engine's shortest probe interval, timeout and
// start period: it refuses to create a container with less.
const MinProbeDuration = time.Millisecond

// engineDurations is p as the engine keeps it: an interval, timeout or
// start period under MinProbeDuration is raised to it (a zero start period
// stays zero: none). A package's timeout or the daemon's grace may be that
// short, and must not make the container impossible to create.
func (p Probe) engineDurations() Probe {
	atLeast := func(d time.Duration) time.Duration {
		if d > 0 && d < MinProbeDuration {
			return MinProbeDuration
		}
		return d
	}
	p.Interval, p.Timeout, p.StartPeriod = atLeast(p.Interval), atLeast(p.Timeout), atLeast(p.StartPeriod)
	return p
}

// Equal reports whether p and q are the same probe (both nil included), as
// the engine would run them.
func (p *Probe) Equal(q *Probe) bool {
	if p == nil || q == nil {
		return p == q
	}
	a, b := p.engineDurations(), q.engineDurations()
	return slices.Equal(a.Cmd, b.Cmd) && a.Interval == b.Interval && a.Timeout == b.Timeout && a.StartPeriod == b.StartPeriod
}

// ProbeResult is one run of a container's probe. A run the engine ended at
// its timeout has ExitCode ProbeTimedOut.
type ProbeResult struct {
	ExitCode   int
	Output     string // stdout and stderr together, the engine keeps 4 KiB
	Start, End time.Time
}

// ProbeTimedOut is the exit code the engine records for a probe it ended at
// its timeout.
const ProbeTimedOut = -1

// checkSpec refuses options that would give a container the host: the
// host's or another container's network namespace, a bind source that is
// not a clean absolute path, or the host's root.
func checkSpec(s Spec) error {
	if n := s.Network; n == "host" || strings.HasPrefix(n, "container:") || n == "default" {
		return fmt.Errorf("network %q is not allowed: %w", n, errdefs.ErrInvalidRequest)
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) || filepath.Clean(m.Source) != m.Source || m.Source == "/" {
			return fmt.Errorf("bind source %q must be a clean absolute folder below /: %w", m.Source, errdefs.ErrInvalidRequest)
		}
		if !strings.HasPrefix(m.Target, "/") || strings.ContainsRune(m.Target, 0) {
			return fmt.Errorf("mount point %q must be an absolute path: %w", m.Target, errdefs.ErrInvalidRequest)
		}
	}
	return nil
}

// CreateContainer creates a container and returns its id. Warnings from the
// engine are returned in the error only when creation fails.
func (c *Client) CreateContainer(ctx context.Context, s Spec) (string, error) {
	if s.Image == "" {
		return "", fmt.Errorf("create container %q: no image: %w", s.Name, errdefs.ErrInvalidRequest)
	}
	if err := checkSpec(s); err != nil {
		return "", fmt.Errorf("create container %q: %w", s.Name, err)
	}
	cfg := &container.Config{
		Image:        s.Image,
		Entrypoint:   s.Entrypoint,
		Cmd:          s.Cmd,
		Env:          s.Env,
		Labels:       s.Labels,
		AttachStdout: s.Stdin,
		AttachStderr: s.Stdin,
		AttachStdin:  s.Stdin,
		OpenStdin:    s.Stdin,
		StdinOnce:    s.Stdin,
	}
	cfg.Healthcheck = &container.HealthConfig{Test: []string{"NONE"}}
	if p := s.Probe; p != nil {
		if len(p.Cmd) == 0 || p.Interval <= 0 || p.Timeout <= 0 || p.StartPeriod < 0 {
			return "", fmt.Errorf("create container %q: a probe needs a command, an interval and a timeout: %w", s.Name, errdefs.ErrInvalidRequest)
		}
		e := p.engineDurations()
		cfg.Healthcheck = &container.HealthConfig{
			Test:     append([]string{"CMD"}, p.Cmd...),
			Interval: e.Interval, Timeout: e.Timeout, StartPeriod: e.StartPeriod,
			Retries: 1, // the engine's healthy/unhealthy is not used; the daemon reads each outcome
		}
	}
	if s.StopTimeout > 0 {
		secs := int((s.StopTimeout + time.Second - 1) / time.Second)
		cfg.StopTimeout = &secs
	}
	hc := &container.HostConfig{
		ShmSize:   s.ShmSize,
		LogConfig: container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
	}
	if s.Init {
		hc.Init = &s.Init
	}
	if s.Network != "" {
		hc.NetworkMode = container.NetworkMode(s.Network)
	}
	for _, m := range s.Mounts {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	if len(s.Ports) > 0 {
		cfg.ExposedPorts = nat.PortSet{}
		hc.PortBindings = nat.PortMap{}
	}
	for _, p := range s.Ports {
		if p.ContainerPort == 0 {
			return "", fmt.Errorf("create container %q: port binding %d->%d: the container port must be 1-65535: %w", s.Name, p.HostPort, p.ContainerPort, errdefs.ErrInvalidRequest)
		}
		hostPort := ""
		if p.HostPort != 0 {
			hostPort = strconv.Itoa(int(p.HostPort))
		}
		ip := p.HostIP
		if ip == "" {
			ip = "127.0.0.1"
		}
		port := nat.Port(strconv.Itoa(int(p.ContainerPort)) + "/tcp")
		cfg.ExposedPorts[port] = struct{}{}
		hc.PortBindings[port] = append(hc.PortBindings[port], nat.PortBinding{HostIP: ip, HostPort: hostPort})
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	r, err := c.engine(ctx).ContainerCreate(ctx, cfg, hc, &network.NetworkingConfig{}, nil, s.Name)
	if err != nil {
		return "", c.wrap("create container "+s.Name, err)
	}
	return r.ID, nil
}

// StartContainer starts a created or stopped container.
func (c *Client) StartContainer(ctx context.Context, id string) error {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if err := c.engine(ctx).ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return c.wrap("start container "+id, err)
	}
	return nil
}

// StopContainer sends SIGTERM and, after timeout, SIGKILL; it returns once
// the container has stopped. The call's deadline is timeout plus the short
// call timeout, so a wedged engine cannot hold the caller forever.
func (c *Client) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	secs := int((timeout + time.Second - 1) / time.Second)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+c.call)
	defer cancel()
	if err := c.engine(ctx).ContainerStop(ctx, id, container.StopOptions{Timeout: &secs}); err != nil {
		return c.wrap("stop container "+id, err)
	}
	return nil
}

// KillContainer sends signal (default SIGKILL) to the container's main
// process.
func (c *Client) KillContainer(ctx context.Context, id, signal string) error {
	if signal == "" {
		signal = "SIGKILL"
	}
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if err := c.engine(ctx).ContainerKill(ctx, id, signal); err != nil {
		return c.wrap("kill container "+id, err)
	}
	return nil
}

// RemoveContainer removes a container, killing it first when force is set.
// A container that does not exist is ErrNotFound.
func (c *Client) RemoveContainer(ctx context.Context, id string, force bool) error {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	if err := c.engine(ctx).ContainerRemove(ctx, id, container.RemoveOptions{Force: force}); err != nil {
		return c.wrap("remove container "+id, err)
	}
	return nil
}

// ContainerState is what the engine knows about a container.
type ContainerState struct {
	ID         string
	Name       string
	Image      string // the reference it was created from
	ImageID    string
	Labels     map[string]string
	Status     string // created, running, paused, restarting, removing, exited, dead
	Running    bool
	ExitCode   int
	OOMKilled  bool
	Error      string // the engine's error starting it, if any
	StartedAt  time.Time
	FinishedAt time.Time
	// Ports maps each published container TCP port to its host address
	// (ip:port) while the container runs; the engine assigns them at start.
	Ports map[uint16]string
	// Probe is the probe the container was created with (nil: none), and
	// LastProbe the newest outcome the engine keeps of it (nil: none yet).
	// The engine keeps outcomes across restarts of the container: compare
	// Start with StartedAt.
	Probe     *Probe
	LastProbe *ProbeResult
}

// InspectContainer describes a container by id or name; ErrNotFound when
// there is none.
func (c *Client) InspectContainer(ctx context.Context, id string) (ContainerState, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	r, err := c.engine(ctx).ContainerInspect(ctx, id)
	if err != nil {
		return ContainerState{}, c.wrap("inspect container "+id, err)
	}
	st := ContainerState{ID: r.ID, ImageID: r.Image}
	if len(r.Name) > 0 {
		st.Name = r.Name[1:]
	}
	if r.Config != nil {
		st.Image, st.Labels = r.Config.Image, r.Config.Labels
		if h := r.Config.Healthcheck; h != nil && len(h.Test) > 1 && h.Test[0] == "CMD" {
			st.Probe = &Probe{Cmd: h.Test[1:], Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod}
		}
	}
	if s := r.State; s != nil {
		st.Status, st.Running, st.ExitCode, st.OOMKilled, st.Error = string(s.Status), s.Running, s.ExitCode, s.OOMKilled, s.Error
		st.StartedAt = parseEngineTime(s.StartedAt)
		st.FinishedAt = parseEngineTime(s.FinishedAt)
		if h := s.Health; h != nil && len(h.Log) > 0 {
			l := h.Log[len(h.Log)-1]
			st.LastProbe = &ProbeResult{ExitCode: l.ExitCode, Output: l.Output, Start: l.Start, End: l.End}
		}
	}
	if r.NetworkSettings != nil {
		for port, bindings := range r.NetworkSettings.Ports {
			if port.Proto() != "tcp" || len(bindings) == 0 {
				continue
			}
			if st.Ports == nil {
				st.Ports = map[uint16]string{}
			}
			b := bindings[0]
			ip := b.HostIP
			if ip == "" || ip == "0.0.0.0" {
				ip = "127.0.0.1"
			}
			st.Ports[uint16(port.Int())] = net.JoinHostPort(ip, b.HostPort)
		}
	}
	return st, nil
}

// parseEngineTime reads the engine's RFC 3339 times; its "never" is year 1.
func parseEngineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}

// ListContainers returns every container (running or not) carrying label
// (key, or key=value).
func (c *Client) ListContainers(ctx context.Context, label string) ([]ContainerState, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	list, err := c.engine(ctx).ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", label))})
	if err != nil {
		return nil, c.wrap("list containers "+label, err)
	}
	out := make([]ContainerState, 0, len(list))
	for _, s := range list {
		st := ContainerState{ID: s.ID, Image: s.Image, ImageID: s.ImageID, Labels: s.Labels, Status: string(s.State), Running: s.State == container.StateRunning}
		if len(s.Names) > 0 && len(s.Names[0]) > 0 {
			st.Name = s.Names[0][1:]
		}
		out = append(out, st)
	}
	return out, nil
}

// ProcessCount is how many processes run in container id (the engine's
// top, which runs ps on the engine's machine).
func (c *Client) ProcessCount(ctx context.Context, id string) (int, error) {
	ctx, cancel := c.callCtx(ctx)
	defer cancel()
	top, err := c.engine(ctx).ContainerTop(ctx, id, nil)
	if err != nil {
		return 0, c.wrap("top "+id, err)
	}
	return len(top.Processes), nil
}
