package rlogin

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/term/termtest"
)

// rlogin.pcap's ground truth (pcaps/README.md): trusted by .rhosts, then
// id, pwd, exit.
func TestEventsFromCapture(t *testing.T) {
	res := termtest.Read(t, "../../pcaps/rlogin.pcap", 0, Dissector{})
	termtest.Check(t, res)
	if len(res.Records) != 1 {
		t.Fatalf("%d records", len(res.Records))
	}
	r := res.Records[0]
	evs := res.Of(r)
	if got := termtest.Logins(evs); !reflect.DeepEqual(got, []string{`alice success trusted_host ""`}) {
		t.Fatalf("logins %q", got)
	}
	if got := termtest.Actions(evs); !reflect.DeepEqual(got, []string{"login", "command id", "command pwd", "command exit"}) {
		t.Fatalf("actions %q", got)
	}
	// the login at the "Last login:" line (MOTD ~1.5 s), each command at its CR
	want := [][2]float64{{1.4, 1.7}, {3.0, 3.1}, {5.1, 5.2}, {6.4, 6.5}}
	for i, ev := range evs {
		if at := ev.Time.Sub(r.Start).Seconds(); at < want[i][0] || at > want[i][1] {
			t.Errorf("event %d at %.3f s, want %v", i+1, at, want[i])
		}
	}
	if o, ok := evs[0].Objects["rlogin"].(*Fields); !ok || o.ClientUser != "alice" || o.ServerUser != "alice" {
		t.Fatalf("login event's rlogin object %+v", evs[0].Objects)
	}
}

// Interim records of rlogin.pcap: user, login and commands so far; the final
// record and the events are the same as without them.
func TestSnapshotsFromCapture(t *testing.T) {
	plain := termtest.Read(t, "../../pcaps/rlogin.pcap", 0, Dissector{})
	snap := termtest.Read(t, "../../pcaps/rlogin.pcap", 1e9, Dissector{})
	a, _ := json.Marshal(plain.Records[0])
	b, _ := json.Marshal(snap.Records[0])
	ea, _ := json.Marshal(plain.Events)
	eb, _ := json.Marshal(snap.Events)
	if string(a) != string(b) || string(ea) != string(eb) {
		t.Fatalf("snapshots changed the session:\n%s\n%s", a, b)
	}
	if len(snap.Interims) < 2 {
		t.Fatalf("%d interims", len(snap.Interims))
	}
	var sawID bool
	for _, r := range snap.Interims {
		f, ok := r.Objects["rlogin"].(*Fields)
		if !ok || r.UserName != "alice" || f.TerminalType != "xterm" || f.Window == nil || f.Window.Rows != 24 {
			t.Fatalf("interim %+v %+v", r, r.Objects)
		}
		if slices.Equal(r.Commands, []string{"id"}) {
			sawID = true
			if r.Login == nil || r.Login.Attempts != 1 || !*r.Login.Success || r.Kind != "interactive" {
				t.Fatalf("interim login %+v kind %q", r.Login, r.Kind)
			}
		}
	}
	if !sawID {
		t.Fatal("no interim with the first command only")
	}
}

// A refused handshake is one failed login event, with the server's message,
// published when the message line is complete; a password fallback is a
// password attempt.
func TestEventsRefusedAndPassword(t *testing.T) {
	run := func(chunks []chunk) ([]*record.Event, *record.Record) {
		var evs []*record.Event
		c := &dissectors.Context{Record: &record.Record{}, Options: &dissectors.Options{},
			Events: func(ev *record.Event) { evs = append(evs, ev) }}
		s := newSession(c)
		for i, ch := range chunks {
			s.Feed(ch.dir, []byte(ch.data), int64(i))
		}
		s.Close(c.Record)
		return evs, c.Record
	}
	evs, r := run([]chunk{{C, "\x00bob\x00root\x00vt100/9600\x00"}, {S, "\x01rlogind: Permission"}, {S, " denied.\n"}, {S, "more\n"}})
	if len(evs) != 1 || evs[0].Outcome != record.OutcomeFailure || evs[0].Reason != "rlogind: Permission denied." ||
		evs[0].UserName != "root" || evs[0].Time.UnixNano() != 2 || evs[0].Login.Method != "trusted_host" || r.Login.Attempts != 1 {
		t.Fatalf("refused: %+v", evs)
	}
	// no newline ever: published at the end with what came
	evs, _ = run([]chunk{{C, "\x00bob\x00root\x00vt100/9600\x00"}, {S, "\x01no"}})
	if len(evs) != 1 || evs[0].Reason != "no" || evs[0].Time.UnixNano() != 1 {
		t.Fatalf("refused, cut: %+v", evs)
	}
	evs, r = run([]chunk{{C, "\x00bob\x00root\x00vt100/9600\x00"}, {S, "\x00Password: "}, {C, "toor\r"}, {S, "\r\nLogin incorrect\r\n"}})
	if len(evs) != 1 || evs[0].Outcome != record.OutcomeFailure || evs[0].Login.Method != "password" || !evs[0].CleartextCredentials ||
		evs[0].UserName != "root" || evs[0].Reason != "Login incorrect" || r.Login.Attempts != 1 {
		t.Fatalf("password: %+v", evs)
	}
}
