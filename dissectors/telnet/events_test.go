package telnet_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/psmtap/psmtap/dissectors/telnet"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/term/termtest"
)

// window is when, in seconds after the session's first packet, pcaps/README.md
// says an event's packet went by.
type window struct{ from, to float64 }

func checkTimes(t *testing.T, r *record.Record, evs []*record.Event, want []window) {
	t.Helper()
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
	for i, ev := range evs {
		at := ev.Time.Sub(r.Start).Seconds()
		if at < want[i].from || at > want[i].to {
			t.Errorf("event %d (%s) at %.3f s, want %.2f-%.2f s", i+1, ev.Action, at, want[i].from, want[i].to)
		}
	}
}

// The captures' ground truth (pcaps/README.md) as events.
func TestEventsFromCaptures(t *testing.T) {
	cases := []struct {
		pcap    string
		logins  []string
		actions []string
		times   []window
	}{
		{"telnet-login.pcap",
			[]string{`alice failure password "Login incorrect" +`, `alice success password "" +`},
			[]string{"login", "login", "command id", "command whoami", "command exit"},
			// failure line at 5.35 s; success at the "Last login:" line (~7.75 s); each command at its CR
			[]window{{5.3, 5.5}, {7.6, 7.9}, {9.0, 9.1}, {11.5, 11.6}, {13.2, 13.3}}},
		{"telnet-busybox.pcap",
			[]string{`alice success password "" +`},
			[]string{"login", "command echo hello", "command stty size", "command exit"},
			// no "Last login:" line: the shell prompt settles it when the user starts typing (3.54 s)
			[]window{{3.5, 3.6}, {5.1, 5.2}, {7.6, 7.8}, {9.0, 9.1}}},
		{"telnet-port2323.pcap",
			[]string{`bob success password "" +`},
			[]string{"login", "command hostname", "command exit"},
			[]window{{3.2, 3.3}, {3.7, 3.8}, {5.0, 5.11}}},
	}
	for _, c := range cases {
		t.Run(c.pcap, func(t *testing.T) {
			res := termtest.Read(t, "../../pcaps/"+c.pcap, 0, telnet.Dissector{})
			termtest.Check(t, res)
			if len(res.Records) != 1 {
				t.Fatalf("%d records", len(res.Records))
			}
			r := res.Records[0]
			evs := res.Of(r)
			if got := termtest.Logins(evs); !reflect.DeepEqual(got, c.logins) {
				t.Errorf("logins %q, want %q", got, c.logins)
			}
			if got := termtest.Actions(evs); !reflect.DeepEqual(got, c.actions) {
				t.Errorf("actions %q, want %q", got, c.actions)
			}
			checkTimes(t, r, evs, c.times)
			for _, ev := range evs {
				if ev.UserName != r.UserName {
					t.Errorf("event %d user %q, record %q", ev.Sequence, ev.UserName, r.UserName)
				}
			}
		})
	}
}

// Interim records carry the user, the login and the commands so far, and
// taking them changes nothing in the final record or the events.
func TestSnapshotsFromCapture(t *testing.T) {
	plain := termtest.Read(t, "../../pcaps/telnet-login.pcap", 0, telnet.Dissector{})
	snap := termtest.Read(t, "../../pcaps/telnet-login.pcap", 3e9, telnet.Dissector{})
	if len(snap.Interims) < 3 {
		t.Fatalf("%d interim records", len(snap.Interims))
	}
	a, _ := json.Marshal(plain.Records[0])
	b, _ := json.Marshal(snap.Records[0])
	if string(a) != string(b) {
		t.Fatalf("snapshots changed the final record:\n%s\n%s", a, b)
	}
	ea, _ := json.Marshal(plain.Events)
	eb, _ := json.Marshal(snap.Events)
	if string(ea) != string(eb) {
		t.Fatalf("snapshots changed the events")
	}
	final := snap.Records[0].Commands
	var sawPending, sawLoggedIn, sawCommands bool
	for _, r := range snap.Interims {
		f, ok := r.Objects["telnet"].(*telnet.Fields)
		if !ok || f.TerminalType != "XTERM" || f.Window == nil || f.Window.Cols != 80 {
			t.Fatalf("interim at %v: telnet %+v", r.End, r.Objects["telnet"])
		}
		if r.UserName != "alice" || r.Login == nil {
			t.Fatalf("interim at %v: user %q login %+v", r.End, r.UserName, r.Login)
		}
		if len(r.Commands) > len(final) || !slices.Equal(r.Commands, final[:len(r.Commands)]) {
			t.Fatalf("interim commands %q, final %q", r.Commands, final)
		}
		// the second login succeeded at ~7.75 s; whoami was entered at 11.54 s
		at := r.End.Sub(snap.Records[0].Start)
		if at > 8*time.Second {
			sawLoggedIn = true
			if r.Login.Attempts != 2 || r.Login.Success == nil || !*r.Login.Success || r.Kind != "interactive" {
				t.Fatalf("interim at %v: login %+v kind %q", at, r.Login, r.Kind)
			}
		}
		if at > 11*time.Second && slices.Equal(r.Commands, []string{"id", "whoami"}) {
			sawCommands = true
		}
		// the first password typed (2.04 s) and not yet answered: counted, unsettled
		if at < 5*time.Second && r.Login.Attempts == 1 && r.Login.Success == nil {
			sawPending = true
		}
	}
	if !sawLoggedIn || !sawCommands || !sawPending {
		t.Fatalf("no interim with a pending login (%v), after the login (%v) or with the commands so far (%v)", sawPending, sawLoggedIn, sawCommands)
	}
}
