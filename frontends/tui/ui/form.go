package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// fieldKind is how a form field is edited.
type fieldKind int

const (
	fieldText   fieldKind = iota // a line of text
	fieldNumber                  // a number, checked on submit
	fieldToggle                  // on or off, space flips it
	fieldChoice                  // one of a list, left/right pick
	fieldJSON                    // anything else (lists, objects, unions), typed as JSON
)

type choice struct{ value, label string }

// field is one input of an action's form.
type field struct {
	key, name, desc string
	kind            fieldKind
	required        bool
	integral        bool
	input           lineInput // text, number, JSON
	on              bool      // toggle
	choices         []choice  // choice
	pick            int       // choice
}

// specEntry is one field of an input spec, in either StartOS spelling: the
// 0.3 config spec (string, number, boolean, enum with values and
// value-names, nullable) or the 0.4 input spec (text, textarea, number,
// toggle, select with a values map, required).
type specEntry struct {
	Type        string            `json:"type"`
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Nullable    *bool             `json:"nullable"`
	Required    *bool             `json:"required"`
	Masked      bool              `json:"masked"`
	Integral    bool              `json:"integral"`
	Default     json.RawMessage   `json:"default"`
	Values      json.RawMessage   `json:"values"`
	ValueNames  map[string]string `json:"-"`
	ValueNames3 map[string]string `json:"value-names"`
	ValueNames4 map[string]string `json:"valueNames"`
}

// parseSpec builds the form fields from an input spec, in the spec's key
// order, filled from value (the current input) or else the defaults.
func parseSpec(spec, value json.RawMessage) ([]field, error) {
	keys, entries, err := orderedObject(spec)
	if err != nil {
		return nil, fmt.Errorf("input spec: %w", err)
	}
	var current map[string]json.RawMessage
	if len(bytes.TrimSpace(value)) > 0 {
		_ = json.Unmarshal(value, &current) // a value of another shape: start from defaults
	}
	fields := make([]field, 0, len(keys))
	for _, k := range keys {
		var e specEntry
		if err := json.Unmarshal(entries[k], &e); err != nil {
			return nil, fmt.Errorf("input spec field %q: %w", k, err)
		}
		e.ValueNames = e.ValueNames3
		if e.ValueNames == nil {
			e.ValueNames = e.ValueNames4
		}
		f := field{key: k, name: e.Name, desc: e.Description, integral: e.Integral}
		if f.name == "" {
			f.name = k
		}
		f.required = (e.Required != nil && *e.Required) || (e.Nullable != nil && !*e.Nullable)
		init := e.Default
		if v, ok := current[k]; ok {
			init = v
		}
		switch e.Type {
		case "string", "text", "textarea", "email", "url", "color", "datetime":
			f.kind = fieldText
			f.input = newInput(scalarText(init))
			f.input.mask = e.Masked
		case "number":
			f.kind = fieldNumber
			f.input = newInput(scalarText(init))
		case "boolean", "toggle":
			f.kind = fieldToggle
			_ = json.Unmarshal(init, &f.on)
		case "enum", "select":
			f.kind = fieldChoice
			f.choices = choicesOf(e)
			sel := scalarText(init)
			f.pick = max(slices.IndexFunc(f.choices, func(c choice) bool { return c.value == sel }), 0)
		default:
			f.kind = fieldJSON
			if len(bytes.TrimSpace(init)) > 0 && string(bytes.TrimSpace(init)) != "null" {
				f.input = newInput(string(compactJSON(init)))
			}
		}
		fields = append(fields, f)
	}
	return fields, nil
}

func choicesOf(e specEntry) []choice {
	var list []string
	if json.Unmarshal(e.Values, &list) == nil {
		out := make([]choice, len(list))
		for i, v := range list {
			out[i] = choice{value: v, label: cmpOr(e.ValueNames[v], v)}
		}
		return out
	}
	// 0.4: values is {value: label}, kept in the spec's order.
	keys, entries, err := orderedObject(e.Values)
	if err != nil {
		return nil
	}
	out := make([]choice, len(keys))
	for i, k := range keys {
		var label string
		_ = json.Unmarshal(entries[k], &label)
		out[i] = choice{value: k, label: cmpOr(label, k)}
	}
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func compactJSON(b json.RawMessage) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// scalarText shows a JSON scalar as the text to edit; objects (StartOS's
// generated defaults, {charset, len}) give "".
func scalarText(b json.RawMessage) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// orderedObject reads a JSON object's keys in order, with their values.
func orderedObject(b json.RawMessage) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("want a JSON object, got %s", strings.TrimSpace(string(b[:min(len(b), 20)])))
	}
	var keys []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, fmt.Errorf("key %q: %w", k, err)
		}
		if _, dup := vals[k]; !dup {
			keys = append(keys, k)
		}
		vals[k] = v
	}
	return keys, vals, nil
}

// formValues turns the fields into the action's input object; the error
// names the first field that is wrong.
func formValues(fields []field) (json.RawMessage, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, f := range fields {
		var v any
		text := strings.TrimSpace(f.input.Value())
		switch f.kind {
		case fieldText:
			if text == "" && f.required {
				return nil, fmt.Errorf("%s is required", f.name)
			}
			if f.input.Value() != "" {
				v = f.input.Value()
			}
		case fieldNumber:
			if text == "" {
				if f.required {
					return nil, fmt.Errorf("%s is required", f.name)
				}
				break
			}
			n, err := strconv.ParseFloat(text, 64)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a number", f.name, text)
			}
			if f.integral && n != float64(int64(n)) {
				return nil, fmt.Errorf("%s: %q is not a whole number", f.name, text)
			}
			v = n
		case fieldToggle:
			v = f.on
		case fieldChoice:
			if len(f.choices) > 0 {
				v = f.choices[f.pick].value
			}
		case fieldJSON:
			if text == "" {
				if f.required {
					return nil, fmt.Errorf("%s is required", f.name)
				}
				break
			}
			var raw json.RawMessage
			if err := json.Unmarshal([]byte(text), &raw); err != nil {
				return nil, fmt.Errorf("%s: not valid JSON: %v", f.name, err)
			}
			v = raw
		}
		if i > 0 {
			buf.WriteByte(',')
		}
		k, _ := json.Marshal(f.key)
		val, _ := json.Marshal(v)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(val)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}
