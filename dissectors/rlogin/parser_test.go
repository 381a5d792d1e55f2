package rlogin

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

const U = dissectors.Unknown

func TestProbe(t *testing.T) {
	cases := []dissectors.ProbeCase{
		{Name: "handshake", A: "\x00alice\x00alice\x00xterm/38400\x00", Client: U, Want: dissectors.Match, WantClient: 0},
		{Name: "handshake from endpoint 1", B: "\x00bob\x00root\x00vt100/9600\x00", Client: U, Want: dissectors.Match, WantClient: 1},
		{Name: "split", A: "\x00alice\x00ali", Client: U, Want: dissectors.NeedMore},
		{Name: "rsh-like third field", A: "\x00alice\x00alice\x00ls -l\x00", Client: 0, Want: dissectors.NoMatch},
		{Name: "binary", A: "\x00al\x01ce", Client: 0, Want: dissectors.NoMatch},
		{Name: "text", A: "GET /", B: "HTTP/1.1 400", Client: U, Want: dissectors.NoMatch},
		{Name: "ended inside the handshake", A: "\x00alice\x00", DoneA: true, Client: 0, Want: dissectors.NoMatch},
	}
	for _, c := range cases {
		if got, ok := dissectors.RunProbe(Dissector{}, c, [2]uint16{1023, 513}); !ok {
			t.Errorf("%s: got %+v", c.Name, got)
		}
	}
}

func TestSession(t *testing.T) {
	r := &record.Record{}
	s := Dissector{}.NewSession(&dissectors.Context{Record: r})
	s.Feed(dissectors.FromClient, []byte("\x00alice\x00ro"), 0)
	s.Feed(dissectors.FromClient, []byte("ot\x00xterm/38400\x00"), 0)
	s.Close(r)
	f, _ := r.Objects["rlogin"].(*Fields)
	if f == nil || f.ClientUser != "alice" || f.ServerUser != "root" || f.TerminalType != "xterm" || r.UserName != "root" {
		t.Fatalf("got %+v user %q", f, r.UserName)
	}
}

func FuzzHandshake(f *testing.F) {
	f.Add([]byte("\x00alice\x00alice\x00xterm/38400\x00"), []byte("\x00"), uint8(0))
	f.Add([]byte("\x00"+string(make([]byte, 2000))), []byte{}, uint8(4))
	f.Fuzz(func(t *testing.T, a, b []byte, flags uint8) {
		dissectors.FuzzProbe(Dissector{}, a, b, flags)
		h, complete, _ := ParseHandshake(a)
		if complete && h.Len > len(a) {
			t.Fatalf("consumed %d of %d", h.Len, len(a))
		}
	})
}
