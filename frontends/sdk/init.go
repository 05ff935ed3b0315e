package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/manifest"
)

//go:embed template/*.tmpl
var templates embed.FS

// scaffold maps each template to the file it becomes in a new package.
var scaffold = []struct{ tmpl, file string }{
	{"manifest.yaml.tmpl", "manifest.yaml"},
	{"Dockerfile.tmpl", "Dockerfile"},
	{"dockerignore.tmpl", ".dockerignore"},
	{"gitignore.tmpl", ".gitignore"},
	{"go.mod.tmpl", "go.mod"},
	{"main.go.tmpl", "cmd/app/main.go"},
	{"LICENSE.md.tmpl", "LICENSE.md"},
	{"instructions.md.tmpl", "instructions.md"},
	{"config_spec.yaml.tmpl", "assets/compat/config_spec.yaml"},
}

func (e *env) initCmd(c *cli.Context) error {
	if c.Args().Len() > 1 {
		return usageError("init takes at most one folder")
	}
	dir := c.Args().First()
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	id := c.String("id")
	if id == "" {
		id = idFrom(filepath.Base(abs))
	}
	if !manifest.ValidID(id) {
		return usageError("cannot use %q as a package id: use lowercase letters, digits and dashes (--id)", id)
	}
	title := c.String("title")
	if title == "" {
		title = titleFrom(id)
	}
	if err := writeScaffold(abs, id, title); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Created package %s in %s\n", id, dir)
	fmt.Fprintf(e.stdout, "Next:\n  start-sdk key init        # once, if you have no developer key\n  start-sdk pack %s\n  start-sdk verify %s\n",
		dir, filepath.Join(dir, id+".s9pk"))
	return nil
}

// writeScaffold creates the package files in dir, refusing to overwrite any.
func writeScaffold(dir, id, title string) error {
	for _, f := range append(scaffoldFiles(), "icon.png") {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("%s already exists in %s; init writes a new package folder", f, dir)
		}
	}
	funcs := template.FuncMap{"yaml": func(s string) string { b, _ := json.Marshal(s); return string(b) }}
	data := map[string]any{"ID": id, "Title": title, "Year": time.Now().Year()}
	for _, s := range scaffold {
		t, err := template.New(s.tmpl).Funcs(funcs).ParseFS(templates, "template/"+s.tmpl)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, data); err != nil {
			return err
		}
		if err := writeNew(filepath.Join(dir, s.file), b.Bytes()); err != nil {
			return err
		}
	}
	return writeNew(filepath.Join(dir, "icon.png"), icon(id))
}

func scaffoldFiles() []string {
	var out []string
	for _, s := range scaffold {
		out = append(out, s.file)
	}
	return out
}

func writeNew(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

var nonID = regexp.MustCompile(`[^a-z0-9]+`)

// idFrom turns a folder name into a package id: "My App" -> "my-app".
func idFrom(name string) string {
	return strings.Trim(nonID.ReplaceAllString(strings.ToLower(name), "-"), "-")
}

// titleFrom turns an id into a title: "my-app" -> "My App".
func titleFrom(id string) string {
	words := strings.Split(id, "-")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

// icon draws a 128x128 disc in a colour taken from the id, so each new
// package starts with its own icon.
func icon(id string) []byte {
	h := fnv.New32a()
	h.Write([]byte(id))
	sum := h.Sum32()
	fill := color.RGBA{R: byte(sum>>16) | 0x40, G: byte(sum>>8) | 0x40, B: byte(sum) | 0x40, A: 0xff}
	const n = 128
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			dx, dy := float64(x)-n/2+0.5, float64(y)-n/2+0.5
			if dx*dx+dy*dy <= (n/2-2)*(n/2-2) {
				img.Set(x, y, fill)
			}
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}
