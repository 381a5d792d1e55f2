// Package alertout sends alerts beyond the sinks that records go to: to
// webhooks (a JSON POST each, retried with backoff, kept in a disk spool
// while the receiver is down) and to programs (the alert as JSON on stdin).
//
// Alerts reach it from rules.Sink.OnAlert, on the output goroutine (and on
// the spill path of live), which must never wait for a receiver or a
// program: every output has its own bounded queue and goroutines, and an
// alert that finds a queue full is dropped, counted and said loudly.
// docs/rules.md ("Alert outputs") is the operator's description.
package alertout

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/psmtap/psmtap/internal/record"
)

// DefaultQueue is the alerts an output holds in memory at most.
const DefaultQueue = 1024

// item is one alert on its way: its id and its JSON.
type item struct {
	id, rule, level string
	body            []byte
}

// Output is one destination: a *Webhook or an *Exec.
type Output interface {
	offer(it item) bool // never blocks; false: the queue is full
	close() error       // delivers or keeps what is queued, within a bound
	name() string
	dropped() *atomic.Int64
}

// Outputs fans alerts out to every configured output.
type Outputs struct {
	list   []Output
	log    *slog.Logger
	badEnc atomic.Int64
}

// New groups outputs made by NewWebhook and NewExec.
func New(log *slog.Logger, outs ...Output) *Outputs {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outputs{log: log, list: outs}
}

// Len is the number of outputs.
func (o *Outputs) Len() int { return len(o.list) }

// OnAlert hands an alert to every output without waiting (the hook of
// rules.Sink.OnAlert).
func (o *Outputs) OnAlert(a *record.Alert) {
	if len(o.list) == 0 {
		return
	}
	body, err := a.MarshalJSON()
	if err != nil {
		if n := o.badEnc.Add(1); n == 1 || n%100 == 0 {
			o.log.Error("ALERT NOT SENT: it could not be encoded", "id", a.ID, "rule", a.RuleName, "err", err, "count", n)
		}
		return
	}
	it := item{id: a.ID, rule: a.RuleName, level: a.RuleLevel, body: body}
	for _, out := range o.list {
		if !out.offer(it) {
			n := out.dropped().Add(1)
			if n == 1 || n%100 == 0 {
				o.log.Error("ALERT DROPPED: the queue of an alert output is full (the receiver or program is too slow)",
					"output", out.name(), "id", it.id, "rule", it.rule, "dropped_total", n)
			}
		}
	}
}

// Close stops every output after it has delivered (or, for webhooks,
// spooled) what it holds, each within its own time bound. It returns an
// error when alerts were lost.
func (o *Outputs) Close() error {
	var errs []error
	for _, out := range o.list {
		if err := out.close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", out.name(), err))
		}
	}
	if n := o.badEnc.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("%d alerts could not be encoded", n))
	}
	return errors.Join(errs...)
}

// Sink is what Wrap wraps: an index.Sink.
type Sink interface {
	Write(d record.Document) error
	Close() error
}

// Wrap returns next with a Close that also closes the outputs, after next
// (by then the last alert has been raised). Flush passes through.
func (o *Outputs) Wrap(next Sink) Sink { return &wrapped{next: next, outs: o} }

type wrapped struct {
	next Sink
	outs *Outputs
}

func (w *wrapped) Write(d record.Document) error { return w.next.Write(d) }

func (w *wrapped) Flush() error {
	if f, ok := w.next.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

func (w *wrapped) Close() error {
	err := w.next.Close()
	return errors.Join(err, w.outs.Close())
}
