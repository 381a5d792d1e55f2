package main

import (
	"sort"
	"strings"
	"testing"
	"time"
)

// sessionStory is one session record with the activity events that name it.
type sessionStory struct {
	rec    map[string]any
	events []map[string]any
}

// stories runs read --events on a capture and groups events under their
// session record; an event whose psm.session_id names no record fails.
func stories(t *testing.T, capture string, extra ...string) []*sessionStory {
	t.Helper()
	r := run(t, append(append([]string{"read", "--events"}, extra...), capture)...)
	if r.code != 0 && !strings.Contains(capture, "truncated") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	byID := map[string]*sessionStory{}
	var out []*sessionStory
	var events []map[string]any
	for _, d := range records(t, r.stdout) {
		switch str(d, "event.dataset") {
		case "psmtap.session":
			s := &sessionStory{rec: d}
			byID[str(d, "psm.session_id")] = s
			out = append(out, s)
			if str(d, "psm.session_id") != str(d, "event.id") {
				t.Errorf("%s: psm.session_id %q != event.id %q", capture, str(d, "psm.session_id"), str(d, "event.id"))
			}
		case "psmtap.activity":
			events = append(events, d)
		default:
			t.Fatalf("%s: document of dataset %q", capture, str(d, "event.dataset"))
		}
	}
	for _, ev := range events {
		s := byID[str(ev, "psm.session_id")]
		if s == nil {
			t.Fatalf("%s: event %s names no session record", capture, str(ev, "event.id"))
		}
		s.events = append(s.events, ev)
	}
	return out
}

func (s *sessionStory) of(action string) []map[string]any {
	var out []map[string]any
	for _, ev := range s.events {
		if str(ev, "event.action") == action {
			out = append(out, ev)
		}
	}
	return out
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %q: %v", s, err)
	}
	return v
}

// TestEventsMatchRecords: over every bundled capture, each session's events
// fall inside the session, in order, with ids <session>-<sequence>, and they
// count what the record counts: a login event per psm.login.attempts, a
// command event (databases: a query event) per psm.commands entry (same text), a file event per
// ftp.files entry (transfers, deletions, renames).
func TestEventsMatchRecords(t *testing.T) {
	total := map[string]int{}
	for _, c := range captures(t) {
		for _, s := range stories(t, c, "--all") {
			sid := str(s.rec, "psm.session_id")
			start, end := parseTime(t, str(s.rec, "event.start")), parseTime(t, str(s.rec, "event.end"))
			var prev time.Time
			seen := map[string]bool{}
			for i, ev := range s.events {
				at := parseTime(t, str(ev, "@timestamp"))
				if at.Before(start) || at.After(end) {
					t.Errorf("%s %s: event %s at %v outside the session %v..%v", c, sid, str(ev, "event.id"), at, start, end)
				}
				if at.Before(prev) {
					t.Errorf("%s %s: event %s at %v before the previous one", c, sid, str(ev, "event.id"), at)
				}
				prev = at
				if want := sid + "-" + str(ev, "event.sequence"); str(ev, "event.id") != want || str(ev, "event.sequence") != itoa(i+1) {
					t.Errorf("%s: event %d has id %q sequence %s", c, i, str(ev, "event.id"), str(ev, "event.sequence"))
				}
				if seen[str(ev, "event.id")] {
					t.Errorf("%s: event id %s twice", c, str(ev, "event.id"))
				}
				seen[str(ev, "event.id")] = true
				for _, f := range []string{"source.ip", "destination.port", "network.protocol", "network.community_id",
					"psm.proxy.type", "psm.proxy.target", "psm.proxy.user"} {
					if str(ev, f) != str(s.rec, f) {
						t.Errorf("%s: event %s %s=%q, session has %q", c, str(ev, "event.id"), f, str(ev, f), str(s.rec, f))
					}
				}
				total[str(ev, "event.action")]++
			}
			logins := s.of("login")
			if want := str(s.rec, "psm.login.attempts"); itoa(len(logins)) != orZero(want) {
				t.Errorf("%s %s (%s): %d login events, psm.login.attempts %q", c, sid, str(s.rec, "network.protocol"), len(logins), want)
			}
			var cmds []string
			for _, ev := range s.of("command") {
				cmds = append(cmds, str(ev, "process.command_line"))
			}
			for _, ev := range s.of("query") { // databases: psm.commands lists the statements
				if q := str(ev, "db.query.text"); q != "" {
					cmds = append(cmds, q)
				}
			}
			var want []string
			if a, ok := field(s.rec, "psm.commands").([]any); ok {
				for _, x := range a {
					want = append(want, x.(string))
				}
			}
			// Database sessions list statements in psm.commands and publish
			// query events, one per execution (dissectors/mysql tests them).
			if db := str(s.rec, "network.protocol") == "mysql"; !db && strings.Join(cmds, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s %s: command events %q, psm.commands %q", c, sid, cmds, want)
			}
			if files, ok := field(s.rec, "ftp.files").([]any); ok {
				var got []string
				for _, ev := range s.of("file") { // renames too: ftp.files lists them
					got = append(got, str(ev, "file.path"))
				}
				var w []string
				for _, f := range files {
					w = append(w, f.(string))
				}
				if strings.Join(got, ",") != strings.Join(w, ",") {
					t.Errorf("%s %s: file events %v, ftp.files %v", c, sid, got, w)
				}
			}
		}
	}
	// The bundled captures hold logins, commands and files of every kind:
	// a run that saw none of one did not work.
	var kinds []string
	for k := range total {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, a := range []string{"login", "command", "file", "session_kind", "security", "query"} {
		if total[a] == 0 {
			t.Errorf("no %s events over the bundled captures (saw %v)", a, kinds)
		}
	}
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

// TestEventsGroundTruth checks each session's activity events against what
// really happened when the captures were made (pcaps/README.md), written by
// hand: logins with their outcome (SSH's inferred), commands as the server
// received them, files with their size and direction, what the sessions
// turned out to be, and the security facts a team acts on.
func TestEventsGroundTruth(t *testing.T) {
	truth := map[string][][]string{ // capture -> sessions in record order -> events
		"telnet-login.pcap": {{"login alice failure password reason=Login incorrect", "login alice success password",
			"command id", "command whoami", "command exit"}},
		"telnet-port2323.pcap": {{"login bob success password", "command hostname", "command exit"}},
		"telnet-busybox.pcap":  {{"login alice success password", "command echo hello", "command stty size", "command exit"}},
		"rlogin.pcap":          {{"login alice success trusted_host", "command id", "command pwd", "command exit"}},
		"rsh.pcap": {{"command id", "login alice success trusted_host"},
			{"command ls /etc/hostname /nonexistent", "login alice success trusted_host"}},
		"ftp-vsftpd.pcap": {
			{"command USER alice 331", "login alice failure password reason=Login incorrect.", "command PASS **** 530", "command QUIT 221"},
			{"command USER alice 331", "login alice success password", "command PASS **** 230", "command SYST 215", "command FEAT 211",
				"command TYPE I 200", "command TYPE A 200", "command PASV 227", "command LIST 226", "command TYPE I 200",
				"command SIZE report.txt 213", "command PASV 227", "command RETR report.txt 226", "file access report.txt 57 download",
				"command MDTM report.txt 213", "command PASV 227", "command STOR upload.txt 226", "file creation upload.txt 53 upload",
				"command DELE old.txt 250", "file deletion old.txt", "command TYPE A 200", "command PASV 227", "command LIST 226",
				"command QUIT 221"}},
		"ftp-active.pcap": {{"command USER alice 331", "login alice success password", "command PASS **** 230", "command SYST 215",
			"command FEAT 211", "command TYPE I 200", "command TYPE A 200", "command PORT 192,0,2,10,215,163 200", "command LIST 226",
			"command TYPE I 200", "command SIZE report.txt 213", "command PORT 192,0,2,10,132,33 200", "command RETR report.txt 226",
			"file access report.txt 57 download", "command MDTM report.txt 213", "command QUIT 221"}},
		"ssh-password-interactive.pcap": {{"login success inferred", "session_kind interactive"}},
		"ssh-wrong-password.pcap":       {{"login failure inferred"}},
		"ssh-wrong-then-right.pcap": {{"login failure inferred", "login failure inferred", "login failure inferred",
			"login success inferred", "session_kind interactive"}},
		"ssh-port-forward.pcap":  {{"login success inferred", "session_kind tunnel"}},
		"ssh-reverse-shell.pcap": {{"login success inferred", "session_kind reverse"}},
		"ssh-scp-upload.pcap":    {{"login success inferred", "session_kind file_transfer", "file creation upload"}},
		"ssh-scp-download.pcap":  {{"login success inferred", "session_kind file_transfer", "file access download"}},
		"rdp-xrdp-rdpsec.pcap":   {{"security standard_security=true"}},
		"rdp-rdesktop.pcap":      {{"security standard_security=true"}},
		"rdp-xrdp-tls.pcap":      {{"security standard_security=false"}},
		"rdp-neg-failure.pcap":   {{"security failure"}},
	}
	describe := func(ev map[string]any) string {
		parts := []string{str(ev, "event.action")}
		switch str(ev, "event.action") {
		case "login":
			for _, f := range []string{"user.name", "event.outcome", "psm.login.method"} {
				if v := str(ev, f); v != "" {
					parts = append(parts, v)
				}
			}
			if str(ev, "psm.login.inferred") == "true" {
				parts = append(parts, "inferred")
			}
			if r := str(ev, "event.reason"); r != "" {
				parts = append(parts, "reason="+r)
			}
		case "command":
			parts = append(parts, str(ev, "process.command_line"))
			if c := str(ev, "psm.command.reply_code"); c != "" {
				parts = append(parts, c)
			}
		case "file":
			parts = append(parts, str(ev, "event.type"))
			if p := str(ev, "file.path"); p != "" {
				parts = append(parts, p, str(ev, "file.size"))
			}
			parts = append(parts, str(ev, "psm.file.direction"))
		case "session_kind":
			parts = append(parts, str(ev, "psm.kind"))
		case "security":
			if str(ev, "event.outcome") == "failure" {
				parts = append(parts, "failure")
			} else if v := str(ev, "rdp.standard_security"); v != "" {
				parts = append(parts, "standard_security="+v)
			}
		}
		return strings.Join(strings.Fields(strings.Join(parts, " ")), " ")
	}
	for capture, sessions := range truth {
		got := stories(t, "pcaps/"+capture)
		if len(got) != len(sessions) {
			t.Errorf("%s: %d sessions, want %d", capture, len(got), len(sessions))
			continue
		}
		for i, want := range sessions {
			var have []string
			for _, ev := range got[i].events {
				have = append(have, describe(ev))
			}
			if strings.Join(have, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s session %d events:\n got  %q\n want %q", capture, i+1, have, want)
			}
		}
	}
}
