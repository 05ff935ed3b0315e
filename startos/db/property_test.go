package db

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/errdefs"
	"github.com/startos-go/startos/startos/model"
	"github.com/startos-go/startos/startos/patch"
)

// gen makes random documents and random changes to them. Its choices are
// small on purpose (few keys, short strings) so that changes collide with
// what is there: keys removed and re-added, nil against empty, values
// replaced by values of another shape.
type gen struct{ r *rand.Rand }

var rawChoices = []string{``, `null`, `{}`, `{"a":1}`, `{"a":2,"b":[1,2]}`, `{"b":[1,2,3],"c":{"d":"e"}}`, `[1,2,3]`, `"s"`, `true`}

func (g gen) fill(v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Pointer:
		if depth > 6 || g.r.IntN(3) == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		p := reflect.New(v.Type().Elem())
		g.fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Map:
		if depth > 6 || g.r.IntN(5) == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		m := reflect.MakeMap(v.Type())
		for range g.r.IntN(4) {
			k := reflect.New(v.Type().Key()).Elem()
			g.fill(k, depth+1)
			e := reflect.New(v.Type().Elem()).Elem()
			g.fill(e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Slice:
		if v.Type() == rawMessageType {
			s := rawChoices[g.r.IntN(len(rawChoices))]
			if s == "" {
				v.SetBytes(nil)
			} else {
				v.SetBytes([]byte(s))
			}
			return
		}
		if depth > 6 || g.r.IntN(5) == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		s := reflect.MakeSlice(v.Type(), g.r.IntN(4), 4)
		for i := range s.Len() {
			g.fill(s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 1+g.r.IntN(3), 0, 0, 0, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				g.fill(v.Field(i), depth+1)
			}
		}
	case reflect.Interface:
		choices := []any{nil, "s", 1.5, map[string]any{"a": "b"}, []any{"x", 2.0}}
		if c := choices[g.r.IntN(len(choices))]; c != nil {
			v.Set(reflect.ValueOf(c))
		} else {
			v.Set(reflect.Zero(v.Type()))
		}
	case reflect.String:
		v.SetString([]string{"", "a", "b", "x/y~z"}[g.r.IntN(4)])
	case reflect.Bool:
		v.SetBool(g.r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(g.r.IntN(4))) // 0..3 keeps enums such as ProgressKind valid
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(g.r.IntN(4)))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(g.r.IntN(4)) / 2)
	default:
		panic(fmt.Sprintf("gen: unhandled kind %s (%s)", v.Kind(), v.Type()))
	}
}

// change alters v in place as a mutation would: a subtree replaced, map
// keys removed and added, slices grown and cut, fields changed.
func (g gen) change(v reflect.Value, depth int) {
	if g.r.IntN(4) == 0 {
		g.fill(v, depth)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			g.change(v.Elem(), depth+1)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		for _, k := range v.MapKeys() {
			switch g.r.IntN(3) {
			case 0:
				v.SetMapIndex(k, reflect.Value{})
			case 1:
				e := reflect.New(v.Type().Elem()).Elem()
				e.Set(v.MapIndex(k))
				g.change(e, depth+1)
				v.SetMapIndex(k, e)
			}
		}
		if g.r.IntN(2) == 0 {
			k := reflect.New(v.Type().Key()).Elem()
			g.fill(k, depth+1)
			e := reflect.New(v.Type().Elem()).Elem()
			g.fill(e, depth+1)
			v.SetMapIndex(k, e)
		}
	case reflect.Slice:
		if v.IsNil() || v.Type() == rawMessageType {
			return
		}
		switch g.r.IntN(3) {
		case 0:
			v.Set(v.Slice(0, g.r.IntN(v.Len()+1)))
		case 1:
			e := reflect.New(v.Type().Elem()).Elem()
			g.fill(e, depth+1)
			v.Set(reflect.Append(v, e))
		default:
			for i := range v.Len() {
				if g.r.IntN(2) == 0 {
					g.change(v.Index(i), depth+1)
				}
			}
		}
	case reflect.Struct:
		if v.Type() == timeType {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() && g.r.IntN(2) == 0 {
				g.change(v.Field(i), depth+1)
			}
		}
	}
}

func encodeTree(t *testing.T, d *model.Document) any {
	t.Helper()
	raw, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, string(raw))
}

// samePatch reports whether two patches have the same operations at the same
// paths in the same order, with equal values.
func samePatch(a, b model.Patch) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d operations, want %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Op != b[i].Op || a[i].Path != b[i].Path || a[i].From != b[i].From {
			return fmt.Errorf("operation %d is %s %s, want %s %s", i, a[i].Op, a[i].Path, b[i].Op, b[i].Path)
		}
		if (a[i].Value == nil) != (b[i].Value == nil) {
			return fmt.Errorf("operation %d (%s %s): value presence differs", i, a[i].Op, a[i].Path)
		}
		if a[i].Value == nil {
			continue
		}
		va, err := patch.Decode(a[i].Value)
		if err != nil {
			return err
		}
		vb, err := patch.Decode(b[i].Value)
		if err != nil {
			return err
		}
		if !patch.Equal(va, vb) {
			return fmt.Errorf("operation %d (%s %s): value %s, want %s", i, a[i].Op, a[i].Path, a[i].Value, b[i].Value)
		}
	}
	return nil
}

// The patch a mutation produces (from the typed documents, skipping what the
// copy shares) equals the diff of the two documents' JSON encodings, and
// turns the old encoding into the new one, for random documents and random
// changes. The old document is left as it was.
func TestMutationPatchEqualsDiffOfEncodings(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	g := gen{rand.New(rand.NewPCG(seed, 17))}
	changed := 0
	for i := range 3000 {
		before := new(model.Document)
		g.fill(reflect.ValueOf(before).Elem(), 0)
		before.Normalize()
		beforeTree := encodeTree(t, before)

		after := cloneDocument(before)
		g.change(reflect.ValueOf(after).Elem(), 0)
		after.Normalize()

		got, err := diffDocuments(before, after)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		afterTree := encodeTree(t, after)
		want, err := patch.Diff(beforeTree, afterTree)
		if err != nil {
			t.Fatal(err)
		}
		if err := samePatch(got, want); err != nil {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Fatalf("case %d: %v\n got %s\nwant %s", i, err, g, w)
		}
		applied, err := patch.Apply(beforeTree, got)
		if err != nil {
			t.Fatalf("case %d: applying: %v", i, err)
		}
		if !patch.Equal(applied, afterTree) {
			t.Fatalf("case %d: before + patch != after", i)
		}
		if !patch.Equal(encodeTree(t, before), beforeTree) {
			t.Fatalf("case %d: the change reached the old document", i)
		}
		if len(got) > 0 {
			changed++
		}
	}
	if changed < 2000 {
		t.Fatalf("only %d of 3000 cases changed anything; the generator proves little", changed)
	}
}

// The same through the store, with Mutate and MutatePackage taking turns:
// each revision's patch equals the diff of the documents' encodings before
// and after it, and the log replays (across compactions) to the same
// document.
func TestMutateRandomRevisionsReplay(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("STARTOS_TEST_SEED"), 10, 64); err == nil {
		seed = v // to replay a failure
	}
	t.Logf("seed %d (replay with STARTOS_TEST_SEED)", seed)
	g := gen{rand.New(rand.NewPCG(seed, 23))}
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path, Options{CompactEvery: 64})
	ctx := context.Background()
	tree := encodeTree(t, mustRead(s))
	scoped := 0
	for i := range 300 {
		var r model.Revision
		var err error
		ids := s.View().PackageIDs()
		if len(ids) > 0 && g.r.IntN(2) == 0 {
			scoped++
			r, err = s.MutatePackage(ctx, ids[g.r.IntN(len(ids))], func(e *model.PackageDataEntry) error {
				g.change(reflect.ValueOf(e).Elem(), 2)
				return nil
			})
		} else {
			r, err = s.Mutate(ctx, func(d *model.Document) error {
				g.change(reflect.ValueOf(d).Elem(), 0)
				if d.Public.ServerInfo.ID == "" {
					// Open gives a box without an id a new one; no
					// mutation of the product empties it.
					d.Public.ServerInfo.ID = "box-id"
				}
				return nil
			})
		}
		if err != nil {
			t.Fatalf("mutation %d: %v", i, err)
		}
		now := encodeTree(t, mustRead(s))
		want, err := patch.Diff(tree, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := samePatch(r.Patch, want); err != nil {
			t.Fatalf("mutation %d: %v", i, err)
		}
		if tree, err = patch.Apply(tree, r.Patch); err != nil {
			t.Fatalf("mutation %d: applying its patch: %v", i, err)
		}
		if !patch.Equal(tree, now) {
			t.Fatalf("mutation %d: previous document + patch != document", i)
		}
	}
	if scoped < 50 {
		t.Fatalf("only %d MutatePackage calls; the test proves little", scoped)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path, Options{})
	if reopened := encodeTree(t, mustRead(s2)); !patch.Equal(tree, reopened) {
		d, _ := patch.Diff(tree, reopened)
		b, _ := json.Marshal(d)
		t.Fatalf("the reopened document differs: %s", b)
	}
}

func TestMutatePackageOfMissingPackage(t *testing.T) {
	s := openTemp(t, Options{})
	rev := s.Revision()
	called := false
	_, err := s.MutatePackage(context.Background(), "nope", func(*model.PackageDataEntry) error { called = true; return nil })
	if !errors.Is(err, ErrNoPackage) || !errors.Is(err, errdefs.ErrNotFound) || called || s.Revision() != rev {
		t.Fatalf("err %v, called %v, revision %d (was %d)", err, called, s.Revision(), rev)
	}
}

func mustRead(s *Store) *model.Document {
	_, d := s.Read()
	return d
}

// sameValue, which spares the diff two encodings of an unchanged leaf,
// calls a document and its copy the same, and never calls two documents
// that encode differently the same.
func TestSameValueMeansSameEncoding(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	g := gen{rand.New(rand.NewPCG(seed, 29))}
	differ := 0
	for i := range 2000 {
		a := new(model.Document)
		g.fill(reflect.ValueOf(a).Elem(), 0)
		b := cloneDocument(a)
		if !sameValue(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()) {
			t.Fatalf("case %d: a document and its copy are not the same", i)
		}
		g.change(reflect.ValueOf(b).Elem(), 0)
		ea, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		eb, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if string(ea) != string(eb) {
			differ++
			if sameValue(reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()) {
				t.Fatalf("case %d: documents that encode differently are the same:\n%s\n%s", i, ea, eb)
			}
		}
	}
	if differ < 1000 {
		t.Fatalf("only %d of 2000 changes changed the encoding; the test proves little", differ)
	}
}
