package db

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/startos-go/startos/startos/model"
)

// What Read and View hand out is the caller's: scribbling over all of it
// leaves the document every other reader sees as it was.
func TestReadersGetCopies(t *testing.T) {
	s := openTemp(t, Options{})
	mutate(t, s, func(d *model.Document) error {
		fill(t, reflect.ValueOf(d).Elem(), 0)
		return nil
	})
	_, before := dumpJSON(t, s, "/public")

	_, doc := s.Read()
	scribble(reflect.ValueOf(doc).Elem())
	v := s.View()
	for _, id := range v.PackageIDs() {
		e, ok := v.Package(id)
		if !ok {
			t.Fatalf("package %q listed but missing", id)
		}
		scribble(reflect.ValueOf(&e).Elem())
	}
	for _, e := range v.Packages() {
		scribble(reflect.ValueOf(&e).Elem())
	}
	si := v.ServerInfo()
	scribble(reflect.ValueOf(&si).Elem())
	scribble(reflect.ValueOf(v.Document()).Elem())

	if _, after := dumpJSON(t, s, "/public"); after != before {
		t.Fatalf("a reader's change reached the document:\nbefore %s\nafter  %s", before, after)
	}
	if len(v.PackageIDs()) == 0 {
		t.Fatal("fill made no packages; the test proves nothing")
	}
}

// PackageDataEntry.Clone (hand-written, for fast reads) reaches every
// field: a field added to the model without a line in Clone fails here.
func TestPackageEntryCloneIsDeep(t *testing.T) {
	var e model.PackageDataEntry
	fill(t, reflect.ValueOf(&e).Elem(), 0)
	before, _ := json.Marshal(e)
	c := e.Clone()
	if got, _ := json.Marshal(c); string(got) != string(before) {
		t.Fatalf("clone differs:\n%s\n%s", got, before)
	}
	scribble(reflect.ValueOf(&c).Elem())
	if after, _ := json.Marshal(e); string(after) != string(before) {
		t.Fatalf("changing the clone changed the original:\n%s\n%s", after, before)
	}
}

// bigDocument is like the bench's 5 MB document: packages whose manifests
// carry most of the bytes.
func bigDocument(packages, manifestBytes int) func(*model.Document) error {
	filler := strings.Repeat("x", manifestBytes)
	return func(d *model.Document) error {
		for i := range packages {
			id := fmt.Sprintf("pkg%04d", i)
			d.Public.PackageData[id] = model.PackageDataEntry{
				StateInfo: model.StateInfo{State: model.PackageInstalled,
					Manifest: json.RawMessage(`{"id":"` + id + `","description":"` + filler + `"}`)},
				StatusInfo: model.PackageStatusInfo{Desired: model.DesiredStatus{Main: model.DesiredRunning},
					Health: map[string]model.HealthCheckResult{"main": {Name: "main", Result: model.HealthSuccess}}},
			}
		}
		return nil
	}
}

func BenchmarkMutate5MB(b *testing.B) {
	s := openTemp(b, Options{Logger: nil})
	mutate(b, s, bigDocument(104, 50_000))
	_, d := s.Read()
	next := cloneDocument(d)
	e := next.Public.PackageData["pkg0001"]
	e.StatusInfo.Health = map[string]model.HealthCheckResult{"main": {Name: "main", Result: model.HealthFailure, Message: "down"}}
	next.Public.PackageData["pkg0001"] = e
	b.Run("clone+diff", func(b *testing.B) {
		for b.Loop() {
			c := cloneDocument(d)
			c.Normalize()
			if _, err := diffDocuments(d, next); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			s.Read()
		}
	})
}
