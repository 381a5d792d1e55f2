# shellcheck shell=bash
# vnc.sh - sourced by make-captures.sh: TigerVNC's Xvnc (640x480, depth 24, an xterm of alice inside) in the
# server namespace, a real viewer under Xvfb in the client namespace, typed and clicked by xdotool; for what no
# Debian viewer does, scripts/vnc-client.py; for TightPNG, QEMU's VNC server. What crossed the wire is checked with
# scripts/rfb-summary.py. Ground truth: pcaps/README.md, "VNC (RFB)".
# Uses make-captures.sh's variables and helpers (WORK, SCRIPTS, OUT, SRV4, SRV, CLI, in_srv, in_cli,
# start_server, start_capture, ...).
#
# The two X displays have numbers no other run uses (:57 server, :58 client) and listen on no TCP port;
# X clients reach them through their sockets (abstract ones are per network namespace).
# At the end of each session, after a 2 s pause, the server's screen is saved as pcaps/vnc/NAME-end.png
# (xwd of Xvnc's root window; no pointer in it: the viewers draw the cursor themselves) and compared with
# what the viewer's window shows; then the viewer is ended (SIGTERM) and closes the connection.

VNC_SDISP=:57             # Xvnc in the server namespace
VNC_CDISP=:58             # Xvfb of the viewer in the client namespace
VNC_PASS=Vnc4lice         # VNC authentication password (TEST-ONLY; VNC passwords are at most 8 characters)
VNC_WRONG=Wrong123        # the wrong one
VNC_DIR=$WORK/vnc
VNC_PNG=$OUT/vnc          # the end-of-session screenshots
CONVERT=/usr/bin/convert  # ImageMagick's (by its full path: nothing else of that name)
COMPARE=/usr/bin/compare
# the xterm: the X server's built-in fixed font (6x13), a cursor that does not blink, no scrollbar, top left
VNC_XTERM=(xterm -geometry 100x34+0+0 -fn fixed -xrm 'XTerm*cursorBlink: false' +sb -bc -ls -title alice)

# sx CMD...: an X client on the server's display (in the server namespace); cx: on the viewer's
sx() { ip netns exec $SRV env DISPLAY=$VNC_SDISP "$@"; }
cx() { ip netns exec $CLI env DISPLAY=$VNC_CDISP HOME="$VNC_DIR/home" "$@"; }

wait_x() {   # wait_x NS DISPLAY: until the X server answers
    local _
    for _ in $(seq 1 50); do
        ip netns exec "$1" env DISPLAY="$2" xdpyinfo >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    die "X server $2 in $1 does not answer"
}

vnc_files() {
    mkdir -p "$VNC_DIR/home" "$VNC_PNG"
    printf '%s\n' "$VNC_PASS" | vncpasswd -f > "$VNC_DIR/passwd"
    printf '%s\n' "$VNC_WRONG" | vncpasswd -f > "$VNC_DIR/wrong"
    chmod 600 "$VNC_DIR/passwd" "$VNC_DIR/wrong"
    rm -rf /home/alice/.bash_history "$VNC_DIR/home/.vnc"
}

# vnc_xterm DISPLAY: alice's xterm (a login shell in her home) on the server's X display
vnc_xterm() {
    # shellcheck disable=SC2016
    start_server xterm in_srv runuser -u alice -- env -i HOME=/home/alice USER=alice LOGNAME=alice \
        PATH=/usr/local/bin:/usr/bin:/bin DISPLAY="$1" LANG=C SHELL=/bin/bash \
        sh -c 'cd && exec "$@"' sh "${VNC_XTERM[@]}"
    local _
    for _ in $(seq 1 50); do sx xdotool search --name '^alice$' >/dev/null 2>&1 && break; sleep 0.2; done
    sleep 1.5   # the first prompt
}

# vnc_server SECURITYTYPES [Xvnc parameter...]: Xvnc on 192.0.2.20:5900 with alice's xterm on it
vnc_server() {
    local sec=$1; shift
    vnc_files
    rm -f "/tmp/.X${VNC_SDISP#:}-lock" "/tmp/.X11-unix/X${VNC_SDISP#:}"
    # -ac: the display's socket is reachable from these namespaces only (no TCP); -BlacklistThreshold: a wrong
    # password does not lock the client out of the next capture; -r: no key autorepeat (on this busy machine a key's
    # release can come late, and the X server would repeat the key)
    start_server xvnc in_srv Xvnc $VNC_SDISP -geometry "${VNC_GEOM:-640x480}" -depth 24 -desktop psm-srv -nolisten tcp -ac -r \
        -interface $SRV4 -rfbport 5900 -SecurityTypes "$sec" -PasswordFile "$VNC_DIR/passwd" \
        -BlacklistThreshold 1000 "$@"
    wait_port $SRV4 5900
    wait_x $SRV $VNC_SDISP
    vnc_xterm $VNC_SDISP
}

# vnc_client_x: the viewer's own X server (Xvfb, VNC_CSIZE or 1024x768, depth VNC_CDEPTH or 24)
vnc_client_x() {
    rm -f "/tmp/.X${VNC_CDISP#:}-lock" "/tmp/.X11-unix/X${VNC_CDISP#:}"
    start_server xvfb in_cli Xvfb $VNC_CDISP -screen 0 "${VNC_CSIZE:-1024x768}x${VNC_CDEPTH:-24}" -nolisten tcp -ac -r
    wait_x $CLI $VNC_CDISP
}

# vnc_viewer NAME CMD...: start a viewer on the client's display, wait for its window (named after the
# desktop, psm-srv), give it the keyboard focus and put the pointer in it
VNC_WIN=
VNC_VIEWER=
vnc_viewer() {
    local name=$1 try _; shift
    for try in 1 2; do
        start_server "$name" in_cli env DISPLAY=$VNC_CDISP HOME="$VNC_DIR/home" "$@"
        VNC_VIEWER=${SERVER_PGIDS[-1]}
        VNC_WIN=
        for _ in $(seq 1 50); do
            VNC_WIN=$(cx xdotool search --onlyvisible --name 'psm-srv' 2>/dev/null | head -1) && [ -n "$VNC_WIN" ] && break
            sleep 0.2
        done
        [ -z "$VNC_WIN" ] || break
        # once, a viewer could not open the fresh Xvfb that had just answered xdpyinfo: then it has not connected
        grep -q "Can't open display" "$WORK/$name.log" || break
        log "$name: the viewer could not open its display; again"
        sleep 1
    done
    [ -n "$VNC_WIN" ] || die "$name: no viewer window"
    sleep 1.5   # the first screen
    # no window manager: focus the viewer's window (FLTK takes keys only when it has the focus)
    cx xdotool windowfocus --sync "$VNC_WIN"
    vnc_point 320 240
    sleep 0.5
}
# vnc_point X Y: the pointer to X,Y of the remote screen (the viewer's window has no frame: its 0,0 is the
# remote 0,0)
vnc_point() { cx xdotool mousemove --window "$VNC_WIN" "$1" "$2"; }
# vnc_click X Y BUTTON: one click of BUTTON (1 left, 2 middle, 3 right) at X,Y
vnc_click() {
    vnc_point "$1" "$2"
    sleep 0.3
    cx xdotool click "$3"
    sleep 0.5
}
# vnc_type TEXT: type TEXT into the viewer key by key, 150 ms apart, then Return
vnc_type() {
    cx xdotool type --delay 150 -- "$1"
    sleep 0.3
    cx xdotool key Return
    sleep 1
}
# vnc_clip_to_server TEXT: TEXT on the viewer side's CLIPBOARD and PRIMARY while the pointer is outside the
# viewer's window, then the pointer back in (TigerVNC's viewer tells the server when the clipboard changes,
# TightVNC's sends the selection when the pointer enters its window)
vnc_clip_to_server() {
    cx xdotool mousemove 1010 750
    sleep 0.5
    printf '%s' "$1" | cx xclip -selection clipboard
    printf '%s' "$1" | cx xclip -selection primary
    # and CUT_BUFFER0, as an xterm's selection does: TightVNC's viewer sends PRIMARY only when the cut buffer is
    # newer than what it sent last (xclip does not answer the TIMESTAMP target it asks for first)
    cx xprop -root -format CUT_BUFFER0 8s -set CUT_BUFFER0 "$1"
    sleep 0.5
    vnc_point 320 240
    sleep 1
}
# vnc_clip_from_server NAME TEXT: TEXT on the server's CLIPBOARD and PRIMARY; then an application on the
# viewer side pastes it (TigerVNC's viewer fetches the text only then); what it got goes to $VNC_DIR/NAME.clip
vnc_clip_from_server() {
    printf '%s' "$2" | sx xclip -selection clipboard
    printf '%s' "$2" | sx xclip -selection primary
    sleep 1
    cx timeout 5 xclip -o -selection clipboard > "$VNC_DIR/$1.clip" 2>/dev/null || true
    sleep 0.5
}
# vnc_screenshot NAME: the server's screen as PNG, after a pause so that the last update reached the viewer;
# what the viewer shows is compared with it (the count of differing pixels goes to $VNC_DIR/NAME.diff)
vnc_screenshot() {
    sleep "${VNC_PAUSE:-2}"
    if [ "${VNC_SHOT:-}" = qemu ]; then
        qemu_screendump "$VNC_DIR/$1-end.ppm"
        $CONVERT "ppm:$VNC_DIR/$1-end.ppm" "png24:$VNC_PNG/$1-end.png"
    else
        sx xwd -root -silent > "$VNC_DIR/$1-end.xwd"
        $CONVERT "xwd:$VNC_DIR/$1-end.xwd" "png24:$VNC_PNG/$1-end.png"
    fi
    [ -n "$VNC_WIN" ] || return 0   # the scripted client shows nothing
    cx xwd -id "$VNC_WIN" -silent > "$VNC_DIR/$1-viewer.xwd" 2>/dev/null || true
    $CONVERT "xwd:$VNC_DIR/$1-viewer.xwd" "png24:$VNC_DIR/$1-viewer.png" 2>/dev/null || true
    $COMPARE -metric AE "$VNC_PNG/$1-end.png" "$VNC_DIR/$1-viewer.png" null: 2> "$VNC_DIR/$1.diff" || true
    log "$1: the viewer's window differs from the server's screen in $(cat "$VNC_DIR/$1.diff") pixels"
    # lossy (JPEG): the viewer's own last frame goes next to the screenshot
    [ "$(cat "$VNC_DIR/$1.diff")" = 0 ] || cp "$VNC_DIR/$1-viewer.png" "$VNC_PNG/$1-viewer.png"
}
# vnc_close: end the viewer (SIGTERM; it closes the connection), then the capture and the servers
vnc_close() {
    kill -TERM -- "-$VNC_VIEWER" 2>/dev/null || true
    sleep 0.5
    stop_capture
    stop_servers
}
# vnc_typed NAME TEXT: the keys that crossed the wire (scripts/rfb-summary.py; Shift presses left out) are TEXT
vnc_typed() {
    local got
    got=$($PY "$SCRIPTS/rfb-summary.py" "$OUT/$1.pcap" | sed -n "s/^  typed: '\(.*\)'$/\1/p" | sed 's/<Shift_L>//g')
    [ "$got" = "$2" ] || die "$1: typed '$got', want '$2'"
}
# vnc_clips NAME: the standard session's clipboard texts crossed the wire both ways
vnc_clips() {
    local sum
    sum=$($PY "$SCRIPTS/rfb-summary.py" "$OUT/$1.pcap")
    grep -q "^  client ClientCutText.*'echo pasted from the viewer" <<<"$sum" || die "$1: no ClientCutText with the viewer's text"
    grep -q "^  server ServerCutText.*'copied on the server" <<<"$sum" || die "$1: no ServerCutText with the server's text"
}
# vnc_want NAME PATTERN FILE: FILE (in $WORK) has a line matching PATTERN
vnc_want() { grep -q -- "$2" "$WORK/$3" || die "$1: no '$2' in $3"; }

# A session: login, three commands typed, a left click, the viewer's clipboard pasted into the xterm with the
# middle button and run, the server's clipboard pasted on the viewer side.
VNC_SESSION_KEYS='id<Return>echo hello vnc<Return>hostname<Return><Return>'
vnc_session() {   # vnc_session NAME
    vnc_click 320 240 1
    vnc_type 'id'
    vnc_type 'echo hello vnc'
    vnc_type 'hostname'
    vnc_clip_to_server 'echo pasted from the viewer'
    vnc_click 200 300 2
    sleep 0.5
    cx xdotool key Return
    sleep 1
    vnc_clip_from_server "$1" 'copied on the server'
}

vnc_capture_vncauth() {
    vnc_server VncAuth
    vnc_client_x
    start_capture vnc-vncauth
    vnc_viewer vnc-vncauth.viewer vncviewer -passwd "$VNC_DIR/passwd" $SRV4::5900
    vnc_session vnc-vncauth
    vnc_screenshot vnc-vncauth
    vnc_close
    vnc_typed vnc-vncauth "$VNC_SESSION_KEYS"
    vnc_clips vnc-vncauth
    vnc_want vnc-vncauth 'Choosing security type VncAuth(2)' vnc-vncauth.viewer.log
    [ "$(cat "$VNC_DIR/vnc-vncauth.clip")" = 'copied on the server' ] || die "vnc-vncauth: the server's clipboard did not arrive"
}

# a short session: a left click, one line typed
vnc_short() {   # vnc_short LINE
    vnc_click 320 240 1
    vnc_type "$1"
}

# vnc_tiger NAME SECURITYTYPES [vncviewer parameter...]: Xvnc and the TigerVNC viewer, then the standard session
# (SESSION=short LINE: the short one)
vnc_tiger() {
    local name=$1 sec=$2; shift 2
    vnc_server "$sec"
    vnc_client_x
    start_capture "$name"
    vnc_viewer "$name.viewer" vncviewer -passwd "$VNC_DIR/passwd" "$@" $SRV4::5900
    if [ -n "${VNC_LINE:-}" ]; then vnc_short "$VNC_LINE"; else vnc_session "$name"; fi
    vnc_screenshot "$name"
    vnc_close
    [ -z "${VNC_TLS:-}" ] || return 0   # encrypted: nothing to check on the wire
    if [ -n "${VNC_LINE:-}" ]; then vnc_typed "$name" "$VNC_LINE<Return>"; else vnc_typed "$name" "$VNC_SESSION_KEYS"; vnc_clips "$name"; fi
}

# VNC authentication with the wrong password: the viewer shows the server's reason and is ended after 4 s
vnc_capture_wrong_password() {
    vnc_server VncAuth
    vnc_client_x
    start_capture vnc-wrong-password
    start_server vnc-wrong-password.viewer in_cli env DISPLAY=$VNC_CDISP HOME="$VNC_DIR/home" vncviewer -passwd "$VNC_DIR/wrong" \
        $SRV4::5900
    VNC_VIEWER=${SERVER_PGIDS[-1]}
    sleep 4
    vnc_close
    vnc_want vnc-wrong-password 'Authentication failure' vnc-wrong-password.viewer.log
}

vnc_capture_none()     { vnc_tiger vnc-none None -SecurityTypes None; vnc_want vnc-none 'Choosing security type None(1)' vnc-none.viewer.log; }
# VeNCrypt, TLS with anonymous Diffie-Hellman (no certificate), then VNC authentication inside
vnc_capture_vencrypt() { VNC_TLS=1 VNC_LINE='echo over tls' vnc_tiger vnc-vencrypt TLSVnc -SecurityTypes TLSVnc; vnc_want vnc-vencrypt 'TLSVnc' vnc-vencrypt.viewer.log; }
# the xterm scrolls (seq 1 60): Xvnc sends the moved lines as CopyRect
vnc_capture_copyrect() { VNC_LINE='seq 1 60' vnc_tiger vnc-copyrect VncAuth; }

# vnc_tight NAME SECURITYTYPES [xtightvncviewer option...]: Xvnc (and the parameter VNC_XVNC) and TightVNC's viewer,
# then the standard session (VNC_LINE=LINE: the short one)
vnc_tight() {
    local name=$1 sec=$2; shift 2
    vnc_server "$sec" ${VNC_XVNC:+"$VNC_XVNC"}
    vnc_client_x
    start_capture "$name"
    vnc_viewer "$name.viewer" xtightvncviewer -passwd "$VNC_DIR/passwd" "$@" $SRV4::5900
    if [ -n "${VNC_LINE:-}" ]; then vnc_short "$VNC_LINE"; else vnc_session "$name"; fi
    vnc_screenshot "$name"
    vnc_close
    [ -z "${VNC_TLS:-}" ] || return 0   # encrypted: nothing to check on the wire
    if [ -n "${VNC_LINE:-}" ]; then vnc_typed "$name" "$VNC_LINE<Return>"; else vnc_typed "$name" "$VNC_SESSION_KEYS"; vnc_clips "$name"; fi
}

# TightVNC's viewer speaks 3.8 to Xvnc; Xvnc's Protocol3.3 makes it 3.3 (the server then picks the security type)
vnc_capture_rfb33()   { VNC_XVNC=-Protocol3.3 vnc_tight vnc-rfb33 VncAuth; }
# one encoding each: TightVNC's viewer lists only the encodings asked for, so Xvnc uses nothing else
vnc_capture_hextile() { VNC_LINE='echo hextile' vnc_tight vnc-hextile VncAuth -encodings 'copyrect hextile'; }
vnc_capture_rre()     { VNC_LINE='echo rre' vnc_tight vnc-rre VncAuth -encodings 'copyrect rre'; }
# Raw in 8 bits per pixel (BGR233), so the first screen is 300 KB, not 1.2 MB
vnc_capture_raw()     { VNC_LINE='echo raw' vnc_tight vnc-raw VncAuth -encodings raw -bgr233; }

# vnc_pyclient NAME VERSION ENCODINGS LINE...: the scripted client (scripts/vnc-client.py, security None) against
# the server that runs; the screenshot when it has typed everything, then it closes
vnc_pyclient() {
    local name=$1 ver=$2 encs=$3 pid _; shift 3
    rm -f "$VNC_DIR/$name.done" "$VNC_DIR/$name.stop"
    start_capture "$name"
    in_cli $PY "$SCRIPTS/vnc-client.py" $SRV4 5900 "$ver" "$encs" "$VNC_DIR/$name.done" "$VNC_DIR/$name.stop" "$@" \
        >"$WORK/$name.out" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
        [ -e "$VNC_DIR/$name.done" ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.1
    done
    [ -e "$VNC_DIR/$name.done" ] || die "$name: the client did not finish: $(cat "$WORK/$name.out")"
    VNC_WIN=
    vnc_screenshot "$name"
    touch "$VNC_DIR/$name.stop"
    wait $pid || die "$name: the client failed: $(cat "$WORK/$name.out")"
    sleep 0.5
    stop_capture
    stop_servers
    local l want=
    for l in "$@"; do want+="$l<Return>"; done
    vnc_typed "$name" "$want"
}
# encoding numbers: 16 ZRLE, 7 Tight, -260 TightPNG, 1 CopyRect, -239 Cursor, -223 DesktopSize, -224 LastRect
vnc_capture_zrle()  { vnc_server None; vnc_pyclient vnc-zrle 3.8 16,1,-239,-223 'echo zrle'; }
vnc_capture_rfb37() { vnc_server None; vnc_pyclient vnc-rfb37 3.7 7,1,-239,-223,-224 'echo rfb 3.7'; }

# TightPNG: neither Xvnc nor Debian's libvncserver 0.9.14 (x11vnc: "ignoring unsupported encoding type tightPng")
# has it; QEMU's VNC server does. QEMU 7.2 (qemu-system-x86, TCG, no disk, no network) shows SeaBIOS's text screen
# (720x400) and stops at "No bootable device". No Debian viewer asks for TightPNG, so the scripted client does
# (TightPNG first, no JPEG quality: PNG for every rectangle that is not one colour); it clicks once and types nothing
# (the BIOS would not show it). The screenshot is QEMU's own (monitor command screendump, PPM).
vnc_capture_tightpng() {
    vnc_files
    rm -f "$VNC_DIR/qemu.mon"
    start_server qemu in_srv qemu-system-x86_64 -nodefaults -machine pc -accel tcg -m 32 -vga std -display none \
        -name psm-srv -vnc $SRV4:0 -monitor "unix:$VNC_DIR/qemu.mon,server,nowait" -boot menu=off
    wait_port $SRV4 5900
    sleep 4   # SeaBIOS has written its screen
    VNC_SHOT=qemu vnc_pyclient vnc-tightpng 3.8 -260,1,-239,-223,-224
}
# qemu_screendump FILE.ppm: QEMU's screen through its monitor socket
qemu_screendump() {
    $PY - "$VNC_DIR/qemu.mon" "$1" <<'PYEOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
time.sleep(0.3)
s.sendall(b"screendump %s\n" % sys.argv[2].encode())
time.sleep(1)
s.close()
PYEOF
}

# Tight with JPEG: the viewer asks for quality 5 (no AutoSelect); alice shows a colour gradient with ImageMagick's
# display, which Xvnc sends as JPEG (the xterm's two colours never are)
vnc_capture_tight_jpeg() {
    VNC_PAUSE=6 VNC_LINE='display -geometry +340+260 -size 256x160 gradient:orange-navy' \
        vnc_tiger vnc-tight-jpeg VncAuth -AutoSelect=0 -PreferredEncoding Tight -FullColor -QualityLevel 5
}

# Desktop size: alice types xrandr (the server resizes: ExtendedDesktopSize to the viewer), then the viewer's window
# is made 720x540 (the viewer asks with SetDesktopSize; the server agrees)
vnc_capture_resize() {
    vnc_server VncAuth
    vnc_client_x
    start_capture vnc-resize
    vnc_viewer vnc-resize.viewer vncviewer -passwd "$VNC_DIR/passwd" $SRV4::5900
    sx xrandr -q >&2
    vnc_click 320 240 1
    vnc_type 'xrandr -s 800x600'
    sleep 1
    cx xdotool windowsize "$VNC_WIN" 720 540
    sleep 2
    vnc_point 320 240
    vnc_type 'echo resized'
    vnc_screenshot vnc-resize
    vnc_close
    vnc_typed vnc-resize 'xrandr -s 800x600<Return>echo resized<Return>'
}

# TightVNC's viewer on a 16-bit display asks for that pixel format (RGB565): Tight's pixels are then 2 bytes, not 3
vnc_capture_tight_16bpp() { VNC_CDEPTH=16 VNC_LINE='echo sixteen bits' vnc_tight vnc-tight-16bpp VncAuth; }

# Keys beyond letters, with TightVNC's viewer (plain KeyEvents): a typo fixed with four BackSpaces, a command stopped with
# Ctrl-C, Tab completion. What bash ran: `echo fixed`, `sleep 30` (interrupted), `ls /usr/`.
vnc_capture_keys() {
    vnc_server VncAuth
    vnc_client_x
    start_capture vnc-keys
    vnc_viewer vnc-keys.viewer xtightvncviewer -passwd "$VNC_DIR/passwd" $SRV4::5900
    vnc_click 320 240 1
    cx xdotool type --delay 150 -- 'echo typo'
    sleep 0.5
    cx xdotool key --delay 250 BackSpace BackSpace BackSpace BackSpace
    sleep 0.3
    vnc_type 'fixed'
    vnc_type 'sleep 30'
    sleep 0.5
    cx xdotool key ctrl+c
    sleep 1
    cx xdotool type --delay 150 -- 'ls /us'
    sleep 0.3
    cx xdotool key Tab
    sleep 0.5
    cx xdotool key Return
    sleep 1
    vnc_screenshot vnc-keys
    vnc_close
    vnc_typed vnc-keys 'echo typo<BackSpace><BackSpace><BackSpace><BackSpace>fixed<Return>sleep 30<Return><Control_L>cls /us<Tab><Return>'
}

# A busy 1080p session, for measuring (docs/PERFORMANCE.md, "VNC"); opt-in, not in ALL, and written to bench/
# (git-ignored; goldens read every pcap in pcaps/): Xvnc 1920x1080 with alice's xterm full screen, TigerVNC's viewer
# under a 1920x1080 Xvfb. For VNC_BUSY_SECS (default 40) s alice's xterm floods (find / in a loop), ImageMagick's
# animate cycles four 640x480 plasma pictures (Xvnc sends them as JPEG when the viewer allows it), xclock and xeyes
# repaint and xdotool moves a window about every 0.5 s. Then the viewer is ended; no screenshot (the screen never
# stops changing). vnc-busy-1080p: the viewer's defaults (Tight, JPEG chosen by AutoSelect); vnc-busy-1080p-lossless:
# -NoJPEG -PreferredEncoding ZRLE -AutoSelect=0 -FullColor.
vnc_busy() {   # vnc_busy NAME [vncviewer parameter...]
    local name=$1 secs=${VNC_BUSY_SECS:-40} i end; shift
    local OUT=${PSM_BENCH_OUT:-$HERE/../bench}   # local: the captures after this one still go to pcaps/
    mkdir -p "$OUT"
    VNC_XTERM=(xterm -geometry 319x82+0+0 -fn fixed -xrm 'XTerm*cursorBlink: false' +sb -bc -ls -title alice)
    VNC_GEOM=1920x1080 vnc_server VncAuth
    VNC_CSIZE=1920x1080 vnc_client_x
    for i in 1 2 3 4; do $CONVERT -seed $i -size 640x480 plasma:fractal "$VNC_DIR/plasma$i.png"; done
    start_capture "$name"
    vnc_viewer "$name.viewer" vncviewer -passwd "$VNC_DIR/passwd" "$@" $SRV4::5900
    vnc_click 960 540 1
    vnc_type "timeout $secs sh -c 'while :; do find / -xdev 2>/dev/null; done'"
    start_server "$name.animate" in_srv env DISPLAY=$VNC_SDISP animate -geometry +1200+100 -delay 25 "$VNC_DIR"/plasma[1-4].png
    start_server "$name.xclock" in_srv env DISPLAY=$VNC_SDISP xclock -geometry 300x300+100+600 -update 1
    start_server "$name.xeyes" in_srv env DISPLAY=$VNC_SDISP xeyes -geometry 300x200+500+700
    sleep 1
    local eyes
    eyes=$(sx xdotool search --class xeyes 2>/dev/null | head -1 || true)
    end=$((SECONDS + secs - 3))
    i=0
    while [ $SECONDS -lt $end ]; do
        i=$(( (i + 1) % 20 ))
        [ -z "$eyes" ] || sx xdotool windowmove "$eyes" $((100 + i * 80)) $((600 + (i % 5) * 80)) 2>/dev/null || true
        sx xdotool mousemove $((200 + i * 70)) $((300 + (i % 7) * 60)) 2>/dev/null || true
        sleep 0.5
    done
    sleep 3
    vnc_close
}
vnc_capture_busy_1080p()          { vnc_busy vnc-busy-1080p; }
vnc_capture_busy_1080p_lossless() { vnc_busy vnc-busy-1080p-lossless -AutoSelect=0 -PreferredEncoding ZRLE -NoJPEG -FullColor; }
