package ftp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

func TestParsers(t *testing.T) {
	cmds := []struct {
		in, verb, arg string
		ok            bool
	}{
		{"USER alice", "USER", "alice", true},
		{"retr my file.txt", "RETR", "my file.txt", true},
		{"PASV", "PASV", "", true},
		{"XPWD", "XPWD", "", true},
		{"GET / HTTP/1.1", "GET", "/ HTTP/1.1", true}, // shaped like a command; the probe keeps HTTP away
		{"A", "", "", false},
		{"US3R x", "", "", false},
	}
	for _, c := range cmds {
		v, a, ok := ParseCommand([]byte(c.in))
		if v != c.verb || string(a) != c.arg || ok != c.ok {
			t.Errorf("command %q: %q %q %v", c.in, v, a, ok)
		}
	}
	replies := []struct {
		in       string
		code     int
		more, ok bool
	}{
		{"220 (vsFTPd 3.0.3)", 220, false, true},
		{"211-Features:", 211, true, true},
		{"211 End", 211, false, true},
		{"226", 226, false, true},
		{" MDTM", 0, false, false}, // a text line inside a multi-line reply
		{"999 no", 0, false, false},
		{"22", 0, false, false},
	}
	for _, c := range replies {
		code, more, ok := ParseReplyLine([]byte(c.in))
		if code != c.code || more != c.more || ok != c.ok {
			t.Errorf("reply %q: %d %v %v", c.in, code, more, ok)
		}
	}
	if ap, ok := Parse227([]byte("Entering Passive Mode (192,0,2,20,156,72).")); !ok || ap.String() != "192.0.2.20:40008" {
		t.Errorf("227: %v %v", ap, ok)
	}
	if ap, ok := Parse227([]byte("=192,0,2,20,4,1")); !ok || ap.Port() != 1025 { // no parentheses
		t.Errorf("227 bare: %v %v", ap, ok)
	}
	if _, ok := Parse227([]byte("(300,0,2,20,4,1)")); ok {
		t.Error("227 with 300 accepted")
	}
	if p, ok := Parse229([]byte("Entering Extended Passive Mode (|||6446|)")); !ok || p != 6446 {
		t.Errorf("229: %d %v", p, ok)
	}
	if _, ok := Parse229([]byte("(|||0|)")); ok {
		t.Error("229 port 0 accepted")
	}
	if ap, ok := ParseEPRT([]byte("|2|2001:db8::10|5282|")); !ok || ap.String() != "[2001:db8::10]:5282" {
		t.Errorf("EPRT: %v %v", ap, ok)
	}
	if _, ok := ParseEPRT([]byte("|1|2001:db8::10|5282|")); ok {
		t.Error("EPRT family mismatch accepted")
	}
}

type chunk struct {
	dir  dissectors.Direction
	data string
}

const C, S = dissectors.FromClient, dissectors.FromServer

func run(t *testing.T, chunks []chunk, split int, reveal bool) (*record.Record, []dissectors.Expectation) {
	t.Helper()
	var exp []dissectors.Expectation
	c := &dissectors.Context{Record: &record.Record{}, Options: &dissectors.Options{RevealCredentials: reveal},
		Client: netip.MustParseAddrPort("192.0.2.10:40000"), Server: netip.MustParseAddrPort("192.0.2.20:21"),
		Expect: func(x dissectors.Expectation) { exp = append(exp, x) }}
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
	return c.Record, exp
}

// A session like the good one in ftp-vsftpd.pcap, with a multi-line FEAT,
// pipelined commands, active and extended modes, split at every size.
var good = []chunk{
	{S, "220-Welcome\r\n220 psmtap test FTP server ready.\r\n"},
	{C, "USER alice\r\n"}, {S, "331 Please specify the password.\r\n"},
	{C, "PASS Wonderland1\r\n"}, {S, "230 Login successful.\r\n"},
	{C, "FEAT\r\n"}, {S, "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n211 End\r\n"},
	{C, "PORT 192,0,2,10,200,10\r\nRETR report.txt\r\n"}, // pipelined
	{S, "200 PORT command successful.\r\n150 Opening BINARY mode data connection.\r\n226 Transfer complete.\r\n"},
	{C, "EPSV\r\n"}, {S, "229 Entering Extended Passive Mode (|||40003|)\r\n"},
	{C, "STOR up.txt\r\n"}, {S, "150 Ok to send data.\r\n226 Transfer complete.\r\n"},
	{C, "DELE missing.txt\r\n"}, {S, "550 Delete operation failed.\r\n"},
	{C, "QUIT\r\n"}, {S, "221 Goodbye.\r\n"},
}

func TestSession(t *testing.T) {
	for split := 0; split < 6; split++ {
		r, exp := run(t, good, split, false)
		f := r.Objects["ftp"].(*Fields)
		wantCmds := []string{"USER alice", "PASS ****", "FEAT", "PORT 192,0,2,10,200,10", "RETR report.txt", "EPSV", "STOR up.txt", "DELE missing.txt", "QUIT"}
		if !reflect.DeepEqual(r.Commands, wantCmds) {
			t.Fatalf("split %d: commands %q", split, r.Commands)
		}
		if !reflect.DeepEqual(f.Replies, []string{"331", "230", "211", "200", "150 226", "229", "150 226", "550", "221"}) {
			t.Fatalf("replies %q", f.Replies)
		}
		if !reflect.DeepEqual(f.Files, []string{"report.txt", "up.txt"}) || f.Greeting != "Welcome" {
			t.Fatalf("files %q greeting %q", f.Files, f.Greeting)
		}
		if r.UserName != "alice" || r.Login.Attempts != 1 || !*r.Login.Success || !*r.CleartextCredentials || r.Kind != "file_transfer" {
			t.Fatalf("login %+v", r.Login)
		}
		if len(exp) != 2 || exp[0].To.String() != "192.0.2.10:51210" || exp[0].From.String() != "192.0.2.20:0" ||
			exp[1].To.String() != "192.0.2.20:40003" || exp[1].From.String() != "192.0.2.10:0" {
			t.Fatalf("expectations %+v", exp)
		}
		if strings.Contains(string(mustJSON(t, r)), "Wonderland1") {
			t.Fatal("password in the record")
		}
	}
	r, _ := run(t, good, 0, true)
	if r.Commands[1] != "PASS Wonderland1" {
		t.Fatalf("reveal: %q", r.Commands[1])
	}
}

func mustJSON(t *testing.T, r *record.Record) []byte {
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSessionFailedAndTLS(t *testing.T) {
	r, _ := run(t, []chunk{{S, "220 hi\r\n"}, {C, "USER bob\r\n"}, {S, "331 pw\r\n"}, {C, "PASS x\r\n"}, {S, "530 Login incorrect.\r\n"},
		{C, "USER bob\r\n"}, {S, "331 pw\r\n"}, {C, "PASS y\r\n"}, {S, "530 Login incorrect.\r\n"}}, 0, false)
	if r.Login.Attempts != 2 || *r.Login.Success || r.Kind != "" {
		t.Fatalf("failed: %+v", r.Login)
	}
	r, _ = run(t, []chunk{{S, "220 hi\r\n"}, {C, "AUTH TLS\r\n"}, {S, "234 Proceed with negotiation.\r\n"}, {C, "\x16\x03\x01\x02\x00\x01\x00"}}, 0, false)
	if f := r.Objects["ftp"].(*Fields); !f.TLS || !reflect.DeepEqual(r.Anomalies, []string{"ftp.tls"}) || len(r.Commands) != 1 {
		t.Fatalf("tls: %+v %v %q", f, r.Anomalies, r.Commands)
	}
}

func TestSessionHostile(t *testing.T) {
	// a line with no end, over the cap; a reply nobody asked for; binary noise
	r, _ := run(t, []chunk{{S, "220 hi\r\n"}, {C, "NOOP " + strings.Repeat("A", 3*MaxLine) + "\r\n"}, {S, "200 ok\r\n200 again\r\n"}, {C, "\x00\x01\x02\r\n"}}, 0, false)
	if !reflect.DeepEqual(r.Anomalies, []string{"ftp.bad_line", "ftp.line_too_long", "ftp.unexpected_reply"}) {
		t.Fatalf("%v", r.Anomalies)
	}
}
