package mysql

import (
	"bytes"
	"compress/zlib"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/internal/record"
)

func TestSessionLoginAndQueries(t *testing.T) {
	h := newHarness(false)
	h.login(testCaps)
	h.cli(pkt(0, []byte("\x03UPDATE items SET price = 1")), 10)
	h.srv(pkt(1, okAffected(3, 2)), 15)
	// A result set: 2 columns, EOF, 2 rows, EOF.
	h.cli(pkt(0, []byte("\x03SELECT a, b FROM t")), 20)
	h.srv(cat(pkt(1, []byte{2}), pkt(2, colDef("a")), pkt(3, colDef("b")), pkt(4, eofPacket),
		pkt(5, textRow("1", "x")), pkt(6, []byte{0xfb, 0x01, 'y'}), pkt(7, eofPacket)), 30)
	h.cli(pkt(0, []byte("\x03SELECT * FROM nope")), 40)
	h.srv(pkt(1, errPacket(1146, "42S02", "Table 'shop.nope' doesn't exist")), 41)
	h.cli(pkt(0, []byte("\x02other")), 50)
	h.srv(pkt(1, okPacket), 51)
	h.cli(pkt(0, []byte("\x03CREATE USER 'bob'@'%' IDENTIFIED BY 'Builder22'")), 60)
	h.srv(pkt(1, okPacket), 61)
	h.cli(pkt(0, []byte{comQuit}), 70)
	r := h.close()

	if r.UserName != "alice" || r.Login == nil || *r.Login.Success != true || r.Login.Attempts != 1 {
		t.Errorf("login: %q %+v", r.UserName, r.Login)
	}
	wantCmds := []string{"UPDATE items SET price = 1", "SELECT a, b FROM t", "SELECT * FROM nope", "USE other",
		"CREATE USER 'bob'@'%' IDENTIFIED BY '****'"}
	if !reflect.DeepEqual(r.Commands, wantCmds) {
		t.Errorf("commands %q", r.Commands)
	}
	f := r.Objects["mysql"].(*Fields)
	if f.Server.Version != "5.5.5-10.11.19-MariaDB-0+deb12u1" || f.Client.Name != "libmariadb" || f.Client.Program != "mysql" ||
		f.Statements != 4 || f.Errors != 1 || !f.Quit || f.AuthPlugin != "mysql_native_password" {
		t.Errorf("mysql %+v", f)
	}
	if h.evs[0].Action != record.ActionLogin || h.evs[0].Outcome != "success" || h.evs[0].Login.Method != "mysql_native_password" {
		t.Errorf("login event %+v", h.evs[0])
	}
	q := h.queries()
	if len(q) != 5 {
		t.Fatalf("%d query events", len(q))
	}
	type row struct {
		text, op, code, ns string
		rows, affected     int64
		dur                int64
	}
	var got []row
	for _, ev := range q {
		x := ev.Query
		got = append(got, row{x.Text, x.Operation, x.StatusCode, x.Namespace, x.ReturnedRows, x.AffectedRows, x.Duration})
		if x.System != "mariadb" {
			t.Errorf("system %q", x.System)
		}
	}
	want := []row{
		{"UPDATE items SET price = 1", "UPDATE", "", "shop", -1, 3, 5},
		{"SELECT a, b FROM t", "SELECT", "", "shop", 2, -1, 10},
		{"SELECT * FROM nope", "SELECT", "1146", "shop", -1, -1, 1},
		{"USE other", "USE", "", "shop", -1, -1, 1},
		{"CREATE USER 'bob'@'%' IDENTIFIED BY '****'", "CREATE", "", "other", -1, -1, 1},
	}
	want[4].affected = 0
	if !reflect.DeepEqual(got, want) {
		t.Errorf("queries\n got %+v\nwant %+v", got, want)
	}
	if q[2].Outcome != "failure" || q[2].Query.Error != "Table 'shop.nope' doesn't exist" {
		t.Errorf("error event %+v", q[2].Query)
	}
}

func TestSessionDeprecateEOFAndPipelining(t *testing.T) {
	h := newHarness(false)
	caps := uint32(testCaps | capDeprecateEOF)
	h.login(caps)
	// MariaDB Connector/C style: PREPARE and EXECUTE(-1) in one segment, then CLOSE.
	h.cli(cat(pkt(0, []byte("\x16DELETE FROM t WHERE id = ?")),
		pkt(0, unhex(`17 ffffffff 00 01000000 00 01 0800 0700000000000000`)),
		pkt(0, unhex(`19 05000000`))), 10)
	h.srv(cat(pkt(1, unhex(`00 05000000 0000 0100 00 0000`)), pkt(2, colDef("?")), // PREPARE_OK, 1 param, no EOF
		pkt(1, okAffected(1, 2))), 20)
	// A result set ended by an OK with header 0xFE, and a row that starts with 0xFE is not mistaken for it.
	h.cli(pkt(0, []byte("\x03SELECT x FROM t")), 30)
	h.srv(cat(pkt(1, []byte{1}), pkt(2, colDef("x")), pkt(3, textRow("a")),
		pkt(4, unhex(`fe 00 00 0200 0000`)), pkt(5, okPacket)), 40) // the last OK belongs to no command
	r := h.close()
	q := h.queries()
	if len(q) != 2 {
		t.Fatalf("%d query events: %+v", len(q), q)
	}
	if x := q[0].Query; x.Text != "DELETE FROM t WHERE id = ?" || !reflect.DeepEqual(x.Parameters, []string{"7"}) ||
		x.Statement != "5" || x.AffectedRows != 1 {
		t.Errorf("execute %+v", x)
	}
	if x := q[1].Query; x.ReturnedRows != 1 {
		t.Errorf("select %+v", x)
	}
	if !strings.Contains(strings.Join(r.Anomalies, ","), "mysql.unexpected_response") {
		t.Errorf("anomalies %v", r.Anomalies)
	}
	if len(h.s.stmts) != 0 {
		t.Errorf("statement not closed: %v", h.s.stmts)
	}
}

func TestSessionMultiStatements(t *testing.T) {
	h := newHarness(false)
	h.login(testCaps)
	more := uint16(statusMoreResults | 2)
	// Three statements: a result set, an OK, then an error ends the query: the fourth never ran.
	h.cli(pkt(0, []byte("\x03SELECT 1; UPDATE t SET a = 1; DROP TABLE nope; SELECT 2")), 10)
	h.srv(cat(pkt(1, []byte{1}), pkt(2, colDef("1")), pkt(3, eofPacket), pkt(4, textRow("1")),
		pkt(5, []byte{0xfe, 0, 0, byte(more), 0}), pkt(6, okAffected(4, more)),
		pkt(7, errPacket(1051, "42S02", "Unknown table 'shop.nope'"))), 20)
	// One CALL with two result sets: one event with the rows added up.
	h.cli(pkt(0, []byte("\x03CALL p()")), 30)
	h.srv(cat(pkt(1, []byte{1}), pkt(2, colDef("a")), pkt(3, eofPacket), pkt(4, textRow("1")), pkt(5, []byte{0xfe, 0, 0, byte(more), 0}),
		pkt(6, []byte{1}), pkt(7, colDef("b")), pkt(8, eofPacket), pkt(9, textRow("1")), pkt(10, textRow("2")), pkt(11, []byte{0xfe, 0, 0, byte(more), 0}),
		pkt(12, okAffected(0, 2))), 40)
	r := h.close()
	q := h.queries()
	var texts []string
	for _, ev := range q {
		texts = append(texts, ev.Query.Text)
	}
	if !reflect.DeepEqual(texts, []string{"SELECT 1", "UPDATE t SET a = 1", "DROP TABLE nope", "CALL p()"}) {
		t.Fatalf("events %q", texts)
	}
	if q[0].Query.ReturnedRows != 1 || q[1].Query.AffectedRows != 4 || q[2].Query.StatusCode != "1051" || q[3].Query.ReturnedRows != 3 {
		t.Errorf("results %+v %+v %+v %+v", q[0].Query, q[1].Query, q[2].Query, q[3].Query)
	}
	if len(r.Commands) != 5 || r.Commands[3] != "SELECT 2" {
		t.Errorf("commands %q", r.Commands)
	}
}

func TestSessionAuthSwitchCleartext(t *testing.T) {
	h := newHarness(false)
	h.srv(pkt(0, mariaGreeting), 1)
	h.cli(pkt(1, handshakeResponse(testCaps, "carol", "", "mysql_native_password")), 2)
	h.srv(pkt(2, append([]byte("\xfemysql_clear_password\x00"), 0)), 3)
	h.cli(pkt(3, []byte("S3cret!pw\x00")), 4)
	h.srv(pkt(4, errPacket(1045, "28000", "Access denied for user 'carol'")), 5)
	r := h.close()
	if r.CleartextCredentials == nil || !*r.CleartextCredentials || *r.Login.Success {
		t.Errorf("record %+v %+v", r.CleartextCredentials, r.Login)
	}
	ev := h.evs[0]
	if ev.Login.Method != "mysql_clear_password" || ev.Outcome != "failure" || !ev.CleartextCredentials ||
		ev.Reason != "Access denied for user 'carol'" {
		t.Errorf("login event %+v %+v", ev, ev.Login)
	}
	// The password is nowhere in the output.
	b, _ := r.MarshalJSON()
	e, _ := ev.MarshalJSON()
	if bytes.Contains(b, []byte("S3cret")) || bytes.Contains(e, []byte("S3cret")) {
		t.Error("password in the output")
	}
}

func TestSessionTLS(t *testing.T) {
	h := newHarness(false)
	h.srv(pkt(0, mariaGreeting), 1)
	h.cli(pkt(1, handshakeResponse(testCaps|capSSL, "", "", "")[:32]), 2)
	if st := h.cli(unhex(`16 0301 0005 0100000100`), 3); h.s.phase != phTLS && st == 0 {
		t.Errorf("phase %d", h.s.phase)
	}
	r := h.close()
	if f := r.Objects["mysql"].(*Fields); !f.TLS {
		t.Errorf("tls not noted: %+v", f)
	}
	if h.evs[0].Action != record.ActionSecurity {
		t.Errorf("events %+v", h.evs)
	}
}

func TestSessionLocalInfileAndTruncated(t *testing.T) {
	h := newHarness(false)
	h.login(testCaps)
	h.cli(pkt(0, []byte("\x03LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t")), 10)
	h.srv(pkt(1, []byte("\xfb/etc/passwd")), 11)
	h.cli(cat(pkt(2, []byte("root:x:0:0\n")), pkt(3, nil)), 12) // file content, then an empty packet: not commands
	h.srv(pkt(4, okAffected(1, 2)), 13)
	h.cli(pkt(0, []byte("\x03SELECT SLEEP(100)")), 20) // never answered
	r := h.close()
	q := h.queries()
	if len(q) != 2 || q[0].Query.AffectedRows != 1 || q[1].Outcome != record.OutcomeUnknown {
		t.Fatalf("events %+v", q)
	}
	if f := r.Objects["mysql"].(*Fields); !reflect.DeepEqual(f.LocalInfile, []string{"/etc/passwd"}) || f.Statements != 2 {
		t.Errorf("mysql %+v", f)
	}
}

func TestSessionGapResync(t *testing.T) {
	h := newHarness(false)
	h.login(testCaps)
	h.cli(pkt(0, []byte("\x03SELECT 1")), 10)
	h.s.Gap(1, 100, 11) // the response is lost
	h.srv([]byte("rest of a lost response"), 12)
	h.cli(pkt(0, []byte("\x03SELECT 2")), 13)
	h.srv(pkt(1, okPacket), 14) // one whole packet in a segment: back in step
	r := h.close()
	q := h.queries()
	if len(q) != 2 || q[0].Outcome != record.OutcomeUnknown || q[1].Outcome != record.OutcomeSuccess {
		t.Fatalf("events %+v", q)
	}
	if !strings.Contains(strings.Join(r.Anomalies, ","), "mysql.gap") {
		t.Errorf("anomalies %v", r.Anomalies)
	}
}

// compress wraps a stream of packets in one compressed packet.
func compress(seq byte, stream []byte) []byte {
	var z bytes.Buffer
	w := zlib.NewWriter(&z)
	w.Write(stream)
	w.Close()
	n, u := z.Len(), len(stream)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq, byte(u), byte(u >> 8), byte(u >> 16)}, z.Bytes()...)
}

func TestSessionCompressed(t *testing.T) {
	h := newHarness(false)
	h.login(testCaps | capCompress)
	if h.s.h[0].z == nil {
		t.Fatal("compression not on after the OK")
	}
	q := compress(0, pkt(0, []byte("\x03SELECT name FROM t")))
	resp := compress(0, cat(pkt(1, []byte{1}), pkt(2, colDef("name")), pkt(3, eofPacket), pkt(4, textRow("a")), pkt(5, textRow("b")), pkt(6, eofPacket)))
	h.cli(q[:5], 10) // split inside the header
	h.cli(q[5:], 10)
	h.srv(resp[:len(resp)/2], 20)
	h.srv(resp[len(resp)/2:], 20)
	// An uncompressed payload (length 0 before compression).
	plain := pkt(0, []byte("\x03DO 1"))
	h.cli(append([]byte{byte(len(plain)), 0, 0, 1, 0, 0, 0}, plain...), 30)
	h.srv(append([]byte{byte(len(okPacket) + 4), 0, 0, 1, 0, 0, 0}, pkt(1, okPacket)...), 31)
	// Garbage that does not inflate.
	h.cli([]byte{5, 0, 0, 2, 50, 0, 0, 1, 2, 3, 4, 5}, 40)
	r := h.close()
	qs := h.queries()
	if len(qs) != 2 || qs[0].Query.Text != "SELECT name FROM t" || qs[0].Query.ReturnedRows != 2 || qs[1].Query.Text != "DO 1" {
		t.Fatalf("events %+v", qs)
	}
	if f := r.Objects["mysql"].(*Fields); !f.Compression {
		t.Error("compression not noted")
	}
	if !strings.Contains(strings.Join(r.Anomalies, ","), "mysql.decompress_failed") {
		t.Errorf("anomalies %v", r.Anomalies)
	}
}

// statementStream is a logged-in stream of n statements and their answers:
// a SELECT with rows of a result set every 4th, else an UPDATE and its OK.
func statementStream(n, rows int) (cli, srv [][]byte) {
	for i := 0; i < n; i++ {
		if i%4 == 0 {
			cli = append(cli, pkt(0, []byte("\x03SELECT id, name FROM customers WHERE region = 'north' ORDER BY id")))
			parts := [][]byte{pkt(1, []byte{2}), pkt(2, colDef("id")), pkt(3, colDef("name")), pkt(4, eofPacket)}
			for r := 0; r < rows; r++ {
				parts = append(parts, pkt(byte(5+r), textRow("12345", "some customer name")))
			}
			parts = append(parts, pkt(byte(5+rows), eofPacket))
			srv = append(srv, cat(parts...))
		} else {
			cli = append(cli, pkt(0, []byte("\x03UPDATE accounts SET balance = balance - 10 WHERE id = 42")))
			srv = append(srv, pkt(1, okAffected(1, 2)))
		}
	}
	return cli, srv
}

// TestMemoryFlat: many statements and a big result set leave the session
// with bounded state: the statement list stops at its cap, nothing else grows.
func TestMemoryFlat(t *testing.T) {
	h := newHarness(false)
	h.s.ctx.Events = nil // nobody listens
	h.login(testCaps)
	cli, srv := statementStream(8, 50)
	var m0, m1 runtime.MemStats
	feed := func(rounds int) {
		for k := 0; k < rounds; k++ {
			for i := range cli {
				h.cli(cli[i], int64(k))
				h.srv(srv[i], int64(k))
			}
		}
	}
	feed(1500) // 12000 statements: past the 10000 cap
	runtime.GC()
	runtime.ReadMemStats(&m0)
	feed(5000) // 40000 more, and 2.5 million rows
	// One result set of 200000 rows.
	h.cli(pkt(0, []byte("\x03SELECT * FROM big")), 1)
	h.srv(cat(pkt(1, []byte{1}), pkt(2, colDef("x")), pkt(3, eofPacket)), 1)
	row := pkt(4, textRow(strings.Repeat("v", 200)))
	for i := 0; i < 200000; i++ {
		h.srv(row, 2)
	}
	h.srv(pkt(5, eofPacket), 3)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if len(h.s.commands) != maxCommands || len(h.s.pending) != 0 {
		t.Errorf("commands %d, pending %d", len(h.s.commands), len(h.s.pending))
	}
	if grow := int64(m1.HeapAlloc) - int64(m0.HeapAlloc); grow > 2<<20 {
		t.Errorf("heap grew by %d bytes over 40000 statements and 200000 rows", grow)
	}
}

func BenchmarkSession(b *testing.B) {
	cli, srv := statementStream(64, 5)
	var n int64
	for i := range cli {
		n += int64(len(cli[i]) + len(srv[i]))
	}
	b.ReportAllocs()
	b.SetBytes(n)
	h := newHarness(false)
	h.s.ctx.Events = func(*record.Event) {}
	h.login(testCaps)
	h.s.commands = make([]string, maxCommands) // steady state: the list is full
	b.ResetTimer()
	for k := 0; k < b.N; k++ {
		for i := range cli {
			h.cli(cli[i], int64(k))
			h.srv(srv[i], int64(k))
		}
	}
	b.ReportMetric(float64(b.N*len(cli))/b.Elapsed().Seconds(), "statements/s")
}
