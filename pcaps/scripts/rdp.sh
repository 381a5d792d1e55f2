# shellcheck shell=bash
# rdp.sh - sourced by make-captures.sh: xrdp (+ xrdp-sesman + xorgxrdp) in psm-srv, FreeRDP or rdesktop
# under Xvfb in psm-cli. Uses make-captures.sh's variables and helpers (WORK, SCRIPTS, SRV4, in_srv,
# in_cli, start_server, ...).

# rdp_configs [SECURITY_LAYER [SSL_PROTOCOLS [CRYPT_LEVEL]]]: xrdp.ini and sesman.ini in $WORK/xrdp,
# derived from Debian's.
rdp_configs() {
    local d=$WORK/xrdp sec=${1:-negotiate} tlsv=${2:-TLSv1.2, TLSv1.3} crypt=${3:-high}
    mkdir -p "$d" /run/xrdp/sockdir
    chmod 1777 /run/xrdp/sockdir
    # our own self-signed certificate (CN=psm-srv), not the machine's snakeoil one
    if [ ! -f "$d/cert.pem" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=psm-srv \
            -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
    fi
    sed -e "s|^port=3389|port=tcp://$SRV4:3389|" \
        -e "s|^fork=true|fork=true|" \
        -e "s|^security_layer=.*|security_layer=$sec|" \
        -e "s|^ssl_protocols=.*|ssl_protocols=$tlsv|" \
        -e "s|^crypt_level=.*|crypt_level=$crypt|" \
        -e "s|^certificate=.*|certificate=$d/cert.pem|" \
        -e "s|^key_file=.*|key_file=$d/key.pem|" \
        -e "s|^LogFile=.*|LogFile=$d/xrdp.log|" \
        -e "s|^EnableSyslog=.*|EnableSyslog=false|" \
        -e "s|^autorun=.*|autorun=Xorg|" \
        /etc/xrdp/xrdp.ini > "$d/xrdp.ini"
    sed -e "s|^DefaultWindowManager=.*|DefaultWindowManager=$SCRIPTS/rdp-session.sh|" \
        -e "s|^EnableUserWindowManager=.*|EnableUserWindowManager=false|" \
        -e "s|^LogFile=.*|LogFile=$d/xrdp-sesman.log|" \
        -e "s|^EnableSyslog=.*|EnableSyslog=false|" \
        /etc/xrdp/sesman.ini > "$d/sesman.ini"
}

# rdp_servers [SECURITY_LAYER [SSL_PROTOCOLS [CRYPT_LEVEL]]]: configure and start xrdp-sesman and xrdp.
rdp_servers() {
    rdp_configs "$@"
    local d=$WORK/xrdp
    : > "$d/xrdp.log"
    start_server xrdp-sesman in_srv /usr/sbin/xrdp-sesman --nodaemon --config "$d/sesman.ini"
    start_server xrdp in_srv /usr/sbin/xrdp --nodaemon --config "$d/xrdp.ini"
    wait_port $SRV4 3389
}

# rdp_done NAME: stop the capture and the servers, keep xrdp's log next to the others.
rdp_done() {
    stop_capture
    stop_servers
    cp "$WORK/xrdp/xrdp.log" "$WORK/$1.xrdp.log" 2>/dev/null || true
    # the X session of alice started by sesman is in the server namespace; cleanup kills it
    for p in $(ip netns pids $SRV 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
}

# xfreerdp_run TIMEOUT OUTFILE ARGS...: FreeRDP under Xvfb in the client namespace.
xfreerdp_run() {
    local t=$1 out=$2; shift 2
    client in_cli timeout -s INT "$t" xvfb-run -a -s '-screen 0 1024x768x24' \
        xfreerdp /v:$SRV4 /cert:ignore /size:800x600 /bpp:16 -sound -microphone \
        +auto-reconnect /auto-reconnect-max-retries:0 "$@" >"$WORK/$out" 2>&1 || true
}

rdp_capture() {
    rdp_servers
    start_capture rdp-xrdp-tls
    # FreeRDP: TLS security (xrdp has no NLA), credentials in the Client Info PDU; small 16-bit desktop.
    xfreerdp_run 30 xfreerdp.out /u:alice /p:Wonderland1 -clipboard
    rdp_done rdp-xrdp-tls
}

# Standard RDP Security (xrdp security_layer=rdp, FreeRDP /sec:rdp): the MCS Connect Initial with the
# client's data blocks is in clear. Clipboard and a drive (a folder of test files) are redirected, so
# the Client Network Data lists cliprdr and rdpdr.
rdp_capture_rdpsec() {
    # crypt_level=fips: with high (RC4 128-bit), xrdp 0.9.21 rejects FreeRDP 2.11's first encrypted
    # PDU ("MAC checksum error for non-FIPS PDU") and the login never happens; FIPS (3DES, HMAC-SHA1) works.
    rdp_servers rdp 'TLSv1.2, TLSv1.3' fips
    local share=$WORK/rdp-share
    rm -rf "$share"; mkdir -p "$share"
    printf 'TEST DATA ONLY - psmtap drive redirection\n' > "$share/readme.txt"
    start_capture rdp-xrdp-rdpsec
    xfreerdp_run 30 xfreerdp-rdpsec.out /u:alice /p:Wonderland1 /sec:rdp +clipboard /drive:share,"$share"
    rdp_done rdp-xrdp-rdpsec
}

# Wrong password over TLS 1.2 only (ssl_protocols=TLSv1.2), so the server certificate is in clear.
# xrdp refuses the autologon and shows its login dialog; the client is stopped after 12 s.
rdp_capture_wrong_password() {
    rdp_servers negotiate 'TLSv1.2'
    start_capture rdp-wrong-password
    xfreerdp_run 12 xfreerdp-wrongpw.out /u:alice /p:Wonderland2 -clipboard
    rdp_done rdp-wrong-password
}

# rdesktop (the other Debian client) against xrdp set to Standard RDP Security (security_layer=rdp),
# with the clipboard and a folder redirected. Stopped after 12 s if the session has not ended.
rdp_capture_rdesktop() {
    rdp_servers rdp
    local home=$WORK/rdesktop-home share=$WORK/rdp-share
    rm -rf "$home" "$share"; mkdir -p "$home" "$share"
    printf 'TEST DATA ONLY - psmtap drive redirection\n' > "$share/readme.txt"
    start_capture rdp-rdesktop
    client in_cli timeout -s INT 12 env HOME="$home" xvfb-run -a -s '-screen 0 1024x768x24' \
        rdesktop -u alice -p Wonderland1 -g 800x600 -a 16 -k en-us -r clipboard:CLIPBOARD \
        -r disk:share="$share" $SRV4 </dev/null >"$WORK/rdesktop.out" 2>&1 || true
    rdp_done rdp-rdesktop
}

# A negotiation failure from the real server: xrdp set to require TLS (security_layer=tls) and a
# client whose RDP_NEG_REQ asks for Standard RDP Security only. Neither Debian client sends that
# request, so a 20-line script sends it (scripts/rdp-neg-rdp-only.py); the answer is xrdp's own.
rdp_capture_neg_failure() {
    rdp_servers tls
    start_capture rdp-neg-failure
    client in_cli "$PY" "$SCRIPTS/rdp-neg-rdp-only.py" $SRV4 >"$WORK/rdp-neg-failure.out" 2>&1 || true
    sleep 1
    rdp_done rdp-neg-failure
    # RDP_NEG_FAILURE (type 3) must be in the answer
    grep -q '^0300' "$WORK/rdp-neg-failure.out" || die "rdp-neg-failure: no X.224 answer: $(cat "$WORK/rdp-neg-failure.out")"
}
