# shellcheck shell=bash
# postgresql.sh - sourced by make-captures.sh: PostgreSQL 15 (Debian's postgresql-15) in psm-srv, run as
# the postgres user on a data directory of its own under $WORK (never the host's cluster or service),
# listening on 192.0.2.20:5432; psql, pgbench and psycopg 3 in psm-cli.
# Uses make-captures.sh's variables and helpers (WORK, SCRIPTS, SRV4, in_srv, in_cli, start_server, ...).
#
# Roles (TEST-ONLY passwords): alice / Wonderland1 (SCRAM-SHA-256), bob / Builder22 (stored as MD5, so the
# server asks for MD5), carol (no password: a trust line). Databases: shop and bench, owned by alice.

PGBIN=/usr/lib/postgresql/15/bin
PGD=$WORK/pg
# the clients never try GSSAPI, and TLS only where the capture asks for it
PGENV=(env PGGSSENCMODE=disable PGSSLMODE=disable PGCONNECT_TIMEOUT=10 HOME=/tmp LANG=C)

# pg_start: a fresh cluster (initdb), configured and started; the roles and databases made over the
# server's Unix socket before any capture starts.
pg_start() {
    rm -rf "$PGD"; mkdir -p "$PGD/sock"
    chown -R postgres:postgres "$PGD"
    runuser -u postgres -- "$PGBIN/initdb" -D "$PGD/data" -U postgres --encoding=UTF8 --locale=C \
        --auth-local=trust --auth-host=reject >"$WORK/pg-initdb.log" 2>&1 || die "initdb failed"
    # a self-signed certificate for the TLS capture (CN=psm-srv)
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=psm-srv \
        -keyout "$PGD/data/server.key" -out "$PGD/data/server.crt" 2>/dev/null
    chown postgres:postgres "$PGD/data/server.key" "$PGD/data/server.crt"
    chmod 600 "$PGD/data/server.key"
    cat >> "$PGD/data/postgresql.conf" <<EOF
listen_addresses = '$SRV4'
port = 5432
unix_socket_directories = '$PGD/sock'
ssl = on
password_encryption = 'scram-sha-256'
log_connections = on
log_disconnections = on
log_statement = 'all'
logging_collector = off
EOF
    cat > "$PGD/data/pg_hba.conf" <<EOF
local all all trust
host all carol 192.0.2.0/24 trust
host all bob 192.0.2.0/24 md5
host all all 192.0.2.0/24 scram-sha-256
EOF
    start_server postgresql in_srv runuser -u postgres -- "$PGBIN/postgres" -D "$PGD/data"
    wait_port $SRV4 5432
    local _
    for _ in $(seq 1 50); do [ -S "$PGD/sock/.s.PGSQL.5432" ] && break; sleep 0.2; done
    pg_admin <<'EOF' >/dev/null || die "could not make the roles"
CREATE ROLE alice LOGIN PASSWORD 'Wonderland1';
SET password_encryption = 'md5';
CREATE ROLE bob LOGIN PASSWORD 'Builder22';
RESET password_encryption;
CREATE ROLE carol LOGIN;
CREATE DATABASE shop OWNER alice;
CREATE DATABASE bench OWNER alice;
EOF
}
# pg_admin: psql as postgres over the Unix socket (not on the veth, not captured)
pg_admin() { runuser -u postgres -- "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGD/sock" -d "${1:-postgres}"; }
# pg_log_has COUNT PATTERN: the server log has COUNT lines matching PATTERN
pg_log_has() {
    local got
    got=$(grep -c -- "$2" "$WORK/postgresql.log" || true)
    [ "$got" = "$1" ] || die "$CAP_NAME: want $1 log lines '$2' from postgres, got $got"
}
# pg_done: stop the capture and the server, keep the server's log
pg_done() {
    stop_capture
    stop_servers
    cp "$WORK/postgresql.log" "$WORK/$CAP_NAME.postgresql.log"
}
# psql_cli USER PASSWORD ARGS...: psql (15) in the client namespace
psql_cli() {
    local u=$1 p=$2; shift 2
    client in_cli "${PGENV[@]}" PGPASSWORD="$p" "$PGBIN/psql" -X -h $SRV4 -p 5432 -U "$u" "$@"
}

pg_capture_psql() {
    pg_start
    start_capture postgresql-psql
    psql_cli alice Wonderland1 -d shop -v ON_ERROR_STOP=0 -f "$SCRIPTS/postgresql-psql.sql" \
        >"$WORK/postgresql-psql.out" 2>&1
    pg_done
    pg_log_has 1 'connection authenticated: identity="alice" method=scram-sha-256'
    pg_log_has 1 'ERROR:  relation "payroll" does not exist'
    pg_log_has 1 'statement: DROP TABLE accounts;'
    grep -q '^UPDATE 5$' "$WORK/postgresql-psql.out" || die "postgresql-psql: the UPDATE did not touch 5 rows"
}

pg_capture_wrong_password() {
    local rc=0
    pg_start
    start_capture postgresql-wrong-password
    psql_cli alice Wonderland3 -d shop -c 'SELECT 1' >"$WORK/postgresql-wrong-password.out" 2>&1 || rc=$?
    pg_done
    [ $rc != 0 ] || die "postgresql-wrong-password: the wrong password was accepted"
    pg_log_has 1 'FATAL:  password authentication failed for user "alice"'
}

pg_capture_unknown_db() {
    local rc=0
    pg_start
    start_capture postgresql-unknown-db
    psql_cli alice Wonderland1 -d nosuchdb -c 'SELECT 1' >"$WORK/postgresql-unknown-db.out" 2>&1 || rc=$?
    pg_done
    [ $rc != 0 ] || die "postgresql-unknown-db: the connection to nosuchdb worked"
    pg_log_has 1 'FATAL:  database "nosuchdb" does not exist'
}

pg_capture_md5() {
    pg_start
    start_capture postgresql-md5
    psql_cli bob Builder22 -d shop -c 'SELECT current_user, current_database()' >"$WORK/postgresql-md5.out" 2>&1
    pg_done
    pg_log_has 1 'connection authenticated: identity="bob" method=md5'
}

pg_capture_trust() {
    pg_start
    start_capture postgresql-trust
    psql_cli carol '' -d shop -c 'SELECT current_user' >"$WORK/postgresql-trust.out" 2>&1
    pg_done
    pg_log_has 1 'connection authorized: user=carol database=shop application_name=psql'
}

pg_capture_psycopg() {
    pg_start
    start_capture postgresql-psycopg
    client in_cli "${PGENV[@]}" $PY "$SCRIPTS/postgresql-psycopg.py" $SRV4 shop alice Wonderland1 \
        >"$WORK/postgresql-psycopg.out" 2>&1
    pg_done
    grep -q '^rows 3$' "$WORK/postgresql-psycopg.out" || die "postgresql-psycopg: the script did not read 3 rows"
    pg_log_has 1 'duplicate key value violates unique constraint "orders_pkey"'
}

pg_capture_copy() {
    local f=$WORK/postgresql-copy.sql i
    {
        echo 'CREATE TABLE items (n int PRIMARY KEY, label text);'
        echo 'COPY items (n, label) FROM STDIN;'
        for i in $(seq 1 300); do printf '%d\titem number %d\n' "$i" "$i"; done
        echo '\.'
        echo 'COPY (SELECT n, label FROM items WHERE n <= 250 ORDER BY n) TO STDOUT;'
        echo 'DROP TABLE items;'
    } > "$f"
    pg_start
    start_capture postgresql-copy
    psql_cli alice Wonderland1 -d shop -v ON_ERROR_STOP=1 -f "$f" >"$WORK/postgresql-copy.out" 2>&1
    pg_done
    grep -q '^COPY 300$' "$WORK/postgresql-copy.out" || die "postgresql-copy: COPY FROM did not load 300 rows"
    [ "$(grep -c $'^[0-9]*\titem number' "$WORK/postgresql-copy.out")" = 250 ] || die "postgresql-copy: COPY TO did not give 250 rows"
}

pg_capture_tls() {
    pg_start
    start_capture postgresql-tls
    # host=psm-srv: libpq sends the name as SNI (and checks nothing with sslmode=require); hostaddr: IPv4 only
    client in_cli "${PGENV[@]}" PGSSLMODE=require PGPASSWORD=Wonderland1 "$PGBIN/psql" -X \
        "host=psm-srv hostaddr=$SRV4 port=5432 dbname=shop user=alice" -c 'SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()' \
        >"$WORK/postgresql-tls.out" 2>&1
    pg_done
    grep -q ' t   | TLSv1.3' "$WORK/postgresql-tls.out" || die "postgresql-tls: the session was not in TLS 1.3"
}

pg_capture_pgbench() {
    pg_start
    # the tables and their 100000 rows are made before the capture starts
    client in_cli "${PGENV[@]}" PGPASSWORD=Wonderland1 "$PGBIN/pgbench" -h $SRV4 -U alice -i -s 1 -q bench \
        >"$WORK/postgresql-pgbench-init.out" 2>&1
    start_capture postgresql-pgbench
    # 20 TPC-B-like transactions, one client, prepared statements (Parse once, Bind/Execute 20 times)
    client in_cli "${PGENV[@]}" PGPASSWORD=Wonderland1 "$PGBIN/pgbench" -h $SRV4 -U alice -c 1 -t 20 -M prepared bench \
        >"$WORK/postgresql-pgbench.out" 2>&1
    pg_done
    grep -q 'number of transactions actually processed: 20/20' "$WORK/postgresql-pgbench.out" || die "postgresql-pgbench: not 20 transactions"
}
