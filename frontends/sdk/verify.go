package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/startos-go/startos/startos/s9pk"
)

// verifyReport is what verify prints with --format json.
type verifyReport struct {
	OK         bool             `json:"ok"`
	File       string           `json:"file"`
	ID         string           `json:"id,omitempty"`
	Version    string           `json:"version,omitempty"`
	Arches     []string         `json:"arches,omitempty"`
	Commitment *s9pk.Commitment `json:"commitment,omitempty"`
	PublicKey  string           `json:"publicKey,omitempty"`
	Problems   []s9pk.Problem   `json:"problems"`
}

func (e *env) verify(c *cli.Context) error {
	jsonOut, err := checkFormat(c)
	if err != nil {
		return err
	}
	args := c.Args().Slice()
	if len(args) == 2 && args[0] == "s9pk" { // StartOS 0.3: start-sdk verify s9pk FILE
		fmt.Fprintln(e.stderr, "start-sdk: note: `verify s9pk FILE` is the StartOS 0.3 form; here it is `verify FILE`")
		args = args[1:]
	}
	if len(args) != 1 {
		return usageError("verify takes one archive")
	}
	file := args[0]
	rep := verifyReport{File: file, Problems: []s9pk.Problem{}}
	a, err := s9pk.OpenFile(file, &s9pk.Options{LaxManifest: true})
	if err != nil {
		// The signature, a table of contents or the manifest's encoding is
		// wrong: nothing else can be trusted enough to check.
		rep.Problems = append(rep.Problems, s9pk.Problem{Message: err.Error()})
	} else {
		defer a.Close()
		commit := a.Commitment()
		rep.Commitment = &commit
		pub, _ := s9pk.MarshalPublicKey(a.PublicKey())
		rep.PublicKey = string(pub)
		rep.Arches = a.Arches()
		if m := a.Manifest(); m != nil {
			rep.ID, rep.Version = m.ID, m.Version.String()
		}
		p := newProgress(e.stderr, "verifying "+file, 0)
		rep.Problems = append(rep.Problems, a.Check(func(done, total int64) { p.total = total; p.set(done) })...)
		p.finish()
	}
	rep.OK = len(rep.Problems) == 0
	if jsonOut {
		if err := writeJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		if rep.OK {
			fmt.Fprintf(e.stdout, "OK: %s is %s %s for %s, signed by the key below\n%s",
				file, rep.ID, rep.Version, strings.Join(rep.Arches, ", "), rep.PublicKey)
		} else {
			fmt.Fprintf(e.stdout, "FAILED: %s has %d problem(s):\n", file, len(rep.Problems))
			for _, p := range rep.Problems {
				fmt.Fprintf(e.stdout, "  %s\n", p)
			}
		}
	}
	if !rep.OK {
		return cli.Exit("", 1)
	}
	return nil
}

func (e *env) inspect(c *cli.Context) error {
	jsonOut, err := checkFormat(c)
	if err != nil {
		return err
	}
	args := c.Args().Slice()
	if len(args) == 2 && args[0] == "manifest" { // StartOS 0.3: start-sdk inspect manifest FILE
		fmt.Fprintln(e.stderr, "start-sdk: note: `inspect manifest FILE` is the StartOS 0.3 form; here it is `inspect FILE manifest`")
		args = []string{args[1], args[0]}
	}
	if len(args) < 1 {
		return usageError("usage: start-sdk inspect FILE [manifest|file-tree|cat PATH|commitment]")
	}
	a, err := s9pk.OpenFile(args[0], &s9pk.Options{LaxManifest: true})
	if err != nil {
		return err
	}
	defer a.Close()
	if len(args) == 1 {
		return e.summary(args[0], a, jsonOut)
	}
	what, rest := args[1], args[2:]
	if what != "cat" && len(rest) > 0 {
		return usageError("inspect %s takes no further arguments", what)
	}
	switch what {
	case "manifest":
		var b bytes.Buffer
		if jsonOut {
			err = json.Compact(&b, a.ManifestJSON())
		} else {
			err = json.Indent(&b, a.ManifestJSON(), "", "  ")
		}
		if err != nil {
			return err
		}
		b.WriteByte('\n')
		_, err = e.stdout.Write(b.Bytes())
		return err
	case "file-tree":
		return e.fileTree(a.Archive, jsonOut)
	case "cat":
		if len(rest) != 1 {
			return usageError("usage: start-sdk inspect FILE cat PATH")
		}
		r, err := a.Open(rest[0])
		if err != nil {
			return err
		}
		defer r.Close()
		_, err = io.Copy(e.stdout, r)
		return err
	case "commitment":
		commit := a.Commitment()
		if jsonOut {
			return writeJSON(e.stdout, commit)
		}
		b, _ := json.Marshal(commit)
		var j struct {
			RootSighash string `json:"rootSighash"`
			RootMaxsize uint64 `json:"rootMaxsize"`
		}
		_ = json.Unmarshal(b, &j)
		fmt.Fprintf(e.stdout, "rootSighash: %s\nrootMaxsize: %d\nquery:       %s\n", j.RootSighash, j.RootMaxsize, commit.Query())
		return nil
	}
	return usageError("unknown inspect target %q: want manifest, file-tree, cat PATH or commitment", what)
}

type treeEntry struct {
	Path     string `json:"path"`
	Type     string `json:"type"`
	Size     int64  `json:"size"`
	Hash     string `json:"hash"`
	Position int64  `json:"position"`
}

func (e *env) fileTree(a *s9pk.Archive, jsonOut bool) error {
	var entries []treeEntry
	_ = a.Walk(func(en *s9pk.Entry) error {
		t := treeEntry{Path: en.Path, Type: en.Type.String(), Size: en.Size, Hash: hex.EncodeToString(en.Hash[:]), Position: en.Pos}
		if en.Type == s9pk.DirEntry {
			t.Size = en.TOCSize
		}
		entries = append(entries, t)
		return nil
	})
	if jsonOut {
		return writeJSON(e.stdout, entries)
	}
	width := 0
	for _, t := range entries {
		width = max(width, len(t.Path)+1)
	}
	for _, t := range entries {
		name := t.Path
		if t.Type == "directory" {
			name += "/"
		}
		fmt.Fprintf(e.stdout, "%-*s %12d  %s…\n", width, name, t.Size, t.Hash[:16])
	}
	return nil
}

// inspectSummary is `start-sdk inspect FILE`: what a person wants to know
// first of an archive.
type inspectSummary struct {
	File      string   `json:"file"`
	ID        string   `json:"id"`
	Title     string   `json:"title"`
	Version   string   `json:"version"`
	Arches    []string `json:"arches"`
	Files     int      `json:"files"`
	Bytes     int64    `json:"bytes"`
	PublicKey string   `json:"publicKey"`
}

func (e *env) summary(file string, a *s9pk.File, jsonOut bool) error {
	sum := inspectSummary{File: file, Arches: a.Arches()}
	if m := a.Manifest(); m != nil {
		sum.ID, sum.Title, sum.Version = m.ID, m.Title, m.Version.String()
	}
	if err := a.Walk(func(en *s9pk.Entry) error {
		if en.Type != s9pk.DirEntry {
			sum.Files++
			sum.Bytes += en.Size
		}
		return nil
	}); err != nil {
		return err
	}
	pub, _ := s9pk.MarshalPublicKey(a.PublicKey())
	sum.PublicKey = strings.TrimSpace(string(pub))
	if jsonOut {
		return writeJSON(e.stdout, sum)
	}
	_, err := fmt.Fprintf(e.stdout, "%s: %s %s (%s)\narches: %s\nfiles:  %d, %d bytes\nsigned by:\n%s\nmore: start-sdk inspect %s manifest|file-tree|commitment\n",
		file, sum.Title, sum.Version, sum.ID, strings.Join(sum.Arches, ", "), sum.Files, sum.Bytes, sum.PublicKey, file)
	return err
}
