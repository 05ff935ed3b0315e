package ui

// Every RPC the console makes, in one file, with the library's params and
// results (startos/model) so a change of shape fails to compile here.

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

// Results of the calls, as messages to Update.
type (
	controlDoneMsg struct {
		method, id string
		err        error
	}
	actionInputMsg struct {
		pkg, action string
		input       model.ActionInput
		err         error
	}
	actionRunMsg struct {
		pkg, action string
		result      model.ActionResult
		err         error
	}
	packageInfoMsg struct {
		id   string
		info model.PackageInfo
		err  error
	}
	notificationsMsg struct {
		items []model.Notification
		err   error
	}
	notificationDoneMsg struct {
		method string
		err    error
	}
	loginDoneMsg   struct{ err error }
	setupStatusMsg struct{ status string }
	setupDoneMsg   struct{ err error }
	sideloadMsg    struct {
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
		return controlDoneMsg{method: method, id: id, err: call(b, callTimeout, method, model.PackageIDParams{ID: id}, nil)}
	}
}

func uninstallCmd(b Box, id string, soft bool) tea.Cmd {
	const method = "package.uninstall"
	return func() tea.Msg {
		return controlDoneMsg{method: method, id: id, err: call(b, callTimeout, method, model.UninstallParams{ID: id, Soft: soft}, nil)}
	}
}

func actionInputCmd(b Box, pkg, action string) tea.Cmd {
	return func() tea.Msg {
		var in model.ActionInput
		err := call(b, callTimeout, "package.action.get-input", model.ActionInputParams{PackageID: pkg, ActionID: action}, &in)
		return actionInputMsg{pkg: pkg, action: action, input: in, err: err}
	}
}

func actionRunCmd(b Box, pkg, action string, input json.RawMessage) tea.Cmd {
	return func() tea.Msg {
		p := model.ActionParams{PackageID: pkg, ActionID: action}
		if input != nil {
			p.Input = input
		}
		var res model.ActionResult
		err := call(b, actionTimeout, "package.action.run", p, &res)
		return actionRunMsg{pkg: pkg, action: action, result: res, err: err}
	}
}

// packageInfoCmd is package.info: the library's view of one package, with
// its dependencies judged and its interfaces' local addresses.
func packageInfoCmd(b Box, id string) tea.Cmd {
	return func() tea.Msg {
		var info model.PackageInfo
		err := call(b, callTimeout, "package.info", model.PackageIDParams{ID: id}, &info)
		return packageInfoMsg{id: id, info: info, err: err}
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

// setupStatusCmd asks whether the box has an owner; an error reads as
// "it has" (the login box stays).
func setupStatusCmd(b Box) tea.Cmd {
	if b == nil {
		return nil
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		st, err := b.SetupStatus(ctx)
		if err != nil {
			return nil
		}
		return setupStatusMsg{status: st}
	}
}

func setupCmd(b Box, password string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		return setupDoneMsg{err: b.Setup(ctx, password)}
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
		var res model.SideloadResult
		err = call(b, callTimeout, "package.sideload", model.Empty{}, &res)
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
