package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/startos-go/startos/internal/golden"
)

// goldenDir holds one outline per screen: what a person can read and
// operate on it (headings, labels, controls, table headers), in order. It
// is compared exactly, so a screen that loses a label or a button fails;
// pixels are not compared (fonts and timing differ between machines): the
// PNGs in testdata/screens are for people to look at.
const goldenDir = "testdata/golden"

// outlineJS lists the screen's landmarks and controls. Values that change
// from run to run are left out: digits become #, and the text of badges,
// counters, codes and anything marked data-volatile is dropped.
const outlineJS = `(() => {
  const skip = '.badge, .count, .icon, code, time, [data-volatile], .sr-only';
  const text = (el) => {
    const c = el.cloneNode(true);
    c.querySelectorAll(skip).forEach((n) => n.remove());
    return c.textContent.replace(/\s+/g, ' ').trim().replace(/[0-9]+/g, '#');
  };
  const label = (el) => {
    const l = (el.id && document.querySelector('label[for="' + el.id + '"]')) || el.closest('label');
    return el.getAttribute('aria-label') || (l ? text(l) : '') || el.getAttribute('placeholder') || '';
  };
  const out = [];
  for (const el of document.querySelectorAll('h1, h2, h3, nav a, main a, button, input, select, textarea, th, legend, dialog, [role=alert]:not(:empty), [role=status]:not(:empty)')) {
    if (el.closest(skip) || el.closest('.log')) continue;
    const tag = el.tagName.toLowerCase();
    let line;
    if (tag === 'input' || tag === 'select' || tag === 'textarea') line = tag + (el.type && tag === 'input' ? '[' + el.type + ']' : '') + ' "' + label(el).replace(/[0-9]+/g, '#') + '"';
    else if (el.matches('[role=alert], [role=status]')) line = el.getAttribute('role') + (el.id ? '#' + el.id : '');
    else if (tag === 'button' || tag === 'a') line = tag + ' "' + (text(el) || label(el).replace(/[0-9]+/g, '#')) + '"';
    else line = tag + ' "' + text(el) + '"';
    out.push(line);
  }
  return out.join('\n') + '\n';
})()`

// golden compares the screen's outline with testdata/golden/<name>.txt.
func (p *page) golden(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](outlineJS))
	cancel()
	if err != nil {
		p.fail("outline of "+name, err)
	}
	file := filepath.Join(goldenDir, name+".txt")
	if golden.Update() {
		if err := os.MkdirAll(goldenDir, 0o755); err != nil {
			p.t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			p.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		p.t.Errorf("screen %s: no golden outline (%v); run go test -run %s -update ./frontends/web and review %s", name, err, p.t.Name(), file)
		return
	}
	if got != string(want) {
		p.t.Errorf("screen %s differs from %s (run with -update after checking the screenshots):\n%s", name, file, lineDiff(string(want), got))
	}
}

// lineDiff shows the lines only one side has.
func lineDiff(want, got string) string {
	count := func(s string) map[string]int {
		m := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			m[l]++
		}
		return m
	}
	w, g := count(want), count(got)
	var b strings.Builder
	for _, l := range strings.Split(want, "\n") {
		if g[l] < w[l] {
			b.WriteString("- " + l + "\n")
			g[l]++
		}
	}
	w, g = count(want), count(got)
	for _, l := range strings.Split(got, "\n") {
		if w[l] < g[l] {
			b.WriteString("+ " + l + "\n")
			w[l]++
		}
	}
	return b.String()
}
