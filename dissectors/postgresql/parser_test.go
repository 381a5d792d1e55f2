package postgresql

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
)

// unhex reads annotated hex: "# comment" to the end of a line, blanks ignored.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		b.WriteString(strings.Join(strings.Fields(line), ""))
	}
	out, err := hex.DecodeString(b.String())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		hex      string
		typ      byte
		n        int
		ok, fail bool
	}{
		{"51 00000010", 'Q', 16, true, false}, // Query, 16 bytes
		{"5a 00000005 49", 'Z', 5, true, false},
		{"51 000000", 0, 0, false, false},   // truncated: need more
		{"52 00000003", 'R', 0, true, true}, // length below 4
		{"44 7fffffff", 'D', 0, true, true}, // over 1 GB
	} {
		typ, n, ok, err := ParseHeader(unhex(t, tc.hex))
		if ok != tc.ok || (err != nil) != tc.fail || !tc.fail && ok && (typ != tc.typ || n != tc.n) {
			t.Errorf("%s: %c %d %v %v", tc.hex, typ, n, ok, err)
		}
	}
}

func TestParseStartup(t *testing.T) {
	b := unhex(t, `
		0000002e                         # length 46
		00030000                         # protocol 3.0
		75736572 00 616c696365 00        # user alice
		6461746162617365 00 73686f70 00  # database shop
		6f7074696f6e73 00 2d6300 00      # options -c
		00                               # end`)
	n, code, ok, err := ParseStartupHeader(b)
	if n != 46 || code != codeProtocol3 || !ok || err != nil || len(b) != 46 {
		t.Fatalf("%d %d %v %v (%d bytes)", n, code, ok, err, len(b))
	}
	var got []string
	if err := ParseStartupParams(b[8:], func(k, v []byte) { got = append(got, string(k)+"="+string(v)) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"user=alice", "database=shop", "options=-c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("%q", got)
	}
	if err := ParseStartupParams(b[8:20], func(k, v []byte) {}); err == nil {
		t.Error("truncated parameters accepted")
	}
}

func TestParseErrorFields(t *testing.T) {
	e, err := ParseErrorFields(unhex(t, `
		53 4552524f5200      # S ERROR (localized severity)
		56 4552524f5200      # V ERROR
		43 343250303100      # C 42P01
		4d 6e6f0a7061737300  # M "no\npass" (a control byte)
		50 313500            # P 15: not kept
		00`))
	if err != nil || e != (ErrorFields{"ERROR", "42P01", "no pass"}) {
		t.Errorf("%+v %v", e, err)
	}
	if _, err := ParseErrorFields(unhex(t, "53 4552")); err == nil {
		t.Error("truncated error accepted")
	}
}

func TestParseBind(t *testing.T) {
	b := unhex(t, `
		00                    # portal ""
		733100                # statement s1
		0002 0001 0000        # 2 format codes: binary, text
		0003                  # 3 parameters
		00000004 0000002a     # int4 42
		00000003 626f62       # 'bob'
		ffffffff              # NULL
		0000                  # no result formats`)
	m, err := ParseBind(b)
	if err != nil || string(m.Statement) != "s1" || m.Count != 3 || len(m.Params) != 3 {
		t.Fatalf("%+v %v", m, err)
	}
	got := []string{FormatParam(oidInt4, m.Params[0]), FormatParam(oidText, m.Params[1]), FormatParam(0, m.Params[2])}
	if want := []string{"42", "bob", "NULL"}; !reflect.DeepEqual(got, want) {
		t.Errorf("%q", got)
	}
	if _, err := ParseBind(b[:len(b)-8]); err == nil {
		t.Error("truncated bind accepted")
	}
}

func TestFormatParam(t *testing.T) {
	bin := func(h string) Param {
		v := unhex(t, h)
		return Param{Format: 1, Value: v, Len: len(v)}
	}
	for _, tc := range []struct {
		oid  uint32
		p    Param
		want string
	}{
		{oidBool, bin("01"), "true"},
		{oidInt2, bin("fff9"), "-7"},
		{oidInt8, bin("ffffffffffffffff"), "-1"},
		{oidFloat4, bin("40900000"), "4.5"},
		{oidFloat8, bin("412e848000000000"), "1000000"},
		{oidFloat8, bin("7ff0000000000000"), "Infinity"},
		{oidUUID, bin("6f1e2d3c4b5a49788695a4b3c2d1e0f9"), "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"},
		{oidTimestamp, bin("0003042a31c0fa00"), "2026-11-26 10:30:00"}, // 848313000000000 us
		{oidTimestampTZ, bin("0003042a31c0fa00"), "2026-11-26 10:30:00+00"},
		{oidTimestamp, bin("fffffffffff0bdc0"), "1999-12-31 23:59:59"}, // -1000000 us
		{oidTimestamp, bin("7fffffffffffffff"), "infinity"},
		{oidDate, bin("00002411"), "2025-04-12"}, // day 9233
		{oidBytea, bin("0001feff"), `\x0001feff`},
		{oidJSONB, bin("017b7d"), "{}"},
		{0, bin("cafe"), `\xcafe`},                                 // unknown type: hex
		{oidInt4, bin("0001"), `\x0001`},                           // wrong size: hex
		{oidText, Param{Value: []byte("abc"), Len: 500}, "abc..."}, // cut
		{0, Param{Format: 1, Value: make([]byte, 128), Len: 128}, `\x` + strings.Repeat("00", 63) + "..."},
	} {
		if got := FormatParam(tc.oid, tc.p); got != tc.want {
			t.Errorf("oid %d %x: %q, want %q", tc.oid, tc.p.Value, got, tc.want)
		}
	}
}

func TestParseTag(t *testing.T) {
	for tag, want := range map[string]struct {
		cmd  string
		rows int64
	}{
		"INSERT 0 5": {"INSERT", 5}, "UPDATE 3": {"UPDATE", 3}, "SELECT 10": {"SELECT", 10}, "COPY 7": {"COPY", 7},
		"DELETE 0": {"DELETE", 0}, "MERGE 2": {"MERGE", 2}, "CREATE TABLE": {"CREATE TABLE", -1}, "BEGIN": {"BEGIN", -1},
		"SELECT x": {"SELECT x", -1},
	} {
		if cmd, rows := ParseTag([]byte(tag)); cmd != want.cmd || rows != want.rows {
			t.Errorf("%q: %q %d", tag, cmd, rows)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	for q, want := range map[string][]string{
		"SELECT 1; SELECT 2":                 {"SELECT 1", "SELECT 2"},
		"SELECT ';'; SELECT \"a;b\" FROM t;": {"SELECT ';'", `SELECT "a;b" FROM t`},
		"SELECT 'it''s; ok'":                 {"SELECT 'it''s; ok'"},
		"SELECT E'\\'; still'; SELECT 2":     {"SELECT E'\\'; still'", "SELECT 2"},
		"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT f()": {"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql", "SELECT f()"},
		"DO $x$ BEGIN PERFORM 1; END $x$":                                             {"DO $x$ BEGIN PERFORM 1; END $x$"},
		"SELECT $1; SELECT 2":                                                         {"SELECT $1", "SELECT 2"},
		"-- only a comment; really\n":                                                 nil,
		"/* a /* nested; */ comment */ SELECT 1; ; ;":                                 {"/* a /* nested; */ comment */ SELECT 1"},
		"":                               nil,
		"SELECT 'unterminated; SELECT 2": {"SELECT 'unterminated; SELECT 2"},
	} {
		var got []string
		SplitStatements([]byte(q), func(s []byte) { got = append(got, string(s)) })
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: %q", q, got)
		}
	}
}

func TestOperation(t *testing.T) {
	for q, want := range map[string]string{
		"select 1": "SELECT", "  -- c\n/* d */ delete from t": "DELETE", "(SELECT 1) UNION (SELECT 2)": "SELECT",
		"WITH x AS (SELECT 1) DELETE FROM t": "WITH", "123": "", "": "",
	} {
		if got := Operation([]byte(q)); got != want {
			t.Errorf("%q: %q", q, got)
		}
	}
}

func TestMaskPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"ALTER ROLE a PASSWORD 'x'":                                 "ALTER ROLE a PASSWORD '****'",
		"create user b with password 'it''s' login":                 "create user b with password '****' login",
		"ALTER USER c PASSWORD $p$secret$p$ VALID UNTIL 'infinity'": "ALTER USER c PASSWORD '****' VALID UNTIL 'infinity'",
		"ALTER ROLE d PASSWORD NULL":                                "ALTER ROLE d PASSWORD NULL",
		"SELECT password FROM users":                                "SELECT password FROM users",
		"SELECT * FROM t WHERE passwords = 'x'":                     "SELECT * FROM t WHERE passwords = 'x'",
	} {
		if got, _ := MaskPasswords(in); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
}

func TestProbe(t *testing.T) {
	d := Dissector{}
	startup := startupMsg("user", "alice", "database", "shop")
	for name, tc := range map[string]struct {
		data   [2][]byte
		client int
		want   dissectors.Verdict
		who    int
	}{
		"startup":           {[2][]byte{startup, nil}, dissectors.Unknown, dissectors.Match, 0},
		"startup as 1":      {[2][]byte{nil, startup}, dissectors.Unknown, dissectors.Match, 1},
		"ssl request":       {[2][]byte{request(codeSSL), nil}, 0, dissectors.Match, 0},
		"gssenc request":    {[2][]byte{request(codeGSSENC), nil}, 0, dissectors.Match, 0},
		"cancel":            {[2][]byte{cat(u32(16), u32(codeCancel), u32(1), u32(2)), nil}, 0, dissectors.Match, 0},
		"short":             {[2][]byte{startup[:6], nil}, 0, dissectors.NeedMore, 0},
		"server auth only":  {[2][]byte{nil, authMsg(authMD5, 1, 2, 3, 4)}, dissectors.Unknown, dissectors.Match, 0},
		"ssh":               {[2][]byte{[]byte("SSH-2.0-OpenSSH_9.2\r\n"), nil}, 0, dissectors.NoMatch, 0},
		"http":              {[2][]byte{[]byte("GET / HTTP/1.1\r\n"), nil}, 0, dissectors.NoMatch, 0},
		"server spoke":      {[2][]byte{nil, []byte("220 ready\r\n")}, 0, dissectors.NoMatch, 0},
		"protocol 2":        {[2][]byte{cat(u32(12), u32(2<<16), u32(0)), nil}, 0, dissectors.NoMatch, 0},
		"no NUL at the end": {[2][]byte{append(startup[:len(startup)-1:len(startup)-1], 'x'), nil}, 0, dissectors.NoMatch, 0},
	} {
		r := d.Probe(&dissectors.ProbeInput{Data: tc.data, Client: tc.client, Port: [2]uint16{40000, 5432}})
		if r.Verdict != tc.want || tc.want == dissectors.Match && r.Client != tc.who {
			t.Errorf("%s: %+v", name, r)
		}
	}
}
