package postgresql_test

import (
	"io"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/dissectors/postgresql"
	"github.com/psmtap/psmtap/dissectors/tls"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
)

// readCapture runs a capture of pcaps/ through the engine with this
// dissector only and returns the session records and their events.
func readCapture(t *testing.T, name string) ([]*record.Record, map[string][]*record.Event) {
	t.Helper()
	src, err := capture.OpenFile("../../pcaps/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var ds []dissectors.Dissector
	for _, d := range dissectors.All() {
		if d.Name() == "postgresql" {
			ds = append(ds, d)
		}
	}
	var recs []*record.Record
	evs := map[string][]*record.Event{}
	e := engine.New(engine.Config{Dissectors: ds, Emit: func(r *record.Record) { recs = append(recs, r) },
		EmitEvent: func(ev *record.Event) { evs[ev.SessionID] = append(evs[ev.SessionID], ev) }})
	for {
		frame, link, ts, wire, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e.Packet(link, frame, ts, wire)
	}
	e.Flush()
	return recs, evs
}

func of(evs []*record.Event, action string) []*record.Event {
	var out []*record.Event
	for _, ev := range evs {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

func pg(r *record.Record) *postgresql.Fields {
	f, _ := r.Objects["postgresql"].(*postgresql.Fields)
	if f == nil {
		return &postgresql.Fields{}
	}
	return f
}

// one reads a capture of one session and checks what every session must
// hold: events inside it and in order, one query event per psm.commands
// entry (same text), durations > 0.
func one(t *testing.T, name string) (*record.Record, []*record.Event) {
	t.Helper()
	recs, evs := readCapture(t, name)
	if len(recs) != 1 {
		t.Fatalf("%s: %d sessions", name, len(recs))
	}
	r := recs[0]
	if r.Protocol != "postgresql" || r.Server.Port() != 5432 || r.Client.Addr().String() != "192.0.2.10" {
		t.Errorf("%s: %s %v -> %v", name, r.Protocol, r.Client, r.Server)
	}
	var texts []string
	for i, ev := range evs[r.ID] {
		if ev.Time.Before(r.Start) || ev.Time.After(r.End) || i > 0 && ev.Time.Before(evs[r.ID][i-1].Time) {
			t.Errorf("%s: event %d at %v outside or out of order", name, i, ev.Time)
		}
		if ev.Query != nil {
			texts = append(texts, ev.Query.Text)
			if ev.Query.Duration <= 0 {
				t.Errorf("%s: %q duration %d", name, ev.Query.Text, ev.Query.Duration)
			}
		}
	}
	if !reflect.DeepEqual(texts, r.Commands) {
		t.Errorf("%s: query events %q, psm.commands %q", name, texts, r.Commands)
	}
	if len(r.Anomalies) != 0 {
		t.Errorf("%s: anomalies %v", name, r.Anomalies)
	}
	return r, evs[r.ID]
}

type result struct {
	Op, Outcome, Status string
	Returned, Affected  int64
}

func results(evs []*record.Event) []result {
	var out []result
	for _, ev := range of(evs, record.ActionQuery) {
		q := ev.Query
		out = append(out, result{q.Operation, ev.Outcome, q.StatusCode, q.ReturnedRows, q.AffectedRows})
	}
	return out
}

func login(t *testing.T, name string, evs []*record.Event, user, method, outcome string) {
	t.Helper()
	l := of(evs, record.ActionLogin)
	if len(l) != 1 || l[0].UserName != user || l[0].Login.Method != method || l[0].Outcome != outcome || l[0].CleartextCredentials {
		t.Errorf("%s: logins %+v", name, l)
	}
}

// postgresql-psql.pcap (pcaps/README.md): SCRAM login, every statement of
// scripts/postgresql-psql.sql with its result.
func TestCapturePsql(t *testing.T) {
	r, evs := one(t, "postgresql-psql.pcap")
	login(t, "psql", evs, "alice", "scram-sha-256", "success")
	want := []result{
		{"CREATE", "success", "", -1, -1},
		{"INSERT", "success", "", -1, 5},
		{"UPDATE", "success", "", -1, 5},
		{"DELETE", "success", "", -1, 1},
		{"SELECT", "success", "", 4, -1},
		{"SELECT", "success", "", 1, -1}, // SELECT count(*) FROM accounts \; SELECT current_user: one Query, two statements
		{"SELECT", "success", "", 1, -1},
		{"SELECT", "failure", "42P01", -1, -1},
		{"GRANT", "success", "", -1, -1},
		{"DROP", "success", "", -1, -1},
	}
	if got := results(evs); !reflect.DeepEqual(got, want) {
		t.Errorf("%+v", got)
	}
	if r.Commands[5] != "SELECT count(*) FROM accounts" || r.Commands[6] != "SELECT current_user" || r.Commands[2] != "UPDATE accounts SET balance = 0" {
		t.Errorf("%q", r.Commands)
	}
	f := pg(r)
	if r.UserName != "alice" || f.Database != "shop" || f.ApplicationName != "psql" || f.AuthMethod != "scram-sha-256" ||
		!strings.HasPrefix(f.ServerVersion, "15.") || f.BackendPID == 0 || f.Errors != 1 || !f.Terminated ||
		r.Login == nil || !*r.Login.Success || r.CleartextCredentials != nil {
		t.Errorf("%+v %+v", f, r.Login)
	}
	if e := of(evs, record.ActionQuery)[7]; e.Query.Error != `relation "payroll" does not exist` {
		t.Errorf("error %q", e.Query.Error)
	}
}

func TestCaptureLogins(t *testing.T) {
	for _, tc := range []struct {
		file, user, method, outcome, code, db string
	}{
		{"postgresql-wrong-password.pcap", "alice", "scram-sha-256", "failure", "28P01", "shop"},
		{"postgresql-unknown-db.pcap", "alice", "scram-sha-256", "failure", "3D000", "nosuchdb"},
		{"postgresql-md5.pcap", "bob", "md5", "success", "", "shop"},
		{"postgresql-trust.pcap", "carol", "trust", "success", "", "shop"},
	} {
		r, evs := one(t, tc.file)
		login(t, tc.file, evs, tc.user, tc.method, tc.outcome)
		f := pg(r)
		code := ""
		if f.Error != nil {
			code = f.Error.Code
		}
		if code != tc.code || f.Database != tc.db || r.Login == nil || *r.Login.Success != (tc.outcome == "success") {
			t.Errorf("%s: %+v %+v", tc.file, f, r.Login)
		}
		if tc.outcome == "failure" && (len(r.Commands) != 0 || of(evs, record.ActionLogin)[0].Reason == "") {
			t.Errorf("%s: commands %q, no reason", tc.file, r.Commands)
		}
		if tc.outcome == "success" && len(of(evs, record.ActionQuery)) != 1 {
			t.Errorf("%s: %d query events", tc.file, len(of(evs, record.ActionQuery)))
		}
	}
}

// postgresql-psycopg.pcap: server-side prepared statements (prepare=True),
// binary parameters decoded, a reused statement, a duplicate key.
func TestCapturePsycopg(t *testing.T) {
	r, evs := one(t, "postgresql-psycopg.pcap")
	q := of(evs, record.ActionQuery)
	if len(q) != 10 {
		t.Fatalf("%d query events", len(q))
	}
	first := []string{"1", "alice", "true", "19.5", "2", "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "2026-11-26 10:30:00", `\x0001feff`, "first order", "4.5", "100"}
	if !reflect.DeepEqual(q[1].Query.Parameters, first) || q[1].Query.Statement != "_pg3_0" || q[1].Query.AffectedRows != 1 {
		t.Errorf("first insert %+v", q[1].Query)
	}
	third := []string{"3", "carol", "true", "1000000", "300", "ffffffff-ffff-4fff-bfff-ffffffffffff", "1999-12-31 23:59:59", `\x`, "NULL", "0", "2147483647"}
	if !reflect.DeepEqual(q[3].Query.Parameters, third) || q[3].Query.Statement != "_pg3_1" {
		t.Errorf("third insert %+v", q[3].Query)
	}
	// the statement prepared for the first row, reused for the duplicate
	if q[4].Outcome != "failure" || q[4].Query.StatusCode != "23505" || q[4].Query.Statement != "_pg3_0" ||
		!reflect.DeepEqual(q[4].Query.Parameters, first) {
		t.Errorf("duplicate %+v", q[4].Query)
	}
	if q[5].Query.ReturnedRows != 3 || q[6].Query.ReturnedRows != 2 || q[6].Query.Statement != "_pg3_2" ||
		strings.Join(q[5].Query.Parameters, ",") != "t,1" || strings.Join(q[7].Query.Parameters, ",") != "true,bob" {
		t.Errorf("selects %+v %+v, update %+v", q[5].Query, q[6].Query, q[7].Query)
	}
	if pg(r).ApplicationName != "psm-psycopg" || q[9].Query.Text != "DEALLOCATE ALL" {
		t.Errorf("%+v", pg(r))
	}
}

// postgresql-copy.pcap: 300 rows in, 250 out, counted, not kept.
func TestCaptureCopy(t *testing.T) {
	r, evs := one(t, "postgresql-copy.pcap")
	q := of(evs, record.ActionQuery)
	if len(q) != 4 || q[1].Query.AffectedRows != 300 || q[2].Query.ReturnedRows != 250 || q[1].Query.Operation != "COPY" {
		t.Fatalf("%+v", results(evs))
	}
	f := pg(r)
	// 300 lines "n\titem number n\n", and the end marker "\\.\n" that psql 15
	// sends as data too.
	in := 3
	for i := 1; i <= 300; i++ {
		in += len(itoa(i))*2 + len("\titem number \n")
	}
	out := 0
	for i := 1; i <= 250; i++ {
		out += len(itoa(i))*2 + len("\titem number \n")
	}
	if f.Copy == nil || f.Copy.InRows != 300 || f.Copy.OutRows != 250 || f.Copy.InBytes != int64(in) || f.Copy.OutBytes != int64(out) {
		t.Errorf("%+v (want %d in, %d out bytes)", f.Copy, in, out)
	}
}

func itoa(i int) string {
	s := ""
	for ; i > 0; i /= 10 {
		s = string(rune('0'+i%10)) + s
	}
	return s
}

// postgresql-tls.pcap: SSLRequest accepted; the TLS handshake's facts, then
// nothing (the login is inside TLS).
func TestCaptureTLS(t *testing.T) {
	r, evs := one(t, "postgresql-tls.pcap")
	tf, _ := r.Objects["tls"].(*tls.Fields)
	if pg(r).SSLRequest != "accepted" || tf == nil || tf.Client == nil || tf.Client.ServerName != "psm-srv" || tf.Version != "1.3" ||
		tf.Client.JA4 == "" || len(evs) != 0 || r.UserName != "" {
		t.Errorf("%+v %+v %d events", pg(r), tf, len(evs))
	}
}

// postgresql-pgbench.pcap: two connections (pgbench's setup, then the run):
// 20 transactions of 7 prepared statements, each prepared once.
func TestCapturePgbench(t *testing.T) {
	recs, evs := readCapture(t, "postgresql-pgbench.pcap")
	if len(recs) != 2 {
		t.Fatalf("%d sessions", len(recs))
	}
	run := recs[1]
	q := of(evs[run.ID], record.ActionQuery)
	names := map[string]int{}
	for _, e := range q {
		names[e.Query.Statement]++
		if e.Outcome != "success" || e.Query.Duration <= 0 {
			t.Errorf("%+v", e.Query)
		}
	}
	if len(q) != 140 || len(names) != 7 || names["P_1"] != 20 || pg(run).RowsAffected != 80 || pg(run).RowsReturned != 20 {
		t.Errorf("%d statements, names %v, %+v", len(q), names, pg(run))
	}
	if q[1].Query.Text != "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;" || len(q[1].Query.Parameters) != 2 {
		t.Errorf("%+v", q[1].Query)
	}
}

// TestTshark compares with Wireshark's pgsql dissector, field by field where
// both decode: the statements (its Query and Parse strings, ours split and
// de-duplicated), the CommandComplete count (our successful statements),
// the SQLSTATEs, the startup's user/database/application_name, and the
// server_version ParameterStatus. Skipped without tshark.
func TestTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("no tshark")
	}
	for _, name := range []string{"postgresql-psql.pcap", "postgresql-psycopg.pcap", "postgresql-copy.pcap", "postgresql-md5.pcap",
		"postgresql-trust.pcap", "postgresql-wrong-password.pcap", "postgresql-unknown-db.pcap"} {
		out, err := exec.Command("tshark", "-r", "../../pcaps/"+name, "-Y", "pgsql", "-T", "fields", "-E", "occurrence=a",
			"-E", "aggregator=\x1f", "-e", "pgsql.type", "-e", "pgsql.query", "-e", "pgsql.tag", "-e", "pgsql.code",
			"-e", "pgsql.parameter_name", "-e", "pgsql.parameter_value").Output()
		if err != nil {
			t.Fatalf("%s: tshark: %v", name, err)
		}
		theirs := map[string]bool{}
		var tags, codes []string
		params := map[string]string{}
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			f := strings.Split(line, "\t")
			for len(f) < 6 {
				f = append(f, "")
			}
			split := func(s string) []string {
				if s == "" {
					return nil
				}
				return strings.Split(s, "\x1f")
			}
			for _, q := range split(f[1]) {
				postgresql.SplitStatements([]byte(q), func(s []byte) { theirs[string(s)] = true })
			}
			tags = append(tags, split(f[2])...)
			codes = append(codes, split(f[3])...)
			names, values := split(f[4]), split(f[5])
			for i := range names {
				if i < len(values) {
					params[names[i]] = values[i]
				}
			}
		}
		recs, evs := readCapture(t, name)
		r := recs[0]
		ours := map[string]bool{}
		for _, c := range r.Commands {
			ours[c] = true
		}
		if !reflect.DeepEqual(keys(ours), keys(theirs)) {
			t.Errorf("%s: statements\n ours   %q\n tshark %q", name, keys(ours), keys(theirs))
		}
		var ok int
		var ourCodes []string
		for _, e := range evs[r.ID] {
			if e.Query != nil && e.Outcome == "success" {
				ok++
			}
			if e.Query != nil && e.Query.StatusCode != "" {
				ourCodes = append(ourCodes, e.Query.StatusCode)
			}
		}
		if f := pg(r); f.Error != nil {
			ourCodes = append(ourCodes, f.Error.Code)
		}
		if ok != len(tags) || strings.Join(ourCodes, ",") != strings.Join(codes, ",") {
			t.Errorf("%s: %d successes vs %d tags %q; codes %q vs %q", name, ok, len(tags), tags, ourCodes, codes)
		}
		f := pg(r)
		if params["user"] != r.UserName || params["database"] != f.Database || params["application_name"] != f.ApplicationName ||
			params["server_version"] != f.ServerVersion {
			t.Errorf("%s: tshark %v, ours %q %+v", name, params, r.UserName, f)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
