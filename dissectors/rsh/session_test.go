package rsh

import (
	"net/netip"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

func TestSessionStderr(t *testing.T) {
	var exp []dissectors.Expectation
	c := &dissectors.Context{Record: &record.Record{},
		Client: netip.MustParseAddrPort("192.0.2.10:1023"), Server: netip.MustParseAddrPort("192.0.2.20:514"),
		Expect: func(x dissectors.Expectation) { exp = append(exp, x) }}
	s := newSession(c)
	// as rsh.pcap's second command: the port first, then the back-connection, then the rest
	s.Feed(dissectors.FromClient, []byte("1021\x00"), 1)
	if len(exp) != 1 || exp[0].To.String() != "192.0.2.10:1021" || exp[0].From.String() != "192.0.2.20:0" {
		t.Fatalf("expectation %+v", exp)
	}
	errConn := exp[0].Session()
	s.Feed(dissectors.FromClient, []byte("alice\x00alice\x00ls /etc/hostname /nonexistent\x00"), 2)
	s.Feed(dissectors.FromServer, []byte("\x00/etc/hostname\n"), 3)
	errConn.Feed(dissectors.FromClient, []byte("ls: cannot access '/nonexistent'\n"), 4)
	errConn.Close(&record.Record{})
	s.Close(c.Record)
	r := c.Record
	f := r.Objects["rsh"].(*Fields)
	if r.OutputText != "/etc/hostname\nls: cannot access '/nonexistent'\n" || f.StderrBytes != 33 || f.StderrPort != 1021 ||
		r.Commands[0] != "ls /etc/hostname /nonexistent" || !*r.Login.Success || r.Kind != "exec" {
		t.Fatalf("%+v %q", f, r.OutputText)
	}
}

func TestSessionRefused(t *testing.T) {
	c := &dissectors.Context{Record: &record.Record{}}
	s := newSession(c)
	s.Feed(dissectors.FromClient, []byte("0\x00bob\x00root\x00id\x00"), 1)
	s.Feed(dissectors.FromServer, []byte("\x01Permission denied.\n"), 2)
	s.Close(c.Record)
	if f := c.Record.Objects["rsh"].(*Fields); f.Error != "Permission denied." || *c.Record.Login.Success {
		t.Fatalf("%+v", f)
	}
}

func TestStderrPort(t *testing.T) {
	for in, want := range map[string]int{"1022\x00": 1022, "0\x00": 0, "\x00": -1, "123456\x00": -1, "12": -1, "1a\x00": -1} {
		p, ok := StderrPort([]byte(in))
		if ok != (want >= 0) || ok && p != want {
			t.Errorf("%q: %d %v", in, p, ok)
		}
	}
}

// The stderr port alone is enough on port 514 from the handshake's client:
// rcmd(3) waits there for the back-connection.
func TestProbePortFirst(t *testing.T) {
	c := dissectors.ProbeCase{Name: "port first", A: "1022\x00", Client: 0, Want: dissectors.Match, WantClient: 0}
	if got, ok := dissectors.RunProbe(Dissector{}, c, [2]uint16{1023, 514}); !ok {
		t.Errorf("%s: %+v", c.Name, got)
	}
	c = dissectors.ProbeCase{Name: "port first, other port", A: "1022\x00", Client: 0, Want: dissectors.NeedMore}
	if got, ok := dissectors.RunProbe(Dissector{}, c, [2]uint16{1023, 2514}); !ok {
		t.Errorf("%s: %+v", c.Name, got)
	}
}

// TestLive: the sensor's live view gets the command as input and its output
// and standard error as output, each line ended CR LF for a terminal.
func TestLive(t *testing.T) {
	var exp []dissectors.Expectation
	var got []string
	c := &dissectors.Context{Record: &record.Record{},
		Client: netip.MustParseAddrPort("192.0.2.10:1023"), Server: netip.MustParseAddrPort("192.0.2.20:514"),
		Expect: func(x dissectors.Expectation) { exp = append(exp, x) },
		Live: func(dir dissectors.Direction, ts int64, data []byte) {
			got = append(got, dir.String()+":"+string(data))
		}}
	s := newSession(c)
	s.Feed(dissectors.FromClient, []byte("1021\x00alice\x00alice\x00ls /etc/hostname /nonexistent\x00"), 1)
	s.Feed(dissectors.FromServer, []byte("\x00/etc/hostname\n"), 3)
	exp[0].Session().Feed(dissectors.FromClient, []byte("ls: cannot access '/nonexistent'\n"), 4)
	s.Close(c.Record)
	want := []string{"client:ls /etc/hostname /nonexistent\r\n", "server:/etc/hostname\r\n", "server:ls: cannot access '/nonexistent'\r\n"}
	if len(got) != len(want) {
		t.Fatalf("live: %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("live[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}
