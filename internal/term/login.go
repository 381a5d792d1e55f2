package term

import (
	"bytes"
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

// Login follows prompts and answers to outcomes. Every answered password,
// and every user name answered without a password that the server then
// rejects or accepts, is one attempt.
type Login struct {
	User        string // the last user name given
	Attempts    int
	Success     int8 // 0 unknown, 1 yes, -1 no
	Credentials bool // a password was typed
	LoggedIn    bool // a shell (or device) prompt was reached
	state       uint8
	pending     string
}

// OnUser: a login name was typed at a user prompt.
func (l *Login) OnUser(name string) {
	if l.state != lsIdle {
		l.fail() // asked for a name again: the last attempt failed
	}
	l.pending, l.state = name, lsGotUser
}

// OnPassword: a password was typed at a password prompt.
func (l *Login) OnPassword() {
	l.Attempts++
	l.Credentials = true
	if l.pending != "" {
		l.User = l.pending
	}
	l.state = lsGotPassword
}

// Pending reports an attempt waiting for its outcome.
func (l *Login) Pending() bool { return l.state != lsIdle }

func (l *Login) fail() {
	if l.state == lsGotUser {
		l.Attempts++
	}
	if l.state != lsIdle {
		l.Success = -1
	}
	l.state = lsIdle
}

// OnFailure: the server rejected the pending attempt.
func (l *Login) OnFailure() {
	if l.state != lsIdle {
		l.fail()
	}
}

// OnShell: a shell or device prompt (or a line only a logged-in user sees).
func (l *Login) OnShell() {
	if l.state != lsIdle {
		if l.state == lsGotUser {
			l.Attempts++
			l.User = l.pending
		}
		l.Success = 1
		l.state = lsIdle
	}
	l.LoggedIn = true
}
