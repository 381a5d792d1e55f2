package mysql_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
)

// readCapture runs a capture of pcaps/ through the engine with the mysql
// dissector alone: the records and every event.
func readCapture(t *testing.T, name string) ([]*record.Record, []*record.Event) {
	t.Helper()
	src, err := capture.OpenFile("../../pcaps/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var ds []dissectors.Dissector
	for _, d := range dissectors.All() {
		if d.Name() == "mysql" {
			ds = append(ds, d)
		}
	}
	var recs []*record.Record
	var evs []*record.Event
	e := engine.New(engine.Config{Dissectors: ds, Emit: func(r *record.Record) { recs = append(recs, r) },
		EmitEvent: func(ev *record.Event) { evs = append(evs, ev) }})
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

// query is what a query event says, in short.
type query struct {
	text, op, code string
	rows, affected int64
	params         string
}

func queries(evs []*record.Event) []query {
	var out []query
	for _, ev := range evs {
		if q := ev.Query; q != nil {
			out = append(out, query{q.Text, q.Operation, q.StatusCode, q.ReturnedRows, q.AffectedRows, strings.Join(q.Parameters, "|")})
		}
	}
	return out
}

// TestCaptureEvents: the query events of the captures against their ground
// truth (pcaps/README.md).
func TestCaptureEvents(t *testing.T) {
	cases := map[string][]query{
		"mysql-cli.pcap": {
			{"CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), price INT)", "CREATE", "", -1, 0, ""},
			{"INSERT INTO items VALUES (1, 'apple', 3), (2, 'pear', 4), (3, 'plum', 5)", "INSERT", "", -1, 3, ""},
			{"UPDATE items SET price = price + 1", "UPDATE", "", -1, 3, ""},
			{"DELETE FROM items WHERE id = 2", "DELETE", "", -1, 1, ""},
			{"SELECT id, name, price FROM items ORDER BY id", "SELECT", "", 2, -1, ""},
			{"SELECT * FROM no_such_table", "SELECT", "1146", -1, -1, ""},
			{"GRANT SELECT ON shop.items TO 'bob'@'%'", "GRANT", "", -1, 0, ""},
			{"DROP TABLE items", "DROP", "", -1, 0, ""},
		},
		"mysql-prepared.pcap": {
			{"SET NAMES 'utf8mb4'", "SET", "", -1, 0, ""},
			{"SET character_set_server = 'utf8mb4'", "SET", "", -1, 0, ""},
			{"SET collation_connection = 'utf8mb4_unicode_ci'", "SET", "", -1, 0, ""},
			{"SET collation_server = 'utf8mb4_unicode_ci'", "SET", "", -1, 0, ""},
			{"INSERT INTO orders (id, customer, total, placed) VALUES (?, ?, ?, ?)", "INSERT", "", -1, 1, "10|mallory|42.5|2024-05-06"},
			{"INSERT INTO orders (id, customer, total, placed) VALUES (?, ?, ?, ?)", "INSERT", "", -1, 1, "11|NULL|7|2024-05-07"},
			{"SELECT id, customer FROM orders WHERE total > ? ORDER BY id", "SELECT", "", 3, -1, "10"},
			{"DELETE FROM orders WHERE id = ?", "DELETE", "", -1, 1, "11"},
		},
		"mysql-multi-statement.pcap": {
			{"SELECT COUNT(*) FROM orders", "SELECT", "", 1, -1, ""},
			{"UPDATE orders SET total = total * 2 WHERE id = 1", "UPDATE", "", -1, 1, ""},
			{"SELECT customer FROM orders WHERE id < 3", "SELECT", "", 2, -1, ""},
		},
		"mysql-compress.pcap": {
			{"SELECT customer, total FROM orders WHERE id = 2", "SELECT", "", 1, -1, ""},
			{"SHOW TABLES", "SHOW", "", 1, -1, ""},
		},
		"mysql-ed25519.pcap":        {{"SELECT COUNT(*) FROM orders", "SELECT", "", 1, -1, ""}},
		"mysql-wrong-password.pcap": nil,
		"mysql-unknown-db.pcap":     nil,
		"mysql-tls.pcap":            nil,
	}
	logins := map[string]string{"mysql-cli.pcap": "alice success mysql_native_password", "mysql-prepared.pcap": "alice success mysql_native_password",
		"mysql-wrong-password.pcap": "alice failure mysql_native_password", "mysql-unknown-db.pcap": "alice failure mysql_native_password",
		"mysql-ed25519.pcap": "bob success client_ed25519", "mysql-compress.pcap": "alice success mysql_native_password",
		"mysql-multi-statement.pcap": "alice success mysql_native_password"}
	for name, want := range cases {
		recs, evs := readCapture(t, name)
		if len(recs) != 1 || recs[0].Protocol != "mysql" {
			t.Fatalf("%s: %d records", name, len(recs))
		}
		if got := queries(evs); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
		var login string
		for _, ev := range evs {
			switch ev.Action {
			case record.ActionLogin:
				login = ev.UserName + " " + ev.Outcome + " " + ev.Login.Method
			case record.ActionQuery:
				if ev.Query.System != "mariadb" || ev.Query.Namespace != "shop" || ev.Query.Duration <= 0 {
					t.Errorf("%s: %+v", name, ev.Query)
				}
			}
			if ev.Time.Before(recs[0].Start) || ev.Time.After(recs[0].End) {
				t.Errorf("%s: event outside its session", name)
			}
		}
		if login != logins[name] {
			t.Errorf("%s: login %q, want %q", name, login, logins[name])
		}
	}
}

// TestTshark compares, field by field, what tshark's mysql dissector reads
// from the cleartext captures with psmtap's events: the statements, affected
// rows, error numbers, user, server version and connection id. Skips
// without tshark.
func TestTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	for _, name := range []string{"mysql-cli.pcap", "mysql-multi-statement.pcap", "mysql-ed25519.pcap", "mysql-wrong-password.pcap"} {
		out, err := exec.Command("tshark", "-r", "../../pcaps/"+name, "-Y", "mysql", "-T", "fields", "-E", "separator=/t",
			"-e", "mysql.query", "-e", "mysql.affected_rows", "-e", "mysql.error_code", "-e", "mysql.user",
			"-e", "mysql.version", "-e", "mysql.thread_id").Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		var texts, affected, codes []string
		var user, version, thread string
		for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			f := strings.Split(line, "\t")
			for len(f) < 6 {
				f = append(f, "")
			}
			if f[0] != "" {
				texts = append(texts, f[0])
			}
			if f[1] != "" && len(texts) > 0 { // an OK after the login's
				affected = append(affected, f[1])
			}
			if f[2] != "" {
				codes = append(codes, f[2])
			}
			user, version, thread = first(user, f[3]), first(version, f[4]), first(thread, f[5])
		}
		recs, evs := readCapture(t, name)
		var gotTexts, gotAffected, gotCodes []string
		for _, q := range queries(evs) {
			gotTexts = append(gotTexts, q.text)
			if q.affected >= 0 {
				gotAffected = append(gotAffected, strconv.FormatInt(q.affected, 10))
			}
			if q.code != "" {
				gotCodes = append(gotCodes, q.code)
			}
		}
		for _, ev := range evs {
			if ev.Action == record.ActionLogin && ev.Outcome == record.OutcomeFailure {
				gotCodes = append(gotCodes, "1045") // the login's ERR: tshark lists it among the error codes
			}
		}
		if name == "mysql-multi-statement.pcap" {
			// tshark shows the query as sent, one text; psmtap splits it into its statements.
			gotTexts = []string{strings.Join(gotTexts, "; ")}
		}
		f := recs[0].Objects["mysql"]
		b, _ := jsonOf(f)
		if !reflect.DeepEqual(texts, gotTexts) || !reflect.DeepEqual(affected, gotAffected) || !reflect.DeepEqual(codes, gotCodes) ||
			user != recs[0].UserName || !strings.Contains(b, `"version":"`+version+`"`) || !strings.Contains(b, `"connection_id":`+thread) {
			t.Errorf("%s: tshark says\n texts %q affected %q codes %q user %q version %q thread %s\npsmtap\n texts %q affected %q codes %q user %q %s",
				name, texts, affected, codes, user, version, thread, gotTexts, gotAffected, gotCodes, recs[0].UserName, b)
		}
	}
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func jsonOf(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
