package ftp

import (
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

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

// runEvents is run with events wanted; it returns them too.
func runEvents(t *testing.T, chunks []chunk) (*record.Record, []*record.Event) {
	t.Helper()
	var evs []*record.Event
	c := &dissectors.Context{Record: &record.Record{}, Options: &dissectors.Options{},
		Events: func(ev *record.Event) { evs = append(evs, ev) }}
	s := newSession(c)
	for i, ch := range chunks {
		s.Feed(ch.dir, []byte(ch.data), int64(i+1))
	}
	c.Record.End = time.Unix(0, 99)
	s.Close(c.Record)
	return c.Record, evs
}

func TestEventsNoDataConnection(t *testing.T) {
	// No data connection captured: sizes from the 150 reply, then from SIZE;
	// a rename; a login without password; a command never answered.
	r, evs := runEvents(t, []chunk{{S, "220 hi\r\n"},
		{C, "USER anonymous\r\n"}, {S, "230 Welcome\x1b[2J\r\n"},
		{C, "RETR a.bin\r\n"}, {S, "150 Opening BINARY mode data connection for a.bin (1234 bytes).\r\n226 ok\r\n"},
		{C, "SIZE b.bin\r\n"}, {S, "213 99\r\n"},
		{C, "RETR b.bin\r\n"}, {S, "150 go\r\n226 ok\r\n"},
		{C, "RETR c.bin\r\n"}, {S, "150 go\r\n226 ok\r\n"},
		{C, "RNFR old\r\n"}, {S, "350 next\r\n"}, {C, "RNTO new\r\n"}, {S, "250 renamed\r\n"},
		{C, "RNTO orphan\r\n"}, {S, "503 RNFR first\r\n"},
		{C, "STAT\r\n"}})
	var got []string
	for _, ev := range evs {
		s := ev.Action
		switch ev.Action {
		case record.ActionLogin:
			s += " " + ev.Outcome + " " + ev.UserName + " " + ev.Login.Method
		case record.ActionCommand:
			s += " " + ev.Command.Line + " " + strconv.Itoa(ev.Command.ReplyCode) + " " + ev.Command.Reply
		case record.ActionFile:
			s += " " + ev.Type[0] + " " + ev.File.Path + ">" + ev.File.NewPath + " " + strconv.FormatInt(ev.File.Size, 10)
		}
		got = append(got, s+" @"+strconv.FormatInt(ev.Time.UnixNano(), 10))
	}
	want := []string{
		"login success anonymous none @3",
		"command USER anonymous 230 Welcome [2J @3", // the escape byte is blanked
		"command RETR a.bin 226 ok @5",
		"file access a.bin> 1234 @5",
		"command SIZE b.bin 213 99 @7",
		"command RETR b.bin 226 ok @9",
		"file access b.bin> 99 @9",
		"command RETR c.bin 226 ok @11",
		"file access c.bin> -1 @11",
		"command RNFR old 350 next @13",
		"command RNTO new 250 renamed @15",
		"file change old>new -1 @15",
		"command RNTO orphan 503 RNFR first @17",
		"command STAT 0  @99", // no reply before the end
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n%s", strings.Join(got, "\n"))
	}
	if f := r.Objects["ftp"].(*Fields); !reflect.DeepEqual(f.Files, []string{"a.bin", "b.bin", "c.bin", "old"}) {
		t.Fatalf("files %q", f.Files)
	}
	if evs[0].CleartextCredentials {
		t.Fatal("no password was sent")
	}
}

func TestEventsTLS(t *testing.T) {
	_, evs := runEvents(t, []chunk{{S, "220 hi\r\n"}, {C, "AUTH TLS\r\n"}, {S, "234 Proceed with negotiation.\r\n"}, {C, "\x16\x03\x01\x02\x00\x01\x00"}})
	if len(evs) != 2 || evs[0].Action != record.ActionCommand || evs[1].Action != record.ActionSecurity ||
		evs[1].Outcome != record.OutcomeSuccess || !strings.HasPrefix(evs[1].Reason, "AUTH TLS accepted") {
		t.Fatalf("%+v", evs)
	}
}

// TestEventsOff: no listener, no events built (and nothing breaks).
func TestEventsOff(t *testing.T) {
	r, _ := run(t, good, 0, false)
	if len(r.Commands) != 9 {
		t.Fatal(r.Commands)
	}
}

// TestSnapshot: a snapshot says what is known so far and changes nothing:
// the record at Close is the same as without snapshots.
func TestSnapshot(t *testing.T) {
	c := &dissectors.Context{Record: &record.Record{}, Options: &dissectors.Options{}}
	s := newSession(c)
	var snaps []*record.Record
	for i, ch := range good {
		s.Feed(ch.dir, []byte(ch.data), int64(i))
		r := &record.Record{}
		s.Snapshot(r)
		snaps = append(snaps, r)
	}
	s.Close(c.Record)
	want, _ := run(t, good, 0, false)
	if !reflect.DeepEqual(mustJSON(t, c.Record), mustJSON(t, want)) {
		t.Fatalf("snapshots changed the record:\n%s\n%s", mustJSON(t, c.Record), mustJSON(t, want))
	}
	mid := snaps[6] // after the login and FEAT
	if mid.UserName != "alice" || mid.Login == nil || !*mid.Login.Success || len(mid.Commands) != 3 ||
		!reflect.DeepEqual(mid.Objects["ftp"].(*Fields).Replies, []string{"331", "230", "211"}) {
		t.Fatalf("snapshot %s", mustJSON(t, mid))
	}
	if last := snaps[len(snaps)-1]; !reflect.DeepEqual(mustJSON(t, last), mustJSON(t, want)) {
		t.Fatalf("last snapshot differs from the record:\n%s", mustJSON(t, last))
	}
}
