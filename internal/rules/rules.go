// Package rules runs Sigma rules (internal/sigma) on psmtap's documents as
// they are written: each activity event under the logsource category named
// by its event.action (login, command, file, session_kind, security), each
// final session record under the category "session". A hit becomes an
// alert document (record.Alert). Rules run on the output goroutine, never
// on the packet path.
package rules

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/sigma"
)

// Product is the logsource.product of psmtap's rules.
const Product = "psmtap"

// Categories are the logsource categories rules can name.
var Categories = []string{
	record.ActionLogin, record.ActionCommand, record.ActionFile, record.ActionSessionKind, record.ActionSecurity,
	record.ActionQuery, "session",
}

// FieldAliases are the usual Sigma field names and the documents' own.
var FieldAliases = map[string]string{
	"CommandLine":     "process.command_line",
	"User":            "user.name",
	"SourceIp":        "source.ip",
	"SourcePort":      "source.port",
	"DestinationIp":   "destination.ip",
	"DestinationPort": "destination.port",
	"TargetFilename":  "file.path",
	"Protocol":        "network.protocol",
	"Query":           "db.query.text",
}

// Responses a rule may ask for (the "response" attribute, psmtap's own).
var Responses = []string{"terminate", "warn", "lockdown"}

// Builtin is the name that loads the rules shipped with psmtap.
const Builtin = "builtin"

//go:embed builtin/*.yml
var builtinFS embed.FS

// Rule is a loaded rule with psmtap's own attributes.
type Rule struct {
	*sigma.Rule
	Ruleset    string        // "builtin" or the file's directory
	Suppress   time.Duration // "suppress": no second alert for the same key within this window
	SuppressBy []string      // "suppress-by": the key's fields (default: the session, or a correlation's group)
	Response   []string      // "response": terminate, warn, lockdown
}

// Set is the loaded rules and their state. Safe for one goroutine at a
// time (the output stage); Evaluate locks for callers that share it.
type Set struct {
	mu     sync.Mutex
	rules  []*Rule
	byRule map[*sigma.Rule]*Rule
	engine *sigma.Engine
	last   map[string]time.Time // suppression: key -> last alert time
	Stats  Stats
}

// Stats are counters of the rule engine.
type Stats struct {
	Evaluated  uint64 // documents looked at
	Alerts     uint64
	Suppressed uint64
}

// Load reads rule files and directories (every .yml/.yaml below); the name
// "builtin" means the shipped rules. Every problem is an error with
// file:line; nothing is skipped silently.
func Load(paths []string) (*Set, error) {
	all, err := loadAll(paths)
	if err != nil {
		return nil, err
	}
	return newSet(all)
}

func loadAll(paths []string) ([]*Rule, error) {
	var all []*Rule
	for _, p := range paths {
		var rs []*Rule
		var err error
		if p == Builtin {
			rs, err = loadFS(builtinFS, "builtin", Builtin)
		} else {
			rs, err = loadPath(p)
		}
		if err != nil {
			return nil, err
		}
		all = append(all, rs...)
	}
	return all, nil
}

func newSet(all []*Rule) (*Set, error) {
	s := &Set{rules: all, byRule: map[*sigma.Rule]*Rule{}, last: map[string]time.Time{}}
	var srs []*sigma.Rule
	for _, r := range all {
		s.byRule[r.Rule] = r
		srs = append(srs, r.Rule)
	}
	eng, err := sigma.NewEngine(srs)
	if err != nil {
		return nil, err
	}
	s.engine = eng
	return s, nil
}

func loadPath(p string) ([]*Rule, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if !st.IsDir() {
		return loadFile(p, filepath.Base(filepath.Dir(p)), os.ReadFile)
	}
	var files []string
	err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(f, ".yml") || strings.HasSuffix(f, ".yaml")) {
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("rules: no .yml or .yaml files in %s", p)
	}
	sort.Strings(files)
	var out []*Rule
	for _, f := range files {
		rs, err := loadFile(f, filepath.Base(p), os.ReadFile)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

func loadFS(fsys fs.FS, dir, ruleset string) ([]*Rule, error) {
	files, err := fs.Glob(fsys, dir+"/*.yml")
	if err != nil {
		return nil, err
	}
	var out []*Rule
	for _, f := range files {
		rs, err := loadFile(f, ruleset, func(name string) ([]byte, error) { return fs.ReadFile(fsys, name) })
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// Options are what the Sigma reader accepts for psmtap.
func Options() sigma.Options {
	return sigma.Options{Products: []string{Product}, Categories: Categories, FieldAliases: FieldAliases}
}

func loadFile(name, ruleset string, read func(string) ([]byte, error)) ([]*Rule, error) {
	src, err := read(name)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	srs, err := sigma.Parse(name, src, Options())
	if err != nil {
		return nil, err
	}
	var out []*Rule
	for _, sr := range srs {
		r := &Rule{Rule: sr, Ruleset: ruleset}
		if err := r.extensions(); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// extensions reads psmtap's own attributes: suppress, suppress-by, response.
func (r *Rule) extensions() error {
	errAt := func(n *sigma.Node, format string, a ...any) error {
		return &sigma.Error{File: r.File, Line: n.Line, Msg: fmt.Sprintf(format, a...)}
	}
	if n := r.Doc.Get("suppress"); n != nil {
		d, err := time.ParseDuration(n.Value)
		if err != nil || n.Kind != sigma.ScalarNode || d < 0 {
			return errAt(n, "suppress %q: a duration such as 10m", n.Value)
		}
		r.Suppress = d
	}
	if n := r.Doc.Get("suppress-by"); n != nil {
		vals, err := scalars(n)
		if err != nil {
			return errAt(n, "suppress-by: a field or a list of fields")
		}
		for i, f := range vals {
			if a, ok := FieldAliases[f]; ok {
				vals[i] = a
			}
		}
		r.SuppressBy = vals
	}
	if n := r.Doc.Get("response"); n != nil {
		vals, err := scalars(n)
		if err != nil {
			return errAt(n, "response: one of %s, or a list of them", strings.Join(Responses, ", "))
		}
		for _, v := range vals {
			ok := false
			for _, known := range Responses {
				ok = ok || v == known
			}
			if !ok {
				return errAt(n, "response %q: one of %s", v, strings.Join(Responses, ", "))
			}
		}
		r.Response = vals
	}
	return nil
}

func scalars(n *sigma.Node) ([]string, error) {
	switch n.Kind {
	case sigma.ScalarNode:
		return []string{n.Value}, nil
	case sigma.SeqNode:
		var out []string
		for _, v := range n.Values {
			if v.Kind != sigma.ScalarNode {
				return nil, fmt.Errorf("not a value")
			}
			out = append(out, v.Value)
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a value")
}

// Counters returns the rule engine's counters (safe from any goroutine).
func (s *Set) Counters() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Stats
}

// LogAttrs are the counters for a log line.
func (st Stats) LogAttrs() []any {
	return []any{"rules_evaluated", st.Evaluated, "alerts", st.Alerts, "alerts_suppressed", st.Suppressed}
}

// Rules returns the loaded rules, in load order.
func (s *Set) Rules() []*Rule { return s.rules }

// Evaluate runs the rules on one document and returns its alerts. Only
// activity events and final session records are looked at.
func (s *Set) Evaluate(d record.Document) ([]*record.Alert, error) {
	var category string
	var at time.Time
	switch v := d.(type) {
	case *record.Event:
		category, at = v.Action, v.Time
	case *record.Record:
		if v.EventType != "" && v.EventType != "end" {
			return nil, nil
		}
		category, at = "session", v.End
	default:
		return nil, nil
	}
	var ev sigma.Event
	var rec *recordEvent
	if r, ok := d.(*record.Record); ok {
		rec = newRecordEvent(r) // flattened only if a rule looks further
		ev = rec
	} else {
		flat, err := flatten(d)
		if err != nil {
			return nil, err
		}
		ev = flat
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Stats.Evaluated++
	sid := firstText(ev, "psm.session_id")
	hits := s.engine.Process(ev, at, category, sid)
	if rec != nil && rec.err != nil {
		return nil, rec.err
	}
	if len(hits) == 0 {
		return nil, nil
	}
	var ctx map[string]any
	var out []*record.Alert
	for _, h := range hits {
		if s.engine.Quiet(h.Rule) {
			continue // it only feeds correlations
		}
		r := s.byRule[h.Rule]
		if s.suppressed(r, h, ev) {
			s.Stats.Suppressed++
			continue
		}
		if ctx == nil {
			body, err := d.MarshalJSON()
			if err != nil {
				return nil, err
			}
			if ctx, err = record.Contextual(body); err != nil {
				return nil, err
			}
		}
		out = append(out, s.alert(r, h, d, ev, ctx))
		s.Stats.Alerts++
	}
	return out, nil
}

func firstText(ev sigma.Event, field string) string {
	if v := ev.Values(field); len(v) > 0 {
		return sigma.Text(v[0])
	}
	return ""
}

// suppressed applies the rule's suppression window (packet time).
func (s *Set) suppressed(r *Rule, h sigma.Hit, ev sigma.Event) bool {
	if r.Suppress <= 0 {
		return false
	}
	var key strings.Builder
	key.WriteString(ruleKey(r))
	switch {
	case len(r.SuppressBy) > 0:
		for _, f := range r.SuppressBy {
			key.WriteByte(0)
			key.WriteString(firstText(ev, f))
		}
	case h.Group != nil:
		names := make([]string, 0, len(h.Group))
		for k := range h.Group {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			key.WriteByte(0)
			key.WriteString(h.Group[k])
		}
	default:
		key.WriteByte(0)
		key.WriteString(firstText(ev, "psm.session_id"))
	}
	k := key.String()
	if last, ok := s.last[k]; ok && h.Time.Sub(last) < r.Suppress {
		return true
	}
	if len(s.last) > 100000 { // bounded: forget windows long past
		for kk, t := range s.last {
			if h.Time.Sub(t) > time.Hour {
				delete(s.last, kk)
			}
		}
	}
	s.last[k] = h.Time
	return false
}

func ruleKey(r *Rule) string {
	if r.ID != "" {
		return r.ID
	}
	return r.File + "#" + r.Title
}

func (s *Set) alert(r *Rule, h sigma.Hit, d record.Document, ev sigma.Event, ctx map[string]any) *record.Alert {
	a := &record.Alert{Time: h.Time, RuleID: r.ID, RuleName: r.Title, RuleDescription: strings.TrimSpace(r.Description),
		RuleRuleset: r.Ruleset, RuleLevel: r.Level, RuleReferences: r.References, RuleTags: r.Tags,
		Severity: record.Severity(r.Level), TriggerID: d.DocID(), TriggerDataset: d.Dataset(), Context: ctx}
	if a.RuleLevel == "" {
		a.RuleLevel = "medium" // Sigma's default when a rule says nothing
		a.Severity = record.Severity("medium")
	}
	if r.Author != "" {
		a.RuleAuthors = []string{r.Author}
	}
	if c := r.Correlation; c != nil {
		a.Correlation, a.Count, a.Group = c.Type, h.Count, h.Group
		seen := map[string]bool{}
		for _, ref := range h.Refs {
			if ref != "" && !seen[ref] {
				seen[ref] = true
				a.SessionIDs = append(a.SessionIDs, ref)
			}
		}
	} else if sid := firstText(ev, "psm.session_id"); sid != "" {
		a.SessionIDs = []string{sid}
	}
	a.Message = message(r, ev, a)
	sum := sha256.Sum256([]byte(ruleKey(r) + "\x00" + d.DocID() + "\x00" + h.Time.UTC().Format(time.RFC3339Nano)))
	a.ID = base64.RawURLEncoding.EncodeToString(sum[:15])
	return a
}

// message says what happened in one line: the rule, who, where, and what.
func message(r *Rule, ev sigma.Event, a *record.Alert) string {
	var b strings.Builder
	b.WriteString(r.Title)
	if a.Correlation != "" {
		fmt.Fprintf(&b, " (%d", a.Count)
		if len(a.Group) > 0 {
			names := make([]string, 0, len(a.Group))
			for k := range a.Group {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				fmt.Fprintf(&b, ", %s=%s", k, a.Group[k])
			}
		}
		b.WriteString(")")
		return b.String()
	}
	// who on what: "alice on 192.0.2.20 (telnet)"; without a user (SSH
	// hides it), the client: "192.0.2.10 to 192.0.2.20 (ssh)".
	user, src, dst := firstText(ev, "user.name"), firstText(ev, "source.ip"), firstText(ev, "destination.ip")
	if user != "" || dst != "" {
		b.WriteString(":")
		switch {
		case user != "" && dst != "":
			b.WriteString(" " + user + " on " + dst)
		case user != "":
			b.WriteString(" " + user)
		case src != "":
			b.WriteString(" " + src + " to " + dst)
		default:
			b.WriteString(" on " + dst)
		}
		if p := firstText(ev, "network.protocol"); p != "" {
			b.WriteString(" (" + p + ")")
		}
	}
	if c := firstText(ev, "process.command_line"); c != "" {
		b.WriteString(": " + clip(c, 200))
	} else if f := firstText(ev, "file.path"); f != "" {
		b.WriteString(": " + clip(f, 200))
	}
	return b.String()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
