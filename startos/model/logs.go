package model

import "time"

// LogEntry is one line of the daemon's own log, as server.logs and
// server.logs.follow return it.
type LogEntry struct {
	Timestamp time.Time `json:"timestamp"`
	Level     string    `json:"level"`   // trace, debug, info, warn, error
	Message   string    `json:"message"` // "name: message: key=value ..."
	Cursor    string    `json:"cursor"`  // pass back as LogsParams.Cursor to page from here
	BootID    string    `json:"bootId"`  // the kernel's boot id, as StartOS's journal entries carry
}

// LogsParams is the params of server.logs (and, without Before, of
// server.logs.follow). Every field is optional.
type LogsParams struct {
	Limit  int    `json:"limit,omitempty"`  // entries per page; 0 means the default (50)
	Cursor string `json:"cursor,omitempty"` // page after (or, with Before, before) this entry; empty means the newest
	Before bool   `json:"before,omitempty"` // page backwards from Cursor
}

// LogPage is one page of log entries, oldest first.
type LogPage struct {
	Entries     []LogEntry `json:"entries"`
	StartCursor string     `json:"startCursor,omitempty"` // cursor of the first entry; empty when the page is empty
	EndCursor   string     `json:"endCursor,omitempty"`   // cursor of the last entry; empty when the page is empty
}

// LogSinkStats is the health of one log sink (stderr, file). Enqueued equals
// Written + Dropped whenever the sink's queue is empty (QueuedBytes == 0).
type LogSinkStats struct {
	Name        string `json:"name"`
	Enqueued    uint64 `json:"enqueued"`    // lines handed to the sink
	Written     uint64 `json:"written"`     // lines the sink wrote in full
	Dropped     uint64 `json:"dropped"`     // lines lost: queue full, write failed, or sink dead
	QueuedBytes int64  `json:"queuedBytes"` // budget in use by queued and in-flight lines
	Degraded    bool   `json:"degraded"`    // stuck in a write, dropping recently, or dead
	StuckForMs  int64  `json:"stuckForMs"`  // how long the current write has been in progress; 0 when idle
	LastError   string `json:"lastError,omitempty"`
}
