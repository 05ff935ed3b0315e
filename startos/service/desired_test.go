package service

import (
	"encoding/json"
	"testing"

	"github.com/startos-go/startos/startos/manifest"
	"github.com/startos-go/startos/startos/model"
)

var (
	stopped   = model.DesiredStatus{Main: model.DesiredStopped}
	running   = model.DesiredStatus{Main: model.DesiredRunning}
	rTrue     = restarting(true)
	rFalse    = restarting(false)
	backStart = model.DesiredStatus{Main: model.DesiredBackingUp, OnComplete: "start"}
	backStop  = model.DesiredStatus{Main: model.DesiredBackingUp, OnComplete: "stop"}
)

func name(d model.DesiredStatus) string {
	switch d.Main {
	case model.DesiredRestarting:
		if restartAgain(d) {
			return "restarting{true}"
		}
		return "restarting{false}"
	case model.DesiredBackingUp:
		return "backing-up{" + d.OnComplete + "}"
	}
	return d.Main
}

// TestDesiredTable is StartOS's §3.2 table, row by row.
func TestDesiredTable(t *testing.T) {
	tests := []struct {
		before                    model.DesiredStatus
		start, stop               model.DesiredStatus
		restartStarted, restartNo model.DesiredStatus
		backup                    model.DesiredStatus
	}{
		{stopped, running, stopped, stopped, stopped, backStop},
		{running, running, stopped, rFalse, rFalse, backStart},
		{rTrue, rTrue, stopped, rTrue, rTrue, backStart},
		{rFalse, rFalse, stopped, rFalse, rTrue, backStart},
		{backStart, backStart, backStop, backStart, backStart, backStart},
		{backStop, backStart, backStop, backStop, backStop, backStop},
	}
	for _, tt := range tests {
		t.Run(name(tt.before), func(t *testing.T) {
			check := func(op string, got, want model.DesiredStatus) {
				t.Helper()
				if name(got) != name(want) {
					t.Errorf("%s from %s = %s, want %s", op, name(tt.before), name(got), name(want))
				}
			}
			check("start", desiredOnStart(tt.before), tt.start)
			check("stop", desiredOnStop(tt.before), tt.stop)
			check("restart (started)", desiredOnRestart(tt.before, true), tt.restartStarted)
			check("restart (not started)", desiredOnRestart(tt.before, false), tt.restartNo)
			check("backup", desiredOnBackup(tt.before), tt.backup)
		})
	}
}

func TestDesiredRuntimeRules(t *testing.T) {
	tests := []struct {
		before           model.DesiredStatus
		onStarted, boot  model.DesiredStatus
		stopUp, stopDown bool // wantsStop with started true / false
		runDown          bool // wantsRun with started false
	}{
		{stopped, stopped, stopped, true, true, false},
		{running, running, running, false, false, true},
		{rTrue, rFalse, running, true, false, true},
		{rFalse, running, running, true, false, true},
		{backStart, backStart, running, true, true, false},
		{backStop, backStop, stopped, true, true, false},
	}
	for _, tt := range tests {
		t.Run(name(tt.before), func(t *testing.T) {
			if got := desiredOnStarted(tt.before); name(got) != name(tt.onStarted) {
				t.Errorf("on started: %s, want %s", name(got), name(tt.onStarted))
			}
			if got := desiredOnBoot(tt.before); name(got) != name(tt.boot) {
				t.Errorf("on boot: %s, want %s", name(got), name(tt.boot))
			}
			if got := wantsStop(tt.before, true); got != tt.stopUp {
				t.Errorf("wantsStop(started) = %v", got)
			}
			if got := wantsStop(tt.before, false); got != tt.stopDown {
				t.Errorf("wantsStop(not started) = %v", got)
			}
			if got := wantsRun(tt.before, false); got != tt.runDown {
				t.Errorf("wantsRun(not started) = %v", got)
			}
		})
	}
}

func TestHealthResult(t *testing.T) {
	hc := &manifest.HealthCheck{Name: "Web", SuccessMessage: "ready"}
	tests := []struct {
		code           int
		stdout, stderr string
		result, msg    string
	}{
		{0, "", "", model.HealthSuccess, "ready"},
		{59, "", "turned off\n", model.HealthDisabled, "turned off"},
		{59, "off by config", "", model.HealthDisabled, "off by config"},
		{60, "", "x", model.HealthStarting, ""},
		{61, "", "syncing 40%\n", model.HealthLoading, "syncing 40%"},
		{1, "", "a\nb\nconnection refused\n", model.HealthFailure, "a\nb\nconnection refused"},
		{2, "", "", model.HealthFailure, "health check exited with code 2"},
	}
	for _, tt := range tests {
		r := healthResult(hc, tt.code, []byte(tt.stdout), []byte(tt.stderr))
		if r.Name != "Web" || r.Result != tt.result || r.Message != tt.msg {
			t.Errorf("exit %d: got %+v, want %s %q", tt.code, r, tt.result, tt.msg)
		}
	}
	// Only the last 1000 lines of stderr are kept.
	var long []byte
	for i := 0; i < 1500; i++ {
		long = append(long, []byte("line\n")...)
	}
	long = append(long, []byte("last")...)
	if r := healthResult(hc, 1, nil, long); len(r.Message) != 999*5+4 {
		t.Errorf("long stderr kept %d bytes", len(r.Message))
	}
}

func TestActionResultParsing(t *testing.T) {
	r := actionResult("json", []byte(`{"version":"0","message":"hi","value":"v","copyable":true,"qr":true}`))
	if r.Message != "hi" || r.Value == nil || *r.Value != "v" || !r.Copyable || !r.QR || r.Version != "0" {
		t.Errorf("json result: %+v", r)
	}
	r = actionResult("yaml", []byte("message: hello\nvalue: null\n"))
	if r.Message != "hello" || r.Value != nil {
		t.Errorf("yaml result: %+v", r)
	}
	r = actionResult("", []byte("plain text\n"))
	if r.Message != "plain text" || r.Value != nil {
		t.Errorf("raw result: %+v", r)
	}
	// On the wire: StartOS's version 1, result null without a value.
	for _, tc := range []struct {
		out, want string
	}{
		{`{"version":"0","message":"hi","value":"v","copyable":true,"qr":true}`,
			`{"version":"1","message":"hi","value":"v","copyable":true,"qr":true,"title":"Act","result":{"type":"single","value":"v","copyable":true,"qr":true,"masked":false}}`},
		{`{"version":"0","message":"hi","value":null,"copyable":false,"qr":false}`,
			`{"version":"1","message":"hi","value":null,"copyable":false,"qr":false,"title":"Act","result":null}`},
	} {
		b, err := json.Marshal(actionResult("json", []byte(tc.out)).V1("Act"))
		if err != nil || string(b) != tc.want {
			t.Errorf("version 1 of %s:\n got %s (%v)\nwant %s", tc.out, b, err, tc.want)
		}
	}
	if _, err := encodeInput("xml", map[string]int{"a": 1}); err == nil {
		t.Error("an unknown io-format accepted")
	}
	b, err := encodeInput("yaml", map[string]int{"a": 1})
	if err != nil || string(b) != "a: 1\n" {
		t.Errorf("yaml input %q %v", b, err)
	}
}
