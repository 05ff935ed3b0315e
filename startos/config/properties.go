package config

import (
	"encoding/json"
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/startos/errdefs"
)

// Properties is StartOS 0.3's properties, version 2: named values a person
// needs (credentials, addresses), nested in objects.
type Properties struct {
	Version int                      `json:"version"`
	Data    map[string]PropertyValue `json:"data"`
}

// PropertyValue is {type: "string", value, description?, copyable, qr,
// masked} or {type: "object", value: {...}, description?}.
type PropertyValue struct {
	Type        string                   `json:"type"`
	Description *string                  `json:"description"`
	Value       any                      `json:"value"`
	Copyable    bool                     `json:"copyable,omitempty"`
	QR          bool                     `json:"qr,omitempty"`
	Masked      bool                     `json:"masked,omitempty"`
	Children    map[string]PropertyValue `json:"-"`
}

// Keys returns an object's child keys, sorted.
func (p PropertyValue) Keys() []string {
	ks := make([]string, 0, len(p.Children))
	for k := range p.Children {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// SortedKeys returns the top-level keys, sorted.
func (p *Properties) SortedKeys() []string {
	ks := make([]string, 0, len(p.Data))
	for k := range p.Data {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

const maxProperties = 10000

// ParseProperties reads a properties document (YAML or JSON): version 2
// as is; an older flat map of {value, description, copyable, qr, masked}
// (or plain strings) becomes version 2. Bad input is an error naming the
// key.
func ParseProperties(data []byte) (*Properties, error) {
	if len(data) > MaxValueBytes {
		return nil, fmt.Errorf("properties are %d bytes; the limit is %d: %w", len(data), MaxValueBytes, errdefs.ErrAction)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("properties are not YAML or JSON: %s: %w", firstLine(err.Error()), errdefs.ErrAction)
	}
	if err := checkKeys(&doc, "", 0); err != nil {
		return nil, fmt.Errorf("properties: %v: %w", err, errdefs.ErrAction)
	}
	raw, err := nodeJSON(&doc, 0)
	if err != nil {
		return nil, fmt.Errorf("properties: %v: %w", err, errdefs.ErrAction)
	}
	var top map[string]any
	if err := json.Unmarshal(raw, &top); err != nil || top == nil {
		return nil, fmt.Errorf("properties: want a mapping: %w", errdefs.ErrAction)
	}
	out := &Properties{Version: 2, Data: map[string]PropertyValue{}}
	data2 := top
	if ver, ok := top["version"]; ok {
		if ver != float64(2) {
			return nil, fmt.Errorf("properties: version %v is not supported (want 2): %w", ver, errdefs.ErrAction)
		}
		d, ok := top["data"].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("properties.data: want a mapping: %w", errdefs.ErrAction)
		}
		data2 = d
	}
	count := 0
	out.Data, err = propertyMap(data2, "", &count)
	if err != nil {
		return nil, err
	}
	return out, nil
}

func propertyMap(m map[string]any, path string, count *int) (map[string]PropertyValue, error) {
	out := make(map[string]PropertyValue, len(m))
	for k, raw := range m {
		*count++
		if *count > maxProperties {
			return nil, fmt.Errorf("properties: more than %d values: %w", maxProperties, errdefs.ErrAction)
		}
		p := joinKey(path, k)
		var pv PropertyValue
		switch x := raw.(type) {
		case string:
			pv = PropertyValue{Type: "string", Value: x}
		case map[string]any:
			if d, ok := x["description"].(string); ok {
				pv.Description = &d
			}
			pv.Type, _ = x["type"].(string)
			if pv.Type == "" {
				pv.Type = "string"
			}
			switch pv.Type {
			case "string":
				switch v := x["value"].(type) {
				case string:
					pv.Value = v
				case float64, bool:
					pv.Value = fmt.Sprint(v)
				default:
					return nil, fmt.Errorf("properties: %s.value: want a string, not %s: %w", p, typeOf(v), errdefs.ErrAction)
				}
				pv.Copyable, _ = x["copyable"].(bool)
				pv.QR, _ = x["qr"].(bool)
				pv.Masked, _ = x["masked"].(bool)
			case "object":
				sub, ok := x["value"].(map[string]any)
				if !ok {
					return nil, fmt.Errorf("properties: %s.value: want a mapping: %w", p, errdefs.ErrAction)
				}
				children, err := propertyMap(sub, p, count)
				if err != nil {
					return nil, err
				}
				pv.Children = children
			default:
				return nil, fmt.Errorf("properties: %s.type: %q is not string or object: %w", p, pv.Type, errdefs.ErrAction)
			}
		default:
			return nil, fmt.Errorf("properties: %s: want a value, not %s: %w", p, typeOf(raw), errdefs.ErrAction)
		}
		out[k] = pv
	}
	return out, nil
}

// MarshalJSON writes an object's children as its value.
func (p PropertyValue) MarshalJSON() ([]byte, error) {
	type plain PropertyValue
	q := plain(p)
	if p.Type == "object" {
		if p.Children == nil {
			q.Value = map[string]PropertyValue{}
		} else {
			q.Value = p.Children
		}
	}
	return json.Marshal(q)
}

// UnmarshalJSON reads an object's value into Children.
func (p *PropertyValue) UnmarshalJSON(b []byte) error {
	type plain PropertyValue
	var q struct {
		plain
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &q); err != nil {
		return err
	}
	*p = PropertyValue(q.plain)
	if p.Type == "object" {
		return json.Unmarshal(q.Value, &p.Children)
	}
	var s any
	if len(q.Value) > 0 {
		if err := json.Unmarshal(q.Value, &s); err != nil {
			return err
		}
	}
	p.Value = s
	return nil
}
