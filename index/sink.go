// Package index holds the sinks that session records go to: NDJSON on a
// stream, a table for a person at a terminal, rotated zstd-compressed NDJSON
// files. Elasticsearch shipping is in index/es (spool: index/spool).
package index

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/psmtap/psmtap/internal/record"
)

// Sink receives documents: session records and activity events.
type Sink interface {
	Write(d record.Document) error
	Close() error
}

// NDJSON writes one JSON object per line.
type NDJSON struct {
	w *bufio.Writer
}

// NewNDJSON writes to w; Close flushes (it does not close w).
func NewNDJSON(w io.Writer) *NDJSON { return &NDJSON{w: bufio.NewWriterSize(w, 64<<10)} }

// Write implements Sink.
func (n *NDJSON) Write(d record.Document) error {
	b, err := d.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encoding %s %s: %w", d.Dataset(), d.DocID(), err)
	}
	n.w.Write(b)
	return n.w.WriteByte('\n')
}

// Flush pushes buffered lines out (for live mode, so a tail -f sees them).
func (n *NDJSON) Flush() error { return n.w.Flush() }

// Close implements Sink.
func (n *NDJSON) Close() error { return n.w.Flush() }

// Table prints a fixed-width line per session, for people.
type Table struct {
	w      *bufio.Writer
	header bool
}

// NewTable writes to w; Close flushes.
func NewTable(w io.Writer) *Table { return &Table{w: bufio.NewWriter(w)} }

const tableFormat = "%-23s %-8s %-21s %-21s %-12s %-10s %9s %9s %-11s %s\n"

// Write implements Sink: a line per session; an activity event is an
// indented line under the header, as it happened.
func (t *Table) Write(d record.Document) error {
	t.header0()
	switch v := d.(type) {
	case *record.Record:
		return t.session(v)
	case *record.Event:
		fmt.Fprintf(t.w, "  %s %-8s %-21s %-21s %-12s %s\n", v.Time.UTC().Format("2006-01-02 15:04:05.000"),
			Escape(orDash(v.Protocol)), v.Client.String(), v.Server.String(), trunc(Escape(orDash(v.UserName)), 12), eventText(v))
	case *record.Alert:
		// The message holds network text (user names, commands, paths).
		fmt.Fprintf(t.w, "! %s ALERT %-8s %s\n", v.Time.UTC().Format("2006-01-02 15:04:05.000"), Escape(v.RuleLevel), quote(v.Message))
	}
	return nil
}

func (t *Table) header0() {
	if !t.header {
		t.header = true
		fmt.Fprintf(t.w, tableFormat, "START (UTC)", "PROTO", "CLIENT", "SERVER", "USER", "LOGIN", "DURATION", "BYTES", "STATE", "DETAILS")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// eventText says what an activity event was, in a few words; text from the
// network is escaped (a terminal must not obey it).
func eventText(e *record.Event) string {
	s := Escape(e.Action)
	switch {
	case e.Login != nil:
		s += " " + Escape(e.Outcome)
		if e.Login.Method != "" {
			s += " " + Escape(e.Login.Method)
		}
		if e.Login.Inferred {
			s += " (inferred)"
		}
	case e.Command != nil:
		s += " " + quote(e.Command.Line)
		if e.Command.ReplyCode != 0 {
			s += " -> " + strconv.Itoa(e.Command.ReplyCode)
		}
	case e.File != nil:
		s += " " + Escape(strings.Join(e.Type, ","))
		if e.File.Path != "" {
			s += " " + quote(e.File.Path)
		}
		if e.File.Size >= 0 {
			s += " " + strconv.FormatInt(e.File.Size, 10) + "B"
		}
		if e.File.Direction != "" {
			s += " " + Escape(e.File.Direction)
		}
	case e.Kind != "":
		s += " " + Escape(e.Kind)
	case e.Clipboard != nil:
		// direction and size only: the text may be a pasted password
		s += " " + Escape(strings.ReplaceAll(e.Clipboard.Direction, "_", " ")) + " " + strconv.Itoa(e.Clipboard.Length) + " bytes"
	case e.Query != nil:
		s += " " + Escape(e.Outcome) + " " + quote(e.Query.Text)
		if e.Query.StatusCode != "" {
			s += " -> " + Escape(e.Query.StatusCode)
		}
	}
	if e.Reason != "" {
		s += " (" + quote(e.Reason) + ")"
	}
	return s
}

// quote escapes control characters and non-UTF-8 bytes as Go does.
func quote(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

func (t *Table) session(r *record.Record) error {
	r.Complete() // deferred work (a recording to save) may add fields
	proto := r.Protocol
	if proto == "" {
		proto = "-"
	}
	user := r.UserName
	if user == "" {
		user = "-"
	}
	fmt.Fprintf(t.w, tableFormat,
		r.Start.UTC().Format("2006-01-02 15:04:05.000"), Escape(proto), r.Client.String(), r.Server.String(), trunc(Escape(user), 12), login(r),
		r.End.Sub(r.Start).Round(time.Millisecond).String(), humanBytes(r.ClientBytes+r.ServerBytes), r.State, Escape(details(r)))
	return nil
}

// login summarises the outcome: "ok", "failed", "?" when unknown, with the
// attempts when more than one, and "~" when inferred (SSH).
func login(r *record.Record) string {
	l := r.Login
	if l == nil {
		return "-"
	}
	s := "?"
	if l.Success != nil {
		s = "failed"
		if *l.Success {
			s = "ok"
		}
	}
	if l.Attempts > 1 {
		s += fmt.Sprintf(" (%d)", l.Attempts)
	}
	if l.Inferred {
		s = "~" + s
	}
	return s
}

func details(r *record.Record) string {
	var parts []string
	if r.Kind != "" {
		parts = append(parts, r.Kind)
	}
	if m, ok := r.Objects["ssh"]; ok {
		if s, ok := m.(interface{ Summary() string }); ok {
			parts = append(parts, s.Summary())
		}
	}
	for name, v := range r.Objects {
		if name == "ssh" {
			continue
		}
		if s, ok := v.(interface{ Summary() string }); ok {
			parts = append(parts, s.Summary())
		}
	}
	if len(r.Anomalies) > 0 {
		parts = append(parts, "anomalies="+strings.Join(r.Anomalies, ","))
	}
	return strings.Join(parts, " ")
}

func trunc(s string, n int) string { return Cut(s, n) }

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fK", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// Flush pushes buffered lines out (live mode).
func (t *Table) Flush() error { return t.w.Flush() }

// Close implements Sink.
func (t *Table) Close() error {
	if !t.header {
		fmt.Fprintln(t.w, "no sessions found")
	}
	return t.w.Flush()
}
