package ui

import (
	"strings"

	"github.com/charmbracelet/bubbles/key"
)

func bind(keys []string, help, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(help, desc))
}

// keys is every key the console answers to; help lists them all.
var keys = struct {
	Quit, Help, NextTab, PrevTab, Dashboard, Services, Logs, Notifications, Back key.Binding
	Marketplace, Settings, SendTest                                              key.Binding
	Up, Down, PageUp, PageDown, Top, Bottom, Enter, Filter                       key.Binding
	Install, Start, Stop, Restart, Uninstall, ServiceLogs                        key.Binding
	Follow, NextMatch, PrevMatch, DaemonLog, Wrap, Scroll                        key.Binding
	ToggleSeen, AllSeen, Delete, DeleteAll                                       key.Binding
	Backups, AddTarget, BackupNow, RestoreSnapshot                               key.Binding
	Copy, Toggle, Choose, NextField, PrevField                                   key.Binding
}{
	Quit:          bind([]string{"q", "ctrl+c"}, "q", "quit"),
	Help:          bind([]string{"?"}, "?", "help"),
	NextTab:       bind([]string{"tab"}, "tab", "next view"),
	PrevTab:       bind([]string{"shift+tab"}, "shift+tab", "previous view"),
	Dashboard:     bind([]string{"1"}, "1", "dashboard"),
	Services:      bind([]string{"2"}, "2", "services"),
	Logs:          bind([]string{"3"}, "3", "logs"),
	Notifications: bind([]string{"4"}, "4", "notifications"),
	Backups:       bind([]string{"5"}, "5", "backups"),
	Back:          bind([]string{"esc"}, "esc", "back / close"),
	Marketplace:   bind([]string{"6"}, "6", "marketplace"),
	Settings:      bind([]string{"7"}, "7", "settings"),
	SendTest:      bind([]string{"t"}, "t", "send a test"),

	Up:       bind([]string{"up", "k"}, "↑/k", "up"),
	Down:     bind([]string{"down", "j"}, "↓/j", "down"),
	PageUp:   bind([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
	PageDown: bind([]string{"pgdown", "ctrl+f", " "}, "pgdn", "page down"),
	Top:      bind([]string{"home", "g"}, "g/home", "top"),
	Bottom:   bind([]string{"end", "G"}, "G/end", "bottom"),
	Enter:    bind([]string{"enter"}, "enter", "open / run"),
	Filter:   bind([]string{"/"}, "/", "filter/search"),

	Install:     bind([]string{"i"}, "i", "install a file"),
	Start:       bind([]string{"s"}, "s", "start"),
	Stop:        bind([]string{"t"}, "t", "stop"),
	Restart:     bind([]string{"r"}, "r", "restart"),
	Uninstall:   bind([]string{"u"}, "u", "uninstall"),
	ServiceLogs: bind([]string{"l"}, "l", "logs"),

	Follow:    bind([]string{"f"}, "f", "follow"),
	NextMatch: bind([]string{"n"}, "n", "next match"),
	PrevMatch: bind([]string{"N"}, "N", "previous match"),
	DaemonLog: bind([]string{"d"}, "d", "daemon log"),
	Wrap:      bind([]string{"w"}, "w", "wrap lines"),
	Scroll:    bind([]string{"left", "right"}, "←/→", "scroll sideways"),

	ToggleSeen: bind([]string{"m"}, "m", "(un)seen"),
	AllSeen:    bind([]string{"a"}, "a", "all seen"),
	Delete:     bind([]string{"x", "delete"}, "x/del", "delete"),
	DeleteAll:  bind([]string{"X"}, "X", "delete all"),

	AddTarget:       bind([]string{"a"}, "a", "add target"),
	BackupNow:       bind([]string{"b"}, "b", "back up now"),
	RestoreSnapshot: bind([]string{"r"}, "r", "restore"),

	Copy:      bind([]string{"c"}, "c", "copy value"),
	Toggle:    bind([]string{" "}, "space", "toggle"),
	Choose:    bind([]string{"left", "right"}, "←/→", "choose"),
	NextField: bind([]string{"tab", "down"}, "tab/↓", "next field"),
	PrevField: bind([]string{"shift+tab", "up"}, "⇧tab/↑", "prev field"),
}

// helpGroups is the help screen: every key, by where it works.
func helpGroups() []helpGroup {
	k := keys
	return []helpGroup{
		{"Everywhere", []key.Binding{k.Dashboard, k.Services, k.Logs, k.Notifications, k.Backups, k.Marketplace, k.Settings, k.NextTab, k.PrevTab, k.Help, k.Back, k.Quit}},
		{"Lists", []key.Binding{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom, k.Enter, k.Filter}},
		{"Services", []key.Binding{k.Install, k.Start, k.Stop, k.Restart, k.Uninstall, k.ServiceLogs}},
		{"Logs", []key.Binding{k.Follow, k.NextMatch, k.PrevMatch, k.DaemonLog}},
		{"Notifications", []key.Binding{k.Enter, k.ToggleSeen, k.AllSeen, k.Delete, k.DeleteAll}},
		{"Backups", []key.Binding{k.AddTarget, k.BackupNow, k.RestoreSnapshot}},
		{"Forms and results", []key.Binding{k.NextField, k.PrevField, k.Toggle, k.Choose, k.Enter, k.Copy}},
	}
}

type helpGroup struct {
	title string
	keys  []key.Binding
}

// shortHelp is a footer's bindings.
func shortHelp(bs ...key.Binding) []key.Binding { return bs }

// renderHelp renders bindings as "key desc • key desc", as many whole
// entries as fit in w cells.
func renderHelp(bs []key.Binding, w int) string {
	var b strings.Builder
	used := 0
	for i, k := range bs {
		h := k.Help()
		n := len([]rune(h.Key)) + 1 + len([]rune(h.Desc))
		sep := 0
		if i > 0 {
			sep = 3
		}
		if used+sep+n > w {
			break
		}
		if i > 0 {
			b.WriteString(stDim.Render(" • "))
		}
		b.WriteString(stBold.Render(h.Key) + " " + stDim.Render(h.Desc))
		used += sep + n
	}
	return b.String()
}
