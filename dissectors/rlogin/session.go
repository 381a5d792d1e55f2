package rlogin

import (
	"bytes"
	"strconv"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/asciicast"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/term"
)

// Fields is the "rlogin" object of the record.
type Fields struct {
	ClientUser    string       `json:"client_user,omitempty"`
	ServerUser    string       `json:"server_user,omitempty"`
	TerminalType  string       `json:"terminal_type,omitempty"`
	TerminalSpeed int          `json:"terminal_speed,omitempty"`
	Window        *WindowField `json:"window,omitempty"`
	Resizes       int          `json:"resizes,omitempty"`
	Error         string       `json:"error,omitempty"`
}

// WindowField is the last window size the client sent.
type WindowField struct {
	Cols int `json:"cols"`
	Rows int `json:"rows"`
}

// Summary is a short human description for the table output.
func (f *Fields) Summary() string {
	return f.ClientUser + " as " + f.ServerUser + " (" + f.TerminalType + ")"
}

// server stream states
const (
	srvWaitAck = iota // the handshake's answer: 0 (go on) or 1 + message
	srvRefused        // 1 came: the rest is the error message
	srvData
)

type session struct {
	ctx      *dissectors.Context
	buf      []byte // the handshake, until complete
	hs       *Handshake
	bad      bool
	srv      uint8
	pend     []byte // a partial window-size message from the client
	term     term.Terminal
	f        Fields
	windows  int
	errText  []byte
	noWindow bool
	ts       int64 // the last packet's time
	refusal  bool  // the refusal's login event is still to publish
}

func newSession(ctx *dissectors.Context) *session {
	s := &session{ctx: ctx}
	if ctx != nil && ctx.Options != nil {
		s.term.Reveal = ctx.Options.RevealCredentials
		if ctx.Options.RecordingsDir != "" {
			s.term.Rec = &asciicast.Writer{}
		}
	}
	// The handshake is the first attempt: a shell with no prompt answered
	// is the host trust (.rhosts, hosts.equiv) letting the user in.
	s.term.Login.Trusted = true
	if ctx.Listening() {
		s.term.Events = s.publish
	}
	s.term.Live = ctx.TermLive()
	return s
}

// publish sends an event, login events with the handshake's users.
func (s *session) publish(ev *record.Event) {
	if ev.Action == record.ActionLogin && s.hs != nil {
		ev.Objects = map[string]any{"rlogin": &Fields{ClientUser: s.hs.ClientUser, ServerUser: s.hs.ServerUser}}
	}
	s.ctx.Publish(ev)
}

func (s *session) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	s.ts = ts
	if s.term.Rec != nil {
		s.term.Rec.Start(ts)
	}
	if dir == dissectors.FromClient {
		s.client(data, ts)
	} else {
		s.server(data, ts)
	}
	if s.bad {
		return dissectors.Done
	}
	return dissectors.Continue
}

func (s *session) client(data []byte, ts int64) {
	if s.hs == nil {
		s.buf = append(s.buf, data...)
		h, complete, ok := ParseHandshake(s.buf)
		if !ok || !complete && len(s.buf) > 4*maxField {
			s.bad, s.buf = true, nil
			return
		}
		if !complete {
			return
		}
		s.hs = &h
		s.term.Login.User = h.ServerUser
		s.f.ClientUser, s.f.ServerUser, s.f.TerminalType = h.ClientUser, h.ServerUser, h.TerminalType
		s.f.TerminalSpeed, _ = strconv.Atoi(h.Speed)
		data = s.buf[h.Len:]
		s.buf = nil
	}
	// Window-size messages are cut out of the keystrokes.
	if len(s.pend) > 0 {
		need := WindowLen - len(s.pend)
		take := min(need, len(data))
		s.pend = append(s.pend, data[:take]...)
		w, n, more := ParseWindow(s.pend)
		switch {
		case n > 0:
			s.window(w, ts)
			data = data[take:]
			s.pend = s.pend[:0]
		case more:
			return
		default: // not a window message after all: the bytes were keys
			keys := s.pend
			s.pend = nil
			s.term.Client(keys, ts)
			data = data[take:]
		}
	}
	start := 0
	for i := 0; i < len(data); i++ {
		if data[i] != 0xff {
			continue
		}
		w, n, more := ParseWindow(data[i:])
		if n == 0 && !more {
			continue
		}
		if i > start {
			s.term.Client(data[start:i], ts)
		}
		if more {
			s.pend = append(s.pend[:0], data[i:]...)
			return
		}
		s.window(w, ts)
		i += n - 1
		start = i + 1
	}
	if start < len(data) {
		s.term.Client(data[start:], ts)
	}
}

func (s *session) window(w Window, ts int64) {
	if s.f.Window != nil && (s.f.Window.Cols != w.Cols || s.f.Window.Rows != w.Rows) {
		s.f.Resizes++
	}
	s.f.Window = &WindowField{Cols: w.Cols, Rows: w.Rows}
	if s.term.Rec != nil {
		s.term.Rec.Resize(ts, w.Cols, w.Rows)
	}
}

func (s *session) server(data []byte, ts int64) {
	if s.srv == srvWaitAck && len(data) > 0 {
		if data[0] == 0 {
			s.srv = srvData
			data = data[1:]
		} else {
			s.srv = srvRefused
			s.refusal = s.ctx.Listening()
			if data[0] == 1 {
				data = data[1:]
			}
		}
	}
	if s.srv == srvRefused {
		if len(s.errText) < 256 {
			s.errText = append(s.errText, data[:min(len(data), 256-len(s.errText))]...)
		}
		// The refusal is one failed attempt; its message ends with a newline.
		if s.refusal && (bytes.IndexByte(s.errText, '\n') >= 0 || len(s.errText) >= 256) {
			s.publishRefusal()
		}
		return
	}
	// The window-size request is urgent data: in a capture, a lone 0x80.
	if len(data) > 0 && data[0] == CtlWindowReq && (len(data) == 1 || !s.term.Screen.Started()) {
		data = data[1:]
	}
	if len(data) > 0 {
		s.term.Server(data, ts)
	}
}

func (s *session) Gap(dir dissectors.Direction, n int, ts int64) {
	if dir == dissectors.FromClient {
		s.pend = s.pend[:0]
		s.term.Edit.Reset()
	}
}

// publishRefusal publishes the refused handshake as a failed attempt.
func (s *session) publishRefusal() {
	s.refusal = false
	if s.hs == nil {
		return // no handshake, no attempt in the record either
	}
	s.publish(term.LoginEvent(s.ts, term.Attempt{N: 1, User: s.hs.ServerUser, Outcome: record.OutcomeFailure,
		Method: term.MethodTrustedHost, Reason: term.Reason(s.errText)}))
}

func (s *session) Close(r *record.Record) {
	if s.hs == nil {
		r.AddAnomaly("rlogin.no_handshake")
		return
	}
	if s.refusal {
		s.publishRefusal()
	}
	if s.srv == srvData {
		s.term.Fill(r)
		if s.term.Rec != nil {
			s.term.Rec.Term = s.f.TerminalType
			s.term.SaveRecording(r, s.ctx.Options.RecordingsDir, "rlogin")
		}
	}
	s.fill(r)
}

// Snapshot implements dissectors.Snapshotter: what the session learned so
// far, without changing it.
func (s *session) Snapshot(r *record.Record) {
	if s.hs == nil {
		return
	}
	if s.srv == srvData {
		s.term.Snapshot(r)
	}
	s.fill(r)
}

// fill writes the handshake's facts and a refusal into r.
func (s *session) fill(r *record.Record) {
	f := s.f
	if f.Window != nil {
		w := *f.Window
		f.Window = &w
	}
	if s.srv == srvRefused {
		no := false
		r.Login = &record.Login{Attempts: 1, Success: &no}
		f.Error = trimText(s.errText)
	}
	r.UserName = s.hs.ServerUser
	r.SourceUserName = s.hs.ClientUser
	r.Set("rlogin", &f)
}

func trimText(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return string(b)
}
