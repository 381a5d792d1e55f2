# typing.tcl - sourced by the expect scripts that type a file of command lines into a shell
# (telnet-lines.exp, rlogin-lines.exp). One command line per line of the file; blank lines and
# lines starting with # are skipped. Each line starts with how it is sent:
#   type TEXT    key by key with human timing (send -h). <NAME> is one special key, sent as one
#                write with a short pause before and after it (as a person looks at the screen):
#                <BS> 0x08, <DEL> 0x7f, <TAB> 0x09, <C-A> 0x01, <C-E> 0x05, <C-U> 0x15, <C-W> 0x17,
#                <LEFT> ESC [ D, <RIGHT> ESC [ C, <DELETE> ESC [ 3 ~ (the keys of an xterm)
#   paste TEXT   the whole line and its CR in one write, as a script or a quick paste sends it
#                (a <NAME> in it is that key's bytes, in the same write)
#   bpaste TEXT  a paste from an xterm into bash's bracketed-paste mode: ESC [ 200 ~ TEXT ESC [ 201 ~
#                in one write, then Enter on its own
# After the CR the shell prompt is awaited (bash may follow it with an ESC [ K); a password prompt (sudo) is answered by typing $pass.
# The line `type exit` (or `paste exit`) ends the session: the script waits for the connection to close.

set psm_keys [dict create BS "\x08" DEL "\x7f" TAB "\t" C-A "\x01" C-E "\x05" C-U "\x15" C-W "\x17" \
    LEFT "\033\[D" RIGHT "\033\[C" DELETE "\033\[3~"]

proc type_keys {text} {
    global psm_keys
    while {[regexp -indices {<(BS|DEL|TAB|C-A|C-E|C-U|C-W|LEFT|RIGHT|DELETE)>} $text whole name]} {
        set before [string range $text 0 [expr {[lindex $whole 0] - 1}]]
        if {$before ne ""} { send -h -- $before }
        sleep 0.5
        send -- [dict get $psm_keys [string range $text {*}$name]]
        sleep 0.5
        set text [string range $text [expr {[lindex $whole 1] + 1}] end]
    }
    if {$text ne ""} { send -h -- $text }
}

# a line's text with each <NAME> replaced by the key's bytes
proc key_bytes {text} {
    global psm_keys
    set map {}
    dict for {name bytes} $psm_keys { lappend map "<$name>" $bytes }
    return [string map $map $text]
}

proc run_lines {file pass} {
    set f [open $file]
    set lines [split [read $f] "\n"]
    close $f
    foreach l $lines {
        if {$l eq "" || [string index $l 0] eq "#"} continue
        if {![regexp {^(type|paste|bpaste) (.*)$} $l -> how text]} {
            puts stderr "bad line in $file: $l"
            exit 1
        }
        sleep 1
        switch $how {
            type   { type_keys "$text\r" }
            paste  { send -- "[key_bytes $text]\r" }
            bpaste { send -- "\033\[200~$text\033\[201~"; sleep 0.5; send -- "\r" }
        }
        if {$text eq "exit"} {
            expect eof
            return
        }
        expect {
            -re {assword[^\r\n]*: $} { sleep 0.8; send -h -- "$pass\r"; exp_continue }
            -re {\$ (\033\[[0-9;]*[A-Za-z])*$} { }
            timeout { puts stderr "no prompt after: $text"; exit 1 }
        }
    }
    puts stderr "$file does not end with exit"
    exit 1
}
