# mysql.sh - the mysql-* captures of make-captures.sh (sourced by it): MariaDB 10.11 from Debian's
# packages, its own datadir under $WORK (never the host's service), listening on 192.0.2.20:3306 in the
# server namespace; clients in the client namespace: the mariadb CLI, and Perl DBD::MariaDB with
# server-side prepared statements. Accounts (TEST-ONLY passwords): alice / Wonderland1
# (mysql_native_password), bob / Builder22 (ed25519: the server asks for it with an auth switch).

MYSQL_DIR=$WORK/mysql-template   # a datadir made once per run with the accounts and the database
# the 10.11 client turns TLS on by itself when the server offers it: every capture but mysql-tls says --skip-ssl
MYSQL_CLI=(mariadb --no-defaults -h "$SRV4" -P 3306 --connect-timeout=5 --skip-ssl)
MYSQL_TLS_CLI=(mariadb --no-defaults -h "$SRV4" -P 3306 --connect-timeout=5 --ssl)

mysql_prepare() {   # the template datadir and the TLS certificate, once per run
    [ -n "${MYSQL_READY:-}" ] && return 0
    rm -rf "$MYSQL_DIR" "$WORK/mysql-data" "$WORK/mysql-tls"
    mkdir -p "$WORK/mysql-tls"
    # a self-signed server certificate for the TLS capture (2048-bit RSA, 10 years)
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=psm-srv" \
        -addext "subjectAltName=DNS:psm-srv,IP:$SRV4" \
        -keyout "$WORK/mysql-tls/server.key" -out "$WORK/mysql-tls/server.crt" >/dev/null 2>&1
    sed "s|@WORK@|$WORK|g" "$SCRIPTS/mysql.cnf" > "$WORK/mysql.cnf"
    mariadb-install-db --defaults-file="$WORK/mysql.cnf" --user=root --skip-test-db \
        --auth-root-authentication-method=socket >"$WORK/mysql-install.log" 2>&1 || die "mariadb-install-db failed"
    mysql_start
    ip netns exec "$SRV" mariadb --no-defaults -S "$WORK/mysql.sock" -u root < "$SCRIPTS/mysql-setup.sql" ||
        die "mysql setup failed"
    mysql_stop
    mv "$WORK/mysql-data" "$MYSQL_DIR"
    MYSQL_READY=1
}
mysql_start() {
    start_server mariadbd in_srv /usr/sbin/mariadbd --defaults-file="$WORK/mysql.cnf" --user=root
    wait_port $SRV4 3306
    local _
    for _ in $(seq 1 50); do [ -S "$WORK/mysql.sock" ] && return 0; sleep 0.2; done
    die "mariadbd did not make its socket"
}
mysql_stop() {
    stop_servers
    local _
    for _ in $(seq 1 50); do [ -e "$WORK/mysql.pid" ] || break; sleep 0.2; done
}
# mysql_fresh: a server started from the template, so every capture starts from the same data
# (and the same connection ids)
mysql_fresh() {
    mysql_prepare
    rm -rf "$WORK/mysql-data"
    cp -a "$MYSQL_DIR" "$WORK/mysql-data"
    mysql_start
}
mysql_sql() {   # mysql_sql SQL: run SQL as root over the socket (checks after a capture)
    ip netns exec "$SRV" mariadb --no-defaults -S "$WORK/mysql.sock" -u root -N -B -e "$1"
}

mysql_capture_cli() {
    mysql_fresh
    start_capture mysql-cli
    client in_cli "${MYSQL_CLI[@]}" -u alice -pWonderland1 --force --table shop \
        < "$SCRIPTS/mysql-cli.sql" > "$WORK/mysql-cli.out" 2>&1 || true
    stop_capture
    [ "$(mysql_sql "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='shop' AND table_name='items'")" = 0 ] ||
        die "mysql-cli: table items was not dropped"
    grep -q "Table 'shop.no_such_table' doesn't exist" "$WORK/mysql-cli.out" || die "mysql-cli: no error for no_such_table"
    grep -q 'plum' "$WORK/mysql-cli.out" || die "mysql-cli: the SELECT printed nothing"
    mysql_stop
}

mysql_capture_wrong_password() {
    mysql_fresh
    start_capture mysql-wrong-password
    client in_cli "${MYSQL_CLI[@]}" -u alice -pWrongPassword shop -e 'SELECT 1' > "$WORK/mysql-wrong.out" 2>&1 || true
    stop_capture
    grep -q "Access denied for user 'alice'" "$WORK/mysql-wrong.out" || die "mysql-wrong-password: login was not refused"
    mysql_stop
}

mysql_capture_unknown_db() {
    mysql_fresh
    start_capture mysql-unknown-db
    client in_cli "${MYSQL_CLI[@]}" -u alice -pWonderland1 nosuchdb -e 'SELECT 1' > "$WORK/mysql-unknown-db.out" 2>&1 || true
    stop_capture
    grep -q "Unknown database 'nosuchdb'" "$WORK/mysql-unknown-db.out" || die "mysql-unknown-db: no Unknown database error"
    mysql_stop
}

mysql_capture_prepared() {
    mysql_fresh
    start_capture mysql-prepared
    client in_cli perl "$SCRIPTS/mysql-prepared.pl" "$SRV4" > "$WORK/mysql-prepared.out" 2>&1
    stop_capture
    grep -q 'selected 3 rows' "$WORK/mysql-prepared.out" || die "mysql-prepared: SELECT did not return 3 rows"
    [ "$(mysql_sql "SELECT customer FROM shop.orders WHERE id=10")" = mallory ] || die "mysql-prepared: no row 10"
    mysql_stop
}

mysql_capture_tls() {
    mysql_fresh
    start_capture mysql-tls
    client in_cli "${MYSQL_TLS_CLI[@]}" -u alice -pWonderland1 shop -e 'SELECT customer FROM orders WHERE id = 1' \
        > "$WORK/mysql-tls.out" 2>&1
    stop_capture
    grep -q ada "$WORK/mysql-tls.out" || die "mysql-tls: no result"
    mysql_stop
}

mysql_capture_compress() {
    mysql_fresh
    start_capture mysql-compress
    client in_cli "${MYSQL_CLI[@]}" --compress -u alice -pWonderland1 --table shop \
        < "$SCRIPTS/mysql-short.sql" > "$WORK/mysql-compress.out" 2>&1
    stop_capture
    grep -q grace "$WORK/mysql-compress.out" || die "mysql-compress: no result"
    mysql_stop
}

mysql_capture_multi() {
    mysql_fresh
    start_capture mysql-multi-statement
    client in_cli "${MYSQL_CLI[@]}" -u alice -pWonderland1 --table shop \
        < "$SCRIPTS/mysql-multi.sql" > "$WORK/mysql-multi.out" 2>&1
    stop_capture
    grep -q ada "$WORK/mysql-multi.out" || die "mysql-multi-statement: no result"
    [ "$(mysql_sql "SELECT total FROM shop.orders WHERE id=1")" = 25.00 ] || die "mysql-multi-statement: UPDATE did not run"
    mysql_stop
}

mysql_capture_ed25519() {
    mysql_fresh
    start_capture mysql-ed25519
    client in_cli "${MYSQL_CLI[@]}" -u bob -pBuilder22 shop -e 'SELECT COUNT(*) FROM orders' > "$WORK/mysql-ed25519.out" 2>&1
    stop_capture
    grep -q '^3$' "$WORK/mysql-ed25519.out" || grep -q 3 "$WORK/mysql-ed25519.out" || die "mysql-ed25519: no result"
    mysql_stop
}
