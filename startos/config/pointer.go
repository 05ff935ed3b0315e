package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Pointers are values the box fills in, never the client: an address of a
// dependency's interface, a value of a dependency's config, a system
// certificate. FillPointers replaces every pointer in cfg (inside objects,
// union variants and lists of them too) with what resolve answers, so a
// value a client sent for a pointer is never kept.

// PointerResolver answers the value of one pointer.
type PointerResolver func(v *ValueSpec) (any, error)

// FillPointers sets every pointer of s in cfg to resolve's answer.
func (s *Spec) FillPointers(cfg Config, resolve PointerResolver) error {
	if s == nil || cfg == nil {
		return nil
	}
	for _, k := range s.Keys {
		if err := s.Fields[k].fill(cfg, k, resolve); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	return nil
}

func (v *ValueSpec) fill(holder map[string]any, k string, resolve PointerResolver) error {
	switch v.Type {
	case TypePointer:
		val, err := resolve(v)
		if err != nil {
			return err
		}
		holder[k] = val
	case TypeObject:
		if m, ok := holder[k].(map[string]any); ok {
			return v.Spec.FillPointers(m, resolve)
		}
	case TypeUnion:
		if m, ok := holder[k].(map[string]any); ok && v.Tag != nil {
			tag, _ := m[v.Tag.ID].(string)
			return v.Variants[tag].FillPointers(m, resolve)
		}
	case TypeList:
		l, _ := holder[k].([]any)
		if v.Item == nil || (v.Item.Type != TypeObject && v.Item.Type != TypeUnion) {
			return nil
		}
		for i := range l {
			item := map[string]any{"": l[i]}
			if err := v.Item.fill(item, "", resolve); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = item[""]
		}
	}
	return nil
}

// Select reads the values a config pointer's selector names in a
// dependency's config: a JSONPath subset, $ then .key, ['key'], [N], .* or
// [*]. With multi the answer is the list of every match; without, the
// first match or nil.
func Select(cfg Config, selector string, multi bool) (any, error) {
	if !strings.HasPrefix(selector, "$") {
		return nil, fmt.Errorf("selector %q: want a path starting with $", selector)
	}
	cur := []any{map[string]any(cfg)}
	rest := selector[1:]
	for rest != "" {
		var next []any
		switch {
		case strings.HasPrefix(rest, ".*") || strings.HasPrefix(rest, "[*]"):
			if rest[0] == '.' {
				rest = rest[2:]
			} else {
				rest = rest[3:]
			}
			for _, c := range cur {
				next = append(next, items(c)...)
			}
		case strings.HasPrefix(rest, "."):
			end := 1
			for end < len(rest) && rest[end] != '.' && rest[end] != '[' {
				end++
			}
			key := rest[1:end]
			if key == "" {
				return nil, fmt.Errorf("selector %q: an empty key", selector)
			}
			rest = rest[end:]
			next = selectKey(cur, key)
		case strings.HasPrefix(rest, "['"):
			end := strings.Index(rest, "']")
			if end < 0 {
				return nil, fmt.Errorf("selector %q: missing ']", selector)
			}
			key := rest[2:end]
			rest = rest[end+2:]
			next = selectKey(cur, key)
		case strings.HasPrefix(rest, "["):
			end := strings.IndexByte(rest, ']')
			n, err := strconv.Atoi(rest[1:max(end, 1)])
			if end < 0 || err != nil || n < 0 {
				return nil, fmt.Errorf("selector %q: want [N], [*] or ['key']", selector)
			}
			rest = rest[end+1:]
			for _, c := range cur {
				if l, ok := c.([]any); ok && n < len(l) {
					next = append(next, l[n])
				}
			}
		default:
			return nil, fmt.Errorf("selector %q: unexpected %q", selector, rest)
		}
		cur = next
	}
	if multi {
		if cur == nil {
			return []any{}, nil
		}
		return cur, nil
	}
	if len(cur) == 0 {
		return nil, nil
	}
	return cur[0], nil
}

func selectKey(cur []any, key string) []any {
	var out []any
	for _, c := range cur {
		if m, ok := c.(map[string]any); ok {
			if v, ok := m[key]; ok {
				out = append(out, v)
			}
		}
	}
	return out
}
