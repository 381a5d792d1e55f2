package rsh

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

const U = dissectors.Unknown

func TestProbe(t *testing.T) {
	cases := []dissectors.ProbeCase{
		{Name: "with stderr port", A: "1022\x00alice\x00alice\x00id\x00", Client: U, Want: dissectors.Match, WantClient: 0},
		{Name: "port zero", A: "0\x00alice\x00root\x00uname -a\x00", Client: U, Want: dissectors.Match, WantClient: 0},
		{Name: "port sent first, rest later", A: "1022\x00", Client: U, Want: dissectors.NeedMore},
		{Name: "no port, command", A: "\x00alice\x00alice\x00ls -l /tmp\x00", Client: U, Want: dissectors.Match, WantClient: 0},
		{Name: "rlogin handshake is not rsh", A: "\x00alice\x00alice\x00xterm/38400\x00", Client: 0, Want: dissectors.NoMatch},
		{Name: "long port", A: "1234567\x00", Client: 0, Want: dissectors.NoMatch},
		{Name: "HTTP", A: "GET / HTTP/1.1\r\n", B: "HTTP/1.1 400 Bad\r\n", Client: U, Want: dissectors.NoMatch},
	}
	for _, c := range cases {
		if got, ok := dissectors.RunProbe(Dissector{}, c, [2]uint16{1023, 514}); !ok {
			t.Errorf("%s: got %+v", c.Name, got)
		}
	}
}

func TestSession(t *testing.T) {
	r := &record.Record{}
	s := Dissector{}.NewSession(&dissectors.Context{Record: r})
	s.Feed(dissectors.FromClient, []byte("1022\x00"), 0)
	s.Feed(dissectors.FromClient, []byte("alice\x00bob\x00cat /etc/passwd\x00"), 0)
	s.Close(r)
	f, _ := r.Objects["rsh"].(*Fields)
	if f == nil || f.ClientUser != "alice" || f.ServerUser != "bob" || f.Command != "cat /etc/passwd" || r.UserName != "bob" {
		t.Fatalf("got %+v", f)
	}
}

func FuzzRequest(f *testing.F) {
	f.Add([]byte("1022\x00alice\x00alice\x00id\x00"), []byte("\x00"), uint8(0))
	f.Add([]byte("\x00a\x00b\x00c/1\x00"), []byte{}, uint8(4))
	f.Fuzz(func(t *testing.T, a, b []byte, flags uint8) {
		dissectors.FuzzProbe(Dissector{}, a, b, flags)
		ParseRequest(a)
	})
}
