package db

import (
	"encoding/json"
	"reflect"
	"sync"
	"time"

	"github.com/startos-go/startos/startos/model"
)

// cloneDocument deep-copies d, so a mutation can change the copy while
// readers keep the original. It is the JSON round trip without the JSON:
// maps, slices, pointers and interfaces are copied, everything else (strings,
// numbers, time.Time) is a value. Model types only hold exported data, the
// same data encoding/json would carry.
//
// json.RawMessage is the exception: its bytes (manifests, the UI object,
// notification data: the bulk of a document) are shared, so a copy costs
// the number of maps and structs in the document, not its size. A
// RawMessage in the document is therefore replaced, never edited in place;
// the copy's capacity is clipped so an append reallocates.
func cloneDocument(d *model.Document) *model.Document {
	c := new(model.Document)
	deepCopy(reflect.ValueOf(c).Elem(), reflect.ValueOf(d).Elem())
	return c
}

// cloneValue is cloneDocument for any part of the document.
func cloneValue[T any](v T) T {
	var c T
	deepCopy(reflect.ValueOf(&c).Elem(), reflect.ValueOf(&v).Elem())
	return c
}

func deepCopy(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		deepCopy(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		elem := src.Type().Elem()
		plain := isPlain(elem)
		it := src.MapRange()
		for it.Next() {
			if plain {
				m.SetMapIndex(it.Key(), it.Value())
				continue
			}
			v := reflect.New(elem).Elem()
			deepCopy(v, it.Value())
			m.SetMapIndex(it.Key(), v)
		}
		dst.Set(m)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		if src.Type() == rawMessageType {
			n := src.Len()
			dst.Set(src.Slice3(0, n, n))
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		if isPlain(src.Type().Elem()) {
			reflect.Copy(s, src)
		} else {
			for i := range src.Len() {
				deepCopy(s.Index(i), src.Index(i))
			}
		}
		dst.Set(s)
	case reflect.Struct:
		dst.Set(src) // values, and unexported fields such as time.Time's
		for i := range src.NumField() {
			if src.Type().Field(i).IsExported() && !isPlain(src.Field(i).Type()) {
				deepCopy(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		v := reflect.New(src.Elem().Type()).Elem()
		deepCopy(v, src.Elem())
		dst.Set(v)
	case reflect.Array:
		for i := range src.Len() {
			deepCopy(dst.Index(i), src.Index(i))
		}
	default:
		dst.Set(src)
	}
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	plainCache     sync.Map // reflect.Type -> bool
)

// isPlain reports whether copying a value of t by assignment copies all of
// it (nothing in it is shared). time.Time counts as plain: its *Location is
// never changed.
func isPlain(t reflect.Type) bool {
	if v, ok := plainCache.Load(t); ok {
		return v.(bool)
	}
	p := plain(t)
	plainCache.Store(t, p)
	return p
}

func plain(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		return false
	case reflect.Struct:
		if t == timeType {
			return true
		}
		for i := range t.NumField() {
			if !isPlain(t.Field(i).Type) {
				return false
			}
		}
		return true
	case reflect.Array:
		return isPlain(t.Elem())
	default:
		return true
	}
}
