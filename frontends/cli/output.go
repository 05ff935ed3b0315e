package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"gopkg.in/yaml.v3"
)

// render prints a JSON result in the chosen format. Key order is kept as the
// daemon sent it.
func render(w io.Writer, format string, raw json.RawMessage) error {
	switch format {
	case "json":
		var buf bytes.Buffer
		if err := json.Indent(&buf, raw, "", "  "); err != nil {
			return err
		}
		buf.WriteByte('\n')
		_, err := w.Write(buf.Bytes())
		return err
	}
	node, err := toNode(raw)
	if err != nil {
		return err
	}
	if format == "yaml" {
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(node); err != nil {
			return err
		}
		return enc.Close()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	renderTable(tw, node, "")
	return tw.Flush()
}

// toNode decodes JSON into a yaml.Node, keeping the order of object keys.
func toNode(raw json.RawMessage) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	n, err := decodeNode(dec)
	if err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	return n, nil
}

func decodeNode(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v, err := decodeNode(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: kt.(string)}, v)
			}
			_, err := dec.Token()
			return n, err
		}
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for dec.More() {
			v, err := decodeNode(dec)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, v)
		}
		_, err := dec.Token()
		return n, err
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, nil
	case json.Number:
		tag := "!!int"
		if strings.ContainsAny(t.String(), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(t)}, nil
	default:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
}

// renderTable prints scalars as they are, objects as key/value rows (nested
// objects indented below their key), and lists of objects as columns.
func renderTable(w io.Writer, n *yaml.Node, indent string) {
	switch n.Kind {
	case yaml.ScalarNode:
		fmt.Fprintf(w, "%s%s\n", indent, scalar(n))
	case yaml.MappingNode:
		if len(n.Content) == 0 {
			return
		}
		for i := 0; i < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			if v.Kind == yaml.ScalarNode {
				fmt.Fprintf(w, "%s%s\t%s\n", indent, k, scalar(v))
				continue
			}
			fmt.Fprintf(w, "%s%s:\t\n", indent, k)
			renderTable(w, v, indent+"  ")
		}
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			fmt.Fprintf(w, "%s(none)\n", indent)
			return
		}
		if cols := columns(n); cols != nil {
			fmt.Fprintf(w, "%s%s\n", indent, strings.ToUpper(strings.Join(cols, "\t")))
			for _, row := range n.Content {
				cells := make([]string, len(cols))
				for i, c := range cols {
					cells[i] = cell(lookup(row, c))
				}
				fmt.Fprintf(w, "%s%s\n", indent, strings.Join(cells, "\t"))
			}
			return
		}
		for _, item := range n.Content {
			renderTable(w, item, indent+"- ")
		}
	}
}

// columns returns the keys of a list of objects, in first-seen order; nil
// when the list holds something else.
func columns(n *yaml.Node) []string {
	if len(n.Content) == 0 {
		return nil
	}
	var cols []string
	seen := map[string]bool{}
	for _, row := range n.Content {
		if row.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i < len(row.Content); i += 2 {
			if k := row.Content[i].Value; !seen[k] {
				seen[k] = true
				cols = append(cols, k)
			}
		}
	}
	return cols
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func cell(n *yaml.Node) string {
	switch {
	case n == nil:
		return "-"
	case n.Kind == yaml.ScalarNode:
		return scalar(n)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	_ = enc.Encode(&yaml.Node{Kind: n.Kind, Style: yaml.FlowStyle, Tag: n.Tag, Content: n.Content})
	return strings.TrimSpace(buf.String())
}

func scalar(n *yaml.Node) string {
	if n.Tag == "!!null" {
		return "-"
	}
	return n.Value
}
