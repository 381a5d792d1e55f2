package telnet

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

func ctx() *dissectors.Context {
	return &dissectors.Context{Record: &record.Record{}, Options: &dissectors.Options{},
		Client: netip.MustParseAddrPort("192.0.2.10:40000"), Server: netip.MustParseAddrPort("192.0.2.20:23")}
}

type chunk struct {
	dir  dissectors.Direction
	data string
}

const C, S = dissectors.FromClient, dissectors.FromServer

// A character-mode session shaped like inetutils telnetd's (telnet-login.pcap),
// with a resize in the middle.
var charMode = []chunk{
	{S, "\xff\xfd\x18\xff\xfd\x1f\xff\xfd\x27"},
	{C, "\xff\xfb\x18\xff\xfb\x1f\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0\xff\xfb\x27"},
	{S, "\xff\xfa\x18\x01\xff\xf0\xff\xfa\x27\x01\x00USER\xff\xf0"},
	{C, "\xff\xfa\x18\x00XTERM\xff\xf0\xff\xfa\x27\x00\x00USER\x01alice\xff\xf0"},
	{S, "\xff\xfb\x01\xff\xfb\x03\r\nDebian GNU/Linux 12\r\n\r\npsm-srv login: "},
	{C, "\xff\xfd\x01\xff\xfd\x03"},
	{C, "a"}, {S, "a"}, {C, "l"}, {S, "l"}, {C, "i"}, {S, "i"}, {C, "c"}, {S, "c"}, {C, "e"}, {S, "e"},
	{C, "\r\x00"}, {S, "\r\nPassword: "},
	{C, "W"}, {C, "o"}, {C, "n"}, {C, "\r\x00"},
	{S, "\r\nLast login: Thu Nov 26 00:09:30 UTC 2026\r\nalice@psm-srv:~$ "},
	{C, "i"}, {S, "i"}, {C, "d"}, {S, "d"}, {C, "\r\x00"}, {S, "\r\nuid=2001(alice)\r\nalice@psm-srv:~$ "},
	{C, "\xff\xfa\x1f\x00\x84\x00\x2b\xff\xf0"}, // resize to 132x43
	{C, "w"}, {S, "w"}, {C, "h"}, {S, "h"}, {C, "x"}, {S, "x"}, {C, "\x7f"}, {S, "\b \b"}, {C, "o\r\x00"}, {S, "o\r\nalice\r\n"},
}

func runChunks(t *testing.T, chunks []chunk, split int) *record.Record {
	t.Helper()
	c := ctx()
	s := newSession(c)
	for i, ch := range chunks {
		b := []byte(ch.data)
		if split > 0 && len(b) > split { // the same bytes in other segment boundaries
			s.Feed(ch.dir, b[:split], int64(i)*1e6)
			b = b[split:]
		}
		s.Feed(ch.dir, b, int64(i)*1e6)
	}
	r := c.Record
	s.Close(r)
	return r
}

func TestSessionCharMode(t *testing.T) {
	for split := 0; split < 4; split++ {
		r := runChunks(t, charMode, split)
		f := r.Objects["telnet"].(*Fields)
		if f.TerminalType != "XTERM" || f.Window == nil || f.Window.Cols != 132 || f.Window.Rows != 43 || f.Resizes != 1 {
			t.Fatalf("split %d: fields %+v window %+v", split, f, f.Window)
		}
		if !reflect.DeepEqual(f.Options, []string{"echo", "naws", "new-environ", "suppress-go-ahead", "terminal-type"}) {
			t.Fatalf("options %q", f.Options)
		}
		if !reflect.DeepEqual(f.Environ, []string{"USER=alice"}) {
			t.Fatalf("environ %q", f.Environ)
		}
		if r.UserName != "alice" || r.Login == nil || r.Login.Success == nil || !*r.Login.Success || r.Login.Attempts != 1 ||
			r.CleartextCredentials == nil || !reflect.DeepEqual(r.Commands, []string{"id", "who"}) || r.Kind != "interactive" {
			t.Fatalf("split %d: user %q login %+v commands %q", split, r.UserName, r.Login, r.Commands)
		}
	}
}

// A line-mode client (as telnet-cooked.pcap): whole lines, client-side echo.
func TestSessionLineMode(t *testing.T) {
	r := runChunks(t, []chunk{
		{S, "\xff\xfd\x22"}, {C, "\xff\xfb\x22"},
		{S, "OpenBSD/i386 (oof) (ttyp2)\r\n\r\nlogin: "}, {C, "fake\r\n"}, {S, "Password:"}, {C, "user\r\n"},
		{S, "\r\nLast login: Sat Nov 27\r\n$ "}, {C, "ls\r\n"}, {S, "\r\nfile\r\n$ "}, {C, "exit\r\n"},
	}, 0)
	f := r.Objects["telnet"].(*Fields)
	if !reflect.DeepEqual(f.Options, []string{"linemode"}) || r.UserName != "fake" || !reflect.DeepEqual(r.Commands, []string{"ls", "exit"}) {
		t.Fatalf("%+v %q %q", f, r.UserName, r.Commands)
	}
}

// ENCRYPT START: decoding stops, the record says so, and a security event
// says when. A login typed before it and never answered is published at
// the end, with outcome unknown.
func TestSessionEncryptStops(t *testing.T) {
	c := ctx()
	var evs []*record.Event
	c.Events = func(ev *record.Event) { evs = append(evs, ev) }
	s := newSession(c)
	s.Feed(S, []byte("\xff\xfb\x26login: "), 1)
	s.Feed(C, []byte("\xff\xfd\x26bob\r\x00"), 2)
	s.Feed(S, []byte("bob\r\nPassword: "), 3)
	s.Feed(C, []byte("pw\r\x00"), 4)
	if st := s.Feed(S, []byte("\xff\xfa\x26\x03\x01\xff\xf0\x8a\x99garbage"), 5); st != dissectors.Done {
		t.Fatal("not done after ENCRYPT START")
	}
	s.Close(c.Record)
	f := c.Record.Objects["telnet"].(*Fields)
	if !f.Encryption || strings.Contains(c.Record.OutputText, "garbage") || !reflect.DeepEqual(c.Record.Anomalies, []string{"telnet.encrypted"}) {
		t.Fatalf("%+v %q %v", f, c.Record.OutputText, c.Record.Anomalies)
	}
	if len(evs) != 2 || evs[0].Action != record.ActionSecurity || evs[0].Time.UnixNano() != 5 ||
		evs[0].Reason != "telnet encryption started; content no longer visible" || !evs[0].Objects["telnet"].(*Fields).Encryption {
		t.Fatalf("events %+v", evs)
	}
	if l := evs[1]; l.Action != record.ActionLogin || l.Outcome != record.OutcomeUnknown || l.UserName != "bob" || l.Login.Attempt != 1 ||
		c.Record.Login.Attempts != 1 || c.Record.Login.Success != nil {
		t.Fatalf("login event %+v, record %+v", l, c.Record.Login)
	}
	b, _ := evs[0].MarshalJSON()
	if !strings.Contains(string(b), `"action":"security"`) || !strings.Contains(string(b), `"telnet":{"encryption":true}`) {
		t.Fatalf("%s", b)
	}
}

// Without a listener nothing is built; with one, the record is the same.
func TestSessionEventsDoNotChangeRecord(t *testing.T) {
	plain := runChunks(t, charMode, 0)
	c := ctx()
	var evs []*record.Event
	c.Events = func(ev *record.Event) { evs = append(evs, ev) }
	s := newSession(c)
	for i, ch := range charMode {
		s.Feed(ch.dir, []byte(ch.data), int64(i)*1e6)
	}
	s.Close(c.Record)
	if !reflect.DeepEqual(plain, c.Record) || len(evs) != 3 {
		t.Fatalf("%+v\n%+v\n%d events", plain, c.Record, len(evs))
	}
}

// A gap in the client stream drops the line being typed; nothing crashes and
// what follows is decoded.
func TestSessionGap(t *testing.T) {
	c := ctx()
	s := newSession(c)
	s.Feed(S, []byte("\xff\xfb\x01$ "), 1)
	s.Feed(C, []byte("rm -r"), 2)
	s.Gap(C, 100, 3)
	s.Feed(S, []byte("\r\n$ "), 4)
	s.Feed(C, []byte("id\r"), 5)
	s.Close(c.Record)
	if !reflect.DeepEqual(c.Record.Commands, []string{"id"}) {
		t.Fatalf("%q", c.Record.Commands)
	}
}

func BenchmarkSession(b *testing.B) {
	var total int
	for _, ch := range charMode {
		total += len(ch.data)
	}
	b.ReportAllocs()
	b.SetBytes(int64(total))
	c := ctx()
	s := newSession(c)
	steady := charMode[6:] // keystrokes, echo, output: the steady state of a session
	bufs := make([][]byte, len(steady))
	for j, ch := range steady {
		bufs[j] = []byte(ch.data)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, ch := range steady {
			s.Feed(ch.dir, bufs[j], int64(i*len(steady)+j))
		}
		if len(s.term.Commands) > 1000 {
			s.term.Commands = s.term.Commands[:0]
		}
	}
}
