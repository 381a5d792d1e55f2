package mysql

import (
	"bytes"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
)

func TestParseGreeting(t *testing.T) {
	g, err := ParseGreeting(mariaGreeting)
	if err != nil {
		t.Fatal(err)
	}
	if g.Version != "5.5.5-10.11.19-MariaDB-0+deb12u1" || g.ConnectionID != 3 || g.AuthPlugin != "mysql_native_password" || !g.MariaDB() {
		t.Errorf("greeting %+v", g)
	}
	if g.Capabilities&capPluginAuth == 0 || g.Capabilities&capLongPassword != 0 || g.MariaCaps != 0x1d {
		t.Errorf("capabilities %#x, MariaDB %#x", g.Capabilities, g.MariaCaps)
	}
	for n := 0; n < len(mariaGreeting)-26; n++ { // cut anywhere before the plugin name: an error or a shorter greeting, no panic
		ParseGreeting(mariaGreeting[:n])
	}
	if _, err := ParseGreeting(unhex(`09 352e3000 01000000`)); err == nil {
		t.Error("protocol version 9 accepted")
	}
}

func TestProbe(t *testing.T) {
	greet := pkt(0, mariaGreeting)
	cases := []struct {
		name string
		data [2][]byte
		cli  int
		want dissectors.Verdict
	}{
		{"greeting from the server", [2][]byte{nil, greet}, 0, dissectors.Match},
		{"greeting, roles unknown", [2][]byte{greet, nil}, dissectors.Unknown, dissectors.Match},
		{"the first 20 bytes", [2][]byte{nil, greet[:20]}, 0, dissectors.NeedMore},
		{"nothing yet", [2][]byte{nil, nil}, 0, dissectors.NeedMore},
		{"greeting from the TCP client", [2][]byte{greet, nil}, 0, dissectors.NoMatch},
		{"HTTP", [2][]byte{[]byte("GET / HTTP/1.1\r\n"), nil}, 0, dissectors.NoMatch},
		{"SSH banner", [2][]byte{nil, []byte("SSH-2.0-OpenSSH_9.2\r\n")}, 0, dissectors.NoMatch},
		{"sequence 1", [2][]byte{nil, pkt(1, mariaGreeting)}, 0, dissectors.NoMatch},
		{"control byte in the version", [2][]byte{nil, pkt(0, append([]byte{10, 'a', 1, 'b', 0}, make([]byte, 40)...))}, 0, dissectors.NoMatch},
		{"filler not zero", [2][]byte{nil, pkt(0, append([]byte{10, '5', 0}, bytes.Repeat([]byte{1}, 40)...))}, 0, dissectors.NoMatch},
	}
	for _, c := range cases {
		got := Dissector{}.Probe(&dissectors.ProbeInput{Data: c.data, Client: c.cli, Port: [2]uint16{40000, 3306}})
		if got.Verdict != c.want {
			t.Errorf("%s: %v, want %v", c.name, got.Verdict, c.want)
		}
		if got.Verdict == dissectors.Match && got.Client != 0 && c.cli == 0 {
			t.Errorf("%s: client %d", c.name, got.Client)
		}
	}
}

func TestParseHandshakeResponse(t *testing.T) {
	p := handshakeResponse(testCaps, "alice", "shop", "mysql_native_password", "_client_name", "libmariadb", "program_name", "mysql")
	h, auth, err := ParseHandshakeResponse(p)
	if err != nil {
		t.Fatal(err)
	}
	if h.User != "alice" || h.Database != "shop" || h.AuthPlugin != "mysql_native_password" || h.AuthLen != 20 || len(auth) != 20 ||
		h.Attrs["_client_name"] != "libmariadb" || h.Attrs["program_name"] != "mysql" || h.SSLRequest {
		t.Errorf("%+v", h)
	}
	ssl := handshakeResponse(testCaps|capSSL, "", "", "")[:32]
	if h, _, err := ParseHandshakeResponse(ssl); err != nil || !h.SSLRequest {
		t.Errorf("SSLRequest: %+v %v", h, err)
	}
	for n := 0; n < len(p); n++ {
		ParseHandshakeResponse(p[:n]) // no panic on any cut
	}
}

func TestParseOKErrEOF(t *testing.T) {
	ok, err := ParseOK(unhex(`00 fc e803 05 0a00 0100 7465787400`), capProtocol41)
	if err != nil || ok.AffectedRows != 1000 || ok.LastInsertID != 5 || ok.Status != 10 || ok.Warnings != 1 {
		t.Errorf("OK %+v %v", ok, err)
	}
	e, err := ParseErr(errPacket(1146, "42S02", "Table 'shop.x' doesn't exist"))
	if err != nil || e.Code != 1146 || e.SQLState != "42S02" || e.Message != "Table 'shop.x' doesn't exist" {
		t.Errorf("ERR %+v %v", e, err)
	}
	if e, _ := ParseErr(unhex(`ff 1504 41636365737320`)); e.SQLState != "" || e.Message != "Access " {
		t.Errorf("ERR without SQLSTATE %+v", e)
	}
	if e, _ := ParseErr(unhex(`ff ffff 01 02 00`)); !e.Progress {
		t.Error("progress report not seen")
	}
	if e, err := ParseEOF(eofPacket); err != nil || e.Status != 2 {
		t.Errorf("EOF %+v %v", e, err)
	}
	if _, err := ParseOK(unhex(`00 fe`), capProtocol41); err == nil {
		t.Error("short OK accepted")
	}
}

func TestParseExecute(t *testing.T) {
	p := unhex(`
17 01000000 00 01000000   # COM_STMT_EXECUTE stmt 1, no cursor, iteration 1
20                         # null bitmap: parameter 5 is NULL
01                         # new params bound
0300 fd00 0500 0a00 0c00 0300 0180 0b00  # long, var_string, double, date, datetime, long, unsigned tiny, time
0a000000                   # 10
076d616c6c6f7279           # "mallory"
0000000000404540           # 42.5
04 e807 05 06              # 2024-05-06
0b e807 05 06 07 08 09 a0860100  # 2024-05-06 07:08:09.100000
                           # parameter 5: NULL, no value
ff                         # 255 unsigned
08 00 01000000 02 03 04    # 1 day 2:03:04
`)
	e, err := ParseExecute(p, 8, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10", "mallory", "42.5", "2024-05-06", "2024-05-06 07:08:09.100000", "NULL", "255", "26:03:04"}
	if !reflect.DeepEqual(e.Params, want) || !e.NewTypes || e.StatementID != 1 {
		t.Errorf("params %q", e.Params)
	}
	// A second execution without types uses the remembered ones.
	again := unhex(`17 01000000 00 01000000 fe 00 0b000000`)
	e2, _ := ParseExecute(again, 8, e.Types, 0)
	if len(e2.Params) != 8 || e2.Params[0] != "11" || e2.Params[1] != "NULL" {
		t.Errorf("remembered types: %q", e2.Params)
	}
	// Cut inside the values: the rest is marked truncated.
	e3, _ := ParseExecute(p[:len(p)-20], 8, nil, 0)
	if n := len(e3.Params); n == 0 || e3.Params[n-1] != "<truncated>" {
		t.Errorf("cut: %q", e3.Params)
	}
	// Long data and unknown statements.
	e4, _ := ParseExecute(unhex(`17 02000000 00 01000000 00 01 fc00`), 1, nil, 1)
	if !reflect.DeepEqual(e4.Params, []string{"<long data>"}) {
		t.Errorf("long data: %q", e4.Params)
	}
	if e5, err := ParseExecute(p, -1, nil, 0); err != nil || e5.Params != nil {
		t.Errorf("unknown statement: %+v %v", e5, err)
	}
}

func TestParamText(t *testing.T) {
	long := strings.Repeat("x", 300)
	for in, want := range map[string]string{
		"plain":            "plain",
		long:               long[:256] + "...",
		"\x00\x01\x02\xff": "0x000102ff",
		"héllo":            "héllo",
	} {
		if got := paramText([]byte(in)); got != want {
			t.Errorf("paramText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	cases := map[string][]string{
		"SELECT 1; SELECT 2":                      {"SELECT 1", "SELECT 2"},
		"SELECT ';'; SELECT \"a;b\"; SELECT `c;`": {"SELECT ';'", "SELECT \"a;b\"", "SELECT `c;`"},
		"SELECT 'it\\'s;'; DO 1;":                 {"SELECT 'it\\'s;'", "DO 1"},
		"SELECT 1 -- c;omment\n; SELECT 2":        {"SELECT 1 -- c;omment", "SELECT 2"},
		"SELECT 1 # x;y\n;/* a;b */ SELECT 2":     {"SELECT 1 # x;y", "/* a;b */ SELECT 2"},
		"SELECT 1":                                {"SELECT 1"},
		" ; ;":                                    nil,
	}
	for in, want := range cases {
		if got := SplitStatements(in, 100); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitStatements(%q) = %q, want %q", in, got, want)
		}
	}
	if got := SplitStatements("a;b;c;d", 2); !reflect.DeepEqual(got, []string{"a", "b;c;d"}) {
		t.Errorf("limit: %q", got)
	}
}

func TestOperation(t *testing.T) {
	for in, want := range map[string]string{
		"select 1":                    "SELECT",
		"  /* hint */ DELETE FROM t":  "DELETE",
		"(SELECT 1) UNION (SELECT 2)": "SELECT",
		"-- c\nupdate t set a=1":      "UPDATE",
		"/*!40101 SET NAMES utf8 */":  "SET",
		"/*M!100100 drop table t */":  "DROP",
		"":                            "",
		"123":                         "",
		"# only a comment":            "",
	} {
		if got := Operation(in); got != want {
			t.Errorf("Operation(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMaskPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"CREATE USER 'bob'@'%' IDENTIFIED BY 'Builder22'":                  "CREATE USER 'bob'@'%' IDENTIFIED BY '****'",
		"alter user bob identified with mysql_native_password by 's3'":     "alter user bob identified with mysql_native_password by '****'",
		"SET PASSWORD FOR 'bob'@'%' = PASSWORD('x')":                       "SET PASSWORD FOR 'bob'@'%' = PASSWORD('****')",
		"SET PASSWORD = 'plain'":                                           "SET PASSWORD = '****'",
		"GRANT ALL ON *.* TO 'a'@'h' IDENTIFIED BY 'p''q'":                 "GRANT ALL ON *.* TO 'a'@'h' IDENTIFIED BY '****''q'",
		"CREATE USER b IDENTIFIED VIA ed25519 USING PASSWORD('Builder22')": "CREATE USER b IDENTIFIED VIA ed25519 USING PASSWORD('****')",
		"SELECT 'IDENTIFIED BY' FROM t":                                    "SELECT 'IDENTIFIED BY' FROM t",
		"UPDATE users SET password = 'x'":                                  "UPDATE users SET password = 'x'",
	} {
		if got := MaskPasswords(in); got != want {
			t.Errorf("MaskPasswords(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}

// TestFramer: the same packets whatever the segments, and a packet over
// 16 MB in continuation frames keeps its length with a capped prefix.
func TestFramer(t *testing.T) {
	stream := cat(pkt(0, []byte("\x03SELECT 1")), pkt(0, nil), pkt(1, okPacket), pkt(0, bytes.Repeat([]byte{'a'}, 300)))
	var want []Packet
	f := framer{keep: 100}
	for rest := stream; ; {
		p, r, ok := f.next(rest)
		if !ok {
			break
		}
		want = append(want, Packet{Seq: p.Seq, Len: p.Len, Data: append([]byte(nil), p.Data...)})
		rest = r
	}
	if len(want) != 4 || want[3].Len != 300 || len(want[3].Data) != 100 || !want[3].Truncated() || want[1].Len != 0 {
		t.Fatalf("whole: %+v", want)
	}
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 200; trial++ {
		f := framer{keep: 100}
		var got []Packet
		for rest := stream; len(rest) > 0; {
			n := 1 + rng.Intn(12)
			if trial == 0 {
				n = 1 // byte by byte
			}
			seg := rest[:min(n, len(rest))]
			rest = rest[len(seg):]
			for {
				p, r, ok := f.next(seg)
				if !ok {
					break
				}
				got = append(got, Packet{Seq: p.Seq, Len: p.Len, Data: append([]byte(nil), p.Data...)})
				seg = r
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("trial %d: %+v", trial, got)
		}
	}
	// 16 MB continuation: a full frame and a 10-byte one are one packet.
	big := make([]byte, 0, maxFrame+4+14+20)
	big = append(big, 0xff, 0xff, 0xff, 0)
	big = append(big, make([]byte, maxFrame)...)
	big = append(big, 10, 0, 0, 1)
	big = append(big, make([]byte, 10)...)
	big = append(big, pkt(2, okPacket)...)
	f = framer{keep: 64}
	p, rest, ok := f.next(big)
	if !ok || p.Len != maxFrame+10 || len(p.Data) != 64 || p.Seq != 0 {
		t.Fatalf("continuation: ok=%v len=%d kept=%d", ok, p.Len, len(p.Data))
	}
	if p, _, ok := f.next(rest); !ok || p.Seq != 2 || p.Len != len(okPacket) {
		t.Fatalf("after continuation: %+v", p)
	}
}
