package sigma

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A reader for the YAML that Sigma rules are written in: block maps and
// sequences, plain, single- and double-quoted scalars, flow sequences
// ([a, 'b']), literal and folded block scalars (| and >) for descriptions,
// comments, and several documents in one file (---). Every node keeps its
// line, so a bad rule is reported as file:line. Anchors, aliases, tags and
// flow maps are refused with a clear error rather than misread.
//
// DESIGN.md lists the dependencies we may use and a YAML library is not one;
// this subset is what the Sigma specification and the published rules use.

// NodeKind is a YAML node's kind.
type NodeKind uint8

// Node kinds.
const (
	ScalarNode NodeKind = iota
	MapNode
	SeqNode
)

// Node is one YAML value.
type Node struct {
	Kind   NodeKind
	Line   int
	Value  string // ScalarNode
	Quoted bool   // ScalarNode: written in quotes (never null, a number or a boolean)
	Keys   []*Node
	Values []*Node // MapNode: Values[i] belongs to Keys[i]; SeqNode: the items
}

// IsNull reports a scalar that YAML reads as null (null, ~, or nothing).
func (n *Node) IsNull() bool {
	if n == nil {
		return true
	}
	if n.Kind != ScalarNode || n.Quoted {
		return false
	}
	switch n.Value {
	case "", "null", "Null", "NULL", "~":
		return true
	}
	return false
}

// Get returns the value under key in a map node, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != MapNode {
		return nil
	}
	for i, k := range n.Keys {
		if k.Value == key {
			return n.Values[i]
		}
	}
	return nil
}

// YAMLError is a syntax error at a line.
type YAMLError struct {
	Line int
	Msg  string
}

func (e *YAMLError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

type yline struct {
	num    int    // 1-based line number
	indent int    // leading spaces
	text   string // without indentation and trailing comment/space
	raw    string // the whole line, for block scalars
}

// maxYAMLDepth bounds nesting, so a hostile file cannot exhaust the stack.
const maxYAMLDepth = 64

type yparser struct {
	lines []yline
	i     int
	depth int
}

// ParseYAML reads every document of src.
func ParseYAML(src []byte) ([]*Node, error) {
	if !utf8.Valid(src) {
		return nil, &YAMLError{Line: 1, Msg: "not UTF-8 text"}
	}
	var docs []*Node
	var cur []yline
	flush := func() error {
		if len(cur) == 0 {
			return nil
		}
		p := &yparser{lines: cur}
		p.skipBlank()
		if p.i == len(cur) {
			cur = nil
			return nil
		}
		n, err := p.block(cur[p.i].indent)
		if err != nil {
			return err
		}
		if p.skipBlank(); p.i < len(p.lines) {
			return &YAMLError{Line: p.lines[p.i].num, Msg: "unexpected indentation"}
		}
		docs = append(docs, n)
		cur = nil
		return nil
	}
	for num, raw := range strings.Split(string(src), "\n") {
		raw = strings.TrimRight(raw, "\r")
		if strings.HasPrefix(raw, "\t") || strings.HasPrefix(strings.TrimLeft(raw, " "), "\t") && strings.TrimSpace(raw) != "" {
			return nil, &YAMLError{Line: num + 1, Msg: "tab in indentation (YAML indents with spaces)"}
		}
		trimmed := strings.TrimLeft(raw, " ")
		if raw == "---" || strings.HasPrefix(raw, "--- ") {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		if raw == "..." {
			continue
		}
		text := stripComment(trimmed)
		if text == "" && len(cur) == 0 {
			continue
		}
		// Blank and comment-only lines are kept: inside a block scalar they
		// are content; elsewhere the parser skips them.
		cur = append(cur, yline{num: num + 1, indent: len(raw) - len(trimmed), text: text, raw: raw})
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return docs, nil
}

// stripComment removes a trailing "# comment" outside quotes.
func stripComment(s string) string {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == '\\' && q == '"' {
				i++
			} else if c == q {
				q = 0
			}
		case c == '\'' || c == '"':
			if i == 0 || s[i-1] == ' ' || s[i-1] == '[' || s[i-1] == ',' || s[i-1] == ':' || s[i-1] == '-' {
				q = c
			}
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return strings.TrimRight(s[:i], " ")
		}
	}
	return strings.TrimRight(s, " ")
}

func (p *yparser) errf(line int, format string, a ...any) error {
	return &YAMLError{Line: line, Msg: fmt.Sprintf(format, a...)}
}

// block parses the block starting at the current line, indented by indent.
func (p *yparser) block(indent int) (*Node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxYAMLDepth {
		return nil, p.errf(p.lines[p.i].num, "nested deeper than %d levels", maxYAMLDepth)
	}
	l := p.lines[p.i]
	if l.text == "-" || strings.HasPrefix(l.text, "- ") {
		return p.seq(indent)
	}
	if _, _, ok := splitKey(l.text); ok {
		return p.mapping(indent)
	}
	// A lone scalar (a document that is just a value).
	p.i++
	return p.scalar(l.text, l.num)
}

func (p *yparser) skipBlank() {
	for p.i < len(p.lines) && p.lines[p.i].text == "" {
		p.i++
	}
}

func (p *yparser) mapping(indent int) (*Node, error) {
	n := &Node{Kind: MapNode, Line: p.lines[p.i].num}
	seen := map[string]bool{}
	for {
		p.skipBlank()
		if p.i >= len(p.lines) {
			return n, nil
		}
		l := p.lines[p.i]
		if l.indent < indent {
			return n, nil
		}
		if l.indent > indent {
			return nil, p.errf(l.num, "unexpected indentation")
		}
		k, rest, ok := splitKey(l.text)
		if !ok {
			return nil, p.errf(l.num, "expected \"key: value\", found %q", clip(l.text))
		}
		key, err := p.scalar(k, l.num)
		if err != nil {
			return nil, err
		}
		if seen[key.Value] {
			return nil, p.errf(l.num, "key %q appears twice", key.Value)
		}
		seen[key.Value] = true
		p.i++
		val, err := p.value(rest, indent, l.num, false)
		if err != nil {
			return nil, err
		}
		n.Keys = append(n.Keys, key)
		n.Values = append(n.Values, val)
	}
}

// value parses what follows "key:" or "- ": inline text, a block scalar, or
// a nested block on the next lines (more indented than parent; a sequence
// under a map key may sit at the key's own indentation).
func (p *yparser) value(rest string, parent, line int, inSeq bool) (*Node, error) {
	switch {
	case rest == "|" || rest == "|-" || rest == "|+" || rest == ">" || rest == ">-" || rest == ">+":
		return p.blockScalar(rest, parent, line)
	case rest != "":
		return p.scalar(rest, line)
	}
	p.skipBlank()
	if p.i < len(p.lines) {
		next := p.lines[p.i]
		isSeq := next.text == "-" || strings.HasPrefix(next.text, "- ")
		if next.indent > parent || next.indent == parent && isSeq && !inSeq {
			return p.block(next.indent)
		}
	}
	return &Node{Kind: ScalarNode, Line: line}, nil // null
}

func (p *yparser) seq(indent int) (*Node, error) {
	n := &Node{Kind: SeqNode, Line: p.lines[p.i].num}
	for {
		p.skipBlank()
		if p.i >= len(p.lines) {
			return n, nil
		}
		l := p.lines[p.i]
		if l.indent < indent || !(l.text == "-" || strings.HasPrefix(l.text, "- ")) {
			if l.indent > indent {
				return nil, p.errf(l.num, "unexpected indentation")
			}
			return n, nil
		}
		if l.indent > indent {
			return nil, p.errf(l.num, "unexpected indentation")
		}
		item := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		if item == "" {
			p.i++
			v, err := p.value("", indent, l.num, true)
			if err != nil {
				return nil, err
			}
			n.Values = append(n.Values, v)
			continue
		}
		if _, _, ok := splitKey(item); ok {
			// "- key: value" opens a map whose keys sit where "key" starts.
			inner := l.indent + (len(l.text) - len(item))
			p.lines[p.i].indent, p.lines[p.i].text = inner, item
			v, err := p.mapping(inner)
			if err != nil {
				return nil, err
			}
			n.Values = append(n.Values, v)
			continue
		}
		p.i++
		v, err := p.value(item, indent, l.num, true)
		if err != nil {
			return nil, err
		}
		n.Values = append(n.Values, v)
	}
}

// blockScalar reads a | or > scalar: the lines indented more than parent.
func (p *yparser) blockScalar(style string, parent, line int) (*Node, error) {
	var lines []string
	ind := -1
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if strings.TrimSpace(l.raw) == "" {
			lines = append(lines, "")
			p.i++
			continue
		}
		if l.indent <= parent {
			break
		}
		if ind < 0 {
			ind = l.indent
		}
		if l.indent < ind {
			return nil, p.errf(l.num, "block text less indented than its first line")
		}
		lines = append(lines, l.raw[ind:])
		p.i++
	}
	// trailing blank lines belong to no one (chomping)
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var s string
	if style[0] == '|' {
		s = strings.Join(lines, "\n")
	} else {
		var b strings.Builder
		for i, t := range lines {
			if i > 0 {
				if t == "" || lines[i-1] == "" {
					b.WriteByte('\n')
				} else {
					b.WriteByte(' ')
				}
			}
			b.WriteString(t)
		}
		s = b.String()
	}
	if !strings.HasSuffix(style, "-") && s != "" {
		s += "\n"
	}
	return &Node{Kind: ScalarNode, Line: line, Value: s, Quoted: true}, nil
}

// splitKey splits "key: rest" (the colon followed by a space or the end).
func splitKey(s string) (key, rest string, ok bool) {
	start := 0
	if s != "" && (s[0] == '\'' || s[0] == '"') {
		end := closingQuote(s)
		if end < 0 {
			return "", "", false
		}
		start = end + 1
	}
	if strings.HasPrefix(s, "[") || strings.HasPrefix(s, "{") {
		return "", "", false
	}
	for i := start; i < len(s); i++ {
		if s[i] == ':' && (i+1 == len(s) || s[i+1] == ' ') {
			if i == 0 {
				return "", "", false
			}
			return strings.TrimRight(s[:i], " "), strings.TrimLeft(s[i+1:], " "), true
		}
	}
	return "", "", false
}

// closingQuote returns the index of the quote that closes s[0], or -1.
func closingQuote(s string) int {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q:
			if q == '\'' && i+1 < len(s) && s[i+1] == '\'' {
				i++
				continue
			}
			return i
		}
	}
	return -1
}

// scalar reads an inline value: quoted, flow sequence, or plain.
func (p *yparser) scalar(s string, line int) (*Node, error) {
	switch {
	case s == "":
		return &Node{Kind: ScalarNode, Line: line}, nil
	case s[0] == '[':
		return p.flowSeq(s, line)
	case s[0] == '{':
		return nil, p.errf(line, "flow maps ({...}) are not supported: write the map as a block")
	case s[0] == '&' || s[0] == '*' || s[0] == '!':
		return nil, p.errf(line, "anchors, aliases and tags are not supported")
	case s[0] == '\'' || s[0] == '"':
		end := closingQuote(s)
		if end < 0 {
			return nil, p.errf(line, "unterminated quoted string")
		}
		if strings.TrimSpace(s[end+1:]) != "" {
			return nil, p.errf(line, "text after a quoted string: %q", clip(s[end+1:]))
		}
		v, err := unquote(s[:end+1])
		if err != nil {
			return nil, p.errf(line, "%v", err)
		}
		return &Node{Kind: ScalarNode, Line: line, Value: v, Quoted: true}, nil
	}
	return &Node{Kind: ScalarNode, Line: line, Value: s}, nil
}

func (p *yparser) flowSeq(s string, line int) (*Node, error) {
	if !strings.HasSuffix(s, "]") {
		return nil, p.errf(line, "flow sequence must end on its line with ]")
	}
	n := &Node{Kind: SeqNode, Line: line}
	body := strings.TrimSpace(s[1 : len(s)-1])
	for body != "" {
		var item string
		if body[0] == '\'' || body[0] == '"' {
			end := closingQuote(body)
			if end < 0 {
				return nil, p.errf(line, "unterminated quoted string")
			}
			item, body = body[:end+1], strings.TrimSpace(body[end+1:])
		} else {
			j := strings.IndexByte(body, ',')
			if j < 0 {
				j = len(body)
			}
			item, body = strings.TrimSpace(body[:j]), body[j:]
		}
		if strings.HasPrefix(item, "[") || strings.HasPrefix(item, "{") {
			return nil, p.errf(line, "nested flow collections are not supported")
		}
		v, err := p.scalar(item, line)
		if err != nil {
			return nil, err
		}
		n.Values = append(n.Values, v)
		body = strings.TrimSpace(body)
		if body != "" {
			if body[0] != ',' {
				return nil, p.errf(line, "expected , in flow sequence")
			}
			body = strings.TrimSpace(body[1:])
		}
	}
	return n, nil
}

func unquote(s string) (string, error) {
	if s[0] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	var b strings.Builder
	in := s[1 : len(s)-1]
	for i := 0; i < len(in); i++ {
		c := in[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(in) {
			return "", fmt.Errorf("backslash at the end of a string")
		}
		switch e := in[i]; e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '0':
			b.WriteByte(0)
		case '\\', '"', '/', ' ', '\'':
			b.WriteByte(e)
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+n >= len(in) {
				return "", fmt.Errorf("short \\%c escape", e)
			}
			v, err := strconv.ParseUint(in[i+1:i+1+n], 16, 32)
			if err != nil {
				return "", fmt.Errorf("bad \\%c escape", e)
			}
			b.WriteRune(rune(v))
			i += n
		default:
			return "", fmt.Errorf("unknown escape \\%c", e)
		}
	}
	return b.String(), nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
