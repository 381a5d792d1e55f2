# shellcheck shell=bash
# rdp.sh - sourced by make-captures.sh: xrdp (+ xrdp-sesman + xorgxrdp) in psm-srv, FreeRDP under Xvfb in psm-cli.
# Uses make-captures.sh's variables and helpers (WORK, SCRIPTS, SRV4, in_srv, in_cli, start_server, ...).

rdp_configs() {
    local d=$WORK/xrdp
    mkdir -p "$d" /run/xrdp/sockdir
    chmod 1777 /run/xrdp/sockdir
    # our own self-signed certificate (CN=psm-srv), not the machine's snakeoil one
    if [ ! -f "$d/cert.pem" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=psm-srv \
            -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
    fi
    sed -e "s|^port=3389|port=tcp://$SRV4:3389|" \
        -e "s|^fork=true|fork=true|" \
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

rdp_capture() {
    rdp_configs
    local d=$WORK/xrdp
    start_server xrdp-sesman in_srv /usr/sbin/xrdp-sesman --nodaemon --config "$d/sesman.ini"
    start_server xrdp in_srv /usr/sbin/xrdp --nodaemon --config "$d/xrdp.ini"
    wait_port $SRV4 3389
    start_capture rdp-xrdp-tls
    # FreeRDP: TLS security (xrdp has no NLA), credentials in the Client Info PDU; small 16-bit desktop.
    client in_cli timeout -s INT 30 xvfb-run -a -s '-screen 0 1024x768x24' \
        xfreerdp /v:$SRV4 /u:alice /p:Wonderland1 /cert:ignore /size:800x600 /bpp:16 \
        -clipboard -sound -microphone +auto-reconnect /auto-reconnect-max-retries:0 \
        >"$WORK/xfreerdp.out" 2>&1 || true
    stop_capture
    stop_servers
    # the X session of alice started by sesman is in the server namespace; cleanup kills it
    for p in $(ip netns pids $SRV 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
}
