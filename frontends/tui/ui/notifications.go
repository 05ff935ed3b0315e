package ui

import (
	"fmt"
	"slices"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/startos-go/startos/startos/model"
)

// notesView is the notifications tab. The list is not in the state
// document (only the unread count is), so it is fetched when the tab opens,
// when the count changes and after each change made here.
type notesView struct {
	items    []model.Notification
	selected uint32 // id under the cursor
	offset   int
	loaded   bool
	loading  bool
	err      error
}

func (v *notesView) setItems(items []model.Notification) {
	v.items = items
	if v.index() < 0 && len(items) > 0 {
		v.selected = items[0].ID
	}
}

// index is the cursor's row, or -1.
func (v *notesView) index() int {
	return slices.IndexFunc(v.items, func(n model.Notification) bool { return n.ID == v.selected })
}

func (v *notesView) current() (model.Notification, bool) {
	if i := v.index(); i >= 0 {
		return v.items[i], true
	}
	return model.Notification{}, false
}

func (m *Model) notesKey(k tea.KeyMsg) tea.Cmd {
	v := &m.notes
	if i, ok := m.listMove(k, max(v.index(), 0), len(v.items)); ok {
		v.selected = v.items[i].ID
		return nil
	}
	cur, ok := v.current()
	switch {
	case !ok:
	case key.Matches(k, keys.Enter):
		m.modal = &noteModal{n: cur}
		if !cur.Seen {
			return notificationCmd(m.box, "notification.mark-seen", model.NotificationIDsParams{IDs: []uint32{cur.ID}})
		}
	case key.Matches(k, keys.ToggleSeen):
		method := "notification.mark-seen"
		if cur.Seen {
			method = "notification.mark-unseen"
		}
		return notificationCmd(m.box, method, model.NotificationIDsParams{IDs: []uint32{cur.ID}})
	case key.Matches(k, keys.AllSeen):
		return notificationCmd(m.box, "notification.mark-seen-before", model.NotificationBeforeParams{Before: v.maxID() + 1})
	case key.Matches(k, keys.Delete):
		// Keep the cursor on the row that slides up into its place.
		if i := v.index(); i+1 < len(v.items) {
			v.selected = v.items[i+1].ID
		} else if i > 0 {
			v.selected = v.items[i-1].ID
		}
		return notificationCmd(m.box, "notification.remove", model.NotificationIDsParams{IDs: []uint32{cur.ID}})
	case key.Matches(k, keys.DeleteAll):
		before := v.maxID() + 1
		m.modal = &confirmModal{
			title: fmt.Sprintf("Delete all %d notifications?", len(v.items)),
			body:  "They cannot be brought back.",
			options: []confirmOption{{key: "y", label: "delete all", run: func(m *Model) tea.Cmd {
				return notificationCmd(m.box, "notification.remove-before", model.NotificationBeforeParams{Before: before})
			}}},
		}
	}
	return nil
}

func (v *notesView) maxID() uint32 {
	var id uint32
	for _, n := range v.items {
		id = max(id, n.ID)
	}
	return id
}

func levelStyle(l model.NotificationLevel) func(...string) string {
	switch l {
	case model.NotificationError:
		return stBad.Render
	case model.NotificationWarning:
		return stWarn.Render
	case model.NotificationSuccess:
		return stOK.Render
	}
	return stInfo.Render
}

func (m *Model) viewNotes(w, h int) []string {
	v := &m.notes
	var lines []string
	switch {
	case v.err != nil:
		lines = append(lines, " "+stBad.Render("notification.list: "+v.err.Error()))
	case !v.loaded:
		return append(lines, "", " "+stDim.Render("Loading notifications…"))
	}
	if len(v.items) == 0 {
		return append(lines, "", " No notifications.")
	}
	rows := h - len(lines)
	cur := max(v.index(), 0)
	v.offset = scrollTo(v.offset, cur, rows, len(v.items))
	for i := v.offset; i < min(v.offset+rows, len(v.items)); i++ {
		n := v.items[i]
		marker, dot := "  ", " "
		if i == cur {
			marker = "> "
		}
		if !n.Seen {
			dot = stWarn.Render("●")
		}
		when := n.CreatedAt.In(m.loc).Format("2006-01-02 15:04")
		title := n.Title
		if n.PackageID != "" {
			title = m.title(n.PackageID) + ": " + title
		}
		title = fit(title, max(w-36, 10))
		if i == cur {
			title = stSelected.Render(title)
		}
		lines = append(lines, marker+dot+" "+stDim.Render(when)+"  "+levelStyle(n.Level)(fmt.Sprintf("%-8s", n.Level))+" "+title)
	}
	return lines
}
