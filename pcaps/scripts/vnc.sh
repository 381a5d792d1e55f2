# shellcheck shell=bash
# vnc.sh - sourced by make-captures.sh: TigerVNC's Xvnc (640x480, depth 24, an xterm of alice inside) in the
# server namespace, a real viewer under Xvfb in the client namespace, typed and clicked by xdotool.
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
    # password does not lock the client out of the next capture
    start_server xvnc in_srv Xvnc $VNC_SDISP -geometry 640x480 -depth 24 -desktop psm-srv -nolisten tcp -ac \
        -interface $SRV4 -rfbport 5900 -SecurityTypes "$sec" -PasswordFile "$VNC_DIR/passwd" \
        -BlacklistThreshold 1000 "$@"
    wait_port $SRV4 5900
    wait_x $SRV $VNC_SDISP
    vnc_xterm $VNC_SDISP
}

# vnc_client_x: the viewer's own X server (Xvfb, 1024x768)
vnc_client_x() {
    rm -f "/tmp/.X${VNC_CDISP#:}-lock" "/tmp/.X11-unix/X${VNC_CDISP#:}"
    start_server xvfb in_cli Xvfb $VNC_CDISP -screen 0 1024x768x24 -nolisten tcp -ac
    wait_x $CLI $VNC_CDISP
}

# vnc_viewer NAME CMD...: start a viewer on the client's display, wait for its window (named after the
# desktop, psm-srv), give it the keyboard focus and put the pointer in it
VNC_WIN=
VNC_VIEWER=
vnc_viewer() {
    local name=$1 _; shift
    start_server "$name" in_cli env DISPLAY=$VNC_CDISP HOME="$VNC_DIR/home" "$@"
    VNC_VIEWER=${SERVER_PGIDS[-1]}
    VNC_WIN=
    for _ in $(seq 1 50); do
        VNC_WIN=$(cx xdotool search --onlyvisible --name 'psm-srv' 2>/dev/null | head -1) && [ -n "$VNC_WIN" ] && break
        sleep 0.2
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
# vnc_clip_to_server TEXT: TEXT on the viewer side's CLIPBOARD and PRIMARY (the viewer tells the server)
vnc_clip_to_server() {
    printf '%s' "$1" | cx xclip -selection clipboard
    printf '%s' "$1" | cx xclip -selection primary
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
    sleep 2
    sx xwd -root -silent > "$VNC_DIR/$1-end.xwd"
    $CONVERT "xwd:$VNC_DIR/$1-end.xwd" "png:$VNC_PNG/$1-end.png"
    cx xwd -id "$VNC_WIN" -silent > "$VNC_DIR/$1-viewer.xwd" 2>/dev/null || true
    $CONVERT "xwd:$VNC_DIR/$1-viewer.xwd" "png:$VNC_DIR/$1-viewer.png" 2>/dev/null || true
    $COMPARE -metric AE "$VNC_PNG/$1-end.png" "$VNC_DIR/$1-viewer.png" null: 2> "$VNC_DIR/$1.diff" || true
    log "$1: the viewer's window differs from the server's screen in $(cat "$VNC_DIR/$1.diff") pixels"
}
# vnc_close: end the viewer (SIGTERM; it closes the connection), then the capture and the servers
vnc_close() {
    kill -TERM -- "-$VNC_VIEWER" 2>/dev/null || true
    sleep 0.5
    stop_capture
    stop_servers
}
# vnc_want NAME PATTERN FILE: FILE (in $WORK) has a line matching PATTERN
vnc_want() { grep -q -- "$2" "$WORK/$3" || die "$1: no '$2' in $3"; }

# A session: login, three commands typed, a left click, the viewer's clipboard pasted into the xterm with the
# middle button and run, the server's clipboard pasted on the viewer side.
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
    vnc_viewer vncviewer vncviewer -passwd "$VNC_DIR/passwd" $SRV4::5900
    vnc_session vnc-vncauth
    vnc_screenshot vnc-vncauth
    vnc_close
    vnc_want vnc-vncauth 'Choosing security type VncAuth(2)' vncviewer.log
    [ "$(cat "$VNC_DIR/vnc-vncauth.clip")" = 'copied on the server' ] || die "vnc-vncauth: the server's clipboard did not arrive"
}
