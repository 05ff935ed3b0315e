package ui

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/startos-go/startos/frontends/tui/live"
	"github.com/startos-go/startos/startos/model"
)

type installStage int

const (
	installPrompt    installStage = iota // typing the path
	installUploading                     // package.sideload asked, file on its way
	installRunning                       // the daemon's phases, from the state document
	installDone
	installFailed
)

// installModal sideloads a package from a file: package.sideload gives a
// one-shot upload id, the file is POSTed to /rest/rpc/<id>, and the install
// then shows in the state document (stateInfo.installingInfo.progress),
// phase by phase.
type installModal struct {
	stage  installStage
	path   lineInput
	file   string
	cancel context.CancelFunc
	before map[string]bool // packages already being installed when this began
	known  map[string]bool // packages present when this began
	pkg    string          // the package this install created, once seen
	err    error
}

func newInstallModal() *installModal { return &installModal{} }

func (im *installModal) fail(err error) {
	if im.stage == installDone {
		return
	}
	im.stage, im.err = installFailed, err
	if im.cancel != nil {
		im.cancel()
	}
}

func busy(s model.PackageState) bool {
	return s == model.PackageInstalling || s == model.PackageUpdating || s == model.PackageRestoring
}

// observe follows the install in a new revision of the state.
func (im *installModal) observe(st *live.State) {
	if im.stage != installUploading && im.stage != installRunning {
		return
	}
	if im.pkg == "" {
		// The install shows as a package busy that was not, or, when it
		// went faster than a frame, as a package installed that was not
		// there.
		for id, e := range st.Doc.PackageData {
			if busy(e.StateInfo.State) && !im.before[id] || e.StateInfo.State == model.PackageInstalled && !im.known[id] {
				im.pkg, im.stage = id, installRunning
				break
			}
		}
		if im.pkg == "" {
			return
		}
	}
	e, ok := st.Doc.PackageData[im.pkg]
	switch {
	case !ok:
		im.fail(fmt.Errorf("the install of %s failed and was undone; the notifications say why", im.pkg))
	case e.StateInfo.State == model.PackageInstalled:
		// The upload's request is left to finish: the daemon answers it
		// when the install is done, and cancelling it could cut that short.
		im.stage = installDone
	}
}

func (im *installModal) update(m *Model, k tea.KeyMsg) tea.Cmd {
	switch im.stage {
	case installPrompt:
		switch k.Type {
		case tea.KeyEsc:
			m.modal = nil
		case tea.KeyEnter:
			im.file = expandPath(im.path.Value())
			im.stage, im.err, im.pkg = installUploading, nil, ""
			im.before, im.known = map[string]bool{}, map[string]bool{}
			if m.state != nil {
				for id, e := range m.state.Doc.PackageData {
					im.known[id] = true
					if busy(e.StateInfo.State) {
						im.before[id] = true
					}
				}
			}
			m.upload = nil
			return sideloadCmd(m.box, im.file)
		default:
			im.path.handle(k)
		}
	case installDone:
		switch {
		case key.Matches(k, keys.Enter):
			m.modal = nil
			m.tab = tabServices
			if im.pkg == "" {
				return nil
			}
			return m.openPage(im.pkg)
		case key.Matches(k, keys.Back, keys.Quit):
			m.modal = nil
		}
	case installFailed:
		switch {
		case k.String() == "r":
			im.stage, im.err = installPrompt, nil
		case key.Matches(k, keys.Back, keys.Enter, keys.Quit):
			m.modal = nil
		}
	default:
		// Leaving does not stop an install the daemon has begun; it goes on
		// in the services list. An upload still under way is cancelled.
		if key.Matches(k, keys.Back) {
			if im.stage == installUploading && im.pkg == "" && im.cancel != nil {
				im.cancel()
				m.setStatus("upload cancelled", false)
			}
			m.modal = nil
		}
	}
	return nil
}

// uploaded takes the upload's verdict. The daemon answers the upload when
// the install is done, so success means installed, whether or not a
// revision showed which package it was.
func (m *Model) uploaded(err error) {
	im, ok := m.modal.(*installModal)
	if !ok {
		return
	}
	if err != nil {
		im.fail(err)
		return
	}
	if m.state != nil {
		im.observe(m.state)
	}
	if im.stage == installUploading || im.stage == installRunning {
		im.stage = installDone
	}
}

// sideloaded starts the upload once the daemon gave an id.
func (m *Model) sideloaded(msg sideloadMsg) tea.Cmd {
	im, ok := m.modal.(*installModal)
	if !ok || im.stage != installUploading {
		return nil
	}
	if msg.err != nil {
		im.fail(msg.err)
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	im.cancel = cancel
	return uploadCmd(ctx, m.box, msg.upload, msg.path)
}

func (im *installModal) footer() []key.Binding {
	switch im.stage {
	case installPrompt:
		return shortHelp(bind(nil, "enter", "install"), bind(nil, "esc", "cancel"))
	case installDone:
		return shortHelp(bind(nil, "enter", "open it"), bind(nil, "esc", "close"))
	case installFailed:
		return shortHelp(bind(nil, "r", "try again"), bind(nil, "esc", "close"))
	}
	return shortHelp(bind(nil, "esc", "close (the install goes on)"))
}

func (im *installModal) view(m *Model, w, h int) []string {
	switch im.stage {
	case installPrompt:
		lines := []string{
			"A signed .s9pk package file on this computer. ~ is your home folder.",
			"",
			"File: " + im.path.view(min(w-16, 60), true),
		}
		return boxed("Install a package", lines, w, h)
	case installFailed:
		return boxed("Install failed", []string{stBad.Render(im.err.Error())}, w, h)
	}
	title := "Installing " + filepath.Base(im.file)
	var lines []string
	if im.pkg != "" {
		mf := m.manifest(im.pkg)
		title = "Installing " + m.title(im.pkg) + " " + mf.Version
	}
	up := m.upload
	switch {
	case up != nil && up.Total > 0:
		lines = append(lines, fit("Upload", 20)+" "+stInfo.Render(bar(float64(up.Sent), float64(up.Total), 30))+
			fmt.Sprintf(" %s / %s", humanBytes(up.Sent), humanBytes(up.Total)))
	case im.stage == installUploading:
		lines = append(lines, stDim.Render("Asking the daemon for an upload…"))
	}
	if im.pkg != "" && m.state != nil {
		if e, ok := m.state.Doc.PackageData[im.pkg]; ok && e.StateInfo.InstallingInfo != nil {
			for _, l := range phaseLines(e.StateInfo.InstallingInfo.Progress, w-10) {
				lines = append(lines, l[3:])
			}
		}
	} else if up != nil && up.Done && up.Err == nil {
		lines = append(lines, "", stDim.Render("Uploaded; waiting for the daemon to begin…"))
	}
	switch {
	case im.stage == installDone && im.pkg == "":
		title = "Installed " + filepath.Base(im.file)
		lines = append(lines, "", stOK.Render("Done. Press enter for the services list."))
	case im.stage == installDone:
		title = "Installed " + m.title(im.pkg) + " " + m.manifest(im.pkg).Version
		lines = append(lines, "", stOK.Render("Done. Press enter to open it."))
	}
	return boxed(title, lines, w, h)
}
