package telnet

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
)

const U = dissectors.Unknown

func TestProbe(t *testing.T) {
	cases := []dissectors.ProbeCase{
		// Server opens with IAC DO TERMINAL-TYPE (24); inetutils telnetd does.
		{Name: "server negotiates", A: "", B: "\xff\xfd\x18", Client: 0, Want: dissectors.Match, WantClient: U},
		// Client opens with IAC WILL NAWS (31).
		{Name: "client negotiates", A: "\xff\xfb\x1f", Client: U, Want: dissectors.Match, WantClient: U},
		{Name: "subnegotiation first", A: "\xff\xfa\x18\x01\xff\xf0", Client: U, Want: dissectors.Match, WantClient: U},
		{Name: "IAC alone", A: "\xff", Client: U, Want: dissectors.NeedMore},
		{Name: "IAC then data byte", A: "\xff\x41\x42", B: "x", Client: U, Want: dissectors.NoMatch},
		{Name: "plain text both ways (something else on port 23)", A: "hello\r\n", B: "220 ok\r\n", Client: 0, Want: dissectors.NoMatch},
		{Name: "plain text, other side silent", A: "hello\r\n", Client: 0, Want: dissectors.NeedMore},
		{Name: "plain text, other side done", A: "hello\r\n", DoneB: true, Client: 0, Want: dissectors.NoMatch},
		{Name: "opens with GA", A: "\xff\xf9", DoneB: true, Client: 0, Want: dissectors.NoMatch},
		{Name: "binary upload, server silent", A: "\x16\x03\x01\x02\x00\x01\x00", Client: 0, Want: dissectors.NoMatch},
		// Mid-stream pickup after the negotiation (no handshake seen): port 23 and the echo decide.
		{Name: "midstream: typed word echoed", A: "id\r", B: "id\r\n\x1b[?2004l\r\x00", Client: U, Want: dissectors.Match, WantClient: 0},
		{Name: "midstream: erase key typed, echoed", A: "whoamu\x7fi\r", B: "whoamu\x08 \x08i\r\n", Client: U, Want: dissectors.Match, WantClient: 0},
		{Name: "midstream: word not complete yet", A: "i", B: "i", Client: U, Want: dissectors.NeedMore},
		{Name: "midstream: no echo by the end", A: "hello\r\n", B: "220 ok\r\n", DoneA: true, DoneB: true, Client: U, Want: dissectors.NoMatch},
		{Name: "midstream: binary server", A: "ab\r", B: "\x01\x02\x03\x04ab", Client: U, Want: dissectors.NoMatch},
		{Name: "handshake seen: echo is not enough", A: "id\r", B: "id\r\n", Client: 0, Want: dissectors.NoMatch},
	}
	for _, c := range cases {
		if got, ok := dissectors.RunProbe(Dissector{}, c, [2]uint16{40000, 23}); !ok {
			t.Errorf("%s: got %+v", c.Name, got)
		}
	}
}

// TestProbeOffPort23: away from port 23 the opening must be well-formed
// negotiation on assigned options followed by text.
func TestProbeOffPort23(t *testing.T) {
	cases := []dissectors.ProbeCase{
		// Random bulk data that happens to start with IAC DO (the benchmark
		// capture had three such flows on 443 and 5432).
		{Name: "IAC DO unassigned option", A: "\xff\xfd\x99\x12\x88", DoneB: true, Client: 0, Want: dissectors.NoMatch},
		{Name: "negotiation then binary", A: "\xff\xfd\x18\x03\x00\x9c\x12\x01\x88", DoneB: true, Client: 0, Want: dissectors.NoMatch},
		{Name: "negotiation then text", B: "\xff\xfd\x18\xff\xfd\x20\xff\xfb\x01Debian GNU/Linux 12\r\nlogin: ", Client: 0, Want: dissectors.Match, WantClient: U},
		{Name: "subnegotiation", A: "\xff\xfa\x18\x00xterm\xff\xf0", Client: 0, Want: dissectors.Match, WantClient: U},
		{Name: "cut inside a command", A: "\xff\xfd", Client: 0, Want: dissectors.NeedMore},
	}
	for _, c := range cases {
		if got, ok := dissectors.RunProbe(Dissector{}, c, [2]uint16{40000, 2323}); !ok {
			t.Errorf("%s: got %+v", c.Name, got)
		}
	}
}

func FuzzProbe(f *testing.F) {
	f.Add([]byte("\xff\xfd\x18\xff\xfd\x20"), []byte("\xff\xfb\x18"), uint8(0))
	f.Add([]byte("login: "), []byte{}, uint8(4))
	f.Add([]byte("id\r"), []byte("id\r\n\x1b[?2004l\r\x00"), uint8(0))       // mid-stream pickup (port 23, no handshake): echoed word
	f.Add([]byte("whoamu\x7fi\r"), []byte("whoamu\x08 \x08i\r\n"), uint8(0)) // mid-stream: an erase key typed
	f.Fuzz(func(t *testing.T, a, b []byte, flags uint8) { dissectors.FuzzProbe(Dissector{}, a, b, flags) })
}
