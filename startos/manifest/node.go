package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// node is the parsed document, independent of YAML or JSON, so one decoder can
// report every problem with its key path. Aliases are already expanded.
type node struct {
	kind  nodeKind
	tag   string // scalars: "str", "int", "float", "bool"
	value string // scalars: the text
	keys  []string
	vals  []*node // mappings: one per key
	items []*node // sequences
	line  int
}

type nodeKind uint8

const (
	nullNode nodeKind = iota
	scalarNode
	mapNode
	seqNode
)

func (n *node) describe() string {
	switch n.kind {
	case nullNode:
		return "null"
	case mapNode:
		return "a mapping"
	case seqNode:
		return "a list"
	}
	switch n.tag {
	case "int", "float":
		return "the number " + n.value
	case "bool":
		return n.value
	}
	return fmt.Sprintf("the string %q", truncate(n.value, 40))
}

func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// MaxSize is the largest manifest the parser reads. Real manifests are a few
// KiB; the limit keeps a hostile one from costing much.
const MaxSize = 1 << 20

// maxNodes bounds the expanded tree, so YAML aliases cannot blow it up.
const maxNodes = 200_000

const maxDepth = 64

var errTooLarge = errors.New("manifest is too large or too deeply nested")

// parseDocument reads YAML, or JSON when the text starts with "{".
func parseDocument(data []byte) (*node, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("manifest is %d bytes; the limit is %d", len(data), MaxSize)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJSON(data)
	}
	return parseYAML(data)
}

func parseYAML(data []byte) (root *node, err error) {
	var doc yaml.Node
	// yaml.v3 panics on a few malformed inputs; a parser of outside bytes
	// must return an error instead.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind == 0 {
		return &node{kind: nullNode}, nil
	}
	c := &yamlConverter{}
	return c.convert(&doc, 0)
}

type yamlConverter struct{ count int }

func (c *yamlConverter) convert(y *yaml.Node, depth int) (*node, error) {
	c.count++
	if c.count > maxNodes || depth > maxDepth {
		return nil, errTooLarge
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &node{kind: nullNode, line: y.Line}, nil
		}
		return c.convert(y.Content[0], depth)
	case yaml.AliasNode:
		if y.Alias == nil {
			return nil, fmt.Errorf("line %d: alias without an anchor", y.Line)
		}
		return c.convert(y.Alias, depth+1)
	case yaml.ScalarNode:
		switch tag := y.ShortTag(); tag {
		case "!!null":
			return &node{kind: nullNode, line: y.Line}, nil
		case "!!int", "!!float", "!!bool", "!!str":
			return &node{kind: scalarNode, tag: tag[2:], value: y.Value, line: y.Line}, nil
		default:
			// Timestamps, binary and custom tags are read as their text.
			return &node{kind: scalarNode, tag: "str", value: y.Value, line: y.Line}, nil
		}
	case yaml.SequenceNode:
		n := &node{kind: seqNode, line: y.Line}
		for _, item := range y.Content {
			v, err := c.convert(item, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, v)
		}
		return n, nil
	case yaml.MappingNode:
		n := &node{kind: mapNode, line: y.Line}
		if len(y.Content)%2 != 0 {
			return nil, fmt.Errorf("line %d: malformed mapping", y.Line)
		}
		for i := 0; i < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				if err := c.merge(n, v, depth); err != nil {
					return nil, err
				}
				continue
			}
			if k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key must be a plain value", k.Line)
			}
			val, err := c.convert(v, depth+1)
			if err != nil {
				return nil, err
			}
			n.setKey(k.Value, val)
		}
		return n, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML node", y.Line)
}

// merge applies a "<<: *anchor" merge key: keys already present win.
func (c *yamlConverter) merge(dst *node, v *yaml.Node, depth int) error {
	src, err := c.convert(v, depth+1)
	if err != nil {
		return err
	}
	var maps []*node
	switch src.kind {
	case mapNode:
		maps = []*node{src}
	case seqNode:
		maps = src.items
	default:
		return fmt.Errorf("line %d: << must merge a mapping", v.Line)
	}
	for _, m := range maps {
		if m.kind != mapNode {
			return fmt.Errorf("line %d: << must merge a mapping", v.Line)
		}
		for i, k := range m.keys {
			if dst.index(k) < 0 {
				dst.keys = append(dst.keys, k)
				dst.vals = append(dst.vals, m.vals[i])
			}
		}
	}
	return nil
}

// setKey appends k; a repeated key is kept twice so the decoder can report it.
func (n *node) setKey(k string, v *node) {
	n.keys = append(n.keys, k)
	n.vals = append(n.vals, v)
}

func (n *node) index(k string) int {
	for i, key := range n.keys {
		if key == k {
			return i
		}
	}
	return -1
}

func (n *node) get(k string) *node {
	if i := n.index(k); i >= 0 {
		return n.vals[i]
	}
	return nil
}

func parseJSON(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &jsonParser{dec: dec, data: data}
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("invalid JSON: data after the document (line %d)", p.line())
	}
	return n, nil
}

type jsonParser struct {
	dec   *json.Decoder
	data  []byte
	count int
}

func (p *jsonParser) line() int {
	off := int(p.dec.InputOffset())
	if off > len(p.data) {
		off = len(p.data)
	}
	return bytes.Count(p.data[:off], []byte{'\n'}) + 1
}

func (p *jsonParser) fail(err error) error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		off := int(syn.Offset)
		if off > len(p.data) {
			off = len(p.data)
		}
		return fmt.Errorf("invalid JSON (line %d): %v", bytes.Count(p.data[:off], []byte{'\n'})+1, err)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("invalid JSON (line %d): %v", p.line(), err)
}

func (p *jsonParser) value(depth int) (*node, error) {
	p.count++
	if p.count > maxNodes || depth > maxDepth {
		return nil, errTooLarge
	}
	line := p.line()
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.fail(err)
	}
	switch t := tok.(type) {
	case nil:
		return &node{kind: nullNode, line: line}, nil
	case bool:
		return &node{kind: scalarNode, tag: "bool", value: fmt.Sprint(t), line: line}, nil
	case json.Number:
		tag := "int"
		if strings.ContainsAny(string(t), ".eE") {
			tag = "float"
		}
		return &node{kind: scalarNode, tag: tag, value: string(t), line: line}, nil
	case string:
		return &node{kind: scalarNode, tag: "str", value: t, line: line}, nil
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: mapNode, line: line}
			for p.dec.More() {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, p.fail(err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("invalid JSON (line %d): object key is not a string", p.line())
				}
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.setKey(k, v)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, p.fail(err)
			}
			return n, nil
		case '[':
			n := &node{kind: seqNode, line: line}
			for p.dec.More() {
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.items = append(n.items, v)
			}
			if _, err := p.dec.Token(); err != nil {
				return nil, p.fail(err)
			}
			return n, nil
		}
	}
	return nil, fmt.Errorf("invalid JSON (line %d): unexpected %v", line, tok)
}
