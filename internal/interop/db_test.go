package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// PostgreSQL and MySQL content against the peers, field by field where they
// overlap with what psmtap reports (statements, users, databases, results,
// error codes):
//
//   - Zeek's postgresql.cut baselines (user, database, application_name,
//     SSLRequest answer, login outcome with the error's SQLSTATE and message,
//     simple queries with success and rows, Terminate);
//   - Zeek's mysql.log baselines (login user, outcome and the server's
//     message, COM_QUERY text, success and rows, COM_INIT_DB, COM_QUIT);
//   - suricata-verify's pgsql checks (startup parameters, SSLRequest answer,
//     server version and backend pid, each simple query with its
//     CommandComplete rows or its error code and message, the cancel request,
//     Terminate, and the md5 password that psmtap must not print);
//   - CredSLayer's PostgreSQL and MySQL samples: the user and database, and
//     the password hashes it extracts nowhere in psmtap's output.
//
// Deliberate differences, each asserted where it shows:
//   - A Query message is split into its statements, each without its
//     terminating semicolon (dissectors/postgresql/sql.go), so that rules and
//     dashboards see one statement per event: Suricata logs "BEGIN;", psmtap
//     "BEGIN". Zeek logs the message as sent too; its baselines have none.
//   - Zeek logs COM_INIT_DB as cmd init_db, arg "test"; psmtap writes the
//     statement the client asked for, "USE test", and db.namespace is "test"
//     from then on.
//   - Zeek logs COM_FIELD_LIST (cmd field_list): the column listing the mysql
//     client asks for to complete names as one types, not a statement anyone
//     ran. psmtap follows it (the reply is parsed to stay in step) but writes
//     no query event for it.
//   - Zeek's mysql.log rows column is the OK packet's affected rows only (0 for
//     a result set); psmtap has db.response.returned_rows for a result set and
//     psm.query.affected_rows for an OK: compared where the OK says.
//   - Suricata logs the cancel request's and BackendKeyData's secret key;
//     psmtap keeps the backend pid only: the key lets anyone on the path cancel
//     that backend's queries, so it is not written down.
//   - Passwords and password hashes (Suricata's pgsql.request.password,
//     CredSLayer's md5 and mysql_native_password hashes) are never printed.
//
// A COMMIT that the server answered with ROLLBACK (the transaction had
// failed) is a COMMIT event with outcome failure and a reason saying so.

// dbOutput runs `psmtap read --events` and splits records from events.
func dbOutput(t *testing.T, capture string) (recs, events []map[string]any, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, psmtapBin, "read", "--observer", "interop", "--events", filepath.Join(pcapRoot, capture))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", capture, err, e.String())
	}
	for _, l := range bytes.Split(bytes.TrimSpace(o.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s: %v", capture, err)
		}
		if get(m, "event.dataset") == "psmtap.activity" {
			events = append(events, m)
		} else {
			recs = append(recs, m)
		}
	}
	return recs, events, o.String()
}

// byClientPort: the documents of the flow whose client port is port.
func byClientPort(docs []map[string]any, port uint16) []map[string]any {
	var out []map[string]any
	for _, d := range docs {
		if p, _ := get(d, "source.port").(float64); uint16(p) == port {
			out = append(out, d)
		}
	}
	return out
}

func one(t *testing.T, what string, docs []map[string]any) map[string]any {
	t.Helper()
	if len(docs) != 1 {
		t.Errorf("%s: %d documents, want 1", what, len(docs))
		return map[string]any{}
	}
	return docs[0]
}

// queries: the query events of a flow, in order.
func queries(evs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		if get(e, "event.action") == "query" {
			out = append(out, e)
		}
	}
	return out
}

func login(evs []map[string]any) map[string]any {
	for _, e := range evs {
		if get(e, "event.action") == "login" {
			return e
		}
	}
	return map[string]any{}
}

func num(v any) int64 {
	f, ok := v.(float64)
	if !ok {
		return -1
	}
	return int64(f)
}

// zeekKV reads Zeek's backend_arg list "Severity=FATAL,Code=28P01,Message=...".
func zeekKV(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(part, "="); ok {
			out[k] = v
		}
	}
	return out
}

func TestZeekPostgreSQL(t *testing.T) {
	setup(t)
	cases := []struct{ capture, baseline string }{
		{"zeek/Traces/postgresql/psql-select-now.pcap", "zeek/Baseline/scripts.base.protocols.postgresql.psql-select-now/postgresql.cut"},
		{"zeek/Traces/postgresql/psql-login-fail.pcap", "zeek/Baseline/scripts.base.protocols.postgresql.psql-login-fail/postgresql.cut"},
		{"zeek/Traces/postgresql/psql-login-no-sslrequest.pcap", "zeek/Baseline/scripts.base.protocols.postgresql.psql-login-no-sslrequest/postgresql.cut"},
		{"zeek/Traces/postgresql/psql-aws-ssl-require.pcap", "zeek/Baseline/scripts.base.protocols.postgresql.psql-aws-ssl-require/postgresql.cut"},
	}
	compared := 0
	for _, c := range cases {
		src, err := os.ReadFile(filepath.Join(pcapRoot, c.baseline))
		if err != nil {
			t.Fatal(err)
		}
		log := parseZeekLog(c.baseline, string(src))
		recs, evs, _ := dbOutput(t, c.capture)
		nq := map[uint16]int{} // simple queries seen so far per flow
		for _, row := range log.Rows {
			port := parsePort(log.get(row, "id.orig_p"))
			where := fmt.Sprintf("%s :%d %s", c.capture, port, log.get(row, "frontend"))
			r := one(t, where, byClientPort(recs, port))
			fe := byClientPort(evs, port)
			if get(r, "network.protocol") != "postgresql" {
				t.Errorf("%s: protocol %v", where, get(r, "network.protocol"))
			}
			eq := func(field string, got any, want string) {
				t.Helper()
				compared++
				if fmt.Sprint(got) != want {
					t.Errorf("%s: %s %v, zeek %q", where, field, got, want)
				}
			}
			if u := log.get(row, "user"); u != "" {
				eq("user.name", get(r, "user.name"), u)
				eq("postgresql.database", get(r, "postgresql.database"), log.get(row, "database"))
				eq("postgresql.application_name", get(r, "postgresql.application_name"), log.get(row, "application_name"))
			}
			backend, args := log.get(row, "backend"), zeekKV(log.get(row, "backend_arg"))
			switch log.get(row, "frontend") {
			case "ssl_request":
				want := map[string]string{"S": "accepted", "N": "refused"}[log.get(row, "backend_arg")]
				eq("postgresql.ssl_request", get(r, "postgresql.ssl_request"), want)
			case "startup":
				switch log.get(row, "success") {
				case "T":
					eq("psm.login.success", get(r, "psm.login.success"), "true")
					eq("login event.outcome", get(login(fe), "event.outcome"), "success")
				case "F":
					eq("psm.login.success", get(r, "psm.login.success"), "false")
					eq("login event.outcome", get(login(fe), "event.outcome"), "failure")
				case "": // Zeek saw no outcome: the capture ends in the SASL exchange
					eq("psm.login.success", get(r, "psm.login.success"), "<nil>")
					eq("login event.outcome", get(login(fe), "event.outcome"), "unknown")
				}
				if strings.Contains(backend, "error") {
					eq("postgresql.error.code", get(r, "postgresql.error.code"), args["Code"])
					eq("postgresql.error.message", get(r, "postgresql.error.message"), args["Message"])
					eq("postgresql.error.severity", get(r, "postgresql.error.severity"), args["Severity"])
					eq("login event.reason", get(login(fe), "event.reason"), args["Message"])
				}
				if strings.Contains(backend, "auth_request") && strings.Contains(log.get(row, "backend_arg"), "SASL") {
					eq("postgresql.sasl_mechanisms", get(r, "postgresql.sasl_mechanisms"), "[SCRAM-SHA-256]")
				}
			case "simple_query":
				qs := queries(fe)
				i := nq[port]
				nq[port]++
				if i >= len(qs) {
					t.Errorf("%s: no query event %d for %q", where, i, log.get(row, "frontend_arg"))
					continue
				}
				q := qs[i]
				eq("db.query.text", get(q, "db.query.text"), log.get(row, "frontend_arg"))
				eq("db.namespace", get(q, "db.namespace"), log.get(row, "database"))
				eq("user.name", get(q, "user.name"), log.get(row, "user"))
				eq("event.outcome", get(q, "event.outcome"), map[string]string{"T": "success", "F": "failure"}[log.get(row, "success")])
				if rows := log.get(row, "rows"); rows != "" {
					eq("db.response.returned_rows", num(get(q, "db.response.returned_rows")), rows)
				}
			case "terminate":
				eq("postgresql.terminated", get(r, "postgresql.terminated"), "true")
			}
		}
		for port, n := range nq {
			if got := len(queries(byClientPort(evs, port))); got != n {
				t.Errorf("%s :%d: %d query events, zeek %d simple queries", c.capture, port, got, n)
			}
		}
	}
	if compared < 25 {
		t.Fatalf("only %d fields compared: did the readers break?", compared)
	}
}

func TestZeekMySQL(t *testing.T) {
	setup(t)
	cases := []struct{ capture, baseline string }{
		{"zeek/Traces/mysql/mysql.pcap", "zeek/Baseline/scripts.base.protocols.mysql.wireshark/mysql.log"},
		{"zeek/Traces/mysql/auth.pcap", "zeek/Baseline/scripts.base.protocols.mysql.auth/mysql.log"},
		{"zeek/Traces/mysql/mysql8-navicat-login-failed.pcap", "zeek/Baseline/scripts.base.protocols.mysql.caching_sha2_password-auth-switch-to-test-sha256_password/mysql.log"},
		// Zeek's log is empty: the client asks for TLS at once; psmtap names no user either
		{"zeek/Traces/mysql/encrypted.pcap", "zeek/Baseline/scripts.base.protocols.mysql.encrypted/mysql.log"},
	}
	compared := 0
	for _, c := range cases {
		src, err := os.ReadFile(filepath.Join(pcapRoot, c.baseline))
		if err != nil {
			t.Fatal(err)
		}
		log := parseZeekLog(c.baseline, string(src))
		recs, evs, _ := dbOutput(t, c.capture)
		if len(log.Rows) == 0 {
			for _, r := range recs {
				if get(r, "network.protocol") != "mysql" || get(r, "user.name") != nil || get(r, "mysql.tls") != true {
					t.Errorf("%s: %v user %v tls %v; zeek logs nothing (TLS from the start)", c.capture, get(r, "network.protocol"), get(r, "user.name"), get(r, "mysql.tls"))
				}
			}
			if len(recs) == 0 {
				t.Errorf("%s: no record", c.capture)
			}
			continue
		}
		next := map[uint16]int{} // the next query event to match per flow
		comQuery := map[uint16]int{}
		for _, row := range log.Rows {
			port := parsePort(log.get(row, "id.orig_p"))
			cmd, arg := log.get(row, "cmd"), log.get(row, "arg")
			where := fmt.Sprintf("%s :%d %s %q", c.capture, port, cmd, arg)
			r := one(t, where, byClientPort(recs, port))
			fe := byClientPort(evs, port)
			eq := func(field string, got any, want string) {
				t.Helper()
				compared++
				if fmt.Sprint(got) != want {
					t.Errorf("%s: %s %v, zeek %q", where, field, got, want)
				}
			}
			eq("network.protocol", get(r, "network.protocol"), "mysql")
			switch cmd {
			case "login":
				eq("user.name", get(r, "user.name"), arg)
				l := login(fe)
				eq("login event user.name", get(l, "user.name"), arg)
				if log.get(row, "success") == "T" {
					eq("psm.login.success", get(r, "psm.login.success"), "true")
					eq("login event.outcome", get(l, "event.outcome"), "success")
				} else {
					eq("psm.login.success", get(r, "psm.login.success"), "false")
					eq("login event.outcome", get(l, "event.outcome"), "failure")
					eq("mysql.login_error", get(r, "mysql.login_error"), log.get(row, "response"))
					eq("login event.reason", get(l, "event.reason"), log.get(row, "response"))
				}
			case "query", "init_db":
				if cmd == "query" {
					comQuery[port]++
				}
				qs := queries(fe)
				i := next[port]
				next[port]++
				if i >= len(qs) {
					t.Errorf("%s: no query event %d", where, i)
					continue
				}
				q := qs[i]
				text := arg
				if cmd == "init_db" {
					text = "USE " + arg // deliberate: the statement the client asked for
				}
				eq("db.query.text", get(q, "db.query.text"), text)
				eq("event.outcome", get(q, "event.outcome"), map[string]string{"T": "success", "F": "failure"}[log.get(row, "success")])
				if cmd == "init_db" && i+1 < len(qs) {
					eq("db.namespace after it", get(qs[i+1], "db.namespace"), arg)
				}
				// Zeek's rows is the OK's affected rows; a result set leaves it 0
				if a := num(get(q, "psm.query.affected_rows")); a >= 0 {
					eq("psm.query.affected_rows", a, log.get(row, "rows"))
				} else if log.get(row, "rows") != "0" {
					t.Errorf("%s: zeek rows %s, psmtap no affected rows", where, log.get(row, "rows"))
				}
			case "field_list":
				// deliberate: a client's column listing, not a statement (no event)
			case "quit":
				eq("mysql.quit", get(r, "mysql.quit"), "true")
			default:
				t.Errorf("%s: zeek command not compared", where)
			}
		}
		for port, n := range next {
			if got := len(queries(byClientPort(evs, port))); got != n {
				t.Errorf("%s :%d: %d query events, zeek %d queries and init_db", c.capture, port, got, n)
			}
			// mysql.statements counts COM_QUERY only (docs/fields.md)
			if got := num(get(one(t, c.capture, byClientPort(recs, port)), "mysql.statements")); got != int64(comQuery[port]) {
				t.Errorf("%s :%d: mysql.statements %d, zeek %d queries", c.capture, port, got, comQuery[port])
			}
		}
	}
	if compared < 60 {
		t.Fatalf("only %d fields compared: did the readers break?", compared)
	}
}

// completed reads a CommandComplete tag: "SELECT 8", "DELETE 1", "INSERT 0 1"
// (the oid, then the rows), "BEGIN".
var completed = regexp.MustCompile(`^([A-Z]+)(?: (\d+))?(?: (\d+))?$`)

// unfoldYAML joins a plain scalar that YAML folds over several lines (a long
// message in suricata-verify's test.yaml) back onto its key's line, which the
// small reader of yaml_test.go does not do.
func unfoldYAML(src string) string {
	var out []string
	for _, line := range strings.Split(src, "\n") {
		text := strings.TrimSpace(line)
		if n := len(out); n > 0 && text != "" && !strings.HasPrefix(text, "#") && !strings.HasPrefix(text, "-") &&
			!strings.Contains(text, ": ") && !strings.HasSuffix(text, ":") && strings.Contains(out[n-1], ": ") {
			out[n-1] += " " + text
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func TestSuricataPgsql(t *testing.T) {
	setup(t)
	tests := []string{"pgsql-simple-query-rollback", "pgsql-ssl-rejected-md5-auth-simple-query", "pgsql-upgrade-tls", "pgsql-cancel-request"}
	compared := 0
	for _, name := range tests {
		capture := "suricata-verify/pgsql/" + name + "/input.pcap"
		src, err := os.ReadFile(filepath.Join(pcapRoot, "suricata-verify/pgsql", name, "test.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		recs, evs, out := dbOutput(t, capture)
		next := map[uint16]int{}
		for _, f := range suricataFilters(unfoldYAML(string(src))) {
			m, _ := f["match"].(map[string]any)
			if m["event_type"] != "pgsql" {
				continue
			}
			s := func(k string) string {
				v, ok := m[k]
				if !ok {
					return ""
				}
				return strings.Trim(fmt.Sprint(v), "'\"")
			}
			port := parsePort(s("src_port"))
			where := fmt.Sprintf("%s :%d tx %s", capture, port, s("pgsql.tx_id"))
			r := one(t, where, byClientPort(recs, port))
			fe := byClientPort(evs, port)
			eq := func(field string, got any, want string) {
				t.Helper()
				compared++
				if fmt.Sprint(got) != want {
					t.Errorf("%s: %s %v, suricata %q", where, field, got, want)
				}
			}
			eq("network.protocol", get(r, "network.protocol"), "postgresql")
			if u := s("pgsql.request.startup_parameters.user"); u != "" {
				eq("user.name", get(r, "user.name"), u)
			}
			for k := range m {
				// optional_parameters[i].<name>: the startup parameters psmtap keeps
				if i := strings.Index(k, "optional_parameters["); i >= 0 {
					p := k[strings.LastIndexByte(k, '.')+1:]
					eq("postgresql."+p, get(r, "postgresql."+p), s(k))
				}
				if strings.HasPrefix(k, "pgsql.response.parameter_status[") && strings.HasSuffix(k, ".server_version") {
					eq("postgresql.server_version", get(r, "postgresql.server_version"), s(k))
				}
			}
			if v := s("pgsql.response.ssl_accepted"); v != "" {
				eq("postgresql.ssl_request", get(r, "postgresql.ssl_request"), map[string]string{"true": "accepted", "false": "refused"}[v])
			}
			if v := s("pgsql.response.process_id"); v != "" {
				eq("postgresql.backend_pid", num(get(r, "postgresql.backend_pid")), v)
			}
			if s("pgsql.request.message") == "cancel_request" {
				eq("postgresql.cancel_request.backend_pid", num(get(r, "postgresql.cancel_request.backend_pid")), s("pgsql.request.process_id"))
				if k := s("pgsql.request.secret_key"); strings.Contains(out, k) {
					t.Errorf("%s: the cancel key %s is in the output", where, k)
				}
			}
			if s("pgsql.request.message") == "termination_message" {
				eq("postgresql.terminated", get(r, "postgresql.terminated"), "true")
			}
			if s("pgsql.response.message") == "authentication_ok" {
				eq("psm.login.success", get(r, "psm.login.success"), "true")
				eq("login event.outcome", get(login(fe), "event.outcome"), "success")
			}
			if p := s("pgsql.request.password"); p != "" && strings.Contains(out, strings.TrimSpace(p)) {
				t.Errorf("%s: the md5 password response is in the output", where)
			}
			code := s("pgsql.response.code")
			q := s("pgsql.request.simple_query")
			if q == "" {
				if code != "" { // an error without a query: the login's
					eq("postgresql.error.code", get(r, "postgresql.error.code"), code)
					eq("postgresql.error.severity", get(r, "postgresql.error.severity"), s("pgsql.response.severity_localizable"))
					eq("login event.outcome", get(login(fe), "event.outcome"), "failure")
					eq("postgresql.error.message", get(r, "postgresql.error.message"), s("pgsql.response.message"))
					eq("login event.reason", get(login(fe), "event.reason"), s("pgsql.response.message"))
				}
				continue
			}
			qs := queries(fe)
			i := next[port]
			next[port]++
			if i >= len(qs) {
				t.Errorf("%s: no query event %d for %q", where, i, q)
				continue
			}
			ev := qs[i]
			// deliberate: one statement per event, without its semicolon
			eq("db.query.text", get(ev, "db.query.text"), strings.TrimSuffix(q, ";"))
			if code != "" {
				eq("db.response.status_code", get(ev, "db.response.status_code"), code)
				eq("event.outcome", get(ev, "event.outcome"), "failure")
				eq("psm.query.error", get(ev, "psm.query.error"), s("pgsql.response.message"))
				continue
			}
			tag := completed.FindStringSubmatch(s("pgsql.response.command_completed"))
			if tag == nil {
				t.Errorf("%s: command_completed %q not read", where, s("pgsql.response.command_completed"))
				continue
			}
			verb0 := strings.ToUpper(strings.Fields(strings.TrimSuffix(q, ";"))[0])
			if (verb0 == "COMMIT" || verb0 == "END") && tag[1] == "ROLLBACK" {
				eq("event.outcome", get(ev, "event.outcome"), "failure")
				if r, _ := get(ev, "event.reason").(string); !strings.Contains(r, "rolled it back") {
					t.Errorf("%s: COMMIT answered by ROLLBACK, reason %q", where, get(ev, "event.reason"))
				}
				compared++
				continue
			}
			eq("event.outcome", get(ev, "event.outcome"), "success")
			rows := tag[2] // the last number is the rows
			if tag[3] != "" {
				rows = tag[3]
			}
			verb := strings.Fields(strings.TrimSuffix(q, ";"))[0]
			if !strings.EqualFold(verb, tag[1]) {
				t.Errorf("%s: %s completed as %s", where, verb, tag[1])
				continue
			}
			switch tag[1] {
			case "SELECT":
				eq("db.response.returned_rows", num(get(ev, "db.response.returned_rows")), rows)
				if dr := s("pgsql.response.data_rows"); dr != "" {
					eq("db.response.returned_rows", num(get(ev, "db.response.returned_rows")), dr)
				}
			case "INSERT", "UPDATE", "DELETE":
				eq("psm.query.affected_rows", num(get(ev, "psm.query.affected_rows")), rows)
			default:
				eq("psm.query.affected_rows", num(get(ev, "psm.query.affected_rows")), "-1")
				eq("db.response.returned_rows", num(get(ev, "db.response.returned_rows")), "-1")
			}
		}
		for port, n := range next {
			if got := len(queries(byClientPort(evs, port))); got != n {
				t.Errorf("%s :%d: %d query events, suricata %d simple queries", capture, port, got, n)
			}
		}
	}
	if compared < 120 {
		t.Fatalf("only %d fields compared: did the readers break?", compared)
	}
}

func TestCredSLayerDatabases(t *testing.T) {
	setup(t)
	cases := []struct {
		capture, proto, user, db string
		secrets                  []string // what CredSLayer extracts and psmtap must not print
	}{
		{"credslayer/samples/pgsql.pcap", "postgresql", "oryx", "mailstore", []string{"ceffc01dcde7541829deef6b5e9c9142", "f8f8b884b4ef7cc9ee95e69868cdfa5e"}},
		{"credslayer/samples/pgsql-nopassword.pcap", "postgresql", "user", "dbdb", nil},
		{"credslayer/samples/mysql.pcap", "mysql", "tfoerste", "", []string{"eefd6d5562851bc5966a0b41236ae3f2315efcc4"}},
		{"credslayer/samples/mysql2.pcap", "mysql", "user10", "", []string{"55ee72f0c6694cbb3a104eb97f8ee32a6a91f8b1"}},
	}
	for _, c := range cases {
		recs, _, out := dbOutput(t, c.capture)
		if len(recs) == 0 {
			t.Errorf("%s: no record", c.capture)
		}
		for _, r := range recs {
			if get(r, "network.protocol") != c.proto || get(r, "user.name") != c.user || get(r, "psm.login.success") != true {
				t.Errorf("%s: %v user %v login %v", c.capture, get(r, "network.protocol"), get(r, "user.name"), get(r, "psm.login.success"))
			}
			if c.db != "" && get(r, "postgresql.database") != c.db {
				t.Errorf("%s: database %v, want %s", c.capture, get(r, "postgresql.database"), c.db)
			}
		}
		for _, s := range c.secrets {
			if strings.Contains(strings.ToLower(out), s) {
				t.Errorf("%s: the password hash %s is in the output", c.capture, s)
			}
		}
	}
	// two logins in pgsql.pcap, both md5
	recs, _, _ := dbOutput(t, "credslayer/samples/pgsql.pcap")
	if len(recs) != 2 {
		t.Errorf("pgsql.pcap: %d records, CredSLayer finds two md5 exchanges", len(recs))
	}
}
