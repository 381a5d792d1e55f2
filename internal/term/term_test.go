package term

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/internal/asciicast"
	"github.com/psmtap/psmtap/internal/record"
)

func TestLineEditor(t *testing.T) {
	cases := []struct {
		name, keys string
		want       []string
	}{
		{"plain CR", "id\r", []string{"id"}},
		{"CR LF is one Enter", "id\r\nls\r\n", []string{"id", "ls"}},
		{"CR NUL is one Enter", "id\r\x00ls\r\x00", []string{"id", "ls"}},
		{"bare LF", "id\nls\n", []string{"id", "ls"}},
		// the real typo in telnet-login.pcap: whoamu DEL i
		{"DEL", "whoamu\x7fi\r", []string{"whoami"}},
		{"BS", "lx\bs\r", []string{"ls"}},
		{"erase past start", "\x7f\x7fa\r", []string{"a"}},
		{"^U kills the line", "rm -rf /\x15ls\r", []string{"ls"}},
		{"^W kills a word", "ls /etc /tmp\x17/var\r", []string{"ls /etc /var"}},
		{"^W trailing blanks", "echo a b  \x17c\r", []string{"echo a c"}},
		{"^C drops the line", "reboot\x03id\r", []string{"id"}},
		{"arrow up marked", "\x1b[A\r", []string{"<up>"}},
		{"SS3 arrow", "\x1bOA\x1bOB\r", []string{"<up><down>"}},
		{"left and insert", "ac\x1b[Db\r", []string{"ac<left>b"}},
		{"other escape dropped", "a\x1b[3~b\r", []string{"ab"}},
		{"meta key dropped", "a\x1bxb\r", []string{"ab"}},
		{"UTF-8 erase", "caf\xc3\xa9\x7fe\r", []string{"cafe"}},
		{"controls dropped", "a\x01\x02b\r", []string{"ab"}},
	}
	for _, c := range cases {
		var e LineEditor
		var got []string
		for i := 0; i < len(c.keys); i++ {
			if e.Key(c.keys[i]) == KeyEnter {
				got = append(got, string(e.Line()))
				e.Reset()
			}
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	var e LineEditor
	for i := 0; i < MaxLine+10; i++ {
		e.Key('a')
	}
	if len(e.Line()) != MaxLine || !e.Cut {
		t.Errorf("cap: %d %v", len(e.Line()), e.Cut)
	}
}

func TestScreen(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"lines", "a\r\nb\r\n", "a\nb\n"},
		{"CR NUL", "a\r\x00\nb", "a\nb"},
		{"overwrite after CR", "hello\rJ\r\n", "Jello\n"},
		{"backspace echo of DEL", "whoamu\b \bi\r\n", "whoami\n"},
		{"erase in line", "abcdef\r\x1b[Kxy\r\n", "xy\n"},
		{"bash prompt with title and bracketed paste", "\x1b]0;alice@psm-srv: ~\x07\x1b[?2004halice@psm-srv:~$ id\r\n", "alice@psm-srv:~$ id\n"},
		{"colours dropped", "\x1b[01;34mdir\x1b[0m\r\n", "dir\n"},
		{"tab", "a\tb\r\n", "a       b\n"},
		{"UTF-8", "caf\xc3\xa9\r\n", "café\n"},
		{"invalid UTF-8 dropped", "a\xffb\r\n", "ab\n"},
		{"cursor back and delete", "abc\x1b[2D\x1b[P\r\n", "ac\n"},
	}
	for _, c := range cases {
		for split := 0; split <= len(c.in); split++ {
			var s Screen
			s.Write([]byte(c.in[:split]))
			s.Write([]byte(c.in[split:]))
			if got := s.Text(); got != c.want {
				t.Errorf("%s (split %d): %q, want %q", c.name, split, got, c.want)
				break
			}
		}
	}
	var s Screen
	for i := 0; i < MaxOutput/10+10; i++ {
		s.Write([]byte("123456789\n"))
	}
	if len(s.Text()) != MaxOutput || !s.Truncated {
		t.Errorf("cap: %d %v", len(s.Text()), s.Truncated)
	}
}

// step is one piece of a conversation: server output or client keys.
type step struct {
	server bool
	data   string
}

func srv(s string) step { return step{true, s} }
func cli(s string) step { return step{false, s} }

// TestLogin runs login conversations through a Terminal. Device prompts that
// cannot run on this machine (Cisco IOS, Juniper, MikroTik, HP/Aruba,
// Windows Telnet Server) are synthetic streams written from those systems'
// documented prompts and messages; the Linux and busybox ones are as seen in
// the real captures.
func TestLogin(t *testing.T) {
	cases := []struct {
		name     string
		steps    []step
		user     string
		success  int8
		attempts int
		commands []string
	}{
		{"linux fail then ok", []step{
			srv("\r\nDebian GNU/Linux 12\r\npsm-srv login: "), cli("alice\r"), srv("alice\r\nPassword: "), cli("wonderland\r"),
			srv("\r\nLogin incorrect\r\npsm-srv login: "), cli("alice\r"), srv("alice\r\nPassword: "), cli("Wonderland1\r"),
			srv("\r\nLast login: Thu Nov 26\r\nalice@psm-srv:~$ "), cli("i"), srv("i"), cli("d"), srv("d"), cli("\r"), srv("\r\nuid=2001\r\nalice@psm-srv:~$ "),
		}, "alice", 1, 2, []string{"id"}},
		{"busybox", []step{
			srv("\r\npsm-srv login: "), cli("root\r\n"), srv("root\r\nPassword: "), cli("secret\r\n"), srv("\r\n\r\n\r\nBusyBox v1.35.0 built-in shell (ash)\r\n\r\n~ # "),
			cli("ls\r\n"), srv("ls\r\nbin\r\n~ # "),
		}, "root", 1, 1, []string{"ls"}},
		{"cisco IOS ok", []step{
			srv("\r\n\r\nUser Access Verification\r\n\r\nUsername: "), cli("admin\r"), srv("admin\r\nPassword: "), cli("cisco123\r"),
			srv("\r\nR1>"), cli("enable\r"), srv("enable\r\nPassword: "), cli("en4ble\r"), srv("\r\nR1#"), cli("show run\r"), srv("show run\r\n"),
		}, "admin", 1, 1, []string{"enable", "show run"}}, // the enable password elevates a logged-in session: no login attempt
		{"cisco IOS failed", []step{
			srv("\r\nUser Access Verification\r\n\r\nUsername: "), cli("admin\r"), srv("admin\r\nPassword: "), cli("x\r"),
			srv("\r\n% Authentication failed\r\n\r\nUsername: "), cli("admin\r"), srv("admin\r\nPassword: "), cli("y\r"),
			srv("\r\n% Authentication failed\r\n"),
		}, "admin", -1, 2, nil},
		{"juniper", []step{
			srv("\r\nrouter (ttyp0)\r\n\r\nlogin: "), cli("netops\r\n"), srv("netops\r\nPassword:"), cli("j\r\n"),
			srv("\r\n--- JUNOS 21.4R3 Kernel 64-bit\r\nnetops@router> "), cli("show version\r\n"), srv("show version\r\n"),
		}, "netops", 1, 1, []string{"show version"}},
		{"mikrotik", []step{
			srv("Login: "), cli("admin\r\n"), srv("admin\r\nPassword: "), cli("m\r\n"),
			srv("\r\nLogin failed, incorrect username or password\r\n\r\nLogin: "), cli("admin\r\n"), srv("admin\r\nPassword: "), cli("mm\r\n"),
			srv("\r\n\r\n  MMM      MMM       KKK\r\n\r\n[admin@MikroTik] > "), cli("/system resource print\r\n"),
		}, "admin", 1, 2, []string{"/system resource print"}},
		{"HP/Aruba", []step{
			srv("HP J9729A 2920-48G-POE+ Switch\r\nSoftware revision WB.16.10\r\n\r\nUsername: "), cli("manager\r"), srv("manager\r\nPassword: "), cli("p\r"),
			srv("\r\nInvalid password\r\nUsername: "), cli("manager\r"), srv("manager\r\nPassword: "), cli("pp\r"), srv("\r\nHP-2920# "), cli("show vlan\r"),
		}, "manager", 1, 2, []string{"show vlan"}},
		{"windows telnet server", []step{
			srv("Welcome to Microsoft Telnet Service \r\n\n\rlogin: "), cli("administrator\r\n"), srv("administrator\n\rpassword: "), cli("w\r\n"),
			srv("\n\r\n\rLogon failure: unknown user name or bad password.\n\r\n\rlogin: "), cli("administrator\r\n"), srv("administrator\n\rpassword: "), cli("ww\r\n"),
			srv("\n\r*===\n\rMicrosoft Telnet Server.\n\r*===\n\rC:\\Users\\administrator>"), cli("whoami\r\n"),
		}, "administrator", 1, 2, []string{"whoami"}},
		// an unknown password prompt: the line after a user name is still never a command
		{"unknown password prompt", []step{srv("login: "), cli("bob\r"), srv("bob\r\nSecret word please "), cli("hunter2\r"), srv("\r\nbob$ ")}, "bob", 1, 1, nil},
		// trusted (rlogin .rhosts): no prompt, straight to a shell; not an attempt
		{"no login", []step{srv("alice@h:~$ "), cli("pwd\r"), srv("pwd\r\n/home/alice\r\n")}, "", 0, 0, []string{"pwd"}},
		// history recall: the command is what the server echoed
		{"history from echo", []step{srv("$ "), cli("\x1b[A"), srv("uname -a"), cli("\r"), srv("\r\nLinux\r\n$ ")}, "", 0, 0, []string{"uname -a"}},
		// TAB and Enter in one segment: the completion is echoed after the Enter came in
		{"completion echoed after enter", []step{srv("$ "), cli("cat /et\tshadow\r"), srv("cat /et"), srv("c/shadow\r\n"),
			srv("cat: /etc/shadow: Permission denied\r\n$ ")}, "", 0, 0, []string{"cat /etc/shadow"}},
		// readline's ^A and ^E: only the echo says where "cat " went
		{"readline home and end", []step{srv("$ "), cli("/etc/shadow"), srv("/etc/shadow"), cli("\x01"), srv("\b\b\b\b\b\b\b\b\b\b\b"),
			cli("cat "), srv("\x1b[1@c\x1b[1@a\x1b[1@t\x1b[1@ "), cli("\x05"), srv("/etc/shadow"), cli("\r"), srv("\r\n$ ")}, "", 0, 0, []string{"cat /etc/shadow"}},
		// a command waiting for its echo is settled by the next key, from the screen
		{"pending settled by the next key", []step{srv("$ "), cli("ls\t\r"), srv("ls"), cli("x")}, "", 0, 0, []string{"ls"}},
		// ... or when the session ends, from the keys if nothing was echoed
		{"pending settled at the end", []step{srv("$ "), cli("ls -l\x1b[D\r")}, "", 0, 0, []string{"ls -l<left>"}},
		// a password asked inside a logged-in session (sudo, su) is no login attempt
		{"sudo password", []step{srv("login: "), cli("alice\r"), srv("alice\r\nPassword: "), cli("pw\r"), srv("\r\nalice@h:~$ "),
			cli("sudo -l\r"), srv("sudo -l\r\n[sudo] password for alice: "), cli("pw2\r"), srv("\r\nSorry\r\nalice@h:~$ "),
			cli("id\r"), srv("id\r\n")}, "alice", 1, 1, []string{"sudo -l", "id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, listen := range []bool{false, true} {
				var tm Terminal
				var evs []*record.Event
				if listen {
					tm.Events = func(ev *record.Event) { evs = append(evs, ev) }
				}
				for i, s := range c.steps {
					if s.server {
						tm.Server([]byte(s.data), int64(i))
					} else {
						tm.Client([]byte(s.data), int64(i))
					}
				}
				var r record.Record
				tm.Fill(&r)
				l := tm.Login
				if r.UserName != c.user || l.Success != c.success || l.Attempts != c.attempts || !reflect.DeepEqual(tm.Commands, c.commands) {
					t.Fatalf("user %q success %d attempts %d commands %q; want %q %d %d %q",
						r.UserName, l.Success, l.Attempts, tm.Commands, c.user, c.success, c.attempts, c.commands)
				}
				// One login event per attempt, one command event per command, in order.
				var logins int
				var cmds []string
				for _, ev := range evs {
					switch ev.Action {
					case record.ActionLogin:
						logins++
						if ev.Login.Attempt != logins {
							t.Fatalf("login event %d numbered %d", logins, ev.Login.Attempt)
						}
					case record.ActionCommand:
						cmds = append(cmds, ev.Command.Line)
					}
				}
				if listen && (logins != c.attempts || !reflect.DeepEqual(cmds, c.commands)) {
					t.Fatalf("events: %d logins, commands %q", logins, cmds)
				}
				if !listen && evs != nil {
					t.Fatal("events without a listener")
				}
			}
		})
	}
}

func TestPasswordMaskedInRecording(t *testing.T) {
	for _, reveal := range []bool{false, true} {
		tm := Terminal{Rec: &asciicast.Writer{}, Reveal: reveal}
		tm.Server([]byte("login: "), 1)
		tm.Client([]byte("alice\r"), 2)
		tm.Server([]byte("alice\r\nPassword: "), 3)
		for i, c := range "Wonderland1\r" {
			tm.Client([]byte{byte(c)}, int64(4+i))
		}
		cast := string(tm.Rec.Bytes(0))
		if leaked := strings.Contains(strings.ReplaceAll(cast, `", "i", "`, ""), "W"); leaked == !reveal && !reveal {
			t.Fatalf("reveal=%v: password in recording:\n%s", reveal, cast)
		}
		if !reveal && strings.Count(cast, `"i", "*"`) != len("Wonderland1") {
			t.Fatalf("mask: %s", cast)
		}
		if reveal && !strings.Contains(cast, `"i", "W"`) {
			t.Fatalf("reveal: %s", cast)
		}
	}
}

func TestEchoMismatch(t *testing.T) {
	var tm Terminal
	tm.Server([]byte("$ "), 0)
	tm.Client([]byte("ls"), 0)
	tm.Server([]byte("rm"), 0) // the server shows something else than what was typed
	tm.Client([]byte("\r"), 0)
	var r record.Record
	tm.Fill(&r)
	if !reflect.DeepEqual(r.Anomalies, []string{"term.echo_mismatch"}) || tm.EchoChecked != 1 {
		t.Fatalf("%v %d", r.Anomalies, tm.EchoChecked)
	}
}

// loginEvents runs a conversation and returns its login events as
// "n user outcome method reason" lines, with the step index of each.
func loginEvents(t *testing.T, tm *Terminal, steps []step) (out []string, at []int64) {
	t.Helper()
	tm.Events = func(ev *record.Event) {
		if ev.Action != record.ActionLogin {
			return
		}
		out = append(out, fmt.Sprintf("%d %s %s %s %v %q", ev.Login.Attempt, ev.UserName, ev.Outcome, ev.Login.Method, ev.CleartextCredentials, ev.Reason))
		at = append(at, ev.Time.UnixNano())
	}
	for i, s := range steps {
		if s.server {
			tm.Server([]byte(s.data), int64(i))
		} else {
			tm.Client([]byte(s.data), int64(i))
		}
	}
	var r record.Record
	tm.Fill(&r)
	return out, at
}

func TestLoginEvents(t *testing.T) {
	cases := []struct {
		name    string
		trusted bool
		steps   []step
		want    []string
		at      []int64 // the step that settled each
	}{
		{"failure with its line, then success at Last login", false, []step{
			srv("psm-srv login: "), cli("alice\r"), srv("alice\r\nPassword: "), cli("wonderland\r"),
			srv("\r\nLogin incorrect\r\npsm-srv login: "), cli("alice\r"), srv("alice\r\nPassword: "), cli("Wonderland1\r"),
			srv("\r\nLast login: Thu Nov 26\r\nalice@psm-srv:~$ "), cli("id\r"),
		}, []string{`1 alice failure password true "Login incorrect"`, `2 alice success password true ""`}, []int64{4, 8}},
		{"the reason is bounded and printable", false, []step{
			srv("login: "), cli("bob\r"), srv("Password: "), cli("x\r"),
			srv("\r\n\x1b[31m% Authentication failed\x07 " + strings.Repeat("é", 150) + "\r\n"),
		}, []string{`1 bob failure password true "% Authentication failed ` + strings.Repeat("é", 88) + `"`}, []int64{4}},
		{"a name only, let in: method none", false, []step{
			srv("login: "), cli("guest\r"), srv("guest\r\nguest$ "), cli("ls\r"),
		}, []string{`1 guest success none false ""`}, []int64{3}},
		{"a name only, asked again: failure with no method", false, []step{
			srv("login: "), cli("nobody\r"), srv("\r\nlogin: "), cli("alice\r"), srv("Password: "), cli("pw\r"), srv("\r\n$ "), cli("id\r"),
		}, []string{`1 nobody failure  false ""`, `2 alice success password true ""`}, []int64{3, 7}},
		{"password asked again: the first was refused", false, []step{
			srv("Password: "), cli("a\r"), srv("\r\nPassword: "), cli("b\r"), srv("\r\nR1>"), cli("show run\r"),
		}, []string{`1  failure password true ""`, `2  success password true ""`}, []int64{3, 5}},
		{"unanswered at the end: unknown", false, []step{
			srv("login: "), cli("alice\r"), srv("Password: "), cli("pw\r"), srv("\r\n"),
		}, []string{`1 alice unknown password true ""`}, []int64{4}},
		{"settled at the end by the last prompt", false, []step{
			srv("login: "), cli("alice\r"), srv("Password: "), cli("pw\r"), srv("\r\nalice@h:~$ "),
		}, []string{`1 alice success password true ""`}, []int64{4}},
		{"trusted: at Last login", true, []step{
			srv("Linux h\r\nLast login: Thu\r\nalice@h:~$ "), cli("pwd\r"),
		}, []string{`1 alice success trusted_host false ""`}, []int64{0}},
		{"trusted: at the prompt", true, []step{srv("alice@h:~$ "), cli("pwd\r")}, []string{`1 alice success trusted_host false ""`}, []int64{1}},
		{"trust refused, password asked", true, []step{
			srv("Password: "), cli("pw\r"), srv("\r\nLogin incorrect\r\nlogin: "),
		}, []string{`1 alice failure password true "Login incorrect"`}, []int64{2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tm := &Terminal{}
			if c.trusted {
				tm.Login.Trusted, tm.Login.User = true, "alice"
			}
			got, at := loginEvents(t, tm, c.steps)
			if !reflect.DeepEqual(got, c.want) || !reflect.DeepEqual(at, c.at) {
				t.Fatalf("events\n%q at %v\nwant\n%q at %v", got, at, c.want, c.at)
			}
			if len(got) != tm.Login.Attempts {
				t.Fatalf("%d events, %d attempts", len(got), tm.Login.Attempts)
			}
		})
	}
}

// A snapshot changes nothing: a pending login stays pending, and the final
// record and events are those of a session never snapshotted.
func TestSnapshotChangesNothing(t *testing.T) {
	steps := []step{
		srv("login: "), cli("alice\r"), srv("Password: "), cli("pw\r"), srv("\r\nLast login: x\r\n$ "), cli("id\r"), srv("uid\r\n$ "),
		cli("ls\r"), srv("\r\n$ "), cli("exit\r"), srv("logout\r\n"),
	}
	run := func(snapAt map[int]bool) (record.Record, []string, []record.Record) {
		var tm Terminal
		var evs []string
		var snaps []record.Record
		tm.Events = func(ev *record.Event) { evs = append(evs, ev.Action+" "+ev.Outcome) }
		for i, s := range steps {
			if snapAt[i] {
				var r record.Record
				tm.Snapshot(&r)
				snaps = append(snaps, r)
			}
			if s.server {
				tm.Server([]byte(s.data), int64(i))
			} else {
				tm.Client([]byte(s.data), int64(i))
			}
		}
		var r record.Record
		tm.Fill(&r)
		return r, evs, snaps
	}
	plain, plainEvs, _ := run(nil)
	final, evs, snaps := run(map[int]bool{4: true, 9: true})
	if !reflect.DeepEqual(plain, final) || !reflect.DeepEqual(plainEvs, evs) {
		t.Fatalf("snapshots changed the session:\n%+v\n%+v\n%q\n%q", plain, final, plainEvs, evs)
	}
	// at step 4 the password is typed and unanswered: one attempt, no outcome yet
	if s := snaps[0]; s.UserName != "alice" || s.Login == nil || s.Login.Attempts != 1 || s.Login.Success != nil || s.Commands != nil || s.OutputText != "" {
		t.Fatalf("snapshot 1: %+v %+v", s, s.Login)
	}
	if s := snaps[1]; !reflect.DeepEqual(s.Commands, []string{"id", "ls"}) || !*s.Login.Success || s.Kind != "interactive" {
		t.Fatalf("snapshot 2: %+v", s)
	}
	snaps[1].Commands[0] = "changed"
	if final.Commands[0] != "id" {
		t.Fatal("a snapshot shares the session's commands")
	}
}

func TestReason(t *testing.T) {
	for in, want := range map[string]string{
		"\tLogin incorrect\r\n":        "Login incorrect",
		"bad\x01 line\xff\x7f":         "bad line",
		"":                             "",
		strings.Repeat("ab", 150):      strings.Repeat("ab", 100),
		strings.Repeat("x", 199) + "é": strings.Repeat("x", 199),
	} {
		if got := Reason([]byte(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// TestLiveMasked: the live feed gets output and input as they are fed,
// input masked exactly as in the recording.
func TestLiveMasked(t *testing.T) {
	var live strings.Builder
	tm := Terminal{Rec: &asciicast.Writer{}}
	tm.Live = func(input bool, ts int64, data []byte) {
		fmt.Fprintf(&live, "%v:%s|", input, data)
	}
	tm.Server([]byte("login: "), 1)
	tm.Client([]byte("alice\r"), 2)
	tm.Server([]byte("alice\r\nPassword: "), 3)
	tm.Client([]byte("Wonderland1\r"), 4)
	want := "false:login: |true:alice\r|false:alice\r\nPassword: |true:***********\r|"
	if live.String() != want {
		t.Errorf("live feed %q, want %q", live.String(), want)
	}
	if cast := string(tm.Rec.Bytes(0)); !strings.Contains(cast, `"i", "***********\r"`) {
		t.Errorf("recording differs from the live feed: %s", cast)
	}
}
