// Package index holds the sinks that session records go to: NDJSON on a
// stream, a table for a person at a terminal, rotated zstd-compressed NDJSON
// files. Elasticsearch shipping is in index/es (spool: index/spool).
package index

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/psmtap/psmtap/internal/record"
)

// Sink receives finished records.
type Sink interface {
	Write(r *record.Record) error
	Close() error
}

// NDJSON writes one JSON object per line.
type NDJSON struct {
	w *bufio.Writer
}

// NewNDJSON writes to w; Close flushes (it does not close w).
func NewNDJSON(w io.Writer) *NDJSON { return &NDJSON{w: bufio.NewWriterSize(w, 64<<10)} }

// Write implements Sink.
func (n *NDJSON) Write(r *record.Record) error {
	b, err := r.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encoding record %s: %w", r.ID, err)
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

// Write implements Sink.
func (t *Table) Write(r *record.Record) error {
	if !t.header {
		t.header = true
		fmt.Fprintf(t.w, tableFormat, "START (UTC)", "PROTO", "CLIENT", "SERVER", "USER", "LOGIN", "DURATION", "BYTES", "STATE", "DETAILS")
	}
	proto := r.Protocol
	if proto == "" {
		proto = "-"
	}
	user := r.UserName
	if user == "" {
		user = "-"
	}
	fmt.Fprintf(t.w, tableFormat,
		r.Start.UTC().Format("2006-01-02 15:04:05.000"), proto, r.Client.String(), r.Server.String(), trunc(user, 12), login(r),
		r.End.Sub(r.Start).Round(time.Millisecond).String(), humanBytes(r.ClientBytes+r.ServerBytes), r.State, details(r))
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

func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

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
