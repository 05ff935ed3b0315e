package ui

// Every RPC the console makes, in one file. The package.* methods are
// StartOS's names and shapes (package.start/stop/restart {id},
// package.uninstall {id, soft?, force?}, package.action.get-input and
// package.action.run {packageId, actionId, ...}, package.sideload); they are
// new in this daemon, so this is the one place to adjust.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/startos-go/startos/startos/model"
)

const (
	callTimeout   = 15 * time.Second
	actionTimeout = 5 * time.Minute
	uploadTimeout = time.Hour
)

type idParams struct {
	ID string `json:"id"`
}

type uninstallParams struct {
	ID    string `json:"id"`
	Soft  bool   `json:"soft,omitempty"`
	Force bool   `json:"force,omitempty"`
}

type actionRef struct {
	PackageID string `json:"packageId"`
	ActionID  string `json:"actionId"`
}

type actionRunParams struct {
	PackageID string          `json:"packageId"`
	ActionID  string          `json:"actionId"`
	EventID   string          `json:"eventId,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

// actionInput is package.action.get-input's answer.
type actionInput struct {
	EventID string          `json:"eventId"`
	Spec    json.RawMessage `json:"spec"`
	Value   json.RawMessage `json:"value"`
}

// sideloadResult is package.sideload's answer: StartOS gives {upload,
// progress}; a bare upload id is accepted too.
type sideloadResult struct {
	Upload   string `json:"upload"`
	Progress string `json:"progress"`
}

func (r *sideloadResult) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		r.Upload = s
		return nil
	}
	type plain sideloadResult
	return json.Unmarshal(b, (*plain)(r))
}

// Results of the calls, as messages to Update.
type (
	controlDoneMsg struct {
		method, id string
		err        error
	}
	actionInputMsg struct {
		pkg, action string
		input       actionInput
		err         error
	}
	actionRunMsg struct {
		pkg, action string
		result      json.RawMessage
		err         error
	}
	notificationsMsg struct {
		items []model.Notification
		err   error
	}
	notificationDoneMsg struct {
		method string
		err    error
	}
	loginDoneMsg struct{ err error }
	sideloadMsg  struct {
		path, upload string
		err          error
	}
	uploadDoneMsg struct{ err error }
	copiedMsg     struct{ err error }
)

func call(b Box, timeout time.Duration, method string, params, result any) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return b.Call(ctx, method, params, result)
}

// controlCmd is package.start, package.stop or package.restart.
func controlCmd(b Box, method, id string) tea.Cmd {
	return func() tea.Msg {
		return controlDoneMsg{method: method, id: id, err: call(b, callTimeout, method, idParams{ID: id}, nil)}
	}
}

func uninstallCmd(b Box, id string, soft bool) tea.Cmd {
	const method = "package.uninstall"
	return func() tea.Msg {
		return controlDoneMsg{method: method, id: id, err: call(b, callTimeout, method, uninstallParams{ID: id, Soft: soft}, nil)}
	}
}

func actionInputCmd(b Box, pkg, action string) tea.Cmd {
	return func() tea.Msg {
		var in *actionInput // the answer may be null: no form after all
		err := call(b, callTimeout, "package.action.get-input", actionRef{PackageID: pkg, ActionID: action}, &in)
		msg := actionInputMsg{pkg: pkg, action: action, err: err}
		if in != nil {
			msg.input = *in
		}
		return msg
	}
}

func actionRunCmd(b Box, pkg, action, eventID string, input json.RawMessage) tea.Cmd {
	return func() tea.Msg {
		var res json.RawMessage
		err := call(b, actionTimeout, "package.action.run",
			actionRunParams{PackageID: pkg, ActionID: action, EventID: eventID, Input: input}, &res)
		return actionRunMsg{pkg: pkg, action: action, result: res, err: err}
	}
}

// notificationsLimit is how many notifications the list shows.
const notificationsLimit = 100

func notificationsCmd(b Box) tea.Cmd {
	return func() tea.Msg {
		limit := notificationsLimit
		var items []model.Notification
		err := call(b, callTimeout, "notification.list", model.NotificationListParams{Limit: &limit}, &items)
		return notificationsMsg{items: items, err: err}
	}
}

// notificationCmd is notification.mark-seen, mark-unseen, remove (with
// ids) or mark-seen-before, remove-before (with before).
func notificationCmd(b Box, method string, params any) tea.Cmd {
	return func() tea.Msg {
		return notificationDoneMsg{method: method, err: call(b, callTimeout, method, params, nil)}
	}
}

func loginCmd(b Box, password string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		return loginDoneMsg{err: b.Login(ctx, password)}
	}
}

// expandPath resolves ~ and makes the path absolute, for messages.
func expandPath(p string) string {
	p = strings.TrimSpace(p)
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	if abs, err := filepath.Abs(p); err == nil && p != "" {
		p = abs
	}
	return p
}

// sideloadCmd checks the file, then asks the daemon for an upload id.
func sideloadCmd(b Box, path string) tea.Cmd {
	return func() tea.Msg {
		if path == "" {
			return sideloadMsg{err: errors.New("type the path of a .s9pk file")}
		}
		st, err := os.Stat(path)
		switch {
		case err != nil:
			return sideloadMsg{path: path, err: err}
		case !st.Mode().IsRegular():
			return sideloadMsg{path: path, err: fmt.Errorf("%s is not a regular file", path)}
		}
		var res sideloadResult
		err = call(b, callTimeout, "package.sideload", struct{}{}, &res)
		if err == nil && res.Upload == "" {
			err = errors.New("package.sideload: the answer has no upload id")
		}
		return sideloadMsg{path: path, upload: res.Upload, err: err}
	}
}

// uploadCmd sends the file. The daemon answers when the install is done,
// so the call lasts as long as the install; ctx lets the user cancel an
// upload still under way.
func uploadCmd(ctx context.Context, b Box, upload, path string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, uploadTimeout)
		defer cancel()
		return uploadDoneMsg{err: b.Upload(ctx, upload, path)}
	}
}

func copyCmd(copy func(string) error, s string) tea.Cmd {
	return func() tea.Msg {
		if copy == nil {
			return copiedMsg{err: errors.New("this terminal gives no clipboard; select the text with the mouse")}
		}
		return copiedMsg{err: copy(s)}
	}
}
