package rlogin

import (
	"reflect"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/term/termtest"
)

func TestParseWindow(t *testing.T) {
	cases := []struct {
		name string
		in   string
		w    Window
		n    int
		more bool
	}{
		{"24x80 as rlogin.pcap", "\xff\xffss\x00\x18\x00\x50\x00\x00\x00\x00", Window{24, 80, 0, 0}, 12, false},
		{"with keys after", "\xff\xffss\x00\x2b\x00\x84\x03\x20\x02\x58ls", Window{43, 132, 800, 600}, 12, false},
		{"prefix", "\xff\xffs", Window{}, 0, true},
		{"magic only", "\xff\xffss\x00", Window{}, 0, true},
		{"not one", "\xff\xfe", Window{}, 0, false},
		{"a key", "a", Window{}, 0, false},
	}
	for _, c := range cases {
		w, n, more := ParseWindow([]byte(c.in))
		if w != c.w || n != c.n || more != c.more {
			t.Errorf("%s: %+v %d %v", c.name, w, n, more)
		}
	}
}

type chunk struct {
	dir  dissectors.Direction
	data string
}

const C, S = dissectors.FromClient, dissectors.FromServer

// Shaped like rlogin.pcap (trusted, no password), with a resize in the middle
// split across segments and a key right behind it.
var trusted = []chunk{
	{C, "\x00"}, {C, "alice\x00alice\x00xterm/38400\x00"}, {S, "\x00"}, {S, "\x80"},
	{C, "\xff\xffss\x00\x18\x00\x50\x00\x00\x00\x00"},
	{S, "Linux psm-srv\r\n\r\nLast login: Thu Nov 26 00:09:45 UTC 2026 from psm-cli on pts/1\r\n\x1b[?2004halice@psm-srv:~$ "},
	{C, "i"}, {C, "d"}, {C, "\r"}, {S, "id\r\n\x1b[?2004l\ruid=2001(alice)\r\n\x1b[?2004halice@psm-srv:~$ "},
	{C, "\xff\xffs"}, {C, "s\x00\x2b\x00\x84\x00\x00\x00\x00p"}, {S, "p"}, {C, "wd\r"}, {S, "wd\r\n/home/alice\r\nalice@psm-srv:~$ "},
}

func run(chunks []chunk, split int) *record.Record {
	c := &dissectors.Context{Record: &record.Record{}, Options: &dissectors.Options{}}
	s := newSession(c)
	for i, ch := range chunks {
		b := []byte(ch.data)
		for split > 0 && len(b) > split {
			s.Feed(ch.dir, b[:split], int64(i))
			b = b[split:]
		}
		s.Feed(ch.dir, b, int64(i))
	}
	s.Close(c.Record)
	return c.Record
}

func TestSessionTrusted(t *testing.T) {
	for split := 0; split < 5; split++ {
		r := run(trusted, split)
		f := r.Objects["rlogin"].(*Fields)
		if f.ServerUser != "alice" || f.TerminalSpeed != 38400 || f.Window == nil || f.Window.Cols != 132 || f.Window.Rows != 43 || f.Resizes != 1 {
			t.Fatalf("split %d: %+v %+v", split, f, f.Window)
		}
		if !reflect.DeepEqual(r.Commands, []string{"id", "pwd"}) || r.Login == nil || !*r.Login.Success || r.Login.Attempts != 1 || r.CleartextCredentials != nil {
			t.Fatalf("split %d: commands %q login %+v", split, r.Commands, r.Login)
		}
	}
}

func TestSessionPasswordAndRefused(t *testing.T) {
	r := run([]chunk{{C, "\x00bob\x00root\x00vt100/9600\x00"}, {S, "\x00Password: "}, {C, "toor\r"}, {S, "\r\nLogin incorrect\r\n"}}, 0)
	if r.UserName != "root" || r.Login.Attempts != 1 || *r.Login.Success || !*r.CleartextCredentials || r.Commands != nil {
		t.Fatalf("password: %+v %q", r.Login, r.Commands)
	}
	r = run([]chunk{{C, "\x00bob\x00root\x00vt100/9600\x00"}, {S, "\x01rlogind: Permission denied.\n"}}, 0)
	if f := r.Objects["rlogin"].(*Fields); f.Error != "rlogind: Permission denied." || *r.Login.Success {
		t.Fatalf("refused: %+v", f)
	}
}

// FuzzSession: handshake, control messages and keys in any order and split;
// the events agree with the record.
func FuzzSession(f *testing.F) {
	f.Add([]byte("\x00\x00alice\x00alice\x00xterm/38400\x00\x01\x00\x80\x00\xff\xffss\x00\x18\x00\x50\x00\x00\x00\x00id\r")) // rlogin.pcap's opening
	f.Add([]byte("\x00\x00a\x00b\x00t/1\x00\xff\xff\xff\xffss"))                                                             // a magic prefix cut short
	f.Fuzz(func(t *testing.T, in []byte) {
		// byte 0x01 switches to the server, 0x02 to the client
		c := &dissectors.Context{Record: &record.Record{}, Options: &dissectors.Options{}}
		var evs []*record.Event
		c.Events = func(ev *record.Event) { evs = append(evs, ev) }
		s := newSession(c)
		dir, start := dissectors.FromClient, 0
		for i, b := range in {
			if b == 1 || b == 2 {
				s.Feed(dir, in[start:i], int64(i))
				dir, start = dissectors.Direction(2-b), i+1
			}
		}
		s.Feed(dir, in[start:], 0)
		var snap record.Record
		s.Snapshot(&snap)
		s.Close(c.Record)
		if err := termtest.Consistent(c.Record, evs); err != nil {
			t.Fatal(err)
		}
		if len(s.pend) > WindowLen {
			t.Fatalf("pending %d", len(s.pend))
		}
	})
}
