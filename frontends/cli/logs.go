package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/model"
)

// customizeLogs adds the StartOS and docker log conventions to a generated
// logs command: -l/--tail/-n for the count, -f to follow (the .follow
// method), --since DURATION|TIME, -t for timestamps.
func customizeLogs(cmd *cli.Command, s *session, method string) {
	for _, f := range cmd.Flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == "limit" {
			sf.Aliases = []string{"l", "tail", "n"}
		}
	}
	cmd.Flags = append(cmd.Flags,
		&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "keep printing new entries until interrupted"},
		&cli.StringFlag{Name: "since", Usage: "only entries newer than a duration (10m) or an RFC 3339 time"},
		&cli.BoolFlag{Name: "timestamps", Aliases: []string{"t"}, Usage: "print each entry's time"},
	)
	generic := cmd.Action
	cmd.Action = func(cCtx *cli.Context) error {
		s.logTimes = cCtx.Bool("timestamps")
		if v := cCtx.String("since"); v != "" {
			since, err := parseSince(v, time.Now())
			if err != nil {
				return usageError(err.Error())
			}
			s.logSince = since
			if !cCtx.IsSet("limit") { // look further back than one default page
				if err := cCtx.Set("limit", "1000"); err != nil {
					return err
				}
			}
		}
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

// parseSince reads --since: a duration back from now, or a time.
func parseSince(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration (10m, 2h) or a time (2026-01-02T15:04:05Z)", v)
}

// printLogs renders a LogPage or a LogEntry as plain lines in table format.
func (s *session) printLogs(raw json.RawMessage) (bool, error) {
	var page model.LogPage
	if json.Unmarshal(raw, &page) == nil && page.Entries != nil {
		for _, e := range page.Entries {
			s.printEntry(e)
		}
		return true, nil
	}
	var e model.LogEntry
	if json.Unmarshal(raw, &e) == nil && e.Cursor != "" {
		s.printEntry(e)
		return true, nil
	}
	return false, nil
}

func (s *session) printEntry(e model.LogEntry) {
	if e.Timestamp.Before(s.logSince) {
		return
	}
	if s.logTimes {
		fmt.Fprintf(s.stdout, "%s ", e.Timestamp.Format("2006-01-02T15:04:05.000Z07:00"))
	}
	fmt.Fprintf(s.stdout, "%-5s %s\n", strings.ToUpper(e.Level), e.Message)
}
