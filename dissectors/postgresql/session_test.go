package postgresql

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

const (
	c = dissectors.FromClient
	s = dissectors.FromServer
)

type qsum struct {
	Text, Op, Outcome, Status string
	Returned, Affected        int64
	Params                    string
}

func queries(h *harness) []qsum {
	var out []qsum
	for _, ev := range h.of(record.ActionQuery) {
		q := ev.Query
		out = append(out, qsum{q.Text, q.Operation, ev.Outcome, q.StatusCode, q.ReturnedRows, q.AffectedRows, strings.Join(q.Parameters, "|")})
	}
	return out
}

// A Simple Query with three statements, answered in one segment: one event
// each, paired in order; the same whatever the segment boundaries.
func TestSimpleQuerySplitAnywhere(t *testing.T) {
	steps := []step{
		{c, startupMsg("user", "alice", "database", "shop", "application_name", "psql")},
		{s, loginOK()},
		{c, queryMsg("CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2);\n-- two rows\nSELECT a FROM t;  ")},
		{s, cat(complete("CREATE TABLE"), complete("INSERT 0 2"), rowDesc("a"), dataRow("1"), dataRow("2"), complete("SELECT 2"), ready('I'))},
		{c, msg('X')},
	}
	want := []qsum{
		{"CREATE TABLE t (a int)", "CREATE", "success", "", -1, -1, ""},
		{"INSERT INTO t VALUES (1), (2)", "INSERT", "success", "", -1, 2, ""},
		{"-- two rows\nSELECT a FROM t", "SELECT", "success", "", 2, -1, ""},
	}
	for _, split := range []int{0, 1, 2, 3, 5, 7, 64} {
		h := run(steps, split, nil)
		if got := queries(h); !reflect.DeepEqual(got, want) {
			t.Errorf("split %d: %+v", split, got)
		}
		if h.rec.UserName != "alice" || !reflect.DeepEqual(h.rec.Commands, []string{want[0].Text, want[1].Text, want[2].Text}) {
			t.Errorf("split %d: user %q commands %q", split, h.rec.UserName, h.rec.Commands)
		}
		f := h.fields()
		if f.Database != "shop" || f.ApplicationName != "psql" || f.ServerVersion != "15.18" || f.BackendPID != 4242 ||
			f.AuthMethod != "trust" || f.Statements != 3 || f.RowsReturned != 2 || f.RowsAffected != 2 || !f.Terminated {
			t.Errorf("split %d: %+v", split, f)
		}
		for _, ev := range h.of(record.ActionQuery) {
			if ev.Query.Duration <= 0 || ev.Query.Namespace != "shop" || ev.Query.System != "postgresql" {
				t.Errorf("split %d: %+v", split, ev.Query)
			}
		}
		if l := h.of(record.ActionLogin); len(l) != 1 || l[0].Outcome != "success" || l[0].Login.Method != "trust" {
			t.Errorf("split %d: logins %+v", split, l)
		}
		if len(h.rec.Anomalies) != 0 {
			t.Errorf("split %d: anomalies %v", split, h.rec.Anomalies)
		}
	}
}

// An error in the middle of a Simple Query: the statements after it are not
// executed (their events say so), ReadyForQuery ends the cycle, and the
// next Query pairs normally.
func TestSimpleQueryErrorInTheMiddle(t *testing.T) {
	h := run([]step{
		{c, startupMsg("user", "bob")},
		{s, loginOK()},
		{c, queryMsg("SELECT 1; SELECT * FROM payroll; DROP TABLE t")},
		{s, cat(rowDesc("x"), dataRow("1"), complete("SELECT 1"), errorMsg("ERROR", "42P01", `relation "payroll" does not exist`), ready('I'))},
		{c, queryMsg("")}, // an empty query: EmptyQueryResponse, no event
		{s, cat(msg('I'), ready('I'))},
		{c, queryMsg("DELETE FROM t")},
		{s, cat(complete("DELETE 7"), ready('I'))},
	}, 0, nil)
	want := []qsum{
		{"SELECT 1", "SELECT", "success", "", 1, -1, ""},
		{"SELECT * FROM payroll", "SELECT", "failure", "42P01", -1, -1, ""},
		{"DROP TABLE t", "DROP", "unknown", "", -1, -1, ""},
		{"DELETE FROM t", "DELETE", "success", "", -1, 7, ""},
	}
	if got := queries(h); !reflect.DeepEqual(got, want) {
		t.Errorf("%+v", got)
	}
	if ev := h.of(record.ActionQuery)[1]; ev.Query.Error != `relation "payroll" does not exist` {
		t.Errorf("error %q", ev.Query.Error)
	}
	if h.fields().Database != "bob" { // the server's default: the user name
		t.Errorf("database %q", h.fields().Database)
	}
}

// A COMMIT the server answers with ROLLBACK (the transaction had failed)
// committed nothing: its event says failure, and why.
func TestCommitRolledBack(t *testing.T) {
	h := run([]step{
		{c, startupMsg("user", "bob")},
		{s, loginOK()},
		{c, queryMsg("BEGIN")},
		{s, cat(complete("BEGIN"), ready('T'))},
		{c, queryMsg("SELECT * FROM payroll")},
		{s, cat(errorMsg("ERROR", "42P01", `relation "payroll" does not exist`), ready('E'))},
		{c, queryMsg("COMMIT")},
		{s, cat(complete("ROLLBACK"), ready('I'))},
		{c, queryMsg("COMMIT")},
		{s, cat(complete("COMMIT"), ready('I'))},
	}, 0, nil)
	qs := h.of(record.ActionQuery)
	if len(qs) != 4 || qs[2].Outcome != record.OutcomeFailure || !strings.Contains(qs[2].Reason, "rolled it back") ||
		qs[3].Outcome != record.OutcomeSuccess {
		t.Fatalf("%+v", queries(h))
	}
}

// The extended protocol: a named statement prepared once (types given),
// executed twice later with binary parameters; an unnamed statement whose
// types come from the server's ParameterDescription; a batch whose Bind
// fails.
func TestExtendedProtocol(t *testing.T) {
	i4 := u32(42)
	txt := []byte("alice")
	i8 := binary.BigEndian.AppendUint64(nil, uint64(math.MaxInt64))
	h := run([]step{
		{c, startupMsg("user", "alice", "database", "shop")},
		{s, loginOK()},
		{c, cat(parseMsg("s1", "UPDATE accounts SET owner = $2 WHERE id = $1", oidInt4, oidText), syncMsg())},
		{s, cat(msg('1'), ready('I'))},
		{c, cat(bindMsg("", "s1", []int{1, 0}, i4, txt), describeMsg('P', ""), executeMsg(""), syncMsg())},
		{s, cat(msg('2'), msg('n'), complete("UPDATE 1"), ready('I'))},
		// unnamed: Parse without types, Describe statement, then bind binary int8 and a NULL
		{c, cat(parseMsg("", "SELECT id FROM t WHERE big = $1 OR note = $2", 0, 0), describeMsg('S', ""), syncMsg())},
		{s, cat(msg('1'), msg('t', u16(2), u32(oidInt8), u32(oidVarchar)), rowDesc("id"), ready('I'))},
		{c, cat(bindMsg("p1", "", []int{1}, i8, nil), describeMsg('P', "p1"), executeMsg("p1"), syncMsg())},
		{s, cat(msg('2'), rowDesc("id"), dataRow("1"), dataRow("2"), dataRow("3"), complete("SELECT 3"), ready('T'))},
		// s1 again, much later, text parameters; its Bind fails
		{c, cat(bindMsg("", "s1", nil, []byte("x"), []byte("bob")), executeMsg(""), syncMsg())},
		{s, cat(errorMsg("ERROR", "22P02", `invalid input syntax for type integer: "x"`), ready('E'))},
		// a statement that fails to prepare, with nothing executing it
		{c, cat(parseMsg("bad", "SELEC 1"), syncMsg())},
		{s, cat(errorMsg("ERROR", "42601", `syntax error at or near "SELEC"`), ready('I'))},
	}, 3, nil)
	want := []qsum{
		{"UPDATE accounts SET owner = $2 WHERE id = $1", "UPDATE", "success", "", -1, 1, "42|alice"},
		{"SELECT id FROM t WHERE big = $1 OR note = $2", "SELECT", "success", "", 3, -1, "9223372036854775807|NULL"},
		{"UPDATE accounts SET owner = $2 WHERE id = $1", "UPDATE", "failure", "22P02", -1, -1, "x|bob"},
		{"SELEC 1", "SELEC", "failure", "42601", -1, -1, ""},
	}
	if got := queries(h); !reflect.DeepEqual(got, want) {
		t.Errorf("%+v", got)
	}
	evs := h.of(record.ActionQuery)
	if len(evs) == 4 && (evs[0].Query.Statement != "s1" || evs[1].Query.Statement != "" || evs[2].Query.Statement != "s1" || evs[3].Query.Statement != "bad") {
		t.Errorf("statement names %q %q %q %q", evs[0].Query.Statement, evs[1].Query.Statement, evs[2].Query.Statement, evs[3].Query.Statement)
	}
	if len(h.rec.Commands) != 4 || h.fields().TransactionStatus != "I" || h.fields().Errors != 2 {
		t.Errorf("commands %q, %+v", h.rec.Commands, h.fields())
	}
	if len(h.rec.Anomalies) != 0 {
		t.Errorf("anomalies %v", h.rec.Anomalies)
	}
}

func recordJSON(t *testing.T, h *harness) string {
	t.Helper()
	b, err := json.Marshal(h.rec)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, ev := range h.events {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		out += "\n" + string(b)
	}
	return out
}

// A cleartext password is masked everywhere unless the operator reveals it;
// an MD5 response never shows, whatever the options; a password set in SQL
// is masked in the statement.
func TestPasswordsMasked(t *testing.T) {
	clear := func(opts *dissectors.Options) *harness {
		return run([]step{
			{c, startupMsg("user", "alice")},
			{s, authMsg(authCleartext)},
			{c, msg('p', cstr("S3cret-pw"))},
			{s, loginOK()},
			{c, queryMsg("ALTER ROLE alice PASSWORD 'N3w-secret'; CREATE USER x WITH PASSWORD E'a\\'b'")},
			{s, cat(complete("ALTER ROLE"), complete("CREATE ROLE"), ready('I'))},
		}, 0, opts)
	}
	h := clear(nil)
	out := recordJSON(t, h)
	for _, secret := range []string{"S3cret-pw", "N3w-secret", `a\'b`} {
		if strings.Contains(out, secret) {
			t.Errorf("%q in the output:\n%s", secret, out)
		}
	}
	if h.rec.CleartextCredentials == nil || !*h.rec.CleartextCredentials {
		t.Error("psm.cleartext_credentials not set")
	}
	if l := h.of(record.ActionLogin); len(l) != 1 || !l[0].CleartextCredentials || l[0].Login.Method != "password" {
		t.Errorf("login %+v", l)
	}
	if want := []string{"ALTER ROLE alice PASSWORD '****'", "CREATE USER x WITH PASSWORD '****'"}; !reflect.DeepEqual(h.rec.Commands, want) {
		t.Errorf("commands %q", h.rec.Commands)
	}
	if h = clear(&dissectors.Options{RevealCredentials: true}); h.fields().Password != "S3cret-pw" {
		t.Errorf("revealed password %q", h.fields().Password)
	}

	md5 := run([]step{
		{c, startupMsg("user", "bob")},
		{s, authMsg(authMD5, 1, 2, 3, 4)},
		{c, msg('p', cstr("md5a3556571e93b0d20722ba62be61e8c2d"))},
		{s, errorMsg("FATAL", "28P01", `password authentication failed for user "bob"`)},
	}, 0, &dissectors.Options{RevealCredentials: true})
	if out := recordJSON(t, md5); strings.Contains(out, "a3556571e93b0d20722ba62be61e8c2d") {
		t.Errorf("MD5 response in the output:\n%s", out)
	}
	l := md5.of(record.ActionLogin)
	if len(l) != 1 || l[0].Outcome != "failure" || l[0].Login.Method != "md5" || l[0].CleartextCredentials ||
		md5.rec.Login == nil || *md5.rec.Login.Success || md5.fields().Error.Code != "28P01" {
		t.Errorf("md5 login %+v record %+v %+v", l, md5.rec.Login, md5.fields())
	}
}

// SSLRequest and GSSENCRequest refused, then a plain startup; a
// CancelRequest; an accepted SSLRequest hands the bytes to TLS.
func TestRequests(t *testing.T) {
	h := run([]step{
		{c, request(codeGSSENC)},
		{s, []byte{'N'}},
		{c, request(codeSSL)},
		{s, []byte{'N'}},
		{c, startupMsg("user", "carol", "database", "shop", "replication", "database")},
		{s, loginOK()},
	}, 1, nil)
	if f := h.fields(); f.GSSENCRequest != "refused" || f.SSLRequest != "refused" || f.Replication != "database" || h.rec.UserName != "carol" {
		t.Errorf("%+v", f)
	}
	cancel := run([]step{{c, cat(u32(16), u32(codeCancel), u32(4242), u32(99))}}, 0, nil)
	if f := cancel.fields(); f.Cancel == nil || f.Cancel.BackendPID != 4242 || len(cancel.events) != 0 {
		t.Errorf("cancel %+v, events %v", f, cancel.events)
	}
	tls := run([]step{
		{c, request(codeSSL)},
		{s, []byte{'S'}},
		{c, []byte{0x16, 3, 1, 0, 5, 1, 0, 0, 1, 0}}, // a (broken) ClientHello record
	}, 0, nil)
	if f := tls.fields(); f.SSLRequest != "accepted" || len(tls.events) != 0 {
		t.Errorf("tls %+v", f)
	}
	g := run([]step{{c, request(codeGSSENC)}, {s, []byte{'G'}}, {c, []byte{1, 2, 3}}}, 0, nil)
	if g.fields().GSSENCRequest != "accepted" || !g.s.stop {
		t.Errorf("gssenc %+v", g.fields())
	}
}

// Cut short: a message truncated by the end of the capture, a statement
// without its result, a login never answered.
func TestTruncated(t *testing.T) {
	full := cat(queryMsg("SELECT pg_sleep(100)"), queryMsg("SELECT 2"))
	h := run([]step{
		{c, startupMsg("user", "alice")},
		{s, loginOK()},
		{c, full[:len(full)-3]},
	}, 0, nil)
	q := h.of(record.ActionQuery)
	if len(q) != 1 || q[0].Outcome != "unknown" || q[0].Query.Text != "SELECT pg_sleep(100)" {
		t.Errorf("%+v", queries(h))
	}
	h = run([]step{{c, startupMsg("user", "alice")}, {s, authMsg(authSASL, cstr("SCRAM-SHA-256")...)}}, 0, nil)
	if l := h.of(record.ActionLogin); len(l) != 1 || l[0].Outcome != "unknown" || h.rec.Login != nil {
		t.Errorf("%+v %+v", l, h.rec.Login)
	}
}

// Malformed input becomes anomalies, never a panic.
func TestAnomalies(t *testing.T) {
	for name, tc := range map[string]struct {
		steps []step
		want  string
	}{
		"bad length":   {[]step{{c, startupMsg("user", "a")}, {s, []byte{'R', 0, 0, 0, 2}}}, "postgresql.bad_length"},
		"huge length":  {[]step{{c, startupMsg("user", "a")}, {s, []byte{'R', 0x7f, 0, 0, 0}}}, "postgresql.bad_length"},
		"bad startup":  {[]step{{c, cat(u32(12), u32(2<<16), u32(0))}}, "postgresql.bad_startup"},
		"unknown type": {[]step{{c, startupMsg("user", "a")}, {s, loginOK()}, {c, msg('@', []byte{1})}}, "postgresql.unknown_message"},
		"unexpected":   {[]step{{c, startupMsg("user", "a")}, {s, cat(loginOK(), complete("SELECT 1"))}}, "postgresql.unexpected_reply"},
		"bad error":    {[]step{{c, startupMsg("user", "a")}, {s, msg('E', []byte("Sxx"))}}, "postgresql.bad_message"},
		"bad answer":   {[]step{{c, request(codeSSL)}, {s, []byte{'x'}}}, "postgresql.bad_answer"},
		"big row": {[]step{{c, startupMsg("user", "a")}, {s, loginOK()}, {c, queryMsg("SELECT x")},
			{s, cat(msg('E', make([]byte, maxMessage+10)))}}, "postgresql.message_too_long"},
	} {
		h := run(tc.steps, 0, nil)
		found := false
		for _, a := range h.rec.Anomalies {
			found = found || a == tc.want
		}
		if !found {
			t.Errorf("%s: anomalies %v, want %s", name, h.rec.Anomalies, tc.want)
		}
	}
}

// A capture gap stops parsing of that direction.
func TestGap(t *testing.T) {
	r := &record.Record{}
	ss := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{}})
	ss.Feed(c, startupMsg("user", "a"), 1)
	ss.Gap(s, 100, 2)
	ss.Feed(s, loginOK(), 3)
	ss.Close(r)
	if len(r.Anomalies) != 1 || r.Anomalies[0] != "postgresql.gap" || ss.ready {
		t.Errorf("%v", r.Anomalies)
	}
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A million statements and a COPY of a gigabyte keep memory flat: commands
// are capped, COPY data and rows are counted without being buffered.
func TestMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	before := heap()
	r := &record.Record{}
	ss := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{}})
	ss.Feed(c, startupMsg("user", "alice"), 1)
	ss.Feed(s, loginOK(), 2)
	// 1M statements, 100 per segment as pipelined as a client would.
	var req, resp []byte
	for i := 0; i < 100; i++ {
		req = append(req, queryMsg("INSERT INTO t VALUES (1, 'some text of a row')")...)
		resp = append(resp, cat(complete("INSERT 0 1"), ready('I'))...)
	}
	for i := 0; i < 10000; i++ {
		ss.Feed(c, req, int64(10+2*i))
		ss.Feed(s, resp, int64(11+2*i))
	}
	// COPY FROM STDIN: 1 GiB in 64 KiB CopyData messages, then one CopyData
	// of 256 MiB fed in 1 MiB pieces.
	ss.Feed(c, queryMsg("COPY t FROM STDIN"), 30000)
	ss.Feed(s, msg('G', []byte{0}, u16(0)), 30001)
	chunk := msg('d', make([]byte, 64<<10))
	var seg []byte
	for i := 0; i < 16; i++ {
		seg = append(seg, chunk...)
	}
	for i := 0; i < 1024; i++ {
		ss.Feed(c, seg, 30002)
	}
	big := make([]byte, 5, 1<<20)
	big[0] = 'd'
	binary.BigEndian.PutUint32(big[1:], 256<<20+4)
	ss.Feed(c, big, 30003)
	piece := make([]byte, 1<<20)
	for i := 0; i < 256; i++ {
		ss.Feed(c, piece, 30004)
	}
	ss.Feed(c, msg('c'), 30005)
	ss.Feed(s, cat(complete("COPY 123456789"), ready('I')), 30006)
	after := heap()
	if ss.f.Statements != 1000001 || ss.f.Copy == nil || ss.f.Copy.InBytes != 1<<30+256<<20 || len(ss.commands) != maxCommands {
		t.Fatalf("statements %d copy %+v commands %d", ss.f.Statements, ss.f.Copy, len(ss.commands))
	}
	if len(ss.ops)-ss.head != 0 || cap(ss.ops) > 4096 {
		t.Errorf("queue %d (cap %d)", len(ss.ops)-ss.head, cap(ss.ops))
	}
	// The commands kept (10000 of ~45 bytes) and the buffers: well under 8 MiB.
	if after > before+8<<20 {
		t.Errorf("heap grew by %d KiB", (after-before)>>10)
	}
	t.Logf("heap %d KiB -> %d KiB", before>>10, after>>10)
	ss.Close(r)
	if !strings.Contains(strings.Join(r.Anomalies, ","), "postgresql.too_many_commands") {
		t.Errorf("anomalies %v", r.Anomalies)
	}
}

// BenchmarkSession: statements per second through the session, simple and
// extended protocol mixed, events on.
func BenchmarkSession(b *testing.B) {
	var req, resp []byte
	for i := 0; i < 50; i++ {
		req = append(req, queryMsg("SELECT id, owner FROM accounts WHERE id = 1")...)
		resp = append(resp, cat(rowDesc("id", "owner"), dataRow("1", "alice"), complete("SELECT 1"), ready('I'))...)
		req = append(req, cat(bindMsg("", "s1", []int{1}, u32(7)), executeMsg(""), syncMsg())...)
		resp = append(resp, cat(msg('2'), complete("UPDATE 1"), ready('I'))...)
	}
	r := &record.Record{}
	n := 0
	ss := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{}, Events: func(*record.Event) { n++ }})
	ss.Feed(c, startupMsg("user", "alice", "database", "shop"), 1)
	ss.Feed(s, loginOK(), 2)
	ss.Feed(c, cat(parseMsg("s1", "UPDATE accounts SET balance = 0 WHERE id = $1", oidInt4), syncMsg()), 3)
	ss.Feed(s, cat(msg('1'), ready('I')), 4)
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ss.Feed(c, req, int64(10+2*i))
		ss.Feed(s, resp, int64(11+2*i))
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "statements/s")
	if n < 100*b.N {
		b.Fatalf("%d events for %d statements", n, 100*b.N)
	}
}
