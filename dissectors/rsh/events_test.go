package rsh

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/term/termtest"
)

// rsh.pcap's ground truth (pcaps/README.md): two trusted commands, id and
// ls /etc/hostname /nonexistent, each its own session.
func TestEventsFromCapture(t *testing.T) {
	res := termtest.Read(t, "../../pcaps/rsh.pcap", 0, Dissector{})
	termtest.Check(t, res)
	if len(res.Records) != 2 {
		t.Fatalf("%d records", len(res.Records))
	}
	want := []string{"id", "ls /etc/hostname /nonexistent"}
	for i, r := range res.Records {
		evs := res.Of(r)
		if got := termtest.Actions(evs); !reflect.DeepEqual(got, []string{"command " + want[i], "login"}) {
			t.Fatalf("session %d: %q", i+1, got)
		}
		if got := termtest.Logins(evs); !reflect.DeepEqual(got, []string{`alice success trusted_host ""`}) {
			t.Fatalf("session %d: logins %q", i+1, got)
		}
		if evs[0].UserName != "alice" {
			t.Fatalf("command event user %q", evs[0].UserName)
		}
		if o := evs[1].Objects["rsh"].(*Fields); o.ClientUser != "alice" || o.ServerUser != "alice" {
			t.Fatalf("login event's rsh object %+v", o)
		}
		// both within the 40 ms the request and its answer took
		if d := evs[1].Time.Sub(r.Start).Seconds(); d > 0.04 {
			t.Fatalf("login at %.3f s", d)
		}
	}
}

func TestEventsRefused(t *testing.T) {
	var evs []*record.Event
	c := &dissectors.Context{Record: &record.Record{}, Events: func(ev *record.Event) { evs = append(evs, ev) }}
	s := newSession(c)
	s.Feed(dissectors.FromClient, []byte("0\x00bob\x00root\x00id\x00"), 1)
	s.Feed(dissectors.FromServer, []byte("\x01Permission"), 2)
	if len(evs) != 1 {
		t.Fatalf("login published before its message was whole: %+v", evs)
	}
	s.Feed(dissectors.FromServer, []byte(" denied.\n"), 3)
	s.Close(c.Record)
	if len(evs) != 2 || evs[1].Outcome != record.OutcomeFailure || evs[1].Reason != "Permission denied." || evs[1].UserName != "root" ||
		evs[1].Time.UnixNano() != 3 || evs[0].Command.Line != "id" || evs[0].UserName != "root" {
		t.Fatalf("%+v", evs)
	}
}

// A snapshot before the answer has the request; the final record is the
// same with or without it.
func TestSnapshot(t *testing.T) {
	feed := func(snap bool) (*record.Record, record.Record) {
		c := &dissectors.Context{Record: &record.Record{}}
		s := newSession(c)
		s.Feed(dissectors.FromClient, []byte("0\x00alice\x00alice\x00id\x00"), 1)
		var interim record.Record
		if snap {
			s.Snapshot(&interim)
		}
		s.Feed(dissectors.FromServer, []byte("\x00uid=2001(alice)\n"), 2)
		s.Close(c.Record)
		return c.Record, interim
	}
	plain, _ := feed(false)
	final, interim := feed(true)
	a, _ := json.Marshal(plain)
	b, _ := json.Marshal(final)
	if string(a) != string(b) {
		t.Fatalf("%s\n%s", a, b)
	}
	if interim.UserName != "alice" || !reflect.DeepEqual(interim.Commands, []string{"id"}) || interim.Kind != "exec" || interim.Login != nil ||
		interim.Objects["rsh"].(*Fields).Command != "id" {
		t.Fatalf("interim %+v", interim)
	}
}
