package container

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"time"
)

func frame(stream byte, payload string) []byte {
	h := make([]byte, 8)
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
	return append(h, payload...)
}

func TestReadFrames(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(1, "2026-01-02T03:04:05.123456789Z hello world\n"))
	in.Write(frame(2, "2026-01-02T03:04:06Z oops\n"))
	in.Write(frame(1, "no timestamp here\n"))
	in.Write(frame(1, "2026-01-02T03:04:07Z \n"))
	var got []LogLine
	if err := readFrames(&in, func(l LogLine) error { got = append(got, l); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []LogLine{
		{Time: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Stream: "stdout", Text: "hello world"},
		{Time: time.Date(2026, 1, 2, 3, 4, 6, 0, time.UTC), Stream: "stderr", Text: "oops"},
		{Time: time.Date(2026, 1, 2, 3, 4, 7, 0, time.UTC), Stream: "stdout", Text: ""},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines: %+v", len(got), got)
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Stream != want[i].Stream || got[i].Text != want[i].Text {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// A truncated frame is an error, an oversized one too.
	if err := readFrames(bytes.NewReader(frame(1, "2026-01-02T03:04:05Z x")[:10]), func(LogLine) error { return nil }); err == nil {
		t.Error("truncated frame accepted")
	}
	// A frame larger than the first buffer (a log line of up to the
	// engine's 16 KiB) is read whole.
	long := strings.Repeat("x", 16<<10)
	got = nil
	if err := readFrames(bytes.NewReader(frame(1, "2026-01-02T03:04:05Z "+long)), func(l LogLine) error { got = append(got, l); return nil }); err != nil || len(got) != 1 || got[0].Text != long {
		t.Errorf("16 KiB frame: %d lines, %v", len(got), err)
	}
	// The engine's own error (stream 3) ends the stream with its text.
	if err := readFrames(bytes.NewReader(frame(3, "no such exec")), func(LogLine) error { return nil }); err == nil || !strings.Contains(err.Error(), "no such exec") {
		t.Errorf("engine error frame: %v", err)
	}
	big := make([]byte, 8)
	binary.BigEndian.PutUint32(big[4:], maxFrame+1)
	if err := readFrames(bytes.NewReader(big), func(LogLine) error { return nil }); err == nil {
		t.Error("oversized frame accepted")
	}
	if s := engineTimestamp(time.Unix(12, 5)); s != "12.000000005" {
		t.Errorf("engine timestamp %q", s)
	}
}
