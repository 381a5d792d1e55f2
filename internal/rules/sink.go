package rules

import (
	"log/slog"
	"sync/atomic"

	"github.com/psmtap/psmtap/internal/record"
)

// Sink runs the rules on each document on its way to the next sink (an
// index.Sink), then writes the document and the alerts it raised. It sits
// behind the output queue, so rules run on the output goroutine.
type Sink struct {
	Set  *Set
	Next interface {
		Write(record.Document) error
		Close() error
	}
	// Events: write activity events on (--events). Rules see them either way.
	Events bool
	// OnAlert, when set, also receives each alert (webhooks, exec, the live
	// view); it must not block.
	OnAlert func(*record.Alert)
	Logger  *slog.Logger

	errors atomic.Uint64
}

// Write implements index.Sink.
func (s *Sink) Write(d record.Document) error {
	alerts := s.evaluate(d)
	var first error
	if _, isEvent := d.(*record.Event); !isEvent || s.Events {
		first = s.Next.Write(d)
	}
	for _, a := range alerts {
		if err := s.Next.Write(a); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Sink) evaluate(d record.Document) []*record.Alert {
	alerts, err := s.Set.Evaluate(d)
	if err != nil {
		// A document the rules cannot read is still written; say so once in a while.
		if n := s.errors.Add(1); (n == 1 || n%1000 == 0) && s.Logger != nil {
			s.Logger.Error("rules could not read a document", "dataset", d.Dataset(), "id", d.DocID(), "error", err, "count", n)
		}
		return nil
	}
	if s.OnAlert != nil {
		for _, a := range alerts {
			s.OnAlert(a)
		}
	}
	return alerts
}

// Spool passes documents that found the output queue full to the next
// sink's spool, with the rules run on them first: an overloaded sensor still
// alerts. Only when the next sink has a spool (see Spooler).
func (s *Sink) Spool(docs []record.Document) error {
	sp, ok := s.Next.(Spooler)
	if !ok {
		return nil
	}
	out := make([]record.Document, 0, len(docs))
	for _, d := range docs {
		alerts := s.evaluate(d)
		if _, isEvent := d.(*record.Event); !isEvent || s.Events {
			out = append(out, d)
		}
		for _, a := range alerts {
			out = append(out, a)
		}
	}
	return sp.Spool(out)
}

// Spooler is a sink with a disk spool for overflow (the Elasticsearch sink).
type Spooler interface {
	Spool([]record.Document) error
}

// Flush passes a flush on (live output is read as it comes).
func (s *Sink) Flush() error {
	if f, ok := s.Next.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// Close implements index.Sink.
func (s *Sink) Close() error { return s.Next.Close() }
