package ui

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/startos/model"
)

// TestDeriveStatus follows StartOS's pkg-status-rendering rules.
func TestDeriveStatus(t *testing.T) {
	now := epoch
	health := func(rs ...string) map[string]model.HealthCheckResult {
		h := map[string]model.HealthCheckResult{}
		for i, r := range rs {
			h[string(rune('a'+i))] = model.HealthCheckResult{Result: r}
		}
		return h
	}
	entry := func(state model.PackageState, desired string, started bool, h map[string]model.HealthCheckResult, err bool) model.PackageDataEntry {
		e := model.PackageDataEntry{StateInfo: model.StateInfo{State: state}, StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: desired}, Health: h}}
		if started {
			e.StatusInfo.Started = &now
		}
		if err {
			e.StatusInfo.Error = &model.ErrorData{Details: "boom"}
		}
		return e
	}
	cases := []struct {
		name          string
		e             model.PackageDataEntry
		primary, hlth string
	}{
		{"installing", entry(model.PackageInstalling, "", false, nil, false), "installing", ""},
		{"updating", entry(model.PackageUpdating, model.DesiredRunning, true, nil, false), "updating", ""},
		{"removing", entry(model.PackageRemoving, model.DesiredRunning, true, nil, false), "removing", ""},
		{"restoring", entry(model.PackageRestoring, "", false, nil, false), "restoring", ""},
		{"error wins", entry(model.PackageInstalled, model.DesiredRunning, true, health(model.HealthSuccess), true), "error", "success"},
		{"running, not started yet", entry(model.PackageInstalled, model.DesiredRunning, false, nil, false), "starting", ""},
		{"running, a check starting", entry(model.PackageInstalled, model.DesiredRunning, true, health(model.HealthSuccess, model.HealthStarting), false), "starting", "starting"},
		{"running, a check waiting", entry(model.PackageInstalled, model.DesiredRunning, true, health(model.HealthWaiting), false), "starting", "success"},
		{"running and healthy", entry(model.PackageInstalled, model.DesiredRunning, true, health(model.HealthSuccess, model.HealthDisabled), false), "running", "success"},
		{"running, failure beats starting", entry(model.PackageInstalled, model.DesiredRunning, true, health(model.HealthStarting, model.HealthFailure, model.HealthLoading), false), "starting", "failure"},
		{"running, loading", entry(model.PackageInstalled, model.DesiredRunning, true, health(model.HealthLoading, model.HealthSuccess), false), "running", "loading"},
		{"running without checks", entry(model.PackageInstalled, model.DesiredRunning, true, nil, false), "running", ""},
		{"stopping", entry(model.PackageInstalled, model.DesiredStopped, true, health(model.HealthSuccess), false), "stopping", ""},
		{"stopped", entry(model.PackageInstalled, model.DesiredStopped, false, nil, false), "stopped", ""},
		{"no desired means stopped", entry(model.PackageInstalled, "", false, nil, false), "stopped", ""},
		{"restarting", entry(model.PackageInstalled, model.DesiredRestarting, true, nil, false), "restarting", ""},
		{"backing up", entry(model.PackageInstalled, model.DesiredBackingUp, true, nil, false), "backing-up", ""},
	}
	for _, c := range cases {
		got := deriveStatus(&c.e)
		if got.Primary != c.primary || got.Health != c.hlth {
			t.Errorf("%s: got %+v, want %s/%s", c.name, got, c.primary, c.hlth)
		}
	}
}

func TestActionNote(t *testing.T) {
	cases := []struct {
		allowed []string
		want    string
	}{
		{nil, ""},
		{[]string{"any"}, ""},
		{[]string{"running"}, "only when running"},
		{[]string{"only-stopped"}, "only when stopped"},
		{[]string{"running", "stopped"}, ""},
	}
	for _, c := range cases {
		if got := actionNote(live.Action{AllowedStatuses: c.allowed}); got != c.want {
			t.Errorf("%v: %q, want %q", c.allowed, got, c.want)
		}
	}
}

func TestParseSpecAndValues(t *testing.T) {
	cases := []struct {
		name, spec, value, want, err string
		edit                         func(fs []field)
	}{
		{name: "defaults in key order",
			spec: `{"z":{"type":"string","name":"Z","default":"zed"},"a":{"type":"number","name":"A","default":3},"m":{"type":"boolean","name":"M","default":true}}`,
			want: `{"z":"zed","a":3,"m":true}`},
		{name: "current value beats default",
			spec: `{"a":{"type":"text","default":"x"}}`, value: `{"a":"y"}`, want: `{"a":"y"}`},
		{name: "empty optional text is null",
			spec: `{"a":{"type":"string","nullable":true}}`, want: `{"a":null}`},
		{name: "required text", spec: `{"a":{"type":"text","name":"Name","required":true}}`, err: "Name is required"},
		{name: "generated default is not text",
			spec: `{"pw":{"type":"string","name":"PW","nullable":false,"default":{"charset":"a-z","len":22}}}`, err: "PW is required"},
		{name: "0.3 enum", spec: `{"e":{"type":"enum","values":["a","b"],"value-names":{"a":"A","b":"B"},"default":"b"}}`, want: `{"e":"b"}`},
		{name: "0.4 select keeps order", spec: `{"e":{"type":"select","values":{"z":"Zed","a":"Ay"},"default":"a"}}`,
			edit: func(fs []field) { fs[0].pick = 0 }, want: `{"e":"z"}`},
		{name: "list as JSON", spec: `{"l":{"type":"list","name":"L"}}`, value: `{"l":[1,2]}`, want: `{"l":[1,2]}`},
		{name: "bad JSON named", spec: `{"l":{"type":"object","name":"Obj"}}`, edit: func(fs []field) { fs[0].input.Set("{") }, err: "Obj: not valid JSON"},
		{name: "number text", spec: `{"n":{"type":"number","name":"N"}}`, edit: func(fs []field) { fs[0].input.Set("ten") }, err: `N: "ten" is not a number`},
		{name: "optional number empty", spec: `{"n":{"type":"number","name":"N"}}`, want: `{"n":null}`},
		{name: "toggle", spec: `{"t":{"type":"toggle"}}`, edit: func(fs []field) { fs[0].on = true }, want: `{"t":true}`},
		{name: "not an object", spec: `[1]`, err: "input spec: want a JSON object"},
	}
	for _, c := range cases {
		fs, err := parseSpec(json.RawMessage(c.spec), json.RawMessage(c.value))
		if err == nil && c.edit != nil {
			c.edit(fs)
		}
		var got json.RawMessage
		if err == nil {
			got, err = formValues(fs)
		}
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case string(got) != c.want:
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestLineInput(t *testing.T) {
	cases := []struct {
		keys []string
		want string
		pos  int
	}{
		{[]string{"a", "b", "c"}, "abc", 3},
		{[]string{"a", "b", "left", "x"}, "axb", 2},
		{[]string{"a", "b", "backspace"}, "a", 1},
		{[]string{"a", "b", "home", "delete"}, "b", 0},
		{[]string{"a", "b", "ctrl+a", "c", "ctrl+e", "d"}, "cabd", 4},
		{[]string{"o", "n", "e", " ", "t", "w", "o", "ctrl+w"}, "one ", 4},
		{[]string{"a", "b", "left", "ctrl+k"}, "a", 1},
		{[]string{"a", "b", "left", "ctrl+u"}, "b", 0},
		{[]string{"backspace", "left", "right", "delete"}, "", 0},
	}
	for _, c := range cases {
		var in lineInput
		for _, k := range c.keys {
			in.handle(keyMsg(k))
		}
		if in.Value() != c.want || in.pos != c.pos {
			t.Errorf("%v: %q at %d, want %q at %d", c.keys, in.Value(), in.pos, c.want, c.pos)
		}
	}
	in := newInput("secret")
	in.mask = true
	if v := in.view(20, false); v != "••••••" {
		t.Errorf("masked view %q", v)
	}
	long := newInput(strings.Repeat("x", 50) + "END")
	if v := long.view(10, true); !strings.HasSuffix(v, "END█") {
		t.Errorf("a long value does not keep the cursor in sight: %q", v)
	}
	// A paste arrives as one key with many runes; newlines become spaces.
	var p lineInput
	p.handle(keyMsg("a\nb"))
	if p.Value() != "a b" {
		t.Errorf("paste %q", p.Value())
	}
}

func TestHelpers(t *testing.T) {
	if got := sparkline([]float64{0, 50, 100}, 5); got != "▁▅█  " {
		t.Errorf("sparkline %q", got)
	}
	if got := sparkline([]float64{0, 10, 20, 100}, 2); got != "▂█" {
		t.Errorf("sparkline keeps the newest: %q", got)
	}
	if got := bar(1, 4, 8); got != "██░░░░░░" {
		t.Errorf("bar %q", got)
	}
	if got := bar(5, 0, 3); got != "░░░" {
		t.Errorf("bar without total %q", got)
	}
	for d, want := range map[time.Duration]string{5 * time.Second: "5s", 12 * time.Minute: "12m", 3*time.Hour + 12*time.Minute: "3h 12m", 50 * time.Hour: "2d 2h"} {
		if got := duration(d); got != want {
			t.Errorf("duration(%s) = %q, want %q", d, got, want)
		}
	}
	if got := humanBytes(3 << 20); got != "3.0 MiB" {
		t.Errorf("humanBytes %q", got)
	}
	if got := fit("hello world", 5); got != "hell…" {
		t.Errorf("fit %q", got)
	}
	if got := fit("hi", 4); got != "hi  " {
		t.Errorf("fit pads: %q", got)
	}
	total := uint64(200)
	for _, c := range []struct {
		p    model.Progress
		text string
	}{
		{model.Progress{}, "waiting"},
		{model.Progress{Kind: model.ProgressIndeterminate}, "working"},
		{model.Progress{Kind: model.ProgressComplete}, "done"},
		{model.Progress{Kind: model.ProgressMeasured, Done: 50, Total: &total}, "25%"},
		{model.Progress{Kind: model.ProgressMeasured, Done: 2048, Units: "bytes"}, "2.0 KiB"},
	} {
		if _, _, text := progressText(c.p); text != c.text {
			t.Errorf("%+v: %q, want %q", c.p, text, c.text)
		}
	}
	if got := highlight("Error: ERROR", "error"); got != "Error: ERROR" {
		t.Errorf("highlight lost text: %q", got)
	}
}
