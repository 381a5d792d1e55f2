package sigma

import (
	"fmt"
	"path"
	"strings"
)

// A detection's condition (Sigma rules specification, "Condition"):
// search identifiers joined by and, or, not, parentheses, and "1 of x*",
// "all of x*", "1 of them", "all of them". Precedence, least binding first:
// or, and, not, "x of", parentheses.

type condKind uint8

const (
	cIdent condKind = iota
	cAnd
	cOr
	cNot
	cOneOf
	cAllOf
)

type cond struct {
	kind  condKind
	ident int     // cIdent: the search identifier's index in the detection
	sub   []*cond // cAnd, cOr, cNot (one)
	names []int   // cOneOf, cAllOf: indexes
}

// eval evaluates c with sel telling whether a search identifier matched.
func (c *cond) eval(sel func(int) bool) bool {
	switch c.kind {
	case cIdent:
		return sel(c.ident)
	case cAnd:
		for _, s := range c.sub {
			if !s.eval(sel) {
				return false
			}
		}
		return true
	case cOr:
		for _, s := range c.sub {
			if s.eval(sel) {
				return true
			}
		}
		return false
	case cNot:
		return !c.sub[0].eval(sel)
	case cOneOf:
		for _, n := range c.names {
			if sel(n) {
				return true
			}
		}
		return false
	case cAllOf:
		for _, n := range c.names {
			if !sel(n) {
				return false
			}
		}
		return true
	}
	return false
}

type condParser struct {
	toks  []string
	i     int
	names []string // the detection's search identifiers, in order
	depth int
}

// parseCondition parses s against the detection's identifiers.
func parseCondition(s string, names []string) (*cond, error) {
	p := &condParser{toks: tokenizeCondition(s), names: names}
	if len(p.toks) == 0 {
		return nil, fmt.Errorf("empty condition")
	}
	c, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i < len(p.toks) {
		if p.toks[p.i] == "|" || strings.HasPrefix(p.toks[p.i], "|") {
			return nil, fmt.Errorf("aggregations (| count() ...) are Sigma v1 and not supported: write a correlation rule")
		}
		return nil, fmt.Errorf("unexpected %q in condition", p.toks[p.i])
	}
	return c, nil
}

func tokenizeCondition(s string) []string {
	var out []string
	cur := strings.Builder{}
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch r {
		case '(', ')':
			flush()
			out = append(out, string(r))
		case ' ', '\t', '\n', '\r':
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return out
}

func (p *condParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *condParser) is(word string) bool { return strings.EqualFold(p.peek(), word) }

func (p *condParser) or() (*cond, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	subs := []*cond{l}
	for p.is("or") {
		p.i++
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		subs = append(subs, r)
	}
	if len(subs) == 1 {
		return l, nil
	}
	return &cond{kind: cOr, sub: subs}, nil
}

func (p *condParser) and() (*cond, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	subs := []*cond{l}
	for p.is("and") {
		p.i++
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		subs = append(subs, r)
	}
	if len(subs) == 1 {
		return l, nil
	}
	return &cond{kind: cAnd, sub: subs}, nil
}

func (p *condParser) not() (*cond, error) {
	if p.is("not") {
		p.i++
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > 100 {
			return nil, fmt.Errorf("condition nested too deeply")
		}
		c, err := p.not()
		if err != nil {
			return nil, err
		}
		return &cond{kind: cNot, sub: []*cond{c}}, nil
	}
	return p.primary()
}

func (p *condParser) primary() (*cond, error) {
	t := p.peek()
	switch {
	case t == "":
		return nil, fmt.Errorf("condition ends too early")
	case t == "(":
		p.i++
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > 100 {
			return nil, fmt.Errorf("condition nested too deeply")
		}
		c, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing ) in condition")
		}
		p.i++
		return c, nil
	case t == ")":
		return nil, fmt.Errorf("unexpected ) in condition")
	case t == "1" || strings.EqualFold(t, "all") || strings.EqualFold(t, "any"):
		if p.i+1 < len(p.toks) && strings.EqualFold(p.toks[p.i+1], "of") {
			return p.quantifier()
		}
	}
	for _, kw := range []string{"and", "or", "not", "of", "them"} {
		if strings.EqualFold(t, kw) {
			return nil, fmt.Errorf("unexpected %q in condition", t)
		}
	}
	if strings.ContainsAny(t, "|") {
		return nil, fmt.Errorf("aggregations (%q) are Sigma v1 and not supported: write a correlation rule", t)
	}
	i := p.index(t)
	if i < 0 {
		return nil, fmt.Errorf("condition names %q, which the detection does not define", t)
	}
	p.i++
	return &cond{kind: cIdent, ident: i}, nil
}

func (p *condParser) index(name string) int {
	for i, n := range p.names {
		if n == name {
			return i
		}
	}
	return -1
}

func (p *condParser) quantifier() (*cond, error) {
	q := p.toks[p.i]
	p.i += 2
	target := p.peek()
	if target == "" || target == "(" || target == ")" {
		return nil, fmt.Errorf("%q of what?", q)
	}
	p.i++
	c := &cond{kind: cOneOf}
	if !strings.EqualFold(q, "1") && !strings.EqualFold(q, "any") {
		c.kind = cAllOf
	}
	for i, n := range p.names {
		if strings.EqualFold(target, "them") {
			if !strings.HasPrefix(n, "_") {
				c.names = append(c.names, i)
			}
			continue
		}
		if ok, _ := path.Match(target, n); ok {
			c.names = append(c.names, i)
		}
	}
	if len(c.names) == 0 {
		return nil, fmt.Errorf("%q matches no search identifier of the detection", target)
	}
	return c, nil
}
