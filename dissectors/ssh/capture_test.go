package ssh_test

import (
	"testing"

	"github.com/psmtap/psmtap/internal/capturetest"
	"github.com/psmtap/psmtap/internal/record"
)

// readCapture runs a capture of pcaps/ through the engine with the named
// dissectors: every record in the order it came, and the activity events by
// session id.
func readCapture(t *testing.T, name string, names ...string) ([]*record.Record, map[string][]*record.Event) {
	t.Helper()
	res := capturetest.Read(t, "../../pcaps/"+name, 0, capturetest.Named(names...)...)
	return res.All, res.BySession()
}

func checkTimes(t *testing.T, r *record.Record, evs []*record.Event) {
	capturetest.CheckTimes(t, r, evs)
}

func byAction(evs []*record.Event, action string) []*record.Event {
	return capturetest.ByAction(evs, action)
}
