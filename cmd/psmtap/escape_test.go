package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// hostileText is what a session can put in a user name, a command or a
// banner: a window title (OSC 0), a clipboard write (OSC 52), a cursor
// position report request (CSI 6n), an 8-bit CSI in UTF-8, a bidi override.
const hostileText = "x\x1b]0;owned\x07\x1b]52;c;Y3VybCBldmlsfHNo\x07\x1b[6n\u009b6n\u202etxt.exe"

// terminalSafe fails when out holds anything a terminal would obey.
func terminalSafe(t *testing.T, what, out string) {
	t.Helper()
	for i, c := range []byte(out) {
		if c < 0x20 && c != '\n' || c == 0x7f {
			t.Fatalf("%s: control byte %#x at %d in\n%q", what, c, i, out)
		}
	}
	if !utf8.ValidString(out) || strings.Contains(out, "\u009b") || strings.Contains(out, "\u202e") {
		t.Fatalf("%s: C1 or bidi control in\n%q", what, out)
	}
}

// TestSearchTableEscapes: what the index holds came from the network; the
// search tables show it escaped, sessions and events alike.
func TestSearchTableEscapes(t *testing.T) {
	_, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatal(r.stderr)
	}
	h, _ := json.Marshal(hostileText)
	sess := `{"create":{"_id":"a"}}
{"@timestamp":"2026-11-26T00:00:00Z","event":{"type":["end"],"id":"a"},"network":{"protocol":"telnet"},"source":{"ip":"192.0.2.10","port":4000},"destination":{"ip":"192.0.2.20","port":23},"user":{"name":` + string(h) + `},"psm":{"state":"closed","commands":[` + string(h) + `]}}
`
	ev := `{"create":{"_id":"e"}}
{"@timestamp":"2026-11-26T00:00:01Z","event":{"dataset":"psmtap.activity","action":"command","id":"e"},"network":{"protocol":"telnet"},"source":{"ip":"192.0.2.10","port":4000},"destination":{"ip":"192.0.2.20","port":23},"user":{"name":` + string(h) + `},"process":{"command_line":` + string(h) + `},"psm":{"session_id":"s"}}
`
	alert := `{"create":{"_id":"al"}}
{"@timestamp":"2026-11-26T00:00:02Z","event":{"kind":"alert","dataset":"psmtap.alert","id":"al"},"rule":{"name":"r"},"psm":{"alert":{"level":"high"},"session_id":"s"},"user":{"name":` + string(h) + `},"message":` + string(h) + `}
`
	for target, body := range map[string]string{"logs-psmtap.session-default": sess, "logs-psmtap.activity-default": ev, "logs-psmtap.alert-default": alert} {
		res, err := http.Post(url+"/"+target+"/_bulk", "application/x-ndjson", strings.NewReader(body))
		if err != nil || res.StatusCode != 200 {
			t.Fatal(err, res)
		}
		res.Body.Close()
	}
	r := run(t, "search", "--es-url", url)
	if !strings.Contains(r.stdout, "1 of 1 sessions") || !strings.Contains(r.stdout, `x\x1b]0;owned`) {
		t.Fatalf("sessions: %s%s", r.stdout, r.stderr)
	}
	terminalSafe(t, "search", r.stdout)
	r = run(t, "search", "--events", "--es-url", url)
	if !strings.Contains(r.stdout, "1 of 1 events") || !strings.Contains(r.stdout, `x\x1b]0;owned`) {
		t.Fatalf("events: %s%s", r.stdout, r.stderr)
	}
	terminalSafe(t, "search --events", r.stdout)
	r = run(t, "search", "--alerts", "--es-url", url)
	if !strings.Contains(r.stdout, "1 of 1 alerts") || !strings.Contains(r.stdout, `x\x1b]0;owned`) {
		t.Fatalf("alerts: %s%s", r.stdout, r.stderr)
	}
	terminalSafe(t, "search --alerts", r.stdout)
}

// TestRulesListEscapes: a rule file's title is shown escaped too.
func TestRulesListEscapes(t *testing.T) {
	dir := t.TempDir()
	rule := "title: \"evil \\x1b]0;owned\\x07\\x1b]52;c;eA==\\x07 title\"\nid: 6b0e2c1e-1b1e-4c55-9a4b-0c1d2e3f4a5b\nlogsource:\n  product: psmtap\n  category: command\n" +
		"detection:\n  selection:\n    process.command_line|contains: x\n  condition: selection\nlevel: low\n"
	if err := os.WriteFile(filepath.Join(dir, "r.yml"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "rules", "list", "--rules", dir)
	if r.code != 0 || !strings.Contains(r.stdout, `evil \x1b]0;owned`) {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	terminalSafe(t, "rules list", r.stdout)
}
