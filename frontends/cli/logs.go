package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/model"
)

// logCommands adds the StartOS log conventions to a generated logs command:
// -l for --limit and -f to follow (calling the .follow method).
func customizeLogs(cmd *cli.Command, s *session, method string) {
	for _, f := range cmd.Flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "limit" {
			sf.Aliases = []string{"l"}
		}
	}
	cmd.Flags = append(cmd.Flags, &cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new entries until interrupted"})
	generic := cmd.Action
	cmd.Action = func(cCtx *cli.Context) error {
		if !cCtx.Bool("follow") {
			return generic(cCtx)
		}
		params, err := buildParams(cCtx, methodFields(method+".follow"))
		if err != nil {
			return err
		}
		return s.stream(cCtx.Context, method+".follow", params)
	}
}

// printLogs renders a LogPage or a LogEntry as plain lines in table format.
func printLogs(w io.Writer, raw json.RawMessage) (bool, error) {
	var page model.LogPage
	if json.Unmarshal(raw, &page) == nil && page.Entries != nil {
		for _, e := range page.Entries {
			printEntry(w, e)
		}
		return true, nil
	}
	var e model.LogEntry
	if json.Unmarshal(raw, &e) == nil && e.Cursor != "" {
		printEntry(w, e)
		return true, nil
	}
	return false, nil
}

func printEntry(w io.Writer, e model.LogEntry) {
	fmt.Fprintf(w, "%s %-5s %s\n", e.Timestamp.Format("2006-01-02T15:04:05.000Z07:00"), strings.ToUpper(e.Level), e.Message)
}
