package sigma

import (
	"fmt"
	"strings"
	"time"
)

// Engine evaluates a set of rules on events in time order, keeping the
// state correlation rules need (bounded: see MaxGroups).
type Engine struct {
	detections []*Rule
	corrs      []*corrState
	// listeners: the correlations fed by a rule's hits, by the rule.
	listeners map[*Rule][]*corrState
	quiet     map[*Rule]bool
}

// Hit is a rule that matched.
type Hit struct {
	Rule *Rule
	Time time.Time
	// Correlations only:
	Group map[string]string // the group-by fields and their values
	Count int               // the count that met the condition
	Refs  []string          // the refs of the events that made the hit (capped at MaxRefs)
}

// MaxGroups bounds the groups each correlation rule follows at once; past
// it, expired groups are dropped, then the least recently seen.
const MaxGroups = 50000

// MaxRefs bounds the event refs kept per group.
const MaxRefs = 64

// maxValues bounds the distinct values a value_count group keeps.
const maxValues = 10000

// NewEngine links correlation rules to the rules they name (by id or
// name) and checks there are no loops.
func NewEngine(rules []*Rule) (*Engine, error) {
	e := &Engine{listeners: map[*Rule][]*corrState{}, quiet: map[*Rule]bool{}}
	byRef := map[string]*Rule{}
	for _, r := range rules {
		for _, k := range []string{r.ID, r.Name} {
			if k == "" {
				continue
			}
			if prev, dup := byRef[k]; dup && prev != r {
				return nil, &Error{File: r.File, Line: r.Line, Msg: fmt.Sprintf("id or name %q also used by %s:%d", k, prev.File, prev.Line)}
			}
			byRef[k] = r
		}
	}
	for _, r := range rules {
		if !r.IsCorrelation() {
			e.detections = append(e.detections, r)
			continue
		}
		cs := &corrState{rule: r, groups: map[string]*group{}}
		for _, ref := range r.Correlation.Rules {
			base := byRef[ref]
			if base == nil {
				return nil, &Error{File: r.File, Line: r.Correlation.line, Msg: fmt.Sprintf("correlation names rule %q, which is not loaded", ref)}
			}
			if base == r {
				return nil, &Error{File: r.File, Line: r.Correlation.line, Msg: "a correlation cannot name itself"}
			}
			cs.bases = append(cs.bases, base)
			e.listeners[base] = append(e.listeners[base], cs)
		}
		if c := r.Correlation; c.Type == "event_count" || c.Type == "value_count" || c.Type == "temporal" || c.Type == "temporal_ordered" {
			if _, ok := c.Cond["gt"]; !ok {
				if _, ok := c.Cond["gte"]; !ok {
					if _, ok := c.Cond["eq"]; !ok {
						return nil, &Error{File: r.File, Line: c.line, Msg: "a live engine fires when a count reaches a bound: give gt, gte or eq (lt and lte may narrow them)"}
					}
				}
			}
		}
		e.corrs = append(e.corrs, cs)
	}
	// A rule named by correlations is quiet unless one of them asks for
	// generate: true.
	generate := map[*Rule]bool{}
	for _, cs := range e.corrs {
		for _, b := range cs.bases {
			if b.IsCorrelation() {
				continue
			}
			if _, seen := e.quiet[b]; !seen {
				e.quiet[b] = true
			}
			if cs.rule.Correlation.Generate {
				generate[b] = true
			}
		}
	}
	for r := range generate {
		delete(e.quiet, r)
	}
	// Loops: a correlation fed, through others, by itself. Depth-first
	// with colours: linear in rules and links.
	state := map[*Rule]uint8{} // 0 new, 1 on the path, 2 done
	var visit func(r *Rule, depth int) *Rule
	visit = func(r *Rule, depth int) *Rule {
		switch state[r] {
		case 1:
			return r
		case 2:
			return nil
		}
		if depth > 32 {
			return r // a chain this long is refused like a loop
		}
		state[r] = 1
		for _, cs := range e.listeners[r] {
			if bad := visit(cs.rule, depth+1); bad != nil {
				return bad
			}
		}
		state[r] = 2
		return nil
	}
	for _, r := range rules {
		if bad := visit(r, 0); bad != nil {
			return nil, &Error{File: bad.File, Line: bad.Line, Msg: "correlation rules form a loop (or a chain deeper than 32)"}
		}
	}
	return e, nil
}

// Quiet reports whether r is a detection rule that only feeds correlations:
// named by one, none of which asks for generate: true (Sigma's default). A
// correlation named by another correlation is never quiet: its hits are
// findings of their own.
func (e *Engine) Quiet(r *Rule) bool {
	return e.quiet[r]
}

// Rules returns the detection rules (not correlations).
func (e *Engine) Rules() []*Rule { return e.detections }

// Process evaluates the detection rules whose logsource.category is
// category (or empty) on ev, which happened at t; ref names the event for
// correlation hits (an event or session id). It returns the hits:
// detection rules first, then the correlations they completed.
func (e *Engine) Process(ev Event, t time.Time, category, ref string) []Hit {
	var hits []Hit
	for _, r := range e.detections {
		if r.Logsource.Category != "" && r.Logsource.Category != category {
			continue
		}
		if !r.Match(ev) {
			continue
		}
		hits = append(hits, Hit{Rule: r, Time: t})
		hits = e.feed(r, ev, t, []string{ref}, hits, 0)
	}
	return hits
}

// feed passes a hit of rule r to the correlations that listen to it, with
// the refs of the events behind it (a correlation's hit carries all of its).
func (e *Engine) feed(r *Rule, ev Event, t time.Time, refs []string, hits []Hit, depth int) []Hit {
	if depth > 32 {
		return hits
	}
	for _, cs := range e.listeners[r] {
		if h, ok := cs.observe(r, ev, t, refs); ok {
			hits = append(hits, h)
			hits = e.feed(cs.rule, ev, t, h.Refs, hits, depth+1)
		}
	}
	return hits
}

type corrState struct {
	rule   *Rule
	bases  []*Rule
	groups map[string]*group
}

type group struct {
	fields map[string]string
	last   time.Time
	times  []time.Time          // event_count: times in the window
	values map[string]time.Time // value_count: value -> last seen
	seen   map[*Rule]time.Time  // temporal: rule -> last seen
	chain  []time.Time          // temporal_ordered: start of the chain reaching rule i (zero: none)
	refs   []string
}

// fieldFor is the event field a group-by name means for events of rule r
// (a correlation alias, or the name itself).
func (cs *corrState) fieldFor(name string, r *Rule) string {
	if al, ok := cs.rule.Correlation.Aliases[name]; ok {
		if f, ok := al[r.Name]; ok {
			return f
		}
		if f, ok := al[r.ID]; ok {
			return f
		}
	}
	return name
}

func (cs *corrState) observe(r *Rule, ev Event, t time.Time, refs []string) (Hit, bool) {
	c := cs.rule.Correlation
	fields := make(map[string]string, len(c.GroupBy))
	var key strings.Builder
	for _, g := range c.GroupBy {
		v := ""
		if vals := ev.Values(cs.fieldFor(g, r)); len(vals) > 0 {
			v = text(vals[0])
		}
		fields[g] = v
		key.WriteString(v)
		key.WriteByte(0)
	}
	k := key.String()
	gr := cs.groups[k]
	if gr == nil {
		cs.makeRoom(t)
		gr = &group{fields: fields}
		cs.groups[k] = gr
	}
	gr.last = t
	start := t.Add(-c.Timespan)
	for _, ref := range refs {
		if len(gr.refs) < MaxRefs && ref != "" && !containsRef(gr.refs, ref) {
			gr.refs = append(gr.refs, ref)
		}
	}
	var n int
	switch c.Type {
	case "event_count":
		i := 0
		for i < len(gr.times) && gr.times[i].Before(start) {
			i++
		}
		gr.times = append(gr.times[i:], t)
		n = len(gr.times)
	case "value_count":
		if gr.values == nil {
			gr.values = map[string]time.Time{}
		}
		for v, at := range gr.values {
			if at.Before(start) {
				delete(gr.values, v)
			}
		}
		for _, v := range ev.Values(cs.fieldFor(c.Field, r)) {
			if len(gr.values) < maxValues {
				gr.values[text(v)] = t
			}
		}
		n = len(gr.values)
	case "temporal":
		if gr.seen == nil {
			gr.seen = map[*Rule]time.Time{}
		}
		gr.seen[r] = t
		for _, b := range cs.bases {
			if at, ok := gr.seen[b]; ok && !at.Before(start) {
				n++
			}
		}
	case "temporal_ordered":
		if gr.chain == nil {
			gr.chain = make([]time.Time, len(cs.bases))
		}
		for i, b := range cs.bases {
			if b != r {
				continue
			}
			switch {
			case i == 0:
				gr.chain[0] = t
			case !gr.chain[i-1].IsZero() && !gr.chain[i-1].Before(start):
				gr.chain[i] = gr.chain[i-1]
			}
		}
		for i := range gr.chain {
			if gr.chain[i].IsZero() || gr.chain[i].Before(start) {
				break
			}
			n = i + 1
		}
	}
	if !c.holds(float64(n)) {
		return Hit{}, false
	}
	h := Hit{Rule: cs.rule, Time: t, Group: gr.fields, Count: n, Refs: gr.refs}
	// A hit starts the group afresh: the next one needs a full count again.
	delete(cs.groups, k)
	return h, true
}

func containsRef(refs []string, ref string) bool {
	for _, r := range refs {
		if r == ref {
			return true
		}
	}
	return false
}

// makeRoom keeps the group table under MaxGroups.
func (cs *corrState) makeRoom(now time.Time) {
	if len(cs.groups) < MaxGroups {
		return
	}
	horizon := now.Add(-cs.rule.Correlation.Timespan)
	for k, g := range cs.groups {
		if g.last.Before(horizon) {
			delete(cs.groups, k)
		}
	}
	for len(cs.groups) >= MaxGroups {
		var oldK string
		var old time.Time
		first := true
		for k, g := range cs.groups {
			if first || g.last.Before(old) {
				oldK, old, first = k, g.last, false
			}
		}
		delete(cs.groups, oldK)
	}
}
