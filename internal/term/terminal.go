package term

import (
	"bytes"

	"github.com/psmtap/psmtap/internal/asciicast"
	"github.com/psmtap/psmtap/internal/record"
)

// MaxCommands caps psm.commands per session (term.too_many_commands past it).
const MaxCommands = 10000

// Mask replaces each typed password character in recordings.
const Mask = '*'

// Terminal is one interactive session's pipeline: server output goes to the
// screen model and the recording, client keystrokes to the line editor, the
// login tracker and the recording (passwords masked unless Reveal).
type Terminal struct {
	Screen   Screen
	Edit     LineEditor
	Login    Login
	Commands []string
	Rec      *asciicast.Writer // nil: no recording
	Reveal   bool
	// EchoChecked counts commands compared with the server's echo.
	EchoChecked int
	// Events, when set, receives a login event per attempt and a command
	// event per command as they happen (dissectors.Context.Publish); nil
	// when nobody listens, and then no event is built.
	Events func(*record.Event)
	// Live, when set, receives server output (input false) and client
	// keystrokes (input true, passwords masked as in Rec) as they are fed:
	// the sensor's live view. data is borrowed.
	Live func(input bool, ts int64, data []byte)

	prompt []byte
	kind   PromptKind
	// pending is a command typed with keys only the echo resolves (TAB,
	// arrows, readline keys), waiting for the server to finish echoing it:
	// the echo may come after the Enter (a TAB and the Enter in one segment,
	// or a long round trip).
	pending    *pendingCommand
	scratch    []byte
	anomalies  uint8
	screenHook bool
	ts         int64 // time of the packet being decoded (the last one at Close)
}

type pendingCommand struct {
	prompt []byte
	keys   []byte // the line as typed, if the echo never comes
	ts     int64  // the Enter
}

// anomaly bits
const (
	anLineTooLong = 1 << iota
	anTooManyCommands
	anEchoMismatch
)

func (t *Terminal) hook() {
	if !t.screenHook {
		t.screenHook = true
		t.Screen.OnLine = t.serverLine
		if t.Events != nil && t.Login.Report == nil {
			t.Login.Report = t.loginEvent
		}
	}
}

// Server feeds the server's output (protocol framing already removed).
func (t *Terminal) Server(data []byte, ts int64) {
	t.hook()
	t.ts = ts
	if t.Rec != nil {
		t.Rec.Output(ts, data)
	}
	if t.Live != nil {
		t.Live(false, ts, data)
	}
	t.Screen.Write(data)
	t.commitRecording()
}

// commitRecording keeps the recording once the session got past its login
// or carried typed commands; until then it is held small, and a session that
// never starts (a half-open connection, a scan) writes no file.
func (t *Terminal) commitRecording() {
	if t.Rec != nil && !t.Rec.Committed() && !t.Rec.Refused && (t.Login.LoggedIn || len(t.Commands) > 0) {
		t.Rec.Commit()
	}
}

func (t *Terminal) serverLine(line []byte) {
	if p := t.pending; p != nil && bytes.HasPrefix(line, p.prompt) {
		// The echo of the command line is complete.
		t.pending = nil
		t.command(bytes.TrimSpace(line[len(p.prompt):]), p.ts)
	}
	if !t.Login.Pending() {
		// A trusted login's "Last login:" says the shell is there before
		// its prompt does.
		if t.Login.Trusted && !t.Login.LoggedIn && IsSuccessLine(line) {
			t.Login.OnShell()
		}
		return
	}
	switch {
	case IsFailureLine(line):
		t.Login.OnFailure(line)
	case IsSuccessLine(line):
		t.Login.OnShell()
	}
}

// Client feeds the client's keystrokes (protocol framing already removed).
func (t *Terminal) Client(data []byte, ts int64) {
	t.hook()
	t.ts = ts
	t.scratch = t.scratch[:0]
	for _, c := range data {
		if !t.Edit.Started && c != '\r' && c != '\n' && c != 0 {
			t.lineStart()
		}
		masked := c
		if t.kind == PromptPassword && !t.Reveal && c >= 0x20 && c != 0x7f {
			masked = Mask
		}
		t.scratch = append(t.scratch, masked)
		switch t.Edit.Key(c) {
		case KeyEnter:
			t.enter()
			t.Edit.Reset()
			t.kind = PromptOther
		case KeyInterrupt:
			t.Edit.Reset()
			t.kind = PromptOther
		}
	}
	if t.Rec != nil {
		t.Rec.Input(ts, t.scratch)
	}
	if t.Live != nil {
		t.Live(true, ts, t.scratch)
	}
	t.commitRecording()
}

// lineStart: the first key of a line. The screen's current line is its prompt.
func (t *Terminal) lineStart() {
	t.settlePending()
	cur := t.Screen.CurrentLine()
	t.prompt = append(t.prompt[:0], cur...)
	t.kind = ClassifyPrompt(cur)
	t.promptOutcome()
	// After a user name, the next line is the password unless a shell
	// prompt says otherwise: a password must never become a command, even
	// when the prompt is one this package does not know.
	if t.kind == PromptOther && t.Login.state == lsGotUser {
		t.kind = PromptPassword
	}
}

// settlePending gives a command still waiting for its echo whatever the
// screen shows now (the next key came first, or the session ended).
func (t *Terminal) settlePending() {
	p := t.pending
	if p == nil {
		return
	}
	t.pending = nil
	cmd := p.keys
	if cur := t.Screen.CurrentLine(); bytes.HasPrefix(cur, p.prompt) {
		if echo := bytes.TrimSpace(cur[len(p.prompt):]); len(echo) > 0 {
			cmd = echo
		}
	}
	t.command(bytes.TrimSpace(cmd), p.ts)
}

// promptOutcome settles a pending login from the prompt now showing.
func (t *Terminal) promptOutcome() {
	switch t.kind {
	case PromptShell:
		t.Login.OnShell()
	case PromptUser:
		if t.Login.state == lsGotPassword {
			t.Login.OnFailure(nil) // asked to log in again without a message
		}
	}
}

func (t *Terminal) enter() {
	line := t.Edit.Line()
	if t.Edit.Cut {
		t.anomalies |= anLineTooLong
	}
	if !t.Edit.Started && len(line) == 0 {
		// Enter on an empty line: the prompt may still tell an outcome.
		t.prompt = append(t.prompt[:0], t.Screen.CurrentLine()...)
		t.kind = ClassifyPrompt(t.prompt)
		t.promptOutcome()
		if t.kind != PromptPassword {
			return
		}
	}
	switch t.kind {
	case PromptUser:
		t.Login.OnUser(string(line))
		return
	case PromptPassword:
		// Once logged in, a password prompt is sudo's or su's, not the
		// session's login: masked like any password, but no login attempt.
		if !t.Login.LoggedIn {
			t.Login.OnPassword()
		}
		return
	}
	if t.Edit.Marked && len(t.prompt) > 0 {
		// Keys only the echo resolves: wait for the server to finish the
		// echoed line (serverLine), or for the next key (settlePending).
		t.pending = &pendingCommand{prompt: append([]byte(nil), t.prompt...), keys: append([]byte(nil), line...), ts: t.ts}
		return
	}
	cmd := line
	// Compare with the echo: the screen line now reads prompt + what the
	// server echoed.
	cur := t.Screen.CurrentLine()
	if len(t.prompt) > 0 && bytes.HasPrefix(cur, t.prompt) {
		echo := bytes.TrimSpace(cur[len(t.prompt):])
		if len(echo) > 0 {
			t.EchoChecked++
			if t.Edit.Marked {
				cmd = echo
			} else if !bytes.Equal(echo, bytes.TrimSpace(line)) && !bytes.HasPrefix(bytes.TrimSpace(line), echo) {
				t.anomalies |= anEchoMismatch
			}
		}
	}
	t.command(bytes.TrimSpace(cmd), t.ts)
}

// command records a finished command (and publishes its event, at ts: the
// time of its Enter).
func (t *Terminal) command(cmd []byte, ts int64) {
	if len(cmd) == 0 {
		return
	}
	if len(t.Commands) >= MaxCommands {
		t.anomalies |= anTooManyCommands
		return
	}
	t.Commands = append(t.Commands, string(cmd))
	if t.Events != nil {
		t.Events(record.ShellCommandEvent(ts, t.Commands[len(t.Commands)-1]))
	}
}

// loginEvent publishes a settled attempt at the time of the packet that settled it.
func (t *Terminal) loginEvent(a Attempt) { t.Events(LoginEvent(t.ts, a)) }

// LoginEvent builds the login event of an attempt.
func LoginEvent(ts int64, a Attempt) *record.Event {
	ev := record.LoginEvent(ts, a.User, a.Outcome, a.Method, false)
	ev.Login.Attempt = a.N
	ev.CleartextCredentials = a.Password
	ev.Reason = a.Reason
	return ev
}

// Fill writes what the terminal learned into r when the session ends. A
// login still pending is settled by the last prompt, or else reported with
// outcome unknown.
func (t *Terminal) Fill(r *record.Record) {
	t.hook()
	if t.Login.Pending() {
		if k := ClassifyPrompt(t.Screen.CurrentLine()); k == PromptShell {
			t.Login.OnShell()
		} else if k == PromptUser && t.Login.state == lsGotPassword {
			t.Login.OnFailure(nil)
		}
	}
	t.settlePending()
	t.Login.ReportPending()
	t.fill(r)
	if len(t.Commands) > 0 {
		r.Commands = t.Commands
	}
	if txt := t.Screen.Text(); txt != "" {
		r.OutputText = txt
	}
}

// Snapshot writes what the terminal learned so far into r (an interim
// record) and changes nothing: a pending login stays pending, and r gets
// its own copy of the commands. The screen text is left for the final record.
func (t *Terminal) Snapshot(r *record.Record) {
	t.fill(r)
	if len(t.Commands) > 0 {
		r.Commands = append([]string(nil), t.Commands...)
	}
}

func (t *Terminal) fill(r *record.Record) {
	l := &t.Login
	if l.Attempts > 0 || l.Success != 0 {
		r.Login = &record.Login{Attempts: l.Attempts}
		if l.Success != 0 {
			ok := l.Success > 0
			r.Login.Success = &ok
		}
	}
	if l.Credentials {
		yes := true
		r.CleartextCredentials = &yes
	}
	if l.User != "" && r.UserName == "" {
		r.UserName = l.User
	}
	if l.LoggedIn || len(t.Commands) > 0 {
		r.Kind = "interactive"
	}
	if t.Screen.Truncated {
		r.AddAnomaly("term.output_truncated")
	}
	if t.anomalies&anLineTooLong != 0 {
		r.AddAnomaly("term.line_too_long")
	}
	if t.anomalies&anTooManyCommands != 0 {
		r.AddAnomaly("term.too_many_commands")
	}
	if t.anomalies&anEchoMismatch != 0 {
		r.AddAnomaly("term.echo_mismatch")
	}
}

// SaveRecording arranges for the recording (if any) to be written under
// dir and noted in r. Compressing and writing are deferred to the output
// stage (record.Record.Deferred): a slow disk must not hold up the packet
// path. The recording's bytes are taken now; the session may go.
func (t *Terminal) SaveRecording(r *record.Record, dir, proto string) {
	if t.Rec == nil {
		return
	}
	defer t.Rec.Release()
	t.commitRecording()
	if t.Rec.Refused {
		r.AddAnomaly("recording.refused")
		return
	}
	if dir == "" || t.Rec.Empty() || !t.Rec.Committed() {
		return // a session that never got past its login: no file
	}
	if t.Rec.Truncated {
		r.AddAnomaly("recording.truncated")
	}
	name := proto + "-" + r.Start.UTC().Format("20060102T150405Z") + "-" + r.ID
	cast := t.Rec.Bytes(r.Start.Unix())
	r.Defer(func(r *record.Record) {
		saved, err := asciicast.Save(dir, name, cast)
		if err != nil {
			r.AddAnomaly("recording.write_failed")
			return
		}
		r.Recording = &record.Recording{Format: saved.Format, Path: saved.Path, SHA256: saved.SHA256, Bytes: saved.Bytes}
	})
}
