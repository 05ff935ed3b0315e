package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/startos-go/startos/internal/bytesize"
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
	renderTable(tw, humanize(node, ""), "")
	return tw.Flush()
}

// humanize rewrites a result for people (table format only): byte counts in
// KiB/MiB/GiB, CPU shares in %, seconds as durations, {value, unit} pairs
// as one figure, and objects keyed by id as rows with an ID column.
func humanize(n *yaml.Node, key string) *yaml.Node {
	switch n.Kind {
	case yaml.ScalarNode:
		return humanScalar(n, key)
	case yaml.SequenceNode:
		out := *n
		out.Content = make([]*yaml.Node, len(n.Content))
		for i, c := range n.Content {
			out.Content[i] = humanize(c, key)
		}
		return &out
	case yaml.MappingNode:
		if v, u := lookup(n, "value"), lookup(n, "unit"); v != nil && u != nil && len(n.Content) == 4 {
			return str(metricFigure(v.Value, u.Value))
		}
		if rows := keyedRows(n); rows != nil {
			return humanize(rows, key)
		}
		out := *n
		out.Content = make([]*yaml.Node, len(n.Content))
		for i := 0; i < len(n.Content); i += 2 {
			out.Content[i] = n.Content[i]
			out.Content[i+1] = humanize(n.Content[i+1], n.Content[i].Value)
		}
		return &out
	}
	return n
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

// keyedRows turns {"<id>": {...}, ...} (two or more objects keyed by a long
// id, as sessions are) into a list of rows with the id first; nil otherwise.
func keyedRows(n *yaml.Node) *yaml.Node {
	if len(n.Content) < 2 {
		return nil
	}
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i := 0; i < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.MappingNode || len(k.Value) < 16 || strings.ContainsAny(k.Value, " .") {
			return nil
		}
		row := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: append([]*yaml.Node{str("id"), str(k.Value)}, v.Content...)}
		list.Content = append(list.Content, row)
	}
	return list
}

// humanScalar formats one number by what its key says it is.
func humanScalar(n *yaml.Node, key string) *yaml.Node {
	if n.Tag != "!!int" && n.Tag != "!!float" {
		return n
	}
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil {
		return n
	}
	k := strings.ToLower(key)
	switch {
	case k == "memory" || k == "memorylimit" || k == "ram" || strings.HasSuffix(k, "bytes") || k == "size":
		if k == "memorylimit" && f == 0 {
			return str("-")
		}
		return str(bytesize.Format(f))
	case k == "cpu":
		return str(strconv.FormatFloat(f, 'f', 1, 64) + "%")
	case k == "uptime":
		return str((time.Duration(f) * time.Second).String())
	}
	return n
}

// metricFigure is a {value, unit} pair as one figure: MiB and GB (the
// disk's, 10^9 bytes) in binary units like every other size, percentages
// with %.
func metricFigure(value, unit string) string {
	f, err := strconv.ParseFloat(value, 64)
	switch {
	case err != nil:
		return strings.TrimSpace(value + " " + unit)
	case unit == "MiB":
		return bytesize.Format(f * 1024 * 1024)
	case unit == "GB":
		return bytesize.Format(f * 1e9)
	case unit == "%":
		return strconv.FormatFloat(f, 'f', 1, 64) + "%"
	}
	return strings.TrimSpace(strconv.FormatFloat(f, 'f', -1, 64) + " " + unit)
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
