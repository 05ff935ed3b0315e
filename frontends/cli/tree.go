package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/rpc"
	"github.com/startos-go/startos/startos/feed"
	"github.com/startos-go/startos/startos/model"
)

// methodCommands builds the command tree from the method table: each dotted
// name is a path of subcommands ("server.time" -> start-cli server time).
// Required params are positional arguments in declaration order; every
// param is also a --flag; --params takes the whole object as JSON.
func methodCommands(s *session) []*cli.Command {
	root := &cli.Command{}
	for _, m := range rpc.Table {
		if m.Name == "rpc.unsubscribe" {
			continue // meaningful only inside a connection
		}
		node := root
		for _, p := range m.CommandPath() {
			node = child(node, p)
		}
		fillCommand(node, m, s)
		switch {
		case strings.HasSuffix(m.Name, ".logs"):
			customizeLogs(node, s, m.Name)
		case m.Name == "auth.login":
			customizeLogin(node, s)
		case m.Name == "auth.reset-password":
			customizeResetPassword(node, s)
		case m.Name == "auth.logout":
			customizeLogout(node, s)
		case m.Name == "package.install":
			customizeInstall(node, s)
		case m.Name == "package.update":
			customizeUpdate(node, s)
		case m.Name == "server.diagnose":
			customizeDiagnose(node, s)
		case m.Name == "server.ca":
			customizeCA(node, s)
		case strings.HasPrefix(m.Name, "backup.") || m.Name == "package.backup.restore":
			customizeBackupPassword(node, m, s)
		case m.Name == "server.set-smtp" || m.Name == "server.test-smtp":
			customizePassword(node, m, s, "SMTP password: ", true)
		case m.Name == "setup.execute": // the password by prompt or stdin, never an argument
			customizeSetup(node, s)
		case lifecycleTargets[m.Name] != "" || m.Name == "package.uninstall":
			customizeLifecycle(node, s, m.Name)
		case m.Name == "ssh.add":
			customizeSSHAdd(node, s)
		case m.Name == "package.config.get":
			customizeConfigGet(node, s)
		case m.Name == "package.config.set":
			customizeConfigSet(node, s)
		case m.Name == "package.properties":
			customizeProperties(node, s)
		case m.Name == "server.restart":
			customizePower(node, s, m.Name, "restart")
		case m.Name == "server.shutdown":
			customizePower(node, s, m.Name, "shutdown")
		}
	}
	if cfg := child(child(root, "package"), "config"); cfg != nil {
		cfg.Subcommands = append(cfg.Subcommands, configEditCommand(s))
	}
	for _, c := range root.Subcommands {
		if c.Name == "setup" {
			customizeSetup(c, s)
		}
		for _, sub := range c.Subcommands {
			sub.Aliases = append(sub.Aliases, aliases[c.Name+" "+sub.Name]...)
		}
	}
	dockerAliases(root.Subcommands)
	return root.Subcommands
}

// dockerAliases gives every list command an ls and every remove an rm
// (backup target ls, ssh rm), as docker does, where no sibling has the name.
func dockerAliases(cmds []*cli.Command) {
	taken := map[string]bool{}
	for _, c := range cmds {
		for _, n := range c.Names() {
			taken[n] = true
		}
	}
	for _, c := range cmds {
		alias := map[string]string{"list": "ls", "remove": "rm"}[c.Name]
		if alias != "" && !taken[alias] {
			c.Aliases = append(c.Aliases, alias)
			taken[alias] = true
		}
		dockerAliases(c.Subcommands)
	}
}

// aliases are the docker habits: package ls, package ps, package rm.
var aliases = map[string][]string{
	"package list":      {"ls", "ps"},
	"package uninstall": {"rm"},
}

// methodFields returns a method's params, or none for an unknown name.
func methodFields(name string) []rpc.ParamField {
	if m, ok := rpc.Lookup(name); ok {
		return m.ParamFields()
	}
	return nil
}

func child(parent *cli.Command, name string) *cli.Command {
	for _, c := range parent.Subcommands {
		if c.Name == name {
			return c
		}
	}
	c := &cli.Command{Name: name, Usage: name + " commands", HideHelpCommand: true}
	parent.Subcommands = append(parent.Subcommands, c)
	return c
}

func fillCommand(cmd *cli.Command, m *rpc.Method, s *session) {
	fields := m.ParamFields()
	var args []string
	for _, f := range positional(fields) {
		arg := strings.ToUpper(kebab(f.Name))
		if isList(f) {
			arg = strings.TrimSuffix(arg, "S") + "..."
		}
		if !f.Required {
			arg = "[" + arg + "]"
		}
		args = append(args, arg)
	}
	cmd.Usage = m.Doc
	cmd.ArgsUsage = strings.Join(args, " ")
	if m.Streaming() {
		cmd.Usage += " (streams until interrupted)"
	}
	cmd.Flags = append(cmd.Flags, &cli.StringFlag{Name: "params", Usage: "all params as one JSON object"})
	for _, f := range fields {
		cmd.Flags = append(cmd.Flags, paramFlag(f))
	}
	if pos := positional(fields); len(pos) > 0 && (pos[0].Name == "id" || pos[0].Name == "packageId") && strings.HasPrefix(m.Name, "package.") {
		actions := len(pos) > 1 && pos[1].Name == "actionId"
		cmd.BashComplete = func(cCtx *cli.Context) { s.completeFromBox(cCtx, actions) }
	}
	if pos := positional(fields); len(pos) > 0 && pos[0].Name == "targetId" {
		cmd.BashComplete = func(cCtx *cli.Context) {
			if cCtx.NArg() == 0 {
				s.printFromBox(cCtx, targetIDs)
			}
		}
	}
	cmd.Action = func(cCtx *cli.Context) error {
		params, err := buildParams(cCtx, fields)
		if err != nil {
			return err
		}
		if m.Streaming() {
			return s.stream(cCtx.Context, m.Name, params)
		}
		return s.call(cCtx.Context, m.Name, params)
	}
}

func paramFlag(f rpc.ParamField) cli.Flag {
	name := kebab(f.Name)
	usage := f.Kind
	if f.Required {
		usage += ", required (or positional)"
	}
	switch f.Kind {
	case "boolean":
		return &cli.BoolFlag{Name: name, Usage: usage}
	case "array":
		if f.Type.Elem().Kind() == reflect.String {
			return &cli.StringSliceFlag{Name: name, Usage: usage + "; repeat the flag"}
		}
	}
	return &cli.StringFlag{Name: name, Usage: usage}
}

// positional lists the params taken as arguments: the required ones in
// order; or, when none is required, a first string param as an optional
// argument (start-cli db dump [POINTER]).
func positional(fields []rpc.ParamField) []rpc.ParamField {
	var out []rpc.ParamField
	for _, f := range fields {
		if f.Required {
			out = append(out, f)
		}
	}
	if len(out) == 0 && len(fields) > 0 && fields[0].Kind == "string" {
		out = fields[:1]
	}
	return out
}

// isList: a list of strings or numbers, given as several arguments.
func isList(f rpc.ParamField) bool {
	if f.Kind != "array" {
		return false
	}
	switch rpc.JSONKind(f.Type.Elem()) {
	case "string", "integer", "non-negative integer", "number":
		return true
	}
	return false
}

// buildParams turns --params, positional arguments and flags into the params
// object; flags and arguments override fields of --params.
func buildParams(cCtx *cli.Context, fields []rpc.ParamField) (map[string]any, error) {
	params, err := readParams(cCtx, fields)
	if err != nil {
		return nil, usageError(err.Error() + "\nhint: start-cli " + cCtx.Command.FullName() + " --help")
	}
	return params, nil
}

func readParams(cCtx *cli.Context, fields []rpc.ParamField) (map[string]any, error) {
	params := map[string]any{}
	if raw := cCtx.String("params"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &params); err != nil {
			return nil, fmt.Errorf("--params: not a JSON object: %w", err)
		}
	}
	args := cCtx.Args().Slice()
	pos := positional(fields)
	for _, f := range fields {
		name := kebab(f.Name)
		switch {
		case cCtx.IsSet(name):
			v, err := flagValue(cCtx, name, f)
			if err != nil {
				return nil, err
			}
			params[f.Name] = v
		case len(pos) > 0 && pos[0].Name == f.Name && len(args) > 0 && params[f.Name] == nil:
			pos = pos[1:]
			if isList(f) { // the rest of the arguments: kill ID..., mark-seen ID...
				items := make([]any, 0, len(args))
				elem := rpc.ParamField{Name: f.Name, Type: f.Type.Elem(), Kind: rpc.JSONKind(f.Type.Elem())}
				for _, a := range args {
					v, err := parseValue(a, elem)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", strings.ToUpper(name), err)
					}
					items = append(items, v)
				}
				params[f.Name] = items
				args = nil
				continue
			}
			v, err := parseValue(args[0], f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", strings.ToUpper(name), err)
			}
			params[f.Name] = v
			args = args[1:]
		}
	}
	if len(args) > 0 {
		return nil, fmt.Errorf("unexpected argument %q", args[0])
	}
	return params, nil
}

func flagValue(cCtx *cli.Context, name string, f rpc.ParamField) (any, error) {
	switch {
	case f.Kind == "boolean":
		return cCtx.Bool(name), nil
	case f.Kind == "array" && f.Type.Elem().Kind() == reflect.String:
		return cCtx.StringSlice(name), nil
	}
	v, err := parseValue(cCtx.String(name), f)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", name, err)
	}
	return v, nil
}

// parseValue reads a command-line word as the field's JSON type: strings as
// they are, numbers and booleans parsed, anything else as JSON.
func parseValue(word string, f rpc.ParamField) (any, error) {
	switch f.Kind {
	case "string", "an RFC 3339 time string":
		return word, nil
	case "integer", "non-negative integer":
		n, err := strconv.ParseInt(word, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an integer", word)
		}
		return n, nil
	case "number":
		n, err := strconv.ParseFloat(word, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", word)
		}
		return n, nil
	case "boolean":
		b, err := strconv.ParseBool(word)
		if err != nil {
			return nil, fmt.Errorf("%q is not true or false", word)
		}
		return b, nil
	}
	var v any
	if err := json.Unmarshal([]byte(word), &v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %w", err)
	}
	return v, nil
}

// kebab turns a JSON name into a flag name: packageId -> package-id.
func kebab(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// invokeQuiet calls a method for its effect, printing nothing.
func (s *session) invokeQuiet(ctx context.Context, method string, params any) error {
	_, err := s.invoke(ctx, method, params)
	return err
}

// invoke is one call under the --timeout deadline; a daemon that is not
// reached or does not answer is an unreachableError.
func (s *session) invoke(ctx context.Context, method string, params any) (*rpc.Response, error) {
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	c, err := s.connect(ctx, false)
	if err != nil {
		return nil, err
	}
	resp, err := c.Invoke(ctx, method, params)
	if err != nil && transportFailed(err) {
		return nil, &unreachableError{where: s.where(), err: err}
	}
	return resp, err
}

func (s *session) call(ctx context.Context, method string, params any) error {
	resp, err := s.invoke(ctx, method, params)
	if err != nil {
		return err
	}
	return s.print(resp.Result)
}

// print renders one result or stream item, with plain log lines for log
// pages and entries in table format.
func (s *session) print(raw json.RawMessage) error {
	if s.quiet {
		return printIDs(s.stdout, raw)
	}
	if s.format == "table" {
		if done, err := s.printLogs(raw); done || err != nil {
			return err
		}
	}
	return render(s.stdout, s.format, raw)
}

// stream prints a subscription's initial value, then each item, until the
// user interrupts or the daemon ends it.
func (s *session) stream(ctx context.Context, method string, params any) error {
	c, err := s.connect(ctx, true)
	if err != nil {
		return err
	}
	defer c.Close()
	subCtx, cancel := ctx, context.CancelFunc(func() {})
	if s.timeout > 0 {
		subCtx, cancel = context.WithTimeout(ctx, s.timeout)
	}
	sub, err := c.Subscribe(subCtx, method, params)
	cancel()
	if err != nil {
		if transportFailed(err) {
			return &unreachableError{where: s.where(), err: err}
		}
		return err
	}
	if err := s.printItem(sub.Value); err != nil {
		return err
	}
	for {
		item, err := sub.Next(ctx)
		switch {
		case err == nil:
			if err := s.printItem(item); err != nil {
				return err
			}
		case errors.Is(err, context.Canceled):
			return nil // interrupted
		case errors.Is(err, rpc.ErrNotAnswering):
			return &unreachableError{where: s.where(), err: err}
		case errors.Is(err, feed.ErrSourceClosed):
			return nil
		default:
			return err
		}
	}
}

func callCommand(s *session) *cli.Command {
	return &cli.Command{
		Name:      "call",
		Usage:     "call any method: start-cli call METHOD [JSON-PARAMS]",
		ArgsUsage: "METHOD [JSON-PARAMS]",
		Action: func(cCtx *cli.Context) error {
			if cCtx.NArg() < 1 || cCtx.NArg() > 2 {
				return usageError("usage: start-cli call METHOD [JSON-PARAMS]")
			}
			method := cCtx.Args().Get(0)
			params := json.RawMessage("{}")
			if cCtx.NArg() == 2 {
				params = json.RawMessage(cCtx.Args().Get(1))
				if !json.Valid(params) {
					return fmt.Errorf("params: not valid JSON")
				}
			}
			if m, ok := rpc.Lookup(method); ok && m.Streaming() {
				return s.stream(cCtx.Context, method, params)
			}
			return s.call(cCtx.Context, method, params)
		},
	}
}

// printItem prints one value of a stream: NDJSON (one compact object a line,
// keys in the daemon's order; a page of log entries as one line each) for
// --format json, else as print does.
func (s *session) printItem(raw json.RawMessage) error {
	if s.format != "json" || s.quiet {
		return s.print(raw)
	}
	var page struct {
		Entries []json.RawMessage `json:"entries"`
	}
	lines := []json.RawMessage{raw}
	if json.Unmarshal(raw, &page) == nil && page.Entries != nil {
		lines = page.Entries
	}
	for _, l := range lines {
		var buf bytes.Buffer
		if err := json.Compact(&buf, l); err != nil {
			return err
		}
		buf.WriteByte('\n')
		if _, err := s.stdout.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// printIDs is -q: the ids of a list (or of one object), one a line.
func printIDs(w io.Writer, raw json.RawMessage) error {
	var list []struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw, &list) != nil {
		var one struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(raw, &one) != nil || one.ID == nil {
			return nil
		}
		list = append(list, one)
	}
	for _, it := range list {
		if it.ID == nil {
			continue
		}
		id := string(it.ID)
		var str string
		if json.Unmarshal(it.ID, &str) == nil {
			id = str
		}
		if _, err := fmt.Fprintln(w, id); err != nil {
			return err
		}
	}
	return nil
}

// completeFromBox offers the live box's package ids for a command's first
// argument and, where the second is an action id, that package's actions
// (shell completion); it stays silent when the box does not answer within
// a second.
func (s *session) completeFromBox(cCtx *cli.Context, actions bool) {
	if cCtx.NArg() > 1 || (cCtx.NArg() == 1 && !actions) {
		return // nothing more to offer
	}
	if s.configure(cCtx) != nil { // urfave skips Before while completing
		return
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(cCtx.Context, time.Second)
	defer cancel()
	c, err := s.connect(ctx, false)
	if err != nil {
		return
	}
	if cCtx.NArg() == 1 {
		var info model.PackageInfo
		if c.Call(ctx, "package.info", model.PackageIDParams{ID: cCtx.Args().First()}, &info) != nil {
			return
		}
		for _, a := range info.Actions {
			fmt.Fprintln(s.stdout, a.ID)
		}
		return
	}
	var list []struct {
		ID string `json:"id"`
	}
	if c.Call(ctx, "package.list", nil, &list) != nil {
		return
	}
	for _, p := range list {
		fmt.Fprintln(s.stdout, p.ID)
	}
}
