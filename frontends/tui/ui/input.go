package ui

import (
	"strings"
	"unicode"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
)

// lineInput is a one-line text editor: the keys of a shell prompt, and a
// mask for secrets. (bubbles' textinput would pull in a clipboard module
// this project does not otherwise need.)
type lineInput struct {
	runes []rune
	pos   int
	mask  bool
}

func newInput(s string) lineInput {
	r := []rune(s)
	return lineInput{runes: r, pos: len(r)}
}

func (in *lineInput) Value() string { return string(in.runes) }

func (in *lineInput) Set(s string) {
	*in = lineInput{runes: []rune(s), pos: len([]rune(s)), mask: in.mask}
}

// handle edits for k and reports whether it used the key.
func (in *lineInput) handle(k tea.KeyMsg) bool {
	switch k.Type {
	case tea.KeyRunes, tea.KeySpace:
		r := k.Runes
		if k.Type == tea.KeySpace {
			r = []rune{' '}
		}
		r = []rune(strings.Map(func(c rune) rune {
			if c == '\n' || c == '\r' || c == '\t' {
				return ' '
			}
			return c
		}, string(r)))
		in.runes = append(in.runes[:in.pos], append(r, in.runes[in.pos:]...)...)
		in.pos += len(r)
	case tea.KeyBackspace:
		if in.pos > 0 {
			in.runes = append(in.runes[:in.pos-1], in.runes[in.pos:]...)
			in.pos--
		}
	case tea.KeyDelete, tea.KeyCtrlD:
		if in.pos < len(in.runes) {
			in.runes = append(in.runes[:in.pos], in.runes[in.pos+1:]...)
		}
	case tea.KeyLeft, tea.KeyCtrlB:
		in.pos = max(in.pos-1, 0)
	case tea.KeyRight, tea.KeyCtrlF:
		in.pos = min(in.pos+1, len(in.runes))
	case tea.KeyHome, tea.KeyCtrlA:
		in.pos = 0
	case tea.KeyEnd, tea.KeyCtrlE:
		in.pos = len(in.runes)
	case tea.KeyCtrlU:
		in.runes, in.pos = in.runes[in.pos:], 0
	case tea.KeyCtrlK:
		in.runes = in.runes[:in.pos]
	case tea.KeyCtrlW:
		i := in.pos
		for i > 0 && unicode.IsSpace(in.runes[i-1]) {
			i--
		}
		for i > 0 && !unicode.IsSpace(in.runes[i-1]) {
			i--
		}
		in.runes = append(in.runes[:i], in.runes[in.pos:]...)
		in.pos = i
	default:
		return false
	}
	return true
}

// view renders the text in w cells, keeping the cursor in sight; focused
// shows the cursor as a block.
func (in *lineInput) view(w int, focused bool) string {
	shown := in.runes
	if in.mask {
		shown = []rune(strings.Repeat("•", len(in.runes)))
	}
	if !focused {
		return cut(string(shown), w)
	}
	// Scroll so the cursor fits: show the end of long text.
	start := 0
	if ansi.StringWidth(string(shown[:in.pos]))+1 > w {
		start = in.pos
		for start > 0 && ansi.StringWidth(string(shown[start-1:in.pos]))+1 <= w {
			start--
		}
	}
	before := string(shown[start:in.pos])
	if in.pos < len(shown) {
		under := string(shown[in.pos])
		return cut(before+stSelected.Render(under)+string(shown[in.pos+1:]), w)
	}
	return cut(before+"█", w)
}
