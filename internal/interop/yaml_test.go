package interop

import (
	"reflect"
	"strings"
	"testing"
)

// A reader for the subset of YAML that suricata-verify's test.yaml files use:
// block maps and block lists (also a list at the same indentation as its key),
// plain or quoted scalars, full-line comments. No flow style, anchors, multi-line
// scalars or tags; a file that needs them is read as far as this subset goes.
// DESIGN.md lists the dependencies we may use and a YAML library is not one of
// them; the checks we read are a few maps of scalars.

type yamlLine struct {
	indent int
	text   string // without the indentation
}

type yamlReader struct {
	lines []yamlLine
	i     int
}

// parseYAML returns map[string]any, []any or string values.
func parseYAML(src string) any {
	var r yamlReader
	for _, raw := range strings.Split(src, "\n") {
		raw = strings.TrimRight(raw, " \t\r")
		text := strings.TrimLeft(raw, " ")
		if text == "" || strings.HasPrefix(text, "#") || text == "---" {
			continue
		}
		r.lines = append(r.lines, yamlLine{indent: len(raw) - len(text), text: text})
	}
	if len(r.lines) == 0 {
		return nil
	}
	return r.block(r.lines[0].indent)
}

func isListItem(s string) bool { return s == "-" || strings.HasPrefix(s, "- ") }

// splitKey splits "key: value" or "key:"; ok is false for a plain scalar.
func splitKey(s string) (key, value string, ok bool) {
	if s == "" || s[0] == '"' || s[0] == '\'' {
		return "", "", false
	}
	if strings.HasSuffix(s, ":") && !strings.Contains(s, ": ") {
		return strings.TrimSuffix(s, ":"), "", true
	}
	i := strings.Index(s, ": ")
	if i <= 0 {
		return "", "", false
	}
	return s[:i], strings.TrimSpace(s[i+2:]), true
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

func (r *yamlReader) block(indent int) any {
	if r.i >= len(r.lines) {
		return nil
	}
	if isListItem(r.lines[r.i].text) {
		return r.list(indent)
	}
	return r.mapping(indent)
}

// child reads the value of a key (or list item) written at indent with nothing
// after its colon: the more-indented lines below it, or a list at the same indent.
func (r *yamlReader) child(indent int) any {
	if r.i >= len(r.lines) {
		return nil
	}
	l := r.lines[r.i]
	switch {
	case l.indent > indent:
		return r.block(l.indent)
	case l.indent == indent && isListItem(l.text):
		return r.list(indent)
	}
	return nil
}

func (r *yamlReader) list(indent int) []any {
	var out []any
	for r.i < len(r.lines) {
		l := r.lines[r.i]
		if l.indent != indent || !isListItem(l.text) {
			break
		}
		rest := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		switch {
		case rest == "":
			r.i++
			out = append(out, r.child(indent))
		case func() bool { _, _, ok := splitKey(rest); return ok }():
			// "- key: ..." opens a map whose keys line up with "key".
			at := indent + len(l.text) - len(rest)
			r.lines[r.i] = yamlLine{indent: at, text: rest}
			out = append(out, r.mapping(at))
		default:
			r.i++
			out = append(out, unquote(rest))
		}
	}
	return out
}

func (r *yamlReader) mapping(indent int) map[string]any {
	m := map[string]any{}
	for r.i < len(r.lines) {
		l := r.lines[r.i]
		if l.indent != indent || isListItem(l.text) {
			break
		}
		r.i++
		k, v, ok := splitKey(l.text)
		if !ok {
			continue // not this subset; skip the line
		}
		if v != "" {
			m[k] = unquote(v)
			continue
		}
		m[k] = r.child(indent)
	}
	return m
}

func TestYAMLSubset(t *testing.T) {
	src := `
args:
 - -k none
# a comment
checks:
- filter:
    count: 1
    match:
      event_type: ssh
      ssh.server.proto_version: '1.99'
      community_id: 1:d6qHVLyvWEl4kfHAZiDmEtDyb2I=
- filter:
      requires:
        min-version: 8
      count: 0
      match:
        event_type: "alert"
- shell:
    args: grep "a -> b" results.log | wc -l
`
	got := parseYAML(src)
	want := map[string]any{
		"args": []any{"-k none"},
		"checks": []any{
			map[string]any{"filter": map[string]any{
				"count": "1",
				"match": map[string]any{"event_type": "ssh", "ssh.server.proto_version": "1.99",
					"community_id": "1:d6qHVLyvWEl4kfHAZiDmEtDyb2I="},
			}},
			map[string]any{"filter": map[string]any{
				"requires": map[string]any{"min-version": "8"},
				"count":    "0",
				"match":    map[string]any{"event_type": "alert"},
			}},
			map[string]any{"shell": map[string]any{"args": `grep "a -> b" results.log | wc -l`}},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}

	nested := parseYAML("checks:\n  - filter:\n      count: 4\n      match:\n        event_type: ssh\n        dest_port: 22\n")
	f := nested.(map[string]any)["checks"].([]any)[0].(map[string]any)["filter"].(map[string]any)
	if f["count"] != "4" || f["match"].(map[string]any)["dest_port"] != "22" {
		t.Fatalf("indented list: %#v", nested)
	}
}
