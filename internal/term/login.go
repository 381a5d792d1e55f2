package term

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"github.com/psmtap/psmtap/internal/record"
)

// PromptKind classifies the text on the screen line where the user starts
// typing.
type PromptKind uint8

// Prompt kinds.
const (
	PromptOther PromptKind = iota
	PromptUser
	PromptPassword
	PromptShell
)

// userPrompts end a login-name prompt (lower-case, after trimming):
// Linux/BSD/busybox/Juniper/Windows "login:", Cisco IOS and HP/Aruba
// "Username:", MikroTik "Login:", PuTTY-style "login as:".
var userPrompts = [][]byte{[]byte("login:"), []byte("username:"), []byte("user name:"), []byte("user:"), []byte("login as:"), []byte("userid:"), []byte("user id:")}

// ClassifyPrompt says what kind of prompt line is (the screen line as it
// stood when the first key of an answer was typed).
func ClassifyPrompt(line []byte) PromptKind {
	l := bytes.TrimSpace(line)
	if len(l) == 0 || len(l) > 256 {
		return PromptOther
	}
	var low [256]byte
	n := copy(low[:], l)
	lw := low[:n]
	for i, c := range lw {
		if 'A' <= c && c <= 'Z' {
			lw[i] = c + 'a' - 'A'
		}
	}
	if lw[n-1] == ':' && (bytes.Contains(lw, []byte("password")) || bytes.Contains(lw, []byte("passcode")) || bytes.Contains(lw, []byte("passphrase"))) {
		return PromptPassword
	}
	for _, p := range userPrompts {
		if bytes.HasSuffix(lw, p) {
			return PromptUser
		}
	}
	switch lw[n-1] {
	case '$', '#', '>', '%':
		return PromptShell
	}
	return PromptOther
}

// failures are lines servers print after a rejected login (lower-case
// substrings): login(1), PAM, busybox, Cisco IOS "% Authentication failed"
// and "% Login invalid", Juniper "Login incorrect", MikroTik "Login failed,
// incorrect username or password", HP/Aruba "Invalid password" and
// "Access denied", Windows Telnet Server "Logon failure".
var failures = [][]byte{
	[]byte("login incorrect"), []byte("authentication failed"), []byte("authentication failure"),
	[]byte("login invalid"), []byte("login failed"), []byte("access denied"), []byte("invalid password"),
	[]byte("bad password"), []byte("logon failure"), []byte("incorrect password"), []byte("invalid login"),
	[]byte("incorrect username or password"), []byte("permission denied"),
}

// IsFailureLine reports whether a server line says a login was rejected.
func IsFailureLine(line []byte) bool {
	if len(line) > 512 {
		return false
	}
	var low [512]byte
	n := copy(low[:], line)
	lw := low[:n]
	for i, c := range lw {
		if 'A' <= c && c <= 'Z' {
			lw[i] = c + 'a' - 'A'
		}
	}
	for _, f := range failures {
		if bytes.Contains(lw, f) {
			return true
		}
	}
	return false
}

// IsSuccessLine reports a line only printed after a good login ("Last login:").
func IsSuccessLine(line []byte) bool {
	l := bytes.TrimSpace(line)
	return bytes.HasPrefix(l, []byte("Last login:")) || bytes.HasPrefix(l, []byte("Last successful login"))
}

// login states
const (
	lsIdle = iota
	lsGotUser
	lsGotPassword
)

// Login methods (psm.login.method on login events).
const (
	MethodPassword    = "password"
	MethodNone        = "none"         // a user name only, and the server let the user in
	MethodTrustedHost = "trusted_host" // rlogin/rsh: .rhosts or hosts.equiv, nothing asked
)

// Attempt is one login attempt, reported once its outcome is known.
type Attempt struct {
	N        int    // 1, 2, ...: its place in Login.Attempts
	User     string // the name given for it ("" when none was asked)
	Outcome  string // record.OutcomeSuccess, OutcomeFailure or OutcomeUnknown
	Method   string // MethodPassword, MethodNone, MethodTrustedHost; "" when not known
	Password bool   // a password was typed (it is masked everywhere)
	Reason   string // the server's failure line (Reason), if it printed one
}

// Login follows prompts and answers to outcomes. Every answered password,
// and every user name answered without a password that the server then
// rejects or accepts, is one attempt.
type Login struct {
	User        string // the last user name given
	Attempts    int
	Success     int8 // 0 unknown, 1 yes, -1 no
	Credentials bool // a password was typed
	LoggedIn    bool // a shell (or device) prompt was reached
	// Trusted: a shell reached before any prompt was answered is one
	// successful attempt by host trust (rlogin's .rhosts login).
	Trusted bool
	// Report, when set, receives each attempt as soon as its outcome is
	// known, in the order they are counted in Attempts.
	Report   func(Attempt)
	state    uint8
	pending  string
	reported int // attempts given to Report
}

// OnUser: a login name was typed at a user prompt.
func (l *Login) OnUser(name string) {
	if l.state != lsIdle {
		l.fail(nil) // asked for a name again: the last attempt failed
	}
	l.pending, l.state = name, lsGotUser
}

// OnPassword: a password was typed at a password prompt.
func (l *Login) OnPassword() {
	if l.state == lsGotPassword {
		// Asked for a password again with no outcome in between (Cisco's
		// line password prompt repeats on a wrong one): the earlier was refused.
		l.report(record.OutcomeFailure, MethodPassword, nil)
	}
	l.Attempts++
	l.Credentials = true
	if l.pending != "" {
		l.User = l.pending
	}
	l.state = lsGotPassword
}

// Pending reports an attempt waiting for its outcome.
func (l *Login) Pending() bool { return l.state != lsIdle }

func (l *Login) fail(reason []byte) {
	switch l.state {
	case lsGotUser:
		l.Attempts++
		l.report(record.OutcomeFailure, "", reason)
	case lsGotPassword:
		l.report(record.OutcomeFailure, MethodPassword, reason)
	}
	if l.state != lsIdle {
		l.Success = -1
	}
	l.state = lsIdle
}

// OnFailure: the server rejected the pending attempt; reason is the line
// that said so (nil when none did).
func (l *Login) OnFailure(reason []byte) {
	if l.state != lsIdle {
		l.fail(reason)
	}
}

// OnShell: a shell or device prompt (or a line only a logged-in user sees).
func (l *Login) OnShell() {
	switch {
	case l.state == lsGotUser:
		l.Attempts++
		l.User = l.pending
		l.Success = 1
		l.report(record.OutcomeSuccess, MethodNone, nil)
	case l.state == lsGotPassword:
		l.Success = 1
		l.report(record.OutcomeSuccess, MethodPassword, nil)
	case l.Trusted && !l.LoggedIn && l.Attempts == 0:
		l.Attempts++
		l.Success = 1
		l.report(record.OutcomeSuccess, MethodTrustedHost, nil)
	}
	l.state = lsIdle
	l.LoggedIn = true
}

// ReportPending reports the attempts counted but not yet settled, with
// outcome unknown: the session ended before the server answered.
func (l *Login) ReportPending() {
	for l.reported < l.Attempts {
		l.report(record.OutcomeUnknown, MethodPassword, nil)
	}
}

// report gives the attempt counted last to Report. Only a password attempt
// can still be unsettled, so the user-name-only methods need no care here.
func (l *Login) report(outcome, method string, reason []byte) {
	if l.Report == nil {
		l.reported = l.Attempts
		return
	}
	if l.reported >= l.Attempts {
		return
	}
	l.reported++
	a := Attempt{N: l.reported, User: l.User, Outcome: outcome, Method: method, Reason: Reason(reason)}
	if method == "" || method == MethodNone {
		a.User = l.pending
	}
	a.Password = method == MethodPassword
	l.Report(a)
}

// MaxReason bounds the reason text of an event (event.reason).
const MaxReason = 200

// Reason makes a server line fit for event.reason: blanks trimmed, only
// printable characters, at most MaxReason bytes (cut at a character).
func Reason(line []byte) string {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return ""
	}
	out := make([]byte, 0, min(len(line), MaxReason))
	for len(line) > 0 {
		r, n := utf8.DecodeRune(line)
		if r == utf8.RuneError && n <= 1 || !unicode.IsPrint(r) {
			line = line[n:]
			continue
		}
		if len(out)+n > MaxReason {
			break
		}
		out = append(out, line[:n]...)
		line = line[n:]
	}
	return string(bytes.TrimSpace(out))
}
