package rdp_test

import (
	"io"
	"testing"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
)

// readCapture runs a capture of pcaps/ through the engine with the named
// dissectors and returns the session records and their activity events by
// session id.
func readCapture(t *testing.T, name string, interim int64, names ...string) ([]*record.Record, map[string][]*record.Event) {
	t.Helper()
	src, err := capture.OpenFile("../../pcaps/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var ds []dissectors.Dissector
	for _, d := range dissectors.All() {
		for _, n := range names {
			if d.Name() == n {
				ds = append(ds, d)
			}
		}
	}
	var recs []*record.Record
	evs := map[string][]*record.Event{}
	e := engine.New(engine.Config{Dissectors: ds, Interim: interim, Emit: func(r *record.Record) { recs = append(recs, r) },
		EmitEvent: func(ev *record.Event) { evs[ev.SessionID] = append(evs[ev.SessionID], ev) }})
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
	return recs, evs
}

// checkTimes: events fall inside their session, in order.
func checkTimes(t *testing.T, r *record.Record, evs []*record.Event) {
	t.Helper()
	for i, ev := range evs {
		if ev.Time.Before(r.Start) || ev.Time.After(r.End) || i > 0 && ev.Time.Before(evs[i-1].Time) {
			t.Errorf("event %d (%s) at %v: outside %v-%v or out of order", i+1, ev.Action, ev.Time, r.Start, r.End)
		}
	}
}

// byAction picks a session's events of one action.
func byAction(evs []*record.Event, action string) []*record.Event {
	var out []*record.Event
	for _, ev := range evs {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}
