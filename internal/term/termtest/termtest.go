// Package termtest runs the engine over a capture for the tests of the
// terminal protocols (Telnet, rlogin, rsh) and checks their activity events
// against their records. Test support only: no protocol code imports it.
package termtest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/capturetest"
	"github.com/psmtap/psmtap/internal/record"
)

// Result is what one read of a capture produced.
type Result = capturetest.Result

// Read runs d over the capture at path, with events on; interim > 0 asks for
// interim records that often (packet time, ns).
func Read(t testing.TB, path string, interim int64, d dissectors.Dissector) Result {
	t.Helper()
	return capturetest.Read(t, path, interim, d)
}

// Check asserts what holds for every session: its events are in sequence
// and inside the session's time, in order, and agree with its record
// (Consistent).
func Check(t testing.TB, res Result) {
	t.Helper()
	n := 0
	for _, r := range res.Records {
		evs := res.Of(r)
		n += len(evs)
		for i, ev := range evs {
			if ev.Sequence != i+1 {
				t.Errorf("%s: event %d has sequence %d", r.ID, i+1, ev.Sequence)
			}
			if ev.Time.Before(r.Start) || ev.Time.After(r.End) || i > 0 && ev.Time.Before(evs[i-1].Time) {
				t.Errorf("%s: event %d (%s) at %v: outside %v..%v or out of order", r.ID, i+1, ev.Action, ev.Time, r.Start, r.End)
			}
		}
		if err := Consistent(r, evs); err != nil {
			t.Errorf("%s: %v", r.ID, err)
		}
	}
	if n != len(res.Events) {
		t.Errorf("%d events belong to no record", len(res.Events)-n)
	}
}

// Consistent checks a session's events against its record: one login event
// per counted attempt, numbered in order, a password attempt saying so; one
// command event per psm.commands entry, same text, same order.
func Consistent(r *record.Record, evs []*record.Event) error {
	var logins int
	var cmds []string
	for _, ev := range evs {
		switch ev.Action {
		case record.ActionLogin:
			logins++
			if ev.Login == nil || ev.Login.Attempt != logins {
				return fmt.Errorf("login event %d numbered %+v", logins, ev.Login)
			}
			if ev.CleartextCredentials != (ev.Login.Method == "password") {
				return fmt.Errorf("login event %d: method %q, cleartext credentials %v", logins, ev.Login.Method, ev.CleartextCredentials)
			}
		case record.ActionCommand:
			cmds = append(cmds, ev.Command.Line)
		}
	}
	attempts := 0
	if r.Login != nil {
		attempts = r.Login.Attempts
	}
	if logins != attempts {
		return fmt.Errorf("%d login events, %d attempts", logins, attempts)
	}
	if !slices.Equal(cmds, r.Commands) {
		return fmt.Errorf("command events %q, psm.commands %q", cmds, r.Commands)
	}
	return nil
}

// Logins describes a session's login events as "user outcome method
// reason" lines (cleartext credentials marked with a trailing +).
func Logins(evs []*record.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Action != record.ActionLogin {
			continue
		}
		s := fmt.Sprintf("%s %s %s %q", ev.UserName, ev.Outcome, ev.Login.Method, ev.Reason)
		if ev.CleartextCredentials {
			s += " +"
		}
		out = append(out, s)
	}
	return out
}

// Actions lists the events' actions with their command lines: "login",
// "command id", ...
func Actions(evs []*record.Event) []string {
	var out []string
	for _, ev := range evs {
		s := ev.Action
		if ev.Command != nil {
			s += " " + ev.Command.Line
		}
		out = append(out, s)
	}
	return out
}
