package service

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/fxamacker/cbor/v2"
	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/startos/container"
	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/manifest"
)

// ProcedureError is a procedure that exited with a non-zero code. It wraps
// errdefs.ErrAction.
type ProcedureError struct {
	Package  string
	ExitCode int
	Stderr   string // the last lines
}

func (e *ProcedureError) Error() string {
	msg := fmt.Sprintf("package %s: procedure exited with code %d", e.Package, e.ExitCode)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *ProcedureError) Unwrap() error { return errdefs.ErrAction }

// lastLines returns the last n lines of b, trimmed.
func lastLines(b []byte, n int) string {
	s := strings.TrimRight(string(b), "\n\r\t ")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// encodeInput writes input in a procedure's io-format; nil input is no
// stdin.
func encodeInput(f manifest.IOFormat, input any) ([]byte, error) {
	if input == nil {
		return nil, nil
	}
	switch f {
	case "", "json":
		return json.Marshal(input)
	case "json-pretty":
		return json.MarshalIndent(input, "", "  ")
	case "yaml":
		return yaml.Marshal(input)
	case "cbor":
		return cbor.Marshal(input)
	case "toml", "toml-pretty":
		// TOML has no null: nulls are left out, as StartOS's encoder did.
		var b bytes.Buffer
		enc := toml.NewEncoder(&b)
		if f == "toml" {
			enc.Indent = ""
		}
		if err := enc.Encode(input); err != nil {
			return nil, fmt.Errorf("encoding the input as TOML: %v: %w", err, errdefs.ErrInvalidRequest)
		}
		return b.Bytes(), nil
	}
	return nil, fmt.Errorf("io-format %q is not supported (use json, json-pretty, yaml, cbor, toml or toml-pretty): %w", f, errdefs.ErrInvalidRequest)
}

var cborDecoder = func() cbor.DecMode {
	dm, err := cbor.DecOptions{
		DefaultMapType:   reflect.TypeOf(map[string]any(nil)),
		MaxNestedLevels:  64,
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      1 << 16,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}()

// outputJSON turns a procedure's stdout in io-format f into JSON (YAML and
// JSON are returned as they are: the readers take both).
func outputJSON(f manifest.IOFormat, out []byte) ([]byte, error) {
	switch f {
	case "cbor", "toml", "toml-pretty":
		var v any
		if err := decodeOutput(f, out, &v); err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
	return out, nil
}

// decodeOutput reads a procedure's stdout in its io-format into v.
func decodeOutput(f manifest.IOFormat, out []byte, v any) error {
	switch f {
	case "", "json", "json-pretty":
		return json.Unmarshal(out, v)
	case "yaml":
		return yaml.Unmarshal(out, v)
	case "cbor", "toml", "toml-pretty":
		var raw any
		if f == "cbor" {
			if err := cborDecoder.Unmarshal(out, &raw); err != nil {
				return err
			}
		} else {
			m := map[string]any{}
			if _, err := toml.Decode(string(out), &m); err != nil {
				return err
			}
			raw = m
		}
		b, err := json.Marshal(raw)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, v)
	}
	return fmt.Errorf("io-format %q is not supported (use json, json-pretty, yaml, cbor, toml or toml-pretty): %w", f, errdefs.ErrInvalidRequest)
}

// RunProcedure runs a docker procedure of package id with the given manifest
// (for migrations, the one of the version being installed): a one-off
// container of the package's image with its volume mounts, or an exec in the
// running main container when p.Inject. input is encoded in p.IOFormat on
// stdin (nil: none); stdout comes back. A non-zero exit is a
// *ProcedureError carrying the last stderr lines. ctx bounds it (default
// ProcedureTimeout).
func (m *Manager) RunProcedure(ctx context.Context, id string, mf *manifest.Manifest, p manifest.Procedure, input any) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.opts.ProcedureTimeout)
		defer cancel()
	}
	res, err := m.runProcedure(ctx, id, mf, p, input, time.Until(deadline(ctx)))
	if err != nil {
		return nil, err
	}
	if res.ExitCode != 0 {
		return res.Stdout, &ProcedureError{Package: id, ExitCode: res.ExitCode, Stderr: lastLines(res.Stderr, 20)}
	}
	return res.Stdout, nil
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// injectCmd is the command of procedure p run in the main container.
func injectCmd(p *manifest.Procedure) []string {
	cmd := append([]string{}, p.Args...)
	if p.Entrypoint != "" {
		cmd = append([]string{p.Entrypoint}, cmd...)
	}
	return cmd
}

// runProcedure runs p and returns its result whatever the exit code.
func (m *Manager) runProcedure(ctx context.Context, id string, mf *manifest.Manifest, p manifest.Procedure, input any, timeout time.Duration) (container.Result, error) {
	return m.runProcedureWith(ctx, id, mf, p, input, timeout, "")
}

// runProcedureWith is runProcedure with backupDir, when set, mounted where
// the procedure mounts the reserved BACKUP volume.
func (m *Manager) runProcedureWith(ctx context.Context, id string, mf *manifest.Manifest, p manifest.Procedure, input any, timeout time.Duration, backupDir string) (container.Result, error) {
	if mf == nil || mf.ID != id {
		return container.Result{}, fmt.Errorf("procedure of %q: no manifest for it: %w", id, errdefs.ErrInvalidRequest)
	}
	if p.Native != "" {
		return container.Result{}, fmt.Errorf("procedure of %q: %q is done by the daemon, not a container: %w", id, p.Native, errdefs.ErrInvalidRequest)
	}
	if p.Type != manifest.ProcedureDocker || p.System {
		return container.Result{}, fmt.Errorf("procedure of %q: only docker procedures on the package's own images can run (type %q): %w", id, p.Type, errdefs.ErrInvalidRequest)
	}
	stdin, err := encodeInput(p.IOFormat, input)
	if err != nil {
		return container.Result{}, fmt.Errorf("procedure of %q: %w", id, err)
	}
	if p.Inject {
		return m.engine.Exec(ctx, ContainerName(id), container.ExecOptions{Cmd: injectCmd(&p), Stdin: stdin, Timeout: timeout})
	}
	want := p.Mounts
	var backupMount []container.Mount
	if target, ok := want[manifest.BackupVolume]; ok {
		if backupDir == "" {
			return container.Result{}, fmt.Errorf("procedure of %q: it mounts %s, which only a backup or restore provides: %w", id, manifest.BackupVolume, errdefs.ErrInvalidRequest)
		}
		want = make(map[string]string, len(p.Mounts))
		for k, v := range p.Mounts {
			if k != manifest.BackupVolume {
				want[k] = v
			}
		}
		backupMount = []container.Mount{{Source: backupDir, Target: target}}
	}
	mnts, err := mounts(m.opts.DataDir, id, mf, want)
	if err != nil {
		return container.Result{}, err
	}
	mnts = append(mnts, backupMount...)
	netw := "none"
	if ok, err := m.engine.NetworkExists(ctx, NetworkName(id)); err != nil {
		return container.Result{}, err
	} else if ok {
		netw = NetworkName(id)
	}
	cmd := append([]string{}, p.Args...)
	spec := container.Spec{
		Name:    ContainerName(id) + ".proc-" + randomSuffix(),
		Image:   manifest.DockerTag(id, p.Image, mf.Version),
		Cmd:     cmd,
		Labels:  map[string]string{LabelPackage: id, LabelVersion: mf.Version.String(), LabelProcedure: "true", LabelBox: m.box},
		Network: netw,
		Mounts:  mnts,
		ShmSize: int64(p.ShmSizeMB) << 20,
		Init:    true,
	}
	if p.Entrypoint != "" {
		spec.Entrypoint = []string{p.Entrypoint}
		if len(cmd) == 0 {
			spec.Cmd = nil
		}
	}
	m.procStarted(spec.Name)
	defer m.procEnded(spec.Name)
	res, err := m.engine.Run(ctx, container.RunOptions{Spec: spec, Stdin: stdin, Timeout: timeout})
	if err != nil && errors.Is(err, errdefs.ErrNotFound) {
		return res, fmt.Errorf("procedure of %q: image %s: %w", id, spec.Image, err)
	}
	return res, err
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
