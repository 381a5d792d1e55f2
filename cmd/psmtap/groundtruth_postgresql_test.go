package main

import "testing"

// TestGroundTruthPostgreSQL: the PostgreSQL captures against pcaps/README.md
// (written from the script and the server's log, not from psmtap's output).
func TestGroundTruthPostgreSQL(t *testing.T) {
	truth := map[string]map[string]string{
		"postgresql-psql.pcap": {"user.name": "alice", "psm.login.success": "true", "psm.login.attempts": "1",
			"postgresql.auth_method": "scram-sha-256", "postgresql.database": "shop", "postgresql.errors": "1",
			"psm.commands": list("CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(10,2))",
				"INSERT INTO accounts VALUES (1, 'alice', 100.00), (2, 'bob', 250.50), (3, 'carol', 75.25), (4, 'dave', 0), (5, 'erin', 1200)",
				"UPDATE accounts SET balance = 0", "DELETE FROM accounts WHERE id = 4", "SELECT id, owner, balance FROM accounts ORDER BY id",
				"SELECT count(*) FROM accounts", "SELECT current_user", "SELECT * FROM payroll", "GRANT SELECT ON accounts TO bob",
				"DROP TABLE accounts")},
		"postgresql-wrong-password.pcap": {"user.name": "alice", "psm.login.success": "false", "postgresql.error.code": "28P01"},
		"postgresql-unknown-db.pcap":     {"user.name": "alice", "psm.login.success": "false", "postgresql.error.code": "3D000", "postgresql.database": "nosuchdb"},
		"postgresql-md5.pcap":            {"user.name": "bob", "psm.login.success": "true", "postgresql.auth_method": "md5"},
		"postgresql-trust.pcap":          {"user.name": "carol", "psm.login.success": "true", "postgresql.auth_method": "trust"},
		"postgresql-psycopg.pcap":        {"user.name": "alice", "postgresql.application_name": "psm-psycopg", "postgresql.statements": "10", "postgresql.errors": "1"},
		"postgresql-copy.pcap":           {"postgresql.copy.in_rows": "300", "postgresql.copy.out_rows": "250"},
		"postgresql-tls.pcap":            {"postgresql.ssl_request": "accepted", "tls.client.server_name": "psm-srv", "tls.version": "1.3"},
	}
	for file, fields := range truth {
		t.Run(file, func(t *testing.T) {
			recs := records(t, run(t, "read", "pcaps/"+file).stdout)
			if len(recs) != 1 {
				t.Fatalf("%d sessions, want 1", len(recs))
			}
			r := recs[0]
			if str(r, "network.protocol") != "postgresql" || hostPort(str(r, "destination.ip"), str(r, "destination.port")) != "192.0.2.20:5432" {
				t.Errorf("%s to %s", str(r, "network.protocol"), str(r, "destination.ip"))
			}
			for k, v := range fields {
				if got := str(r, k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}
