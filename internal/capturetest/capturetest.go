// Package capturetest runs the engine over a capture for the tests of the
// protocol packages: the session records (final and interim, in the order
// they came) and the activity events, with helpers to look at them. Test
// support only: no product code imports it.
package capturetest

import (
	"io"
	"testing"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
)

// Result is what one read of a capture produced.
type Result struct {
	All      []*record.Record // every record, final and interim, in the order they came
	Records  []*record.Record // final records, in the order they ended
	Interims []*record.Record // interim snapshots (event.type start/info)
	Events   []*record.Event
}

// Read runs the dissectors ds over the capture at path, with events on;
// interim > 0 asks for interim records that often (packet time, ns).
func Read(t testing.TB, path string, interim int64, ds ...dissectors.Dissector) Result {
	t.Helper()
	return ReadOptions(t, path, interim, dissectors.Options{}, ds...)
}

// ReadOptions is Read with the operator's options (e.g. RecordingsDir).
func ReadOptions(t testing.TB, path string, interim int64, opt dissectors.Options, ds ...dissectors.Dissector) Result {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var res Result
	e := engine.New(engine.Config{Dissectors: ds, Interim: interim, Options: opt,
		Emit: func(r *record.Record) {
			res.All = append(res.All, r)
			if r.EventType == "start" || r.EventType == "info" {
				res.Interims = append(res.Interims, r)
			} else {
				res.Records = append(res.Records, r)
			}
		},
		EmitEvent: func(ev *record.Event) { res.Events = append(res.Events, ev) }})
	for {
		frame, link, ts, wire, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e.Packet(link, frame, ts, wire)
	}
	e.Flush()
	return res
}

// Named returns the registered dissectors of these names.
func Named(names ...string) []dissectors.Dissector {
	var out []dissectors.Dissector
	for _, d := range dissectors.All() {
		for _, n := range names {
			if d.Name() == n {
				out = append(out, d)
			}
		}
	}
	return out
}

// Of returns the events of r's session, in sequence.
func (res Result) Of(r *record.Record) []*record.Event {
	var out []*record.Event
	for _, ev := range res.Events {
		if ev.SessionID == r.ID {
			out = append(out, ev)
		}
	}
	return out
}

// BySession returns the events by session id.
func (res Result) BySession() map[string][]*record.Event {
	out := map[string][]*record.Event{}
	for _, ev := range res.Events {
		out[ev.SessionID] = append(out[ev.SessionID], ev)
	}
	return out
}

// ByAction picks the events of one action.
func ByAction(evs []*record.Event, action string) []*record.Event {
	var out []*record.Event
	for _, ev := range evs {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

// CheckTimes: events fall inside their session, in order.
func CheckTimes(t testing.TB, r *record.Record, evs []*record.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Time.Before(r.Start) || ev.Time.After(r.End) || i > 0 && ev.Time.Before(evs[i-1].Time) {
			t.Errorf("event %d (%s) at %v: outside %v-%v or out of order", i+1, ev.Action, ev.Time, r.Start, r.End)
		}
	}
}
