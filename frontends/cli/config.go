package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/config"
	"github.com/startos-go/startos/startos/model"
)

// maxConfigInput bounds a config read from a file or stdin.
const maxConfigInput = config.MaxValueBytes

// customizeConfigGet prints the config as YAML with the spec as comments
// (table and yaml formats); --format json prints {spec, config}.
func customizeConfigGet(cmd *cli.Command, s *session) {
	cmd.Action = func(cCtx *cli.Context) error {
		params, err := buildParams(cCtx, methodFields("package.config.get"))
		if err != nil {
			return err
		}
		resp, err := s.invoke(cCtx.Context, "package.config.get", params)
		if err != nil {
			return err
		}
		if s.format == "json" || s.quiet {
			return s.print(resp.Result)
		}
		var res config.Res
		if err := json.Unmarshal(resp.Result, &res); err != nil {
			return fmt.Errorf("config get: the daemon's answer: %w", err)
		}
		out, err := res.Spec.CommentedYAML(res.Config)
		if err != nil {
			return err
		}
		_, err = s.stdout.Write(out)
		return err
	}
}

// customizeConfigSet takes the config as YAML or JSON from a file or
// standard input ("-" or nothing), or as --config JSON.
func customizeConfigSet(cmd *cli.Command, s *session) {
	cmd.ArgsUsage = "ID [FILE | -]"
	cmd.Usage = "validate and save a package's config, given as YAML or JSON in FILE or on standard input; restarts it if it runs"
	cmd.Action = func(cCtx *cli.Context) error {
		if cCtx.NArg() < 1 || cCtx.NArg() > 2 {
			return usageError("config set takes a package id and a file (or - for standard input)\nhint: start-cli package config set --help")
		}
		id := cCtx.Args().Get(0)
		var cfg config.Config
		if raw := cCtx.String("config"); raw != "" {
			var err error
			if cfg, err = config.ParseValue([]byte(raw)); err != nil {
				return fmt.Errorf("--config: %w", err)
			}
		} else {
			b, err := readConfigArg(cCtx.Args().Get(1), s.stdin)
			if err != nil {
				return err
			}
			if cfg, err = config.ParseValue(b); err != nil {
				return err
			}
		}
		dry := cCtx.Bool("dry-run")
		var br map[string]model.Breakage
		if err := s.callInto(cCtx.Context, "package.config.set", model.ConfigSetParams{ID: id, Config: cfg, DryRun: dry}, &br); err != nil {
			return err
		}
		return s.reportBreakages(id, br, dry)
	}
}

func (s *session) callInto(ctx context.Context, method string, params, out any) error {
	resp, err := s.invoke(ctx, method, params)
	if err != nil {
		return err
	}
	return json.Unmarshal(resp.Result, out)
}

func (s *session) reportBreakages(id string, br map[string]model.Breakage, dry bool) error {
	if s.format == "json" {
		b, _ := json.Marshal(br)
		return render(s.stdout, "json", b)
	}
	for _, dep := range sortedKeys(br) {
		fmt.Fprintf(s.stdout, "breaks %s: %s\n", dep, br[dep].Error)
	}
	if s.quiet {
		return nil
	}
	switch {
	case dry && len(br) == 0:
		fmt.Fprintf(s.stdout, "The config of %s is valid and breaks no dependent (dry run: nothing saved).\n", id)
	case dry:
		fmt.Fprintf(s.stdout, "Dry run: nothing saved.\n")
	default:
		fmt.Fprintf(s.stdout, "Saved the config of %s.\n", id)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func readConfigArg(arg string, r io.Reader) ([]byte, error) {
	src := r
	if arg != "" && arg != "-" {
		f, err := os.Open(arg)
		if err != nil {
			return nil, fmt.Errorf("config set: %w", err)
		}
		defer f.Close()
		src = f
	}
	if src == nil {
		return nil, usageError("config set: no config given: name a file, or - for standard input")
	}
	b, err := io.ReadAll(io.LimitReader(src, maxConfigInput+1))
	if err != nil {
		return nil, fmt.Errorf("config set: %w", err)
	}
	if len(b) > maxConfigInput {
		return nil, fmt.Errorf("config set: input longer than %d bytes", maxConfigInput)
	}
	return b, nil
}

// configEditCommand is `package config edit ID`: the config in $EDITOR as
// YAML with the spec as comments; on save it is validated and saved, and on
// an error the file is opened again with the error on top (as kubectl
// edit). Saving it unchanged, or emptying it, cancels.
func configEditCommand(s *session) *cli.Command {
	return &cli.Command{
		Name:      "edit",
		Usage:     "edit a package's config in $EDITOR (YAML, the spec as comments); re-opens with the error until it is valid",
		ArgsUsage: "ID",
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() != 1 {
				return usageError("config edit takes one package id\nhint: start-cli package config edit --help")
			}
			return s.editConfig(cCtx.Context, cCtx.Args().First())
		},
		BashComplete: func(cCtx *cli.Context) { s.completeFromBox(cCtx, false) },
	}
}

const editHeader = `# Config of %s. Edit and save to apply; save it unchanged or empty to cancel.
# Lines starting with # are ignored.
`

func (s *session) editConfig(ctx context.Context, id string) error {
	var res config.Res
	if err := s.callInto(ctx, "package.config.get", model.PackageIDParams{ID: id}, &res); err != nil {
		return err
	}
	body, err := res.Spec.CommentedYAML(res.Config)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "start-cli-config-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := dir + "/" + id + ".yaml"
	original := string(body)
	text := fmt.Sprintf(editHeader, id) + original
	var lastErr error
	for {
		// 0600 in a private folder: masked values (passwords) are in it.
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return err
		}
		if err := s.runEditor(ctx, path); err != nil {
			return err
		}
		edited, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		content := stripComments(string(edited))
		if strings.TrimSpace(content) == "" {
			fmt.Fprintln(s.stderr, "Edit cancelled: the file is empty; nothing saved.")
			return nil
		}
		if string(edited) == text {
			if lastErr != nil {
				return fmt.Errorf("config edit: saved unchanged after an error; nothing saved: %w", lastErr)
			}
			fmt.Fprintln(s.stderr, "Edit cancelled: no changes; nothing saved.")
			return nil
		}
		cfg, err := config.ParseValue([]byte(content))
		if err == nil {
			err = res.Spec.Validate(cfg)
		}
		if err == nil {
			var br map[string]model.Breakage
			err = s.callInto(ctx, "package.config.set", model.ConfigSetParams{ID: id, Config: cfg}, &br)
			if err == nil {
				return s.reportBreakages(id, br, false)
			}
			var re *rpc.Error
			if !errors.As(err, &re) {
				return err // the daemon is gone: retrying will not help
			}
		}
		lastErr = err
		text = fmt.Sprintf(editHeader, id) + errorComment(err) + content
	}
}

// runEditor opens path in $VISUAL, $EDITOR or vi, on the terminal.
func (s *session) runEditor(ctx context.Context, path string) error {
	editor := os.Getenv("VISUAL")
	if editor == "" {
		editor = os.Getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	c := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "sh", path)
	c.Stdin, c.Stdout, c.Stderr = s.stdin, s.stdout, s.stderr
	if s.stdin == nil {
		c.Stdin = os.Stdin
	}
	if err := c.Run(); err != nil {
		return fmt.Errorf("config edit: the editor %q failed: %w", editor, err)
	}
	return nil
}

func errorComment(err error) string {
	var b strings.Builder
	b.WriteString("# ERROR: the config was not saved:\n")
	for _, line := range strings.Split(err.Error(), "\n") {
		b.WriteString("#   " + line + "\n")
	}
	return b.String()
}

// stripComments drops the header and error comment lines at the top (the
// YAML parser ignores the others).
func stripComments(s string) string {
	lines := strings.Split(s, "\n")
	i := 0
	for i < len(lines) && (strings.HasPrefix(lines[i], "# Config of ") || strings.HasPrefix(lines[i], "# Lines starting") ||
		strings.HasPrefix(lines[i], "# ERROR:") || strings.HasPrefix(lines[i], "#   ")) {
		i++
	}
	return strings.Join(lines[i:], "\n")
}

// customizeProperties prints properties as an indented list in table
// format, masked values hidden unless --reveal.
func customizeProperties(cmd *cli.Command, s *session) {
	cmd.Flags = append(cmd.Flags, &cli.BoolFlag{Name: "reveal", Usage: "show masked values"})
	cmd.Action = func(cCtx *cli.Context) error {
		params, err := buildParams(cCtx, methodFields("package.properties"))
		if err != nil {
			return err
		}
		resp, err := s.invoke(cCtx.Context, "package.properties", params)
		if err != nil {
			return err
		}
		if s.format != "table" || s.quiet {
			return s.print(resp.Result)
		}
		var p *config.Properties
		if err := json.Unmarshal(resp.Result, &p); err != nil {
			return fmt.Errorf("properties: the daemon's answer: %w", err)
		}
		if p == nil || len(p.Data) == 0 {
			fmt.Fprintln(s.stdout, "No properties.")
			return nil
		}
		var b bytes.Buffer
		writeProperties(&b, p.Data, "", cCtx.Bool("reveal"))
		_, err = s.stdout.Write(b.Bytes())
		return err
	}
}

func writeProperties(w io.Writer, data map[string]config.PropertyValue, indent string, reveal bool) {
	keys := sortedKeys(data)
	for _, k := range keys {
		v := data[k]
		if v.Type == "object" {
			fmt.Fprintf(w, "%s%s:\n", indent, k)
			writeProperties(w, v.Children, indent+"  ", reveal)
			continue
		}
		val := fmt.Sprint(v.Value)
		var notes []string
		if v.Masked && !reveal {
			val = "********"
			notes = append(notes, "masked: --reveal shows it")
		}
		if v.Copyable {
			notes = append(notes, "copyable")
		}
		if v.QR {
			notes = append(notes, "qr")
		}
		line := fmt.Sprintf("%s%s: %s", indent, k, val)
		if len(notes) > 0 {
			line += "  (" + strings.Join(notes, ", ") + ")"
		}
		fmt.Fprintln(w, line)
		if v.Description != nil && *v.Description != "" {
			fmt.Fprintf(w, "%s  %s\n", indent, *v.Description)
		}
	}
}
