package db

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/startos-go/startos/startos/model"
)

// fill sets every field reachable from v to a non-zero value, creating maps
// (one entry), slices (two elements) and pointers as it goes.
func fill(t *testing.T, v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fill(t, k, depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(t, e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			v.SetBytes([]byte(`{"k":"v"}`))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, v.Field(i), depth+1)
			}
		}
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Uint16:
		v.SetUint(1)
	case reflect.Float64:
		v.SetFloat(1.5)
	default:
		t.Fatalf("fill: unhandled kind %s (%s)", v.Kind(), v.Type())
	}
}

// scribble changes everything reachable from v in place: map entries,
// slice elements, bytes and strings behind pointers.
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			scribble(v.Elem())
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			scribble(e)
			v.SetMapIndex(k, e)
		}
		k := reflect.New(v.Type().Key()).Elem()
		v.SetMapIndex(k, reflect.New(v.Type().Elem()).Elem())
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			// Shared by contract: replaced, never edited in place.
			v.SetBytes([]byte(`"scribbled"`))
			return
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			for i := range v.Len() {
				v.Index(i).SetUint(' ')
			}
			return
		}
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Time{}))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scribble(v.Field(i))
			}
		}
	case reflect.String:
		v.SetString("scribbled")
	case reflect.Bool:
		v.SetBool(false)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint64, reflect.Uint32, reflect.Uint16:
		v.SetUint(7)
	case reflect.Float64:
		v.SetFloat(7)
	}
}

// The clone equals the original, and changing anything in the clone leaves
// the original (a published snapshot) alone. fill reaches every field, so a
// model field added later is covered too.
func TestCloneDocumentIsDeep(t *testing.T) {
	var d model.Document
	fill(t, reflect.ValueOf(&d).Elem(), 0)
	before, err := json.Marshal(&d)
	if err != nil {
		t.Fatal(err)
	}
	c := cloneDocument(&d)
	if got, _ := json.Marshal(c); string(got) != string(before) {
		t.Fatalf("clone differs:\n%s\n%s", got, before)
	}
	scribble(reflect.ValueOf(c).Elem())
	if after, _ := json.Marshal(&d); string(after) != string(before) {
		t.Fatalf("changing the clone changed the original:\n%s\n%s", after, before)
	}
	if got, _ := json.Marshal(c); string(got) == string(before) {
		t.Fatal("scribble changed nothing; the test proves nothing")
	}
}

func TestCloneKeepsNil(t *testing.T) {
	var d model.Document
	c := cloneDocument(&d)
	if c.Public.PackageData != nil || c.Public.UI != nil || c.Private.Notifications != nil {
		t.Fatal("nil collections became non-nil")
	}
	var m map[string]any = map[string]any{"a": []any{map[string]any{"b": 1}}}
	var out map[string]any
	deepCopy(reflect.ValueOf(&out).Elem(), reflect.ValueOf(m))
	out["a"].([]any)[0].(map[string]any)["b"] = 2
	if m["a"].([]any)[0].(map[string]any)["b"] != 1 {
		t.Fatal("interface values were shared")
	}
}
