// Package sigma reads Sigma rules (the published Sigma specification: rules
// v2, modifiers appendix v2.1, correlation rules v2) and evaluates them on
// events, one at a time, as they happen. It knows nothing of psmtap's
// documents: the caller says which log sources exist and how field names
// map, and hands events in through the Event interface.
//
// Written from the specification (github.com/SigmaHQ/sigma-specification),
// not from any Sigma implementation.
package sigma

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Rule is one Sigma detection rule or correlation rule.
type Rule struct {
	File string
	Line int // where the rule's document starts

	ID, Name, Title, Description, Status, Level, Author, Date string
	References, Tags, FalsePositives                          []string
	Logsource                                                 Logsource

	// Detection rules: the search identifiers in order, and the condition
	// over their indexes.
	selections []*selection
	selNames   []string
	condition  *cond

	// Correlation rules.
	Correlation *Correlation

	// Doc is the rule's YAML, for attributes the caller defines (Sigma
	// allows custom attributes, e.g. psmtap's "response").
	Doc *Node
}

// Logsource is the rule's logsource section.
type Logsource struct {
	Product, Category, Service string
}

// IsCorrelation reports whether r is a correlation rule.
func (r *Rule) IsCorrelation() bool { return r.Correlation != nil }

// selection is one search identifier: its items are ORed when it is a
// list, its fields ANDed within a map.
type selection struct {
	alts [][]*fieldMatch // OR of ANDs
}

func (s *selection) match(ev Event) bool {
	for _, and := range s.alts {
		ok := true
		for _, m := range and {
			if !m.matchEvent(ev) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Match reports whether a detection rule matches ev (false for a
// correlation rule: see Engine).
func (r *Rule) Match(ev Event) bool {
	if r.condition == nil {
		return false
	}
	// Each search identifier is evaluated at most once, when the condition
	// first needs it (0 not yet, 1 matched, 2 did not).
	var small [16]uint8
	memo := small[:0]
	if len(r.selections) <= len(small) {
		memo = small[:len(r.selections)]
	} else {
		memo = make([]uint8, len(r.selections))
	}
	return r.condition.eval(func(i int) bool {
		if memo[i] == 0 {
			memo[i] = 2
			if r.selections[i].match(ev) {
				memo[i] = 1
			}
		}
		return memo[i] == 1
	})
}

// Options tell the reader what this tool supports.
type Options struct {
	// Products: accepted logsource.product values; empty accepts any.
	Products []string
	// Categories: accepted logsource.category values; empty accepts any.
	Categories []string
	// FieldAliases maps the usual Sigma field names (CommandLine, User,
	// DestinationIp...) to the event's own names.
	FieldAliases map[string]string
}

// Error is a problem in a rule file, at a line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Parse reads every rule in a file (documents separated by ---). The first
// problem found is returned as an *Error with the file and line.
func Parse(file string, src []byte, opt Options) ([]*Rule, error) {
	docs, err := ParseYAML(src)
	if err != nil {
		if ye, ok := err.(*YAMLError); ok {
			return nil, &Error{File: file, Line: ye.Line, Msg: ye.Msg}
		}
		return nil, &Error{File: file, Line: 1, Msg: err.Error()}
	}
	if len(docs) == 0 {
		return nil, &Error{File: file, Line: 1, Msg: "no rule in the file"}
	}
	var rules []*Rule
	for _, d := range docs {
		r, err := parseRule(file, d, &opt)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

type ruleParser struct {
	file string
	opt  *Options
}

func (p *ruleParser) errf(n *Node, format string, a ...any) error {
	line := 1
	if n != nil {
		line = n.Line
	}
	return &Error{File: p.file, Line: line, Msg: fmt.Sprintf(format, a...)}
}

// keyOf returns the key node of key in a map (for the line of "key:").
func keyOf(m *Node, key string) *Node {
	if m == nil || m.Kind != MapNode {
		return m
	}
	for _, k := range m.Keys {
		if k.Value == key {
			return k
		}
	}
	return m
}

func (p *ruleParser) str(doc *Node, key string) (string, error) {
	n := doc.Get(key)
	if n == nil || n.IsNull() {
		return "", nil
	}
	if n.Kind != ScalarNode {
		return "", p.errf(n, "%s must be a single value", key)
	}
	return n.Value, nil
}

func (p *ruleParser) strs(doc *Node, key string) ([]string, error) {
	n := doc.Get(key)
	if n == nil || n.IsNull() {
		return nil, nil
	}
	if n.Kind == ScalarNode {
		return []string{n.Value}, nil
	}
	if n.Kind != SeqNode {
		return nil, p.errf(n, "%s must be a list", key)
	}
	var out []string
	for _, v := range n.Values {
		if v.Kind != ScalarNode {
			return nil, p.errf(v, "%s must be a list of values", key)
		}
		out = append(out, v.Value)
	}
	return out, nil
}

var levels = map[string]bool{"informational": true, "low": true, "medium": true, "high": true, "critical": true}

func parseRule(file string, doc *Node, opt *Options) (*Rule, error) {
	p := &ruleParser{file: file, opt: opt}
	if doc.Kind != MapNode {
		return nil, p.errf(doc, "a rule is a map of attributes")
	}
	r := &Rule{File: file, Line: doc.Line, Doc: doc}
	var err error
	for _, f := range []struct {
		key string
		dst *string
	}{{"id", &r.ID}, {"name", &r.Name}, {"title", &r.Title}, {"description", &r.Description},
		{"status", &r.Status}, {"level", &r.Level}, {"author", &r.Author}, {"date", &r.Date}} {
		if *f.dst, err = p.str(doc, f.key); err != nil {
			return nil, err
		}
	}
	if r.References, err = p.strs(doc, "references"); err != nil {
		return nil, err
	}
	if r.Tags, err = p.strs(doc, "tags"); err != nil {
		return nil, err
	}
	if r.FalsePositives, err = p.strs(doc, "falsepositives"); err != nil {
		return nil, err
	}
	if r.Title == "" {
		return nil, p.errf(doc, "the rule has no title")
	}
	if r.Level != "" && !levels[r.Level] {
		return nil, p.errf(doc.Get("level"), "level %q is not one of informational, low, medium, high, critical", r.Level)
	}
	if c := doc.Get("correlation"); c != nil {
		if doc.Get("detection") != nil {
			return nil, p.errf(c, "a rule has either detection or correlation, not both")
		}
		r.Correlation, err = p.correlation(c, keyOf(doc, "correlation"))
		return r, err
	}
	ls := doc.Get("logsource")
	if ls == nil || ls.Kind != MapNode {
		return nil, p.errf(doc, "the rule has no logsource map")
	}
	if r.Logsource.Product, err = p.str(ls, "product"); err != nil {
		return nil, err
	}
	if r.Logsource.Category, err = p.str(ls, "category"); err != nil {
		return nil, err
	}
	if r.Logsource.Service, err = p.str(ls, "service"); err != nil {
		return nil, err
	}
	if len(opt.Products) > 0 && !contains(opt.Products, r.Logsource.Product) {
		return nil, p.errf(keyOf(ls, "product"), "logsource.product %q: this tool reads %s", r.Logsource.Product, strings.Join(opt.Products, ", "))
	}
	if len(opt.Categories) > 0 && !contains(opt.Categories, r.Logsource.Category) {
		return nil, p.errf(keyOf(ls, "category"), "logsource.category %q is not one of %s", r.Logsource.Category, strings.Join(opt.Categories, ", "))
	}
	det := doc.Get("detection")
	if det == nil || det.Kind != MapNode {
		return nil, p.errf(doc, "the rule has no detection map")
	}
	if err := p.detection(r, det, keyOf(doc, "detection")); err != nil {
		return nil, err
	}
	return r, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (p *ruleParser) detection(r *Rule, det, key *Node) error {
	var condNode *Node
	for i, k := range det.Keys {
		v := det.Values[i]
		if k.Value == "condition" {
			condNode = v
			continue
		}
		if k.Value == "timeframe" {
			return p.errf(k, "timeframe is Sigma v1: write a correlation rule with a timespan")
		}
		sel, err := p.selection(v)
		if err != nil {
			return err
		}
		r.selections = append(r.selections, sel)
		r.selNames = append(r.selNames, k.Value)
	}
	if condNode == nil {
		return p.errf(key, "the detection has no condition")
	}
	var conds []string
	switch condNode.Kind {
	case ScalarNode:
		conds = []string{condNode.Value}
	case SeqNode: // a list of conditions is ORed
		for _, c := range condNode.Values {
			if c.Kind != ScalarNode {
				return p.errf(c, "a condition is a string")
			}
			conds = append(conds, c.Value)
		}
	default:
		return p.errf(condNode, "a condition is a string or a list of strings")
	}
	var parsed []*cond
	for _, s := range conds {
		c, err := parseCondition(s, r.selNames)
		if err != nil {
			return p.errf(condNode, "%v", err)
		}
		parsed = append(parsed, c)
	}
	r.condition = parsed[0]
	if len(parsed) > 1 {
		r.condition = &cond{kind: cOr, sub: parsed}
	}
	return nil
}

func (p *ruleParser) selection(n *Node) (*selection, error) {
	switch n.Kind {
	case MapNode:
		and, err := p.fieldMap(n)
		if err != nil {
			return nil, err
		}
		return &selection{alts: [][]*fieldMatch{and}}, nil
	case SeqNode:
		s := &selection{}
		var keywords []*Node
		for _, item := range n.Values {
			switch item.Kind {
			case MapNode:
				and, err := p.fieldMap(item)
				if err != nil {
					return nil, err
				}
				s.alts = append(s.alts, and)
			case ScalarNode:
				keywords = append(keywords, item)
			default:
				return nil, p.errf(item, "a list in a detection holds values or maps")
			}
		}
		if len(keywords) > 0 {
			m, err := p.values(&fieldMatch{}, nil, keywords, n)
			if err != nil {
				return nil, err
			}
			s.alts = append(s.alts, []*fieldMatch{m})
		}
		return s, nil
	case ScalarNode:
		if n.IsNull() {
			return nil, p.errf(n, "empty search identifier")
		}
		m, err := p.values(&fieldMatch{}, nil, []*Node{n}, n)
		if err != nil {
			return nil, err
		}
		return &selection{alts: [][]*fieldMatch{{m}}}, nil
	}
	return nil, p.errf(n, "bad search identifier")
}

func (p *ruleParser) fieldMap(n *Node) ([]*fieldMatch, error) {
	var out []*fieldMatch
	for i, k := range n.Keys {
		v := n.Values[i]
		parts := strings.Split(k.Value, "|")
		m := &fieldMatch{field: parts[0]}
		if a, ok := p.opt.FieldAliases[m.field]; ok {
			m.field = a
		}
		var vals []*Node
		switch v.Kind {
		case SeqNode:
			for _, x := range v.Values {
				if x.Kind != ScalarNode {
					return nil, p.errf(x, "field %q: values must be plain values", parts[0])
				}
				if x.IsNull() {
					return nil, p.errf(x, "field %q: null cannot be part of a list (use its own selection)", parts[0])
				}
			}
			vals = v.Values
			if len(vals) == 0 {
				return nil, p.errf(v, "field %q: empty list", parts[0])
			}
		case ScalarNode:
			vals = []*Node{v}
		default:
			return nil, p.errf(v, "field %q: a value or a list of values", parts[0])
		}
		m, err := p.values(m, parts[1:], vals, k)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// values compiles a field's (or keywords') values with its modifiers.
func (p *ruleParser) values(m *fieldMatch, mods []string, vals []*Node, at *Node) (*fieldMatch, error) {
	var (
		wild                   string // contains, startswith, endswith
		kind                   string // "", re, cidr, lt/lte/gt/gte, exists, fieldref
		cased, windash, reI    bool
		reM, reS               bool
		transforms             []string
		hasTransform, isRegexp bool
	)
	for _, mod := range mods {
		switch mod {
		case "contains", "startswith", "endswith":
			if wild != "" {
				return nil, p.errf(at, "modifiers %s and %s together", wild, mod)
			}
			wild = mod
		case "all":
			m.all = true
		case "cased":
			cased = true
		case "windash":
			windash = true
		case "base64", "base64offset", "wide", "utf16le", "utf16be", "utf16":
			transforms = append(transforms, mod)
			hasTransform = true
		case "re":
			isRegexp = true
			kind = "re"
		case "i":
			reI = true
		case "m":
			reM = true
		case "s":
			reS = true
		case "cidr", "exists", "fieldref":
			if kind != "" {
				return nil, p.errf(at, "modifiers %s and %s together", kind, mod)
			}
			kind = mod
		case "lt", "lte", "gt", "gte":
			if kind != "" {
				return nil, p.errf(at, "modifiers %s and %s together", kind, mod)
			}
			kind = mod
		case "neq":
			m.neq = true
		case "minute", "hour", "day", "week", "month", "year":
			m.extract = mod
		case "expand":
			return nil, p.errf(at, "placeholders (|expand) are not supported: write the values in the rule")
		case "":
			return nil, p.errf(at, "empty modifier (two | in a row)")
		default:
			return nil, p.errf(at, "unknown modifier %q", mod)
		}
	}
	if (reI || reM || reS) && !isRegexp {
		return nil, p.errf(at, "modifiers i, m and s only go with re")
	}
	if isRegexp && (wild != "" || windash || hasTransform) {
		return nil, p.errf(at, "re cannot be combined with contains/startswith/endswith, windash or encodings")
	}
	if m.field == "" && (kind == "exists" || kind == "fieldref") {
		return nil, p.errf(at, "%s needs a field", kind)
	}
	if m.all && len(vals) < 2 && kind != "fieldref" {
		return nil, p.errf(at, "all needs a list of two or more values")
	}
	// null: the field is absent.
	if len(vals) == 1 && vals[0].IsNull() && kind == "" && wild == "" {
		m.null = true
		return m, nil
	}
	switch kind {
	case "exists":
		if len(vals) != 1 || vals[0].Value != "true" && vals[0].Value != "false" {
			return nil, p.errf(at, "exists takes true or false")
		}
		b := vals[0].Value == "true"
		m.exists = &b
		return m, nil
	case "fieldref":
		for _, v := range vals {
			f := v.Value
			if a, ok := p.opt.FieldAliases[f]; ok {
				f = a
			}
			m.ref = append(m.ref, f)
		}
		return m, nil
	}
	strs := make([]string, len(vals))
	for i, v := range vals {
		strs[i] = v.Value
	}
	for _, t := range transforms {
		strs = transform(t, strs)
	}
	for i, s := range strs {
		vm, err := p.valueMatcher(s, vals[min(i, len(vals)-1)], kind, wild, cased, windash, reI, reM, reS)
		if err != nil {
			return nil, err
		}
		m.values = append(m.values, vm)
	}
	if m.all && len(strs) > len(vals) {
		// An encoding with several forms per value (base64offset): each
		// value matches in any of its forms.
		return nil, p.errf(at, "all with base64offset is ambiguous; use separate selections")
	}
	return m, nil
}

func (p *ruleParser) valueMatcher(s string, at *Node, kind, wild string, cased, windash, reI, reM, reS bool) (valueMatcher, error) {
	switch kind {
	case "re":
		flags := ""
		if reI {
			flags += "i"
		}
		if reM {
			flags += "m"
		}
		if reS {
			flags += "s"
		}
		expr := s
		if flags != "" {
			expr = "(?" + flags + ")" + s
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, p.errf(at, "bad regular expression %q: %v", s, err)
		}
		return regexMatcher{re}, nil
	case "cidr":
		pr, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, p.errf(at, "bad CIDR range %q", s)
		}
		return cidrMatcher{pr.Masked()}, nil
	case "lt", "lte", "gt", "gte":
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, p.errf(at, "%s needs a number, not %q", kind, s)
		}
		return numMatcher{op: kind, n: n}, nil
	}
	switch wild {
	case "contains":
		s = "*" + s + "*"
	case "startswith":
		s += "*"
	case "endswith":
		s = "*" + s
	}
	return compileGlob(s, cased, windash), nil
}

// Correlation is a correlation rule's section.
type Correlation struct {
	Type     string // event_count, value_count, temporal, temporal_ordered
	Rules    []string
	GroupBy  []string
	Timespan time.Duration
	Field    string // value_count
	// Condition: each present bound must hold (gt, gte, lt, lte, eq, neq).
	Cond    map[string]float64
	Aliases map[string]map[string]string // alias -> rule name -> field
	// Generate: the rules it names also alert on their own (default: only
	// the correlation does).
	Generate bool
	line     int
}

func parseTimespan(s string) (time.Duration, bool) {
	if len(s) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n <= 0 {
		return 0, false
	}
	unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
	if unit == 0 {
		return 0, false
	}
	return time.Duration(n) * unit, true
}

func (p *ruleParser) correlation(n, key *Node) (*Correlation, error) {
	if n.Kind != MapNode {
		return nil, p.errf(key, "correlation must be a map")
	}
	c := &Correlation{line: key.Line}
	var err error
	if c.Type, err = p.str(n, "type"); err != nil {
		return nil, err
	}
	switch c.Type {
	case "event_count", "value_count", "temporal", "temporal_ordered":
	case "":
		return nil, p.errf(key, "correlation has no type")
	default:
		return nil, p.errf(n.Get("type"), "correlation type %q is not supported (event_count, value_count, temporal, temporal_ordered)", c.Type)
	}
	if c.Rules, err = p.strs(n, "rules"); err != nil {
		return nil, err
	}
	if len(c.Rules) == 0 {
		return nil, p.errf(key, "correlation names no rules")
	}
	if c.GroupBy, err = p.strs(n, "group-by"); err != nil {
		return nil, err
	}
	for i, g := range c.GroupBy {
		if a, ok := p.opt.FieldAliases[g]; ok {
			c.GroupBy[i] = a
		}
	}
	ts, _ := p.str(n, "timespan")
	if ts == "" {
		ts, _ = p.str(n, "timeframe") // the name before v2.0
	}
	var ok bool
	if c.Timespan, ok = parseTimespan(ts); !ok {
		return nil, p.errf(keyOf(n, "timespan"), "timespan %q: a number and s, m, h or d (e.g. 15m)", ts)
	}
	if g := n.Get("generate"); g != nil {
		if g.Kind != ScalarNode || g.Value != "true" && g.Value != "false" {
			return nil, p.errf(g, "generate takes true or false")
		}
		c.Generate = g.Value == "true"
	}
	if al := n.Get("aliases"); al != nil {
		if al.Kind != MapNode {
			return nil, p.errf(al, "aliases must be a map")
		}
		c.Aliases = map[string]map[string]string{}
		for i, k := range al.Keys {
			m := al.Values[i]
			if m.Kind != MapNode {
				return nil, p.errf(m, "alias %q: a map of rule name to field", k.Value)
			}
			c.Aliases[k.Value] = map[string]string{}
			for j, rk := range m.Keys {
				f := m.Values[j].Value
				if a, ok := p.opt.FieldAliases[f]; ok {
					f = a
				}
				c.Aliases[k.Value][rk.Value] = f
			}
		}
	}
	cn := n.Get("condition")
	switch {
	case cn == nil && (c.Type == "temporal" || c.Type == "temporal_ordered"):
		// all the rules must match
		c.Cond = map[string]float64{"gte": float64(len(c.Rules))}
	case cn == nil:
		return nil, p.errf(key, "%s needs a condition (e.g. gte: 10)", c.Type)
	case cn.Kind != MapNode:
		return nil, p.errf(cn, "condition must be a map such as gte: 10")
	default:
		c.Cond = map[string]float64{}
		for i, k := range cn.Keys {
			v := cn.Values[i]
			switch k.Value {
			case "gt", "gte", "lt", "lte", "eq", "neq":
				f, err := strconv.ParseFloat(v.Value, 64)
				if err != nil || v.Kind != ScalarNode {
					return nil, p.errf(v, "condition %s needs a number", k.Value)
				}
				if f < 0 || f > maxCount {
					return nil, p.errf(v, "condition %s: a count from 0 to %d", k.Value, maxCount)
				}
				c.Cond[k.Value] = f
			case "field":
				c.Field = v.Value
				if a, ok := p.opt.FieldAliases[c.Field]; ok {
					c.Field = a
				}
			default:
				return nil, p.errf(k, "unknown condition %q (gt, gte, lt, lte, eq, neq, field)", k.Value)
			}
		}
		if len(c.Cond) == 0 {
			return nil, p.errf(cn, "condition has no bound (gt, gte, lt, lte, eq, neq)")
		}
	}
	if c.Type == "value_count" && c.Field == "" {
		return nil, p.errf(keyOf(n, "condition"), "value_count needs condition.field")
	}
	return c, nil
}

// maxCount bounds correlation counts (an event_count group keeps one time
// per event up to its bound).
const maxCount = 1000000

// holds reports whether n satisfies every bound of the condition.
func (c *Correlation) holds(n float64) bool {
	for k, v := range c.Cond {
		var ok bool
		switch k {
		case "gt":
			ok = n > v
		case "gte":
			ok = n >= v
		case "lt":
			ok = n < v
		case "lte":
			ok = n <= v
		case "eq":
			ok = n == v
		case "neq":
			ok = n != v
		}
		if !ok {
			return false
		}
	}
	return true
}
