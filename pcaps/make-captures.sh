#!/bin/bash
# make-captures.sh - remake psmtap's own packet captures of real servers and clients.
#
# usage: sudo pcaps/make-captures.sh [name...]
#        (no name: all captures; names are the pcap file names without .pcap)
#
# Everything runs inside two network namespaces made here (psm-srv, psm-cli) joined by one
# veth pair; traffic goes nowhere else. Addresses are documentation ranges:
#   client 192.0.2.10/24 2001:db8::10/64 (veth-cli), server 192.0.2.20/24 2001:db8::20/64 (veth-srv).
# tcpdump runs on veth-srv inside psm-srv and is started before and stopped after each session.
# Test accounts (TEST-ONLY passwords): alice / Wonderland1, bob / Builder22, admin / Gatekeeper7
# (an ordinary account named admin, for the rule on admin names over cleartext protocols; not root).
# See pcaps/README.md for the ground truth of every capture.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCRIPTS=$HERE/scripts
OUT=$HERE
# PSM_WORK / PSM_SRV_NS / PSM_CLI_NS: another work folder and other namespace names, so that two
# runs on one machine do not tear down each other's namespaces (a lock still serialises the runs).
WORK=${PSM_WORK:-/tmp/psm-captures}
SRV=${PSM_SRV_NS:-psm-srv}
CLI=${PSM_CLI_NS:-psm-cli}
SRV_IF=veth-srv
CLI_IF=veth-cli
SRV4=192.0.2.20
CLI4=192.0.2.10
SRV6=2001:db8::20
CLI6=2001:db8::10
PY=/usr/bin/python3
export LANG=C LC_ALL=C

ALL=(ssh-password-interactive telnet-login ftp-vsftpd rlogin rsh ssh-exec-port2222 telnet-port2323 http-on-port22 rdp-xrdp-tls ssh-exec-ipv6
     telnet-busybox ftp-active rdp-xrdp-rdpsec rdp-wrong-password rdp-rdesktop rdp-neg-failure)
# more SSH: failed logins, public key, file transfer, forwarding, compression, reverse tunnel, slow typing, other implementations
ALL+=(ssh-wrong-password ssh-wrong-then-right ssh-publickey ssh-scp-upload ssh-scp-download ssh-sftp ssh-port-forward
      ssh-compression ssh-reverse-shell ssh-interactive-long ssh-dropbear ssh-paramiko ssh-libssh)
# commands that rules look at: suspicious, disguised and ordinary command lines over Telnet and rlogin
ALL+=(telnet-suspicious telnet-bypass telnet-benign rlogin-suspicious)
# more for rules: an account named admin over Telnet (cron, logs), FTP of a sensitive file and a script, SSH with 3des-cbc
ALL+=(telnet-admin ftp-sensitive ssh-weak-cipher)
# PostgreSQL 15: logins (SCRAM, wrong password, unknown database, md5, trust), statements, prepared statements, COPY, TLS, pgbench
ALL+=(postgresql-psql postgresql-wrong-password postgresql-unknown-db postgresql-md5 postgresql-trust postgresql-psycopg
      postgresql-copy postgresql-tls postgresql-pgbench)
# MySQL/MariaDB: MariaDB 10.11 with the mariadb CLI and Perl DBD::MariaDB (pcaps/scripts/mysql.sh)
ALL+=(mysql-cli mysql-wrong-password mysql-unknown-db mysql-prepared mysql-tls mysql-compress mysql-multi-statement mysql-ed25519)
# detection of real traffic: typing without pauses, a banner grab, SSH and Telnet through SOCKS and HTTP CONNECT proxies
ALL+=(ssh-fast-typing ssh-banner-grab ssh-socks5 ssh-http-connect telnet-socks4 telnet-http-connect)
# VNC (RFB): TigerVNC's Xvnc with an xterm, TigerVNC's and TightVNC's viewers under Xvfb typed by xdotool (pcaps/scripts/vnc.sh)
ALL+=(vnc-vncauth vnc-wrong-password vnc-none vnc-vencrypt vnc-zrle vnc-hextile vnc-raw vnc-copyrect vnc-rfb33
      vnc-rre vnc-rfb37 vnc-tightpng vnc-tight-jpeg vnc-resize vnc-tight-16bpp vnc-keys)

log() { printf '[make-captures %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# ---------------------------------------------------------------- packages
PKGS=(iproute2 tcpdump expect sshpass openssh-server openssh-client
      inetutils-inetd inetutils-telnetd inetutils-telnet vsftpd tnftp
      rsh-server rsh-client curl python3 util-linux passwd login ethtool iputils-ping
      busybox-static)   # Debian's plain busybox has no telnetd applet; busybox-static has
RDP_PKGS=(xrdp xorgxrdp xserver-xorg-core freerdp2-x11 rdesktop xvfb xauth dbus-x11 xterm openssl)
SSH_PKGS=(openssh-sftp-server socat)                 # sftp/scp captures, reverse-shell listener
DROPBEAR_PKGS=(dropbear-bin)
PARAMIKO_PKGS=(python3-paramiko)
LIBSSH_PKGS=(libssh-dev libssh-doc gcc libc6-dev)    # libssh's sample client is built from libssh-doc's examples
SUDO_PKGS=(sudo)                                     # telnet-suspicious types `sudo -l`
CRON_PKGS=(cron)                                     # telnet-admin types crontab (the cron daemon is never started)
PG_PKGS=(postgresql-15 postgresql-client-15 python3-psycopg openssl)   # its server, psql, pgbench, psycopg 3
MYSQL_PKGS=(mariadb-server mariadb-client libdbd-mariadb-perl openssl)   # the server runs by hand, never as the host's service
PROXY_PKGS=(dante-server tinyproxy netcat-openbsd)   # SOCKS and HTTP CONNECT proxies, nc -X as ssh's ProxyCommand
# Xvnc and vncpasswd; the viewers, their Xvfb and xdotool; the xterm; xwd/xdpyinfo, xclip; convert (xwd to PNG)
VNC_PKGS=(tigervnc-standalone-server tigervnc-tools tigervnc-viewer xtightvncviewer xvfb xdotool xterm x11-apps x11-utils
          xclip x11-xserver-utils imagemagick x11vnc)   # x11vnc (libvncserver): TightPNG

install_packages() {
    local want=("${PKGS[@]}") missing=() p
    if printf '%s\n' "$@" | grep -q '^rdp-'; then want+=("${RDP_PKGS[@]}"); fi
    if printf '%s\n' "$@" | grep -q '^ssh-'; then want+=("${SSH_PKGS[@]}"); fi
    if printf '%s\n' "$@" | grep -qx ssh-dropbear; then want+=("${DROPBEAR_PKGS[@]}"); fi
    if printf '%s\n' "$@" | grep -qx ssh-paramiko; then want+=("${PARAMIKO_PKGS[@]}"); fi
    if printf '%s\n' "$@" | grep -qx ssh-libssh; then want+=("${LIBSSH_PKGS[@]}"); fi
    if printf '%s\n' "$@" | grep -qx telnet-suspicious; then want+=("${SUDO_PKGS[@]}"); fi
    if printf '%s\n' "$@" | grep -qx telnet-admin; then want+=("${CRON_PKGS[@]}"); fi
    if printf '%s\n' "$@" | grep -q '^postgresql-'; then want+=("${PG_PKGS[@]}"); fi
    if printf '%s\n' "$@" | grep -q '^mysql-'; then want+=("${MYSQL_PKGS[@]}"); fi
    if printf '%s\n' "$@" | grep -Eq -- '-(socks|http-connect)'; then want+=("${PROXY_PKGS[@]}"); fi
    if printf '%s\n' "$@" | grep -q '^vnc-'; then want+=("${VNC_PKGS[@]}"); fi
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing: ${missing[*]}"
        # never let the packages start their services on the host
        local prc=/usr/sbin/policy-rc.d made_prc=0
        if [ ! -e $prc ]; then printf '#!/bin/sh\nexit 101\n' > $prc; chmod +x $prc; made_prc=1; fi
        apt-get update -qq || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        if [ $made_prc = 1 ]; then rm -f $prc; fi
    fi
}

# ---------------------------------------------------------------- cleanup
SERVER_PGIDS=()
CAP_PID=
# remove_ns NS: end what still runs inside the namespace (only this script starts anything there), delete it
remove_ns() {
    local ns=$1 p
    ip netns list | grep -qw "$ns" || return 0
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
}
cleanup() {
    local rc=$? p
    set +e
    if [ -n "$CAP_PID" ]; then kill -INT "$CAP_PID" 2>/dev/null; wait "$CAP_PID" 2>/dev/null; fi
    for p in "${SERVER_PGIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null; done
    for ns in $SRV $CLI; do
        remove_ns "$ns"
        rm -rf "/etc/netns/$ns"
    done
    rmdir /etc/netns 2>/dev/null
    [ $rc = 0 ] || log "failed (rc=$rc); namespaces and servers cleaned up"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- namespaces
setup_netns() {
    local ns
    for ns in $SRV $CLI; do
        remove_ns "$ns"     # left over from an interrupted run
        ip netns add "$ns"
        mkdir -p "/etc/netns/$ns"     # ip netns exec bind-mounts these over /etc/hosts, /etc/resolv.conf
        cat > "/etc/netns/$ns/hosts" <<EOF
127.0.0.1	localhost
$SRV4	psm-srv
$CLI4	psm-cli
$SRV6	psm-srv
$CLI6	psm-cli
EOF
        printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' > "/etc/netns/$ns/resolv.conf"
    done
    ip link add $SRV_IF netns $SRV address 02:00:00:00:00:20 type veth peer name $CLI_IF netns $CLI address 02:00:00:00:00:10
    for ns in $SRV $CLI; do
        ip netns exec $ns sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
            net.ipv6.conf.default.addr_gen_mode=1 net.ipv6.conf.all.router_solicitations=0 \
            net.ipv6.conf.default.router_solicitations=0
        ip netns exec $ns ip link set lo up
    done
    ip netns exec $SRV sysctl -qw net.ipv6.conf.$SRV_IF.addr_gen_mode=1
    ip netns exec $CLI sysctl -qw net.ipv6.conf.$CLI_IF.addr_gen_mode=1
    ip -n $SRV addr add $SRV4/24 dev $SRV_IF
    ip -n $CLI addr add $CLI4/24 dev $CLI_IF
    ip -n $SRV addr add $SRV6/64 dev $SRV_IF nodad
    ip -n $CLI addr add $CLI6/64 dev $CLI_IF nodad
    ip -n $SRV link set $SRV_IF up
    ip -n $CLI link set $CLI_IF up
    # no offloads: the capture then shows packets as they are on a real wire (no 64 KB "super-segments")
    ip netns exec $SRV ethtool -K $SRV_IF tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    ip netns exec $CLI ethtool -K $CLI_IF tso off gso off gro off tx off rx off >/dev/null 2>&1 || true
    ip netns exec $CLI ping -c1 -W2 $SRV4 >/dev/null || die "veth link does not work"
    sleep 3   # let IPv6 MLD reports and neighbour entries settle before the first capture
}

# run in a namespace with its own hostname (a UTS namespace), so prompts show psm-srv / psm-cli
in_srv() { ip netns exec $SRV unshare --uts sh -c 'hostname psm-srv; exec "$@"' sh "$@"; }
in_cli() { ip netns exec $CLI unshare --uts sh -c 'hostname psm-cli; exec "$@"' sh "$@"; }
export SRV CLI
export -f in_srv in_cli

# run a client in the background and wait for it: a signal to this script is then acted on at once
client() { "$@" <&0 & wait $!; }

# start a server in the background, in its own process group; remember the group to kill it
start_server() {
    local name=$1; shift
    setsid bash -c '"$@"' bash "$@" >"$WORK/$name.log" 2>&1 </dev/null &
    SERVER_PGIDS+=($!)
}
stop_servers() {
    local p
    for p in "${SERVER_PGIDS[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
    for p in "${SERVER_PGIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    SERVER_PGIDS=()
}
wait_port() {   # wait_port ADDR PORT: until something listens there in the server namespace
    local _
    for _ in $(seq 1 50); do
        ip netns exec $SRV ss -Hltn "sport = :$2" | grep -q . && return 0
        sleep 0.2
    done
    die "nothing listens on $1 port $2"
}
wait_port_in() {   # wait_port_in NS ADDR PORT: until something listens on ADDR:PORT in namespace NS
    local _
    for _ in $(seq 1 50); do
        ip netns exec "$1" ss -Hltn "src $2 and sport = :$3" | grep -q . && return 0
        sleep 0.2
    done
    die "nothing listens on $2 port $3 in $1"
}

# ---------------------------------------------------------------- capture
start_capture() {
    CAP_NAME=$1
    rm -f "$WORK/$CAP_NAME.pcap"
    ip netns exec $SRV tcpdump --immediate-mode -U -Z root -i $SRV_IF -w "$WORK/$CAP_NAME.pcap" \
        >"$WORK/$CAP_NAME.tcpdump.log" 2>&1 &
    CAP_PID=$!
    local _
    for _ in $(seq 1 50); do grep -q 'listening on' "$WORK/$CAP_NAME.tcpdump.log" && break; sleep 0.1; done
    sleep 0.5
    log "capturing $CAP_NAME"
}
stop_capture() {
    sleep 1.5   # the last FIN/ACKs
    kill -INT "$CAP_PID"
    wait "$CAP_PID" || true
    CAP_PID=
    cp "$WORK/$CAP_NAME.pcap" "$OUT/$CAP_NAME.pcap"
    chmod 644 "$OUT/$CAP_NAME.pcap"
    log "wrote $OUT/$CAP_NAME.pcap ($(stat -c %s "$OUT/$CAP_NAME.pcap") bytes, $(grep -o '[0-9]* packets captured' "$WORK/$CAP_NAME.tcpdump.log"))"
}

# ---------------------------------------------------------------- test accounts and files
setup_users() {
    local u name uid
    # fixed uids/gids so that the output of `id` in the captures is the same on every machine
    for u in alice:2001:Wonderland1 bob:2002:Builder22 admin:2003:Gatekeeper7; do
        IFS=: read -r name uid _ <<<"$u"
        if ! id -u "$name" >/dev/null 2>&1; then
            getent group "$name" >/dev/null || groupadd -g "$uid" "$name"
            useradd -m -u "$uid" -g "$name" -c "psmtap test account" -s /bin/bash "$name"
        fi
        [ "$(id -u "$name")" = "$uid" ] || die "user $name exists with uid $(id -u "$name"), want $uid"
        [ "$(getent passwd "$name" | cut -d: -f5)" = "psmtap test account" ] ||
            die "user $name exists and is not a psmtap test account: not touching it"
        echo "$name:${u##*:}" | chpasswd
    done
    # fresh homes from /etc/skel on every run, so listings and logins look the same each time
    for name in alice bob admin; do
        rm -rf "/home/${name:?}"
        cp -a /etc/skel "/home/$name"
        chown -R "$name:$name" "/home/$name"
        chmod 755 "/home/$name"
        lastlog -C -u "$name" >/dev/null 2>&1 || true    # no "Last login" left from earlier runs
    done
    # alice's home: files the sessions use
    printf 'quarterly report\nTEST DATA ONLY - psmtap capture fixture\n' > /home/alice/report.txt
    printf 'stale file, deleted over FTP\n' > /home/alice/old.txt
    # rsh/rlogin trust: alice@psm-cli may log in as alice without a password
    printf 'psm-cli alice\n192.0.2.10 alice\n' > /home/alice/.rhosts
    chown alice:alice /home/alice/report.txt /home/alice/old.txt /home/alice/.rhosts
    chmod 600 /home/alice/.rhosts
}

# ---------------------------------------------------------------- servers
start_sshd() {   # start_sshd [LOGNAME [sshd option...]]: LOGNAME.log in $WORK (default sshd), e.g. -o PubkeyAuthentication=yes
    local name=${1:-sshd}
    [ $# -gt 0 ] && shift
    mkdir -p /run/sshd
    [ -f "$WORK/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -C psm-srv -f "$WORK/ssh_host_ed25519_key"
    [ -f "$WORK/ssh_host_rsa_key" ] || ssh-keygen -q -t rsa -b 3072 -N '' -C psm-srv -f "$WORK/ssh_host_rsa_key"
    start_server "$name" in_srv /usr/sbin/sshd -D -e -f "$SCRIPTS/sshd_config" \
        -h "$WORK/ssh_host_ed25519_key" -h "$WORK/ssh_host_rsa_key" -o PidFile="$WORK/sshd.pid" "$@"
    wait_port $SRV4 22
    wait_port $SRV4 2222
}
start_inetd() {
    start_server inetd in_srv /usr/sbin/inetutils-inetd -d -p"$WORK/inetd.pid" "$SCRIPTS/inetd.conf"
    wait_port $SRV4 23
    wait_port $SRV4 2323
    wait_port $SRV4 513
    wait_port $SRV4 514
}
start_vsftpd() {
    mkdir -p /run/vsftpd/empty
    start_server vsftpd in_srv /usr/sbin/vsftpd "$SCRIPTS/vsftpd.conf"
    wait_port $SRV4 21
}

# ---------------------------------------------------------------- captures
cap_ssh-password-interactive() {
    start_sshd
    start_capture ssh-password-interactive
    client in_cli runuser -u alice -- env HOME=/home/alice TERM=xterm LANG=C \
        expect -f "$SCRIPTS/ssh-interactive.exp" "$SCRIPTS/ssh_config" $SRV4 22 alice Wonderland1 >"$WORK/ssh-interactive.out"
    stop_capture
    stop_servers
}

cap_ssh-exec-port2222() {
    start_sshd
    start_capture ssh-exec-port2222
    client in_cli runuser -u alice -- env HOME=/home/alice LANG=C \
        sshpass -p Wonderland1 ssh -F "$SCRIPTS/ssh_config" -p 2222 alice@$SRV4 uname -a </dev/null >"$WORK/ssh-exec.out"
    stop_capture
    stop_servers
}

cap_ssh-exec-ipv6() {
    start_sshd
    start_capture ssh-exec-ipv6
    client in_cli runuser -u alice -- env HOME=/home/alice LANG=C \
        sshpass -p Wonderland1 ssh -F "$SCRIPTS/ssh_config" -6 -p 22 alice@$SRV6 id </dev/null >"$WORK/ssh-exec-ipv6.out"
    stop_capture
    stop_servers
}

cap_telnet-login() {
    start_inetd
    start_capture telnet-login
    client in_cli expect -f "$SCRIPTS/telnet-login.exp" $SRV4 23 alice wonderland Wonderland1 >"$WORK/telnet-login.out"
    stop_capture
    stop_servers
}

cap_telnet-port2323() {
    start_inetd
    start_capture telnet-port2323
    client in_cli expect -f "$SCRIPTS/telnet-simple.exp" $SRV4 2323 bob Builder22 >"$WORK/telnet-2323.out"
    stop_capture
    stop_servers
}

cap_rlogin() {
    start_inetd
    start_capture rlogin
    client in_cli runuser -u alice -- env HOME=/home/alice LANG=C TERM=xterm \
        expect -f "$SCRIPTS/rlogin.exp" $SRV4 alice >"$WORK/rlogin.out"
    stop_capture
    stop_servers
}

cap_rsh() {
    start_inetd
    start_capture rsh
    client in_cli runuser -u alice -- rsh -l alice $SRV4 id </dev/null >"$WORK/rsh.out" 2>&1
    sleep 1
    # writes to stdout and to stderr (the stderr back-connection), exit status 2
    client in_cli runuser -u alice -- rsh -l alice $SRV4 'ls /etc/hostname /nonexistent' </dev/null >>"$WORK/rsh.out" 2>&1 || true
    stop_capture
    stop_servers
}

cap_ftp-vsftpd() {
    start_vsftpd
    local d=$WORK/ftp-client
    rm -rf "$d"; mkdir -p "$d"
    printf 'uploaded by the psmtap capture script\nTEST DATA ONLY\n' > "$d/upload.txt"
    start_capture ftp-vsftpd
    # connection 1: wrong password
    (cd "$d" && client in_cli tnftp -n -v $SRV4 < "$SCRIPTS/ftp-bad.txt" > "$WORK/ftp-bad.out" 2>&1) || true
    sleep 1
    # connection 2: good password, list, download, upload, delete, list
    (cd "$d" && client in_cli tnftp -n -v $SRV4 < "$SCRIPTS/ftp-good.txt" > "$WORK/ftp-good.out" 2>&1)
    stop_capture
    stop_servers
    cmp -s "$d/report.txt" /home/alice/report.txt || die "ftp download did not arrive"
    cmp -s "$d/upload.txt" /home/alice/upload.txt || die "ftp upload did not arrive"
    [ ! -e /home/alice/old.txt ] || die "ftp delete did not happen"
}

cap_telnet-busybox() {
    # busybox telnetd in the foreground on 192.0.2.20:2324, running the system's /bin/login
    start_server bb-telnetd in_srv /bin/busybox telnetd -F -b $SRV4 -p 2324 -l /bin/login
    wait_port $SRV4 2324
    start_capture telnet-busybox
    client in_cli expect -f "$SCRIPTS/telnet-busybox.exp" $SRV4 2324 alice Wonderland1 >"$WORK/telnet-busybox.out"
    stop_capture
    stop_servers
}

cap_ftp-active() {
    start_vsftpd
    local d=$WORK/ftp-active
    rm -rf "$d"; mkdir -p "$d"
    start_capture ftp-active
    # active mode: the client sends PORT, the server connects back for each transfer
    (cd "$d" && client in_cli tnftp -n -v $SRV4 < "$SCRIPTS/ftp-active.txt" > "$WORK/ftp-active.out" 2>&1)
    stop_capture
    stop_servers
    cmp -s "$d/report.txt" /home/alice/report.txt || die "ftp active download did not arrive"
}

cap_http-on-port22() {
    rm -rf "$WORK/www"; mkdir -p "$WORK/www"
    printf 'hello from an HTTP server on port 22\n' > "$WORK/www/hello.txt"
    start_server http in_srv $PY -m http.server 22 --bind $SRV4 --directory "$WORK/www"
    wait_port $SRV4 22
    start_capture http-on-port22
    client in_cli curl -sS -o "$WORK/http.out" http://$SRV4:22/hello.txt
    stop_capture
    stop_servers
    cmp -s "$WORK/http.out" "$WORK/www/hello.txt" || die "http download failed"
}

# shellcheck source=scripts/rdp.sh
cap_rdp-xrdp-tls()          { . "$SCRIPTS/rdp.sh"; rdp_capture; }
cap_rdp-xrdp-rdpsec()       { . "$SCRIPTS/rdp.sh"; rdp_capture_rdpsec; }
cap_rdp-wrong-password()    { . "$SCRIPTS/rdp.sh"; rdp_capture_wrong_password; }
cap_rdp-rdesktop()          { . "$SCRIPTS/rdp.sh"; rdp_capture_rdesktop; }
cap_rdp-neg-failure()       { . "$SCRIPTS/rdp.sh"; rdp_capture_neg_failure; }

# ---------------------------------------------------------------- more SSH captures
# Each runs its own sshd (log $WORK/sshd-NAME.log at LogLevel DEBUG1: the log level changes nothing on the wire)
# and checks afterwards, from that log or the files, that the session did what the ground truth says.
cap_mysql-cli()              { . "$SCRIPTS/mysql.sh"; mysql_capture_cli; }
cap_mysql-wrong-password()   { . "$SCRIPTS/mysql.sh"; mysql_capture_wrong_password; }
cap_mysql-unknown-db()       { . "$SCRIPTS/mysql.sh"; mysql_capture_unknown_db; }
cap_mysql-prepared()         { . "$SCRIPTS/mysql.sh"; mysql_capture_prepared; }
cap_mysql-tls()              { . "$SCRIPTS/mysql.sh"; mysql_capture_tls; }
cap_mysql-compress()         { . "$SCRIPTS/mysql.sh"; mysql_capture_compress; }
cap_mysql-multi-statement()  { . "$SCRIPTS/mysql.sh"; mysql_capture_multi; }
cap_mysql-ed25519()          { . "$SCRIPTS/mysql.sh"; mysql_capture_ed25519; }

SSH_CFG=$SCRIPTS/ssh_config
ALICE=(runuser -u alice -- env HOME=/home/alice TERM=xterm LANG=C)   # run as the local user alice
sshd_log_has() {   # sshd_log_has NAME COUNT PATTERN: the sshd log of capture NAME has COUNT lines matching PATTERN
    local got
    got=$(grep -c -- "$3" "$WORK/sshd-$1.log" || true)
    [ "$got" = "$2" ] || die "$1: want $2 log lines '$3' from sshd, got $got"
}

cap_ssh-wrong-password() {
    local rc=0
    start_sshd sshd-ssh-wrong-password -o LogLevel=DEBUG1
    start_capture ssh-wrong-password
    # one wrong password; NumberOfPasswordPrompts=1, so the client gives up after it (sshpass exits 5)
    client in_cli "${ALICE[@]}" sshpass -p Wonderland3 ssh -F "$SSH_CFG" -o NumberOfPasswordPrompts=1 -p 22 alice@$SRV4 id \
        </dev/null >"$WORK/ssh-wrong-password.out" 2>&1 || rc=$?
    stop_capture
    stop_servers
    [ $rc != 0 ] || die "ssh-wrong-password: the wrong password was accepted"
    sshd_log_has ssh-wrong-password 1 'Failed password for alice'
    sshd_log_has ssh-wrong-password 0 'Accepted'
}

cap_ssh-wrong-then-right() {
    start_sshd sshd-ssh-wrong-then-right -o LogLevel=DEBUG1
    start_capture ssh-wrong-then-right
    # three wrong passwords, then the right one, all in one connection (the client's default is 3 prompts; sshd allows 6 tries)
    client in_cli "${ALICE[@]}" expect -f "$SCRIPTS/ssh-shell.exp" "$SSH_CFG" $SRV4 22 alice \
        "wonderland1 Wonderland Wonderland11 Wonderland1" "id" -o NumberOfPasswordPrompts=4 \
        >"$WORK/ssh-wrong-then-right.out" 2>"$WORK/ssh-wrong-then-right.times"
    stop_capture
    stop_servers
    sshd_log_has ssh-wrong-then-right 3 'Failed password for alice'
    sshd_log_has ssh-wrong-then-right 1 'Accepted password for alice'
}

cap_ssh-publickey() {
    local key=$WORK/alice_ed25519
    [ -f "$key" ] || ssh-keygen -q -t ed25519 -N '' -C alice@psm-cli -f "$key"
    chown alice:alice "$key" "$key.pub"
    chmod 600 "$key"
    install -d -o alice -g alice -m 700 /home/alice/.ssh
    install -o alice -g alice -m 600 "$key.pub" /home/alice/.ssh/authorized_keys
    start_sshd sshd-ssh-publickey -o LogLevel=DEBUG1 -o PubkeyAuthentication=yes
    start_capture ssh-publickey
    # no password: the ed25519 key only (the server offers publickey,password here)
    client in_cli "${ALICE[@]}" expect -f "$SCRIPTS/ssh-shell.exp" "$SSH_CFG" $SRV4 22 alice "" "hostname" \
        -o PubkeyAuthentication=yes -o PreferredAuthentications=publickey -i "$key" \
        >"$WORK/ssh-publickey.out" 2>"$WORK/ssh-publickey.times"
    stop_capture
    stop_servers
    rm -rf /home/alice/.ssh
    sshd_log_has ssh-publickey 1 'Accepted publickey for alice'
}

# ~300 KB of random bytes each way; OpenSSH 9.2's scp speaks the SFTP protocol (subsystem "sftp") unless given -O
scp_files() {
    local d=$WORK/scp-client
    rm -rf "$d"; mkdir -p "$d"; chown alice:alice "$d"
    head -c 307200 /dev/urandom > "$d/scp-up.bin"
    head -c 307200 /dev/urandom > /home/alice/scp-down.bin
    chown alice:alice "$d/scp-up.bin" /home/alice/scp-down.bin
}
cap_ssh-scp-upload() {
    local d=$WORK/scp-client
    scp_files
    start_sshd sshd-ssh-scp-upload -o LogLevel=DEBUG1
    start_capture ssh-scp-upload
    client in_cli "${ALICE[@]}" sshpass -p Wonderland1 scp -q -F "$SSH_CFG" -o Compression=no -P 22 \
        "$d/scp-up.bin" alice@$SRV4:scp-up.bin </dev/null >"$WORK/ssh-scp-upload.out" 2>&1
    stop_capture
    stop_servers
    cmp -s "$d/scp-up.bin" /home/alice/scp-up.bin || die "scp upload did not arrive"
    rm -f /home/alice/scp-up.bin /home/alice/scp-down.bin
}
cap_ssh-scp-download() {
    local d=$WORK/scp-client
    scp_files
    start_sshd sshd-ssh-scp-download -o LogLevel=DEBUG1
    start_capture ssh-scp-download
    client in_cli "${ALICE[@]}" sshpass -p Wonderland1 scp -q -F "$SSH_CFG" -o Compression=no -P 22 \
        alice@$SRV4:scp-down.bin "$d/scp-down.bin" </dev/null >"$WORK/ssh-scp-download.out" 2>&1
    stop_capture
    stop_servers
    cmp -s "$d/scp-down.bin" /home/alice/scp-down.bin || die "scp download did not arrive"
    rm -f /home/alice/scp-down.bin
}

cap_ssh-sftp() {
    local d=$WORK/sftp-client
    rm -rf "$d"; mkdir -p "$d"; chown alice:alice "$d"
    head -c 102400 /dev/urandom > /home/alice/sftp-down.bin
    head -c 102400 /dev/urandom > "$d/sftp-up.bin"
    chown alice:alice /home/alice/sftp-down.bin "$d/sftp-up.bin"
    start_sshd sshd-ssh-sftp -o LogLevel=DEBUG1
    start_capture ssh-sftp
    # sftp -b turns on BatchMode (no password prompts); the -o before it wins
    (cd "$d" && client in_cli "${ALICE[@]}" sshpass -p Wonderland1 sftp -F "$SSH_CFG" -o BatchMode=no -b "$SCRIPTS/sftp-batch.txt" \
        -P 22 alice@$SRV4 </dev/null >"$WORK/ssh-sftp.out" 2>&1)
    stop_capture
    stop_servers
    cmp -s "$d/sftp-down.bin" /home/alice/sftp-down.bin || die "sftp get did not arrive"
    grep -q '^sftp> put sftp-up.bin' "$WORK/ssh-sftp.out" || die "sftp put did not run"
    [ ! -e /home/alice/sftp-up.bin ] || die "sftp rm did not happen"
    rm -f /home/alice/sftp-down.bin
}

cap_ssh-port-forward() {
    local tun
    rm -rf "$WORK/www-fwd" "$WORK/fwd-"*.bin "$WORK/port-forward.stop"; mkdir -p "$WORK/www-fwd"
    head -c 51200 /dev/urandom > "$WORK/www-fwd/blob.bin"
    start_sshd sshd-ssh-port-forward -o LogLevel=DEBUG1
    # the forwarded-to HTTP server is on the server's loopback: its traffic is not on the veth
    start_server http-fwd in_srv $PY -m http.server 80 --bind 127.0.0.1 --directory "$WORK/www-fwd"
    wait_port_in $SRV 127.0.0.1 80
    start_capture ssh-port-forward
    in_cli "${ALICE[@]}" expect -f "$SCRIPTS/ssh-tunnel.exp" "$SSH_CFG" $SRV4 22 alice Wonderland1 "$WORK/port-forward.stop" \
        -L 8080:127.0.0.1:80 >"$WORK/ssh-port-forward.out" 2>"$WORK/ssh-port-forward.times" &
    tun=$!
    wait_port_in $CLI 127.0.0.1 8080
    sleep 1
    client in_cli curl -sS -o "$WORK/fwd-1.bin" http://127.0.0.1:8080/blob.bin
    sleep 1
    client in_cli curl -sS -o "$WORK/fwd-2.bin" http://127.0.0.1:8080/blob.bin
    sleep 1
    touch "$WORK/port-forward.stop"
    wait $tun || die "ssh -L failed"
    stop_capture
    stop_servers
    local n
    for n in 1 2; do
        cmp -s "$WORK/fwd-$n.bin" "$WORK/www-fwd/blob.bin" || die "download $n through the forwarded port failed"
    done
    sshd_log_has ssh-port-forward 2 'server_request_direct_tcpip: originator 127.0.0.1 port [0-9]*, target 127.0.0.1 port 80'
}

cap_ssh-compression() {
    start_sshd sshd-ssh-compression -o LogLevel=DEBUG1
    start_capture ssh-compression
    client in_cli "${ALICE[@]}" expect -f "$SCRIPTS/ssh-shell.exp" "$SSH_CFG" $SRV4 22 alice Wonderland1 "{ls -la /etc | head}" -C \
        >"$WORK/ssh-compression.out" 2>"$WORK/ssh-compression.times"
    stop_capture
    stop_servers
    sshd_log_has ssh-compression 2 'MAC: <implicit> compression: zlib@openssh.com'
}

cap_ssh-reverse-shell() {
    local tun
    rm -f "$WORK/reverse-shell.stop"
    start_sshd sshd-ssh-reverse-shell -o LogLevel=DEBUG1
    # a shell listener on the CLIENT's loopback (alice's bash on a pty, for one connection)
    start_server revshell-listener in_cli "${ALICE[@]}" socat TCP-LISTEN:4444,bind=127.0.0.1,reuseaddr \
        'SYSTEM:cd; stty rows 24 cols 80; exec bash -li,pty,stderr,setsid,sigint,sane,ctty'
    wait_port_in $CLI 127.0.0.1 4444
    start_capture ssh-reverse-shell
    # the client opens the outer connection and asks the server to forward its loopback port 2222 back to it
    in_cli "${ALICE[@]}" expect -f "$SCRIPTS/ssh-tunnel.exp" "$SSH_CFG" $SRV4 22 alice Wonderland1 "$WORK/reverse-shell.stop" \
        -R 2222:127.0.0.1:4444 >"$WORK/ssh-reverse-shell.out" 2>"$WORK/ssh-reverse-shell.times" &
    tun=$!
    wait_port_in $SRV 127.0.0.1 2222
    sleep 1
    # someone on the SERVER connects to its loopback port 2222 and types at the client's shell through the tunnel
    client in_srv "${ALICE[@]}" expect -f "$SCRIPTS/reverse-shell.exp" 2222 "hostname id pwd" \
        >"$WORK/ssh-reverse-shell-typed.out" 2>"$WORK/ssh-reverse-shell-typed.times"
    sleep 1
    touch "$WORK/reverse-shell.stop"
    wait $tun || die "ssh -R failed"
    stop_capture
    stop_servers
    grep -qa $'\rpsm-cli\r' "$WORK/ssh-reverse-shell-typed.out" || die "the reverse shell did not answer from psm-cli"
    sshd_log_has ssh-reverse-shell 1 'tcpip-forward listen localhost port 2222'
}

cap_ssh-interactive-long() {
    start_sshd sshd-ssh-interactive-long -o LogLevel=DEBUG1
    start_capture ssh-interactive-long
    # typed like a person: every key on its own, 0.3-0.8 s apart (OpenSSH 9.2 has no ObscureKeystrokeTiming)
    client in_cli "${ALICE[@]}" env PSM_TYPING=slow expect -f "$SCRIPTS/ssh-shell.exp" "$SSH_CFG" $SRV4 22 alice Wonderland1 \
        "whoami pwd id hostname {uname -r} {cd /tmp} pwd cd {echo hello}" \
        >"$WORK/ssh-interactive-long.out" 2>"$WORK/ssh-interactive-long.times"
    stop_capture
    stop_servers
    sshd_log_has ssh-interactive-long 1 'Accepted password for alice'
}

cap_ssh-dropbear() {
    local key=$WORK/dropbear_ed25519_host_key
    [ -f "$key" ] || dropbearkey -t ed25519 -f "$key" >/dev/null 2>&1
    start_server dropbear in_srv /usr/sbin/dropbear -F -E -p $SRV4:22 -r "$key" -P "$WORK/dropbear.pid"
    wait_port $SRV4 22
    start_capture ssh-dropbear
    client in_cli "${ALICE[@]}" sshpass -p Wonderland1 ssh -F "$SSH_CFG" -p 22 alice@$SRV4 id \
        </dev/null >"$WORK/ssh-dropbear.out" 2>&1
    stop_capture
    stop_servers
    grep -q "Password auth succeeded for 'alice'" "$WORK/dropbear.log" || die "dropbear did not log the login"
}

cap_ssh-paramiko() {
    start_sshd sshd-ssh-paramiko -o LogLevel=DEBUG1
    start_capture ssh-paramiko
    client in_cli "${ALICE[@]}" $PY "$SCRIPTS/ssh-paramiko.py" $SRV4 22 alice Wonderland1 'uname -a' \
        >"$WORK/ssh-paramiko.out" 2>"$WORK/ssh-paramiko.times"
    stop_capture
    stop_servers
    sshd_log_has ssh-paramiko 1 'Accepted password for alice'
}

# libssh ships no client program: build its sample client (libssh-doc's examples/ssh_client.c) with gcc
build_libssh_client() {
    local d=$WORK/libssh-client src=/usr/share/doc/libssh-dev/examples
    [ -x "$d/ssh_client" ] && return 0
    rm -rf "$d"; mkdir -p "$d/inc/libssh"
    cp "$src/ssh_client.c" "$src/authentication.c" "$src/knownhosts.c" "$src/examples_common.h" "$d/"
    # the examples expect the config.h of libssh's own build, and knownhosts.c a private header: stand-ins
    printf '#define HAVE_TERMIOS_H 1\n#define HAVE_UNISTD_H 1\n#define HAVE_PTY_H 1\n#define HAVE_CFMAKERAW 1\n#define FALL_THROUGH __attribute__((fallthrough))\n' > "$d/config.h"
    : > "$d/inc/libssh/priv.h"
    gcc -O1 -I"$d/inc" -o "$d/ssh_client" "$d/ssh_client.c" "$d/authentication.c" "$d/knownhosts.c" -lssh -lutil ||
        die "could not build libssh's sample client"
    chmod 755 "$d" "$d/ssh_client"
}
cap_ssh-libssh() {
    build_libssh_client
    start_sshd sshd-ssh-libssh -o LogLevel=DEBUG1
    start_capture ssh-libssh
    # libssh reads alice's (absent) ~/.ssh/config and Debian's /etc/ssh/ssh_config; no known_hosts: it asks
    client in_cli "${ALICE[@]}" expect -f "$SCRIPTS/libssh-client.exp" "$WORK/libssh-client/ssh_client" \
        alice@$SRV4 Wonderland1 id >"$WORK/ssh-libssh.out" 2>"$WORK/ssh-libssh.times"
    stop_capture
    stop_servers
    sshd_log_has ssh-libssh 1 'Accepted password for alice'
    grep -q 'uid=2001(alice)' "$WORK/ssh-libssh.out" || die "libssh client: no output of id"
}

# ---------------------------------------------------------------- commands for rules
# The same inetd, telnetd and rlogind as above, but in their own PID and mount namespaces: what alice types
# there (ps, systemctl, wget -O /tmp/y, sudo) sees only this capture's processes, a private /tmp, and no
# systemd or D-Bus of the host (a tmpfs over /run/systemd and /run/dbus), so nothing typed reaches beyond
# the namespaces. inetd is the PID namespace's init; --kill-child ends the namespace with stop_servers.
# start_inetd_private [logs]: with "logs", /var/log and /var/spool/cron are private tmpfs as well: /var/log holds
# only a root-owned syslog and auth.log (mode 640, group adm) for the session to fail on, and crontab writes
# into a crontabs folder of its own (telnet-admin), so neither the host's logs nor its crontabs are touched.
start_inetd_private() {
    # shellcheck disable=SC2016
    start_server inetd in_srv unshare --pid --kill-child --mount-proc --propagation private sh -c '
        for d in /run/systemd /run/dbus; do [ ! -d "$d" ] || mount -t tmpfs -o mode=755 psm-private "$d"; done
        mount -t tmpfs -o mode=1777 psm-private /tmp
        if [ "$2" = logs ]; then
            set -e
            mount -t tmpfs -o mode=755 psm-private /var/log
            for f in syslog auth.log; do
                printf "TEST DATA ONLY - psmtap capture fixture, not a real log\n" > /var/log/$f
                chown root:adm /var/log/$f; chmod 640 /var/log/$f
            done
            mount -t tmpfs -o mode=755 psm-private /var/spool/cron
            mkdir /var/spool/cron/crontabs
            chown root:crontab /var/spool/cron/crontabs; chmod 1730 /var/spool/cron/crontabs
        fi
        exec /usr/sbin/inetutils-inetd -d -p/tmp/inetd.pid "$1"' sh "$SCRIPTS/inetd.conf" "${1:-}"
    wait_port $SRV4 23
    wait_port $SRV4 513
}
# the downloads and the reverse shell typed in telnet-suspicious go to the client: nothing may listen there
no_listener_in_cli() {
    local p
    for p in "$@"; do
        ! ip netns exec $CLI ss -Hltn "sport = :$p" | grep -q . || die "something listens on port $p in $CLI"
    done
}
# sudo's per-user files of alice (its "lecture" is shown once per user; the time stamp after a good password)
sudo_forget_alice() { rm -f /var/lib/sudo/lectured/alice /run/sudo/ts/alice; }
# each of these sessions starts without the shell history the one before left (ls -la shows alice's home)
forget_history() { rm -f /home/alice/.bash_history; }

cap_telnet-suspicious() {
    forget_history
    no_listener_in_cli 4444 8080
    sudo_forget_alice
    start_inetd_private
    start_capture telnet-suspicious
    client in_cli expect -f "$SCRIPTS/telnet-lines.exp" $SRV4 23 alice Wonderland1 "$SCRIPTS/telnet-suspicious.txt" \
        >"$WORK/telnet-suspicious.out"
    stop_capture
    stop_servers
    sudo_forget_alice
    ! getent passwd backdoor >/dev/null || die "telnet-suspicious: user backdoor exists"
    grep -q 'cat: /etc/shadow: Permission denied' "$WORK/telnet-suspicious.out" || die "telnet-suspicious: /etc/shadow was not refused"
    grep -q 'Sorry, user alice may not run sudo' "$WORK/telnet-suspicious.out" || die "telnet-suspicious: no answer from sudo -l"
    grep -q '/dev/tcp/192.0.2.10/4444: Connection refused' "$WORK/telnet-suspicious.out" || die "telnet-suspicious: the reverse shell was not refused"
}

cap_telnet-bypass() {
    forget_history
    start_inetd_private
    start_capture telnet-bypass
    client in_cli expect -f "$SCRIPTS/telnet-lines.exp" $SRV4 23 alice Wonderland1 "$SCRIPTS/telnet-bypass.txt" \
        >"$WORK/telnet-bypass.out"
    stop_capture
    stop_servers
    # every disguise ran cat on /etc/shadow (one refusal each; `id; cat ...` also prints the id line)
    local n
    n=$(grep -c ': Permission denied' "$WORK/telnet-bypass.out" || true)
    [ "$n" = 17 ] || die "telnet-bypass: $n refusals of /etc/shadow, want 17"
}

cap_telnet-benign() {
    forget_history
    start_inetd_private
    start_capture telnet-benign
    client in_cli expect -f "$SCRIPTS/telnet-lines.exp" $SRV4 23 alice Wonderland1 "$SCRIPTS/telnet-benign.txt" \
        >"$WORK/telnet-benign.out"
    stop_capture
    stop_servers
    grep -q 'alice:x:2001:' "$WORK/telnet-benign.out" || die "telnet-benign: no output of grep"
}

cap_rlogin-suspicious() {
    forget_history
    start_inetd_private
    start_capture rlogin-suspicious
    client in_cli runuser -u alice -- env HOME=/home/alice LANG=C TERM=xterm \
        expect -f "$SCRIPTS/rlogin-lines.exp" $SRV4 alice "$SCRIPTS/rlogin-suspicious.txt" >"$WORK/rlogin-suspicious.out"
    stop_capture
    stop_servers
    grep -q 'cat: /etc/shadow: Permission denied' "$WORK/rlogin-suspicious.out" || die "rlogin-suspicious: /etc/shadow was not refused"
}

# ---------------------------------------------------------------- more for rules
# An ordinary account that is named admin (uid 2003, not root) logs in over Telnet, replaces its own crontab and
# tries to empty the logs. inetd in its own namespaces with a private /var/log and /var/spool/cron (see above).
cap_telnet-admin() {
    rm -f /home/admin/.bash_history
    start_inetd_private logs
    start_capture telnet-admin
    client in_cli expect -f "$SCRIPTS/telnet-lines.exp" $SRV4 23 admin Gatekeeper7 "$SCRIPTS/telnet-admin.txt" \
        >"$WORK/telnet-admin.out"
    stop_capture
    stop_servers
    grep -q 'no crontab for admin' "$WORK/telnet-admin.out" || die "telnet-admin: crontab -r did not answer"
    ! grep -q 'crontab: ' "$WORK/telnet-admin.out" || die "telnet-admin: crontab - failed"
    grep -q "rm: cannot remove '/var/log/syslog': Permission denied" "$WORK/telnet-admin.out" || die "telnet-admin: rm was not refused"
    grep -q "truncate: cannot open '/var/log/auth.log' for writing: Permission denied" "$WORK/telnet-admin.out" ||
        die "telnet-admin: truncate was not refused"
}

# alice downloads /etc/passwd and uploads a shell script. vsftpd runs in its own mount namespace where /etc/passwd is
# a copy of the host's that keeps only Debian's base accounts (uid < 100, nobody) and the psmtap test accounts: the
# file in the capture is then the same on every machine and names none of the host's own accounts.
start_vsftpd_private_passwd() {
    awk -F: '$3 < 100 || $3 == 65534 || $5 == "psmtap test account"' /etc/passwd > "$WORK/ftp-passwd"
    chmod 644 "$WORK/ftp-passwd"
    mkdir -p /run/vsftpd/empty
    # shellcheck disable=SC2016
    start_server vsftpd in_srv unshare --mount --propagation private sh -c '
        mount --bind "$1" /etc/passwd && exec /usr/sbin/vsftpd "$2"' sh "$WORK/ftp-passwd" "$SCRIPTS/vsftpd.conf"
    wait_port $SRV4 21
}
cap_ftp-sensitive() {
    local d=$WORK/ftp-sensitive
    rm -rf "$d"; mkdir -p "$d"
    printf '#!/bin/sh\n# TEST DATA ONLY - psmtap capture fixture, uploaded over FTP\necho deployed\n' > "$d/deploy.sh"
    chmod 755 "$d/deploy.sh"
    rm -f /home/alice/deploy.sh
    start_vsftpd_private_passwd
    start_capture ftp-sensitive
    (cd "$d" && client in_cli tnftp -n -v $SRV4 < "$SCRIPTS/ftp-sensitive.txt" > "$WORK/ftp-sensitive.out" 2>&1)
    stop_capture
    stop_servers
    cmp -s "$d/passwd" "$WORK/ftp-passwd" || die "ftp-sensitive: /etc/passwd did not arrive"
    cmp -s "$d/deploy.sh" /home/alice/deploy.sh || die "ftp-sensitive: the upload did not arrive"
    rm -f /home/alice/deploy.sh
}

# OpenSSH with 3des-cbc: sshd adds it to its ciphers (Debian's OpenSSH 9.2 still has it, off by default), the client asks for it alone
cap_ssh-weak-cipher() {
    start_sshd sshd-ssh-weak-cipher -o LogLevel=DEBUG1 -o Ciphers=+3des-cbc
    start_capture ssh-weak-cipher
    client in_cli "${ALICE[@]}" expect -f "$SCRIPTS/ssh-shell.exp" "$SSH_CFG" $SRV4 22 alice Wonderland1 "id" -c 3des-cbc \
        >"$WORK/ssh-weak-cipher.out" 2>"$WORK/ssh-weak-cipher.times"
    stop_capture
    stop_servers
    sshd_log_has ssh-weak-cipher 2 'cipher: 3des-cbc MAC: '
    sshd_log_has ssh-weak-cipher 1 'Accepted password for alice'
}
# ---------------------------------------------------------------- PostgreSQL
# shellcheck source=scripts/postgresql.sh
cap_postgresql-psql()           { . "$SCRIPTS/postgresql.sh"; pg_capture_psql; }
cap_postgresql-wrong-password() { . "$SCRIPTS/postgresql.sh"; pg_capture_wrong_password; }
cap_postgresql-unknown-db()     { . "$SCRIPTS/postgresql.sh"; pg_capture_unknown_db; }
cap_postgresql-md5()            { . "$SCRIPTS/postgresql.sh"; pg_capture_md5; }
cap_postgresql-trust()          { . "$SCRIPTS/postgresql.sh"; pg_capture_trust; }
cap_postgresql-psycopg()        { . "$SCRIPTS/postgresql.sh"; pg_capture_psycopg; }
cap_postgresql-copy()           { . "$SCRIPTS/postgresql.sh"; pg_capture_copy; }
cap_postgresql-tls()            { . "$SCRIPTS/postgresql.sh"; pg_capture_tls; }
cap_postgresql-pgbench()        { . "$SCRIPTS/postgresql.sh"; pg_capture_pgbench; }

# ---------------------------------------------------------------- detection of real traffic
# Commands typed by a script the moment the prompt shows, 60 ms per key, no pause anywhere (no 300 ms silence).
cap_ssh-fast-typing() {
    start_sshd sshd-ssh-fast-typing -o LogLevel=DEBUG1
    start_capture ssh-fast-typing
    client in_cli "${ALICE[@]}" env PSM_TYPING=fast expect -f "$SCRIPTS/ssh-shell.exp" "$SSH_CFG" $SRV4 22 alice Wonderland1 \
        "whoami pwd id hostname {uname -r} {ls -la /etc/ssh} {cd /tmp} pwd {echo hello}" \
        >"$WORK/ssh-fast-typing.out" 2>"$WORK/ssh-fast-typing.times"
    stop_capture
    stop_servers
    sshd_log_has ssh-fast-typing 1 'Accepted password for alice'
    grep -q 'uid=2001(alice)' "$WORK/ssh-fast-typing.out" || die "ssh-fast-typing: no output of id"
}

# Banner grabs (what a scanner's version probe or an aborted connection looks like), three connections that never
# send an identification line: read the server's line and close; read it and abort (RST); connect and close at once
# (nc -z), before the line comes.
cap_ssh-banner-grab() {
    start_sshd sshd-ssh-banner-grab -o LogLevel=DEBUG1
    start_capture ssh-banner-grab
    # shellcheck disable=SC2016
    client in_cli $PY -c 'import socket,struct,sys,time
for abort in (False, True):
    s = socket.create_connection((sys.argv[1], 22), timeout=10)
    b = s.recv(256)
    if abort:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    sys.stdout.write(b.decode("ascii", "replace"))
    time.sleep(1)' $SRV4 >"$WORK/ssh-banner-grab.out"
    client in_cli nc -z $SRV4 22
    stop_capture
    stop_servers
    [ "$(grep -c '^SSH-2.0-OpenSSH' "$WORK/ssh-banner-grab.out")" = 2 ] || die "ssh-banner-grab: banners not read"
}

# The proxies run in psm-srv on 192.0.2.20 (Dante: SOCKS 4/4a/5 on 1080; tinyproxy: HTTP CONNECT on 8888) and
# connect to sshd/telnetd on the same address: only the client's connection to the proxy crosses the veth.
# Targets are named psm-srv: SOCKS5 and HTTP CONNECT carry the name and the proxy resolves it; SOCKS4 carries an
# address (socat resolves psm-srv itself; Dante has no SOCKS4a).
start_danted() {
    start_server danted in_srv /usr/sbin/danted -f "$SCRIPTS/danted.conf" -p "$WORK/danted.pid"
    wait_port $SRV4 1080
}
start_tinyproxy() {
    start_server tinyproxy in_srv /usr/bin/tinyproxy -d -c "$SCRIPTS/tinyproxy.conf"
    wait_port $SRV4 8888
}
# ssh through a proxy with nc as ProxyCommand (nc -X 5: SOCKS5, -X connect: HTTP CONNECT)
ssh_via_proxy() {   # ssh_via_proxy NAME NC_PROXY_ARGS...
    local name=$1; shift
    start_sshd "sshd-$name" -o LogLevel=DEBUG1
    start_capture "$name"
    client in_cli "${ALICE[@]}" expect -f "$SCRIPTS/ssh-shell.exp" "$SSH_CFG" psm-srv 22 alice Wonderland1 "id hostname" \
        -o "ProxyCommand=nc $* %h %p" >"$WORK/$name.out" 2>"$WORK/$name.times"
    stop_capture
    stop_servers
    sshd_log_has "$name" 1 'Accepted password for alice'
    grep -q 'uid=2001(alice)' "$WORK/$name.out" || die "$name: no output of id"
}
cap_ssh-socks5()       { start_danted;    ssh_via_proxy ssh-socks5 -X 5 -x $SRV4:1080; }
cap_ssh-http-connect() { start_tinyproxy; ssh_via_proxy ssh-http-connect -X connect -x $SRV4:8888; }
# telnet through a proxy: socat on the client's loopback forwards to the proxy (as a local tunnel would), telnet
# connects to it; the wire shows the proxy handshake, then the Telnet session
telnet_via_proxy() {   # telnet_via_proxy NAME SOCAT_ADDRESS
    local name=$1
    start_inetd
    start_server socat-$name in_cli socat TCP-LISTEN:2301,bind=127.0.0.1,reuseaddr "$2"
    wait_port_in $CLI 127.0.0.1 2301
    start_capture "$name"
    client in_cli expect -f "$SCRIPTS/telnet-simple.exp" 127.0.0.1 2301 bob Builder22 >"$WORK/$name.out"
    stop_capture
    stop_servers
    grep -q '^psm-srv' "$WORK/$name.out" || die "$name: no output of hostname"
}
cap_telnet-socks4()      { start_danted;    telnet_via_proxy telnet-socks4 "SOCKS4:$SRV4:psm-srv:23,socksport=1080"; }
cap_telnet-http-connect() { start_tinyproxy; telnet_via_proxy telnet-http-connect "PROXY:$SRV4:psm-srv:23,proxyport=8888"; }

# ---------------------------------------------------------------- VNC
# shellcheck source=scripts/vnc.sh
cap_vnc-vncauth()           { . "$SCRIPTS/vnc.sh"; vnc_capture_vncauth; }
cap_vnc-wrong-password()    { . "$SCRIPTS/vnc.sh"; vnc_capture_wrong_password; }
cap_vnc-none()              { . "$SCRIPTS/vnc.sh"; vnc_capture_none; }
cap_vnc-vencrypt()          { . "$SCRIPTS/vnc.sh"; vnc_capture_vencrypt; }
cap_vnc-zrle()              { . "$SCRIPTS/vnc.sh"; vnc_capture_zrle; }
cap_vnc-hextile()           { . "$SCRIPTS/vnc.sh"; vnc_capture_hextile; }
cap_vnc-raw()               { . "$SCRIPTS/vnc.sh"; vnc_capture_raw; }
cap_vnc-copyrect()          { . "$SCRIPTS/vnc.sh"; vnc_capture_copyrect; }
cap_vnc-rfb33()             { . "$SCRIPTS/vnc.sh"; vnc_capture_rfb33; }
cap_vnc-rre()               { . "$SCRIPTS/vnc.sh"; vnc_capture_rre; }
cap_vnc-rfb37()             { . "$SCRIPTS/vnc.sh"; vnc_capture_rfb37; }
cap_vnc-tightpng()          { . "$SCRIPTS/vnc.sh"; vnc_capture_tightpng; }
cap_vnc-tight-jpeg()        { . "$SCRIPTS/vnc.sh"; vnc_capture_tight_jpeg; }
cap_vnc-resize()            { . "$SCRIPTS/vnc.sh"; vnc_capture_resize; }
cap_vnc-tight-16bpp()       { . "$SCRIPTS/vnc.sh"; vnc_capture_tight_16bpp; }
cap_vnc-keys()              { . "$SCRIPTS/vnc.sh"; vnc_capture_keys; }
# opt-in, not in ALL: large captures for measuring, written to bench/ (or PSM_BENCH_OUT), never to pcaps/
cap_vnc-busy-1080p()          { . "$SCRIPTS/vnc.sh"; vnc_capture_busy_1080p; }
cap_vnc-busy-1080p-lossless() { . "$SCRIPTS/vnc.sh"; vnc_capture_busy_1080p_lossless; }

# ---------------------------------------------------------------- main
main() {
    local names=() n
    for n in "$@"; do names+=("${n%.pcap}"); done
    [ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
    for n in "${names[@]}"; do
        n=${n%.pcap}
        declare -F "cap_$n" >/dev/null || die "unknown capture '$n' (known: ${ALL[*]})"
    done
    # one run at a time: the test accounts' homes are shared by every run
    exec 9>/run/lock/psmtap-make-captures.lock
    flock -w 600 9 || die "another make-captures.sh run holds /run/lock/psmtap-make-captures.lock"
    install_packages "${names[@]}"
    mkdir -p "$WORK"
    setup_users
    setup_netns
    for n in "${names[@]}"; do
        n=${n%.pcap}
        "cap_$n"
        sleep 1
    done
    log "done: ${names[*]}"
}

main "$@"
