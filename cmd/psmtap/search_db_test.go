package main

import (
	"strings"
	"testing"
)

// TestSearchStatements: the query events of real PostgreSQL and MariaDB
// sessions (read --events --output es into the stand-in) are found by words
// of their statements (db.query.text, next to process.command_line), by
// --action query, and the table shows the statement with what it did.
// Statements and results: pcaps/README.md (postgresql-psql, mysql-cli).
func TestSearchStatements(t *testing.T) {
	_, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatal(r.stderr)
	}
	queries := 0
	for _, c := range []string{"pcaps/postgresql-psql.pcap", "pcaps/mysql-cli.pcap"} {
		_, evs := activityOf(t, run(t, "read", "--events", c).stdout)
		for _, e := range evs {
			if str(e, "event.action") == "query" {
				queries++
			}
		}
		if r := run(t, "read", "--events", "--output", "es", "--es-url", url, "--spool", t.TempDir(), c); r.code != 0 {
			t.Fatalf("read %s: exit %d %s", c, r.code, r.stderr)
		}
	}
	if queries < 15 {
		t.Fatalf("only %d query events in the two captures", queries)
	}
	for _, c := range []struct {
		args  []string
		count string
		want  []string
	}{
		// one word of each protocol's UPDATE without WHERE; case does not matter
		{[]string{"--command", "update accounts"}, "1 of 1 events", []string{"postgresql", "alice", "192.0.2.20:5432", "query", "success", "UPDATE accounts SET balance = 0 -> 5 affected"}},
		{[]string{"--command", "ITEMS update"}, "1 of 1 events", []string{"mysql", "192.0.2.20:3306", "UPDATE items SET price = price + 1 -> 3 affected"}},
		{[]string{"--command", "payroll"}, "1 of 1 events", []string{"failure", `SELECT * FROM payroll -> 42P01 relation "payroll" does not exist`}},
		{[]string{"--command", "owner", "--action", "query"}, "2 of 2 events", []string{"CREATE TABLE accounts", "SELECT id, owner, balance FROM accounts ORDER BY id -> 4 rows"}},
		// every word in one statement, not spread over two
		{[]string{"--command", "accounts items"}, "0 of 0 events", nil},
		{[]string{"--action", "query", "--outcome", "failure"}, "2 of 2 events", []string{"-> 42P01", "-> 1146 Table 'shop.no_such_table' doesn't exist"}},
		{[]string{"--action", "query", "--protocol", "mysql", "--command", "delete"}, "1 of 1 events", []string{"DELETE FROM items WHERE id = 2 -> 1 affected"}},
		{[]string{"--action", "query", "--size", "100"}, itoa(queries) + " of " + itoa(queries) + " events", nil},
		// a statement is no command line: --action command finds none of them
		{[]string{"--action", "command", "--command", "update"}, "0 of 0 events", nil},
	} {
		r := run(t, append([]string{"search", "--events", "--es-url", url}, c.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, c.count) {
			t.Fatalf("search --events %v: exit %d, want %q\n%s%s", c.args, r.code, c.count, r.stdout, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("search --events %v: no %q in\n%s", c.args, w, r.stdout)
			}
		}
	}
	// Sessions list the statements in psm.commands: found without --events.
	if r := run(t, "search", "--es-url", url, "--command", "payroll"); !strings.Contains(r.stdout, "1 of 1 sessions") || !strings.Contains(r.stdout, "postgresql") {
		t.Fatalf("session search by a statement's word:\n%s%s", r.stdout, r.stderr)
	}
}
