package sensor

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/psmtap/psmtap/internal/record"
)

// Tee is the sink the hub sits in, right behind the output queue (on the
// output goroutine): each document updates the registry, then goes on to
// Next. Activity events go on only when PassEvents (--events, or rules
// behind it that want them); the hub sees them either way.
type Tee struct {
	Hub  *Hub
	Next interface {
		Write(record.Document) error
		Close() error
	}
	PassEvents bool
	// SpoolTo, when set, takes what Spool passes on (the spool of a sink
	// further down); else Next's own Spool, if it has one.
	SpoolTo func([]record.Document) error
}

// Write implements index.Sink.
func (t *Tee) Write(d record.Document) error {
	t.Hub.Document(d)
	if _, isEvent := d.(*record.Event); isEvent && !t.PassEvents {
		return nil
	}
	return t.Next.Write(d)
}

// Spool passes documents that found the queue full to the next sink's spool
// (when it has one), the hub seeing them first.
func (t *Tee) Spool(docs []record.Document) error {
	out := docs[:0:0]
	for _, d := range docs {
		if r, ok := d.(*record.Record); ok && r.Deferred != nil {
			// Its deferred work runs later, on the spool's goroutine: keep a
			// copy it cannot touch.
			c := *r
			c.Deferred = nil
			c.Anomalies = append([]string(nil), r.Anomalies...)
			t.Hub.Document(&c)
		} else {
			t.Hub.Document(d)
		}
		if _, isEvent := d.(*record.Event); !isEvent || t.PassEvents {
			out = append(out, d)
		}
	}
	if t.SpoolTo != nil {
		return t.SpoolTo(out)
	}
	if sp, ok := t.Next.(interface{ Spool([]record.Document) error }); ok {
		return sp.Spool(out)
	}
	return nil
}

// Flush passes a flush on (live output is read as it comes).
func (t *Tee) Flush() error {
	if f, ok := t.Next.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// Close implements index.Sink.
func (t *Tee) Close() error { return t.Next.Close() }

// Document updates the registry with a record, event or alert. The hub
// keeps d and never changes it: a record must be complete (no deferred
// work), as the output queue hands it on.
func (h *Hub) Document(d record.Document) {
	switch v := d.(type) {
	case *record.Record:
		h.onRecord(v)
	case *record.Event:
		h.onEvent(v)
	case *record.Alert:
		h.Alert(v)
	}
}

func (h *Hub) onRecord(r *record.Record) {
	if r.ID == "" || r.Protocol == "" {
		return // a flow of no interest (--all)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[r.ID]
	final := r.EventType == "" || r.EventType == "end"
	if s == nil {
		if !final && h.nOpen >= h.opt.MaxOpen {
			h.evictOpen()
		}
		s = h.newSession(r.ID, r.Protocol, r.Start.UnixNano())
	}
	if s.final && !final {
		return // an interim snapshot that lost the race with the end
	}
	s.base, s.synthetic = r, false
	// The record says everything up to its time: start over from it.
	s.user, s.userLoggedIn, s.attempts, s.success, s.cmds, s.kind = "", false, 0, nil, nil, ""
	s.touch(r.End.UnixNano())
	if !s.terminal {
		if final {
			s.text(r.End.UnixNano(), "session ended (%s): %d bytes from the client, %d from the server", r.State, r.ClientBytes, r.ServerBytes)
		} else {
			s.text(r.End.UnixNano(), "so far: %d bytes from the client, %d from the server", r.ClientBytes, r.ServerBytes)
		}
		h.flushText(s)
	}
	if final {
		if s.final {
			h.publishSession(s) // ended already (Ended): now with its record
			return
		}
		// End it through the feed, after the terminal bytes still waiting
		// there (the engine's own Ended is usually ahead of this one);
		// at once if the feed is full.
		select {
		case h.feed <- feedMsg{kind: feedEnded, id: s.id, ts: r.End.UnixNano()}:
		default:
			h.finish(s)
		}
	}
}

func (h *Hub) onEvent(ev *record.Event) {
	h.events.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[ev.SessionID]
	if s == nil {
		if ev.SessionID == "" {
			return
		}
		s = h.newSession(ev.SessionID, ev.Protocol, ev.Time.UnixNano())
		s.base = &record.Record{ID: ev.SessionID, Start: ev.Time, End: ev.Time, EventType: "start",
			Client: ev.Client, Server: ev.Server, Transport: ev.Transport, Protocol: ev.Protocol,
			CommunityID: ev.CommunityID, Observer: ev.Observer, Interface: ev.Interface}
		s.synthetic = true
	}
	s.touch(ev.Time.UnixNano())
	s.nEvents++
	switch ev.Action {
	case record.ActionLogin:
		if ev.Login != nil && ev.Login.Attempt > s.attempts {
			s.attempts = ev.Login.Attempt
		}
		if ev.UserName != "" && (ev.Outcome == record.OutcomeSuccess || !s.userLoggedIn) {
			s.user, s.userLoggedIn = ev.UserName, ev.Outcome == record.OutcomeSuccess
		}
		switch ev.Outcome {
		case record.OutcomeSuccess:
			yes := true
			s.success = &yes
		case record.OutcomeFailure:
			if s.success == nil {
				no := false
				s.success = &no
			}
		}
	case record.ActionCommand:
		if ev.Command != nil && ev.Command.Line != "" && len(s.cmds) < maxSinceCommands {
			s.cmds = append(s.cmds, ev.Command.Line)
		}
	case record.ActionSessionKind:
		s.kind = ev.Kind
	}
	if !s.terminal {
		s.text(ev.Time.UnixNano(), "%s", eventLine(ev))
		h.flushText(s)
	}
	if len(h.subs) > 0 {
		if b, err := ev.MarshalJSON(); err == nil {
			h.fanOut(sseFrame("event", ev.ID, b), func(f *Filter) bool {
				return f.match(ev.SessionID, ev.UserName, ev.Protocol)
			})
		}
	}
}

// Alert takes an alert (rules.Sink.OnAlert, or through Tee).
func (h *Hub) Alert(a *record.Alert) {
	h.alerts.Add(1)
	user, _ := lookup(a.Context, "user", "name").(string)
	proto, _ := lookup(a.Context, "network", "protocol").(string)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range a.SessionIDs {
		if s := h.sessions[id]; s != nil {
			s.nAlerts++
			if !s.terminal {
				s.text(a.Time.UnixNano(), "ALERT (%s): %s", a.RuleLevel, a.Message)
				h.flushText(s)
			}
		}
	}
	if len(h.subs) > 0 {
		if b, err := a.MarshalJSON(); err == nil {
			h.fanOut(sseFrame("alert", a.ID, b), func(f *Filter) bool {
				if f.Session != "" {
					for _, id := range a.SessionIDs {
						if f.match(id, user, proto) {
							return true
						}
					}
					return false
				}
				return f.match("", user, proto)
			})
		}
	}
}

// lookup walks nested JSON objects.
func lookup(m map[string]any, path ...string) any {
	var cur any = m
	for _, k := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	return cur
}

// text adds a line to a non-terminal session's textual feed (h.mu held);
// flushText sends what was added.
func (s *session) text(ts int64, format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	stamp := time.Unix(0, ts).UTC().Format("15:04:05")
	s.pendingText = append(s.pendingText, castEvent(float64(max(ts-s.start, 0))/1e9, 'o',
		[]byte("["+stamp+"] "+printable(line)+"\r\n")))
}

func (h *Hub) flushText(s *session) {
	for _, l := range s.pendingText {
		h.push(s, l)
	}
	s.pendingText = s.pendingText[:0]
}

// Printable is s made safe to print on a terminal (see printable).
func Printable(s string) string { return printable(s) }

// printable keeps network text from driving a terminal: control
// characters become '?', and the line is bounded.
func printable(s string) string {
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// eventLine says what an event tells, in a few words.
func eventLine(ev *record.Event) string {
	var b strings.Builder
	b.WriteString(ev.Action)
	if ev.Outcome != "" {
		b.WriteString(" " + ev.Outcome)
	}
	switch ev.Action {
	case record.ActionLogin:
		if ev.UserName != "" {
			b.WriteString(" user " + ev.UserName)
		}
		if ev.Login != nil && ev.Login.Method != "" {
			b.WriteString(" (" + ev.Login.Method + ")")
		}
	case record.ActionCommand:
		if ev.Command != nil {
			b.WriteString(": " + ev.Command.Line)
			if ev.Command.ReplyCode != 0 {
				fmt.Fprintf(&b, " -> %d %s", ev.Command.ReplyCode, ev.Command.Reply)
			}
		}
	case record.ActionFile:
		if ev.File != nil {
			fmt.Fprintf(&b, ": %s %s (%d bytes)", ev.File.Direction, ev.File.Path, ev.File.Size)
		}
	case record.ActionSessionKind:
		b.WriteString(": " + ev.Kind)
	case record.ActionQuery:
		if ev.Query != nil {
			b.WriteString(": " + ev.Query.Text)
		}
	case record.ActionClipboard:
		// direction and size, never the text: it may be a pasted password,
		// and the feed is shown to whoever watches
		if c := ev.Clipboard; c != nil {
			fmt.Fprintf(&b, ": %s, %d bytes", strings.ReplaceAll(c.Direction, "_", " "), c.Length)
		}
	}
	if ev.Reason != "" {
		b.WriteString(" - " + ev.Reason)
	}
	return b.String()
}

// snapshot is the session's record as known now: the latest record, with
// what events told since (h.mu held). The copy shares the base's slices
// and maps, which nobody changes.
func (s *session) snapshot() *record.Record {
	r := *s.base
	r.Deferred = nil
	if s.final && !s.synthetic {
		return &r
	}
	if s.user != "" && (r.UserName == "" || s.userLoggedIn) {
		r.UserName = s.user
	}
	if s.attempts > 0 || s.success != nil {
		l := record.Login{}
		if r.Login != nil {
			l = *r.Login
		}
		l.Attempts = max(l.Attempts, s.attempts)
		if s.success != nil && (l.Success == nil || *s.success) {
			l.Success = s.success
		}
		r.Login = &l
	}
	if len(s.cmds) > 0 {
		r.Commands = append(append([]string(nil), r.Commands...), s.cmds...)
	}
	if s.kind != "" {
		r.Kind = s.kind
	} else if r.Kind == "" && (len(r.Commands) > 0 || s.userLoggedIn && s.terminal) {
		r.Kind = "interactive"
	}
	if end := time.Unix(0, s.last); end.After(r.End) {
		r.End = end
	}
	return &r
}

// Entry is a session as the API lists it: a summary for tables and
// consoles, and the record (the ECS document as outputs write it).
type Entry struct {
	ID       string          `json:"id"`
	Open     bool            `json:"open"`
	Protocol string          `json:"protocol"`
	User     string          `json:"user,omitempty"`
	Client   string          `json:"client"`
	Server   string          `json:"server"`
	Start    time.Time       `json:"start"`
	Last     time.Time       `json:"last"`
	Login    string          `json:"login,omitempty"` // success, failure
	Kind     string          `json:"kind,omitempty"`
	Commands int             `json:"commands"`
	Events   int             `json:"events"`
	Alerts   int             `json:"alerts"`
	Terminal bool            `json:"terminal"`
	Viewers  int             `json:"viewers"`
	Record   json.RawMessage `json:"record"`

	rec *record.Record
}

// entry builds an Entry (h.mu held); its Record is encoded by encode,
// outside the lock.
func (s *session) entry() *Entry {
	r := s.snapshot()
	e := &Entry{ID: s.id, Open: !s.final, Protocol: s.proto, User: r.UserName, Client: r.Client.String(),
		Server: r.Server.String(), Start: r.Start.UTC(), Last: r.End.UTC(), Kind: r.Kind, Commands: len(r.Commands),
		Events: s.nEvents, Alerts: s.nAlerts, Terminal: s.terminal, Viewers: len(s.viewers), rec: r}
	if r.Login != nil && r.Login.Success != nil {
		e.Login = map[bool]string{true: "success", false: "failure"}[*r.Login.Success]
	}
	return e
}

func (e *Entry) encode() {
	if e.rec != nil && e.Record == nil {
		if b, err := e.rec.MarshalJSON(); err == nil {
			e.Record = b
		}
	}
}

// Sessions lists the open sessions, newest first; all adds the recently
// finished ones.
func (h *Hub) Sessions(all bool) []*Entry {
	h.mu.Lock()
	out := make([]*Entry, 0, h.nOpen)
	for _, s := range h.sessions {
		if s.base != nil && (!s.final || all) {
			out = append(out, s.entry())
		}
	}
	h.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Start.Equal(out[j].Start) {
			return out[i].Start.After(out[j].Start)
		}
		return out[i].ID < out[j].ID
	})
	for _, e := range out {
		e.encode()
	}
	return out
}

// Session returns one session, or nil.
func (h *Hub) Session(id string) *Entry {
	h.mu.Lock()
	s := h.sessions[id]
	var e *Entry
	if s != nil && s.base != nil {
		e = s.entry()
	}
	h.mu.Unlock()
	if e != nil {
		e.encode()
	}
	return e
}

// publishSession tells event streams that a session opened or ended (h.mu
// held).
func (h *Hub) publishSession(s *session) {
	if len(h.subs) == 0 || s.base == nil {
		return
	}
	e := s.entry()
	e.encode()
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	h.fanOut(sseFrame("session", e.ID, b), func(f *Filter) bool { return f.match(e.ID, e.User, e.Protocol) })
}
