package rsh

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/term"
)

// stderrDeadline is how long the server may take to open the stderr connection.
const stderrDeadline = 30e9

// Fields is the "rsh" object of the record.
type Fields struct {
	ClientUser  string `json:"client_user,omitempty"`
	ServerUser  string `json:"server_user,omitempty"`
	Command     string `json:"command,omitempty"`
	StderrPort  int    `json:"stderr_port,omitempty"`
	StderrBytes int64  `json:"stderr_bytes,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Summary is a short human description for the table output.
func (f *Fields) Summary() string {
	return f.ClientUser + " as " + f.ServerUser + ": " + f.Command
}

const (
	srvWaitAck = iota
	srvRefused
	srvData
)

type session struct {
	ctx      *dissectors.Context
	buf      []byte
	req      *Request
	bad      bool
	srv      uint8
	out      term.Screen // stdout and stderr, in arrival order
	errText  []byte
	stderr   int64
	stderrC  bool
	expected bool
	ts       int64
	loginPub uint8 // login event: 0 not yet, 1 waiting for the refusal's message, 2 published
}

func newSession(ctx *dissectors.Context) *session { return &session{ctx: ctx} }

func (s *session) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	s.ts = ts
	if dir == dissectors.FromClient {
		if s.req != nil || s.bad {
			return dissectors.Continue // stdin of the command: counted, not kept
		}
		s.buf = append(s.buf, data...)
		if !s.expected {
			// rcmd(3) sends the port, waits for the server to connect back,
			// and only then sends the users and the command.
			if p, ok := StderrPort(s.buf); ok {
				s.expected = true
				s.expectStderr(p, ts)
			}
		}
		q, complete, ok := ParseRequest(s.buf)
		if complete {
			s.req = &q
			s.buf = nil
			if s.ctx.Live != nil {
				// the command line is the session's only input
				s.ctx.Live(dissectors.FromClient, ts, []byte(q.Command+"\r\n"))
			}
			if s.ctx.Listening() {
				ev := record.ShellCommandEvent(ts, q.Command)
				ev.UserName = q.ServerUser // no login event yet to take it from
				s.ctx.Publish(ev)
				s.login(false)
			}
		} else if !ok || len(s.buf) > maxCommand+4*maxUser {
			s.bad, s.buf = true, nil
			return dissectors.Done
		}
		return dissectors.Continue
	}
	if s.srv == srvWaitAck && len(data) > 0 {
		if data[0] == 0 {
			s.srv = srvData
		} else {
			s.srv = srvRefused
		}
		data = data[1:]
	}
	switch s.srv {
	case srvRefused:
		if len(s.errText) < 256 {
			s.errText = append(s.errText, data[:min(len(data), 256-len(s.errText))]...)
		}
	case srvData:
		s.out.Write(data)
		s.live(ts, data)
	}
	if s.ctx.Listening() {
		s.login(false)
	}
	return dissectors.Continue
}

// live passes the command's output to the sensor's live view. A command
// writes bare line feeds (no terminal on the server side): a viewer's
// terminal needs a carriage return with each to start the next line.
func (s *session) live(ts int64, data []byte) {
	if s.ctx.Live == nil || len(data) == 0 {
		return
	}
	s.ctx.Live(dissectors.FromServer, ts, bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")))
}

// login publishes the one login event of the session once the request and
// the server's answer are both in: success on byte 0; on a refusal, once its
// message line is complete (or at the end).
func (s *session) login(end bool) {
	if s.loginPub == 2 || s.req == nil || s.srv == srvWaitAck {
		return
	}
	a := term.Attempt{N: 1, User: s.req.ServerUser, Outcome: record.OutcomeSuccess, Method: term.MethodTrustedHost}
	if s.srv == srvRefused {
		if !end && bytes.IndexByte(s.errText, '\n') < 0 && len(s.errText) < 256 {
			return
		}
		a.Outcome, a.Reason = record.OutcomeFailure, term.Reason(s.errText)
	}
	s.loginPub = 2
	ev := term.LoginEvent(s.ts, a)
	ev.Objects = map[string]any{"rsh": &Fields{ClientUser: s.req.ClientUser, ServerUser: s.req.ServerUser}}
	s.ctx.Publish(ev)
}

// expectStderr announces the back-connection: the server connects from a
// reserved port to the port the client named.
func (s *session) expectStderr(p int, ts int64) {
	if p <= 0 || p > 65535 || s.ctx == nil || s.ctx.Expect == nil {
		return
	}
	s.ctx.Expect(dissectors.Expectation{
		From: netip.AddrPortFrom(s.ctx.Server.Addr(), 0), To: netip.AddrPortFrom(s.ctx.Client.Addr(), uint16(p)),
		Deadline: ts + stderrDeadline,
		Session:  func() dissectors.Session { s.stderrC = true; return &stderrConn{s: s} },
	})
}

// stderrConn feeds the back-connection's server-to-client bytes (the
// command's stderr) into the parent; the client's bytes there are signal
// numbers and are not kept.
type stderrConn struct{ s *session }

func (c *stderrConn) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	// The back-connection's TCP client is the rsh server.
	if dir == dissectors.FromClient {
		c.s.stderr += int64(len(data))
		c.s.out.Write(data)
		c.s.live(ts, data)
	}
	return dissectors.Continue
}
func (c *stderrConn) Gap(dissectors.Direction, int, int64) {}
func (c *stderrConn) Close(*record.Record)                 {}

// StderrPort reads the request's first field, the decimal port for the
// stderr back-connection, once its NUL has arrived.
func StderrPort(b []byte) (int, bool) {
	p := 0
	for i, c := range b {
		switch {
		case c == 0:
			return p, i > 0
		case c < '0' || c > '9' || i >= 5:
			return 0, false
		}
		p = p*10 + int(c-'0')
	}
	return 0, false
}

func (s *session) Gap(dissectors.Direction, int, int64) {}

func (s *session) Close(r *record.Record) {
	if s.req == nil {
		r.AddAnomaly("rsh.no_request")
		return
	}
	if s.ctx.Listening() {
		s.login(true)
	}
	s.fill(r)
	if t := s.out.Text(); t != "" {
		r.OutputText = t
	}
}

// Snapshot implements dissectors.Snapshotter: the request and the answer so
// far, without changing the session.
func (s *session) Snapshot(r *record.Record) {
	if s.req != nil {
		s.fill(r)
	}
}

func (s *session) fill(r *record.Record) {
	f := &Fields{ClientUser: s.req.ClientUser, ServerUser: s.req.ServerUser, Command: s.req.Command, StderrBytes: s.stderr}
	f.StderrPort, _ = strconv.Atoi(s.req.StderrPort)
	r.UserName = s.req.ServerUser
	r.SourceUserName = s.req.ClientUser
	r.Commands = []string{s.req.Command}
	r.Kind = "exec"
	switch s.srv {
	case srvData:
		yes := true
		r.Login = &record.Login{Attempts: 1, Success: &yes}
	case srvRefused:
		no := false
		r.Login = &record.Login{Attempts: 1, Success: &no}
		f.Error = trimText(s.errText)
	}
	if s.out.Truncated {
		r.AddAnomaly("term.output_truncated")
	}
	r.Set("rsh", f)
}

func trimText(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == 0) {
		b = b[:len(b)-1]
	}
	return string(b)
}
