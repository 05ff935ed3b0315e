package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// CommentedYAML writes cfg as YAML in the spec's key order, each key
// preceded by a comment naming it, its type and rules, so a person editing
// it in $EDITOR sees the spec. Keys the spec does not know are written
// last, as they are (validation will name them).
func (s *Spec) CommentedYAML(cfg Config) ([]byte, error) {
	n := s.node(cfg, 0)
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	_ = enc.Close()
	return []byte(b.String()), nil
}

func (s *Spec) node(cfg map[string]any, depth int) *yaml.Node {
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	seen := map[string]bool{}
	for _, k := range s.Keys {
		seen[k] = true
		v := s.Fields[k]
		key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, HeadComment: v.comment()}
		m.Content = append(m.Content, key, v.valueNode(cfg[k], depth+1))
	}
	for k, val := range cfg {
		if !seen[k] {
			m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, HeadComment: "not in the spec"}, plainNode(val))
		}
	}
	return m
}

func (v *ValueSpec) valueNode(val any, depth int) *yaml.Node {
	if depth > MaxDepth {
		return plainNode(val)
	}
	switch v.Type {
	case TypeObject:
		if m, ok := val.(map[string]any); ok {
			return v.Spec.node(m, depth)
		}
	case TypeUnion:
		if m, ok := val.(map[string]any); ok {
			tag, _ := m[v.Tag.ID].(string)
			if vs := v.Variants[tag]; vs != nil {
				rest := make(map[string]any, len(m))
				for k, x := range m {
					if k != v.Tag.ID {
						rest[k] = x
					}
				}
				n := vs.node(rest, depth)
				key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.Tag.ID,
					HeadComment: fmt.Sprintf("%s: one of %s", v.Tag.Name, strings.Join(v.VariantKeys, ", "))}
				n.Content = append([]*yaml.Node{key, plainNode(tag)}, n.Content...)
				return n
			}
		}
	case TypeList:
		if l, ok := val.([]any); ok && (v.Subtype == TypeObject || v.Subtype == TypeUnion) {
			seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for _, it := range l {
				seq.Content = append(seq.Content, v.Item.valueNode(it, depth+1))
			}
			return seq
		}
	}
	return plainNode(val)
}

func plainNode(val any) *yaml.Node {
	var n yaml.Node
	if err := n.Encode(val); err != nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	}
	return &n
}

// comment describes a value spec in one or two lines.
func (v *ValueSpec) comment() string {
	var parts []string
	kind := v.Type
	switch v.Type {
	case TypeString:
		if v.Masked {
			kind = "string, masked"
		}
		if v.Pattern != "" {
			parts = append(parts, "must be: "+v.PatternDescription)
		}
	case TypeNumber:
		if v.Integral {
			kind = "whole number"
		}
		if v.Range != nil {
			parts = append(parts, "range "+v.Range.String())
		}
		if v.Units != "" {
			parts = append(parts, "in "+v.Units)
		}
	case TypeEnum:
		parts = append(parts, "one of "+strings.Join(v.Values, ", "))
	case TypeList:
		kind = "list of " + v.Subtype
		if v.Range != nil && v.Range.String() != "(*,*)" {
			parts = append(parts, "length "+v.Range.String())
		}
	case TypePointer:
		parts = append(parts, "set by the box")
	}
	if v.Nullable {
		parts = append(parts, "may be null")
	}
	head := fmt.Sprintf("%s (%s)", v.Name, kind)
	if len(parts) > 0 {
		head += ": " + strings.Join(parts, "; ")
	}
	if v.Description != "" {
		head += "\n" + strings.ReplaceAll(strings.TrimSpace(v.Description), "\n", " ")
	}
	if v.Warning != "" {
		head += "\nWarning: " + strings.ReplaceAll(strings.TrimSpace(v.Warning), "\n", " ")
	}
	return head
}
