package ftp

import (
	"bytes"
	"net/netip"
	"strconv"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// Caps on what one control connection keeps.
const (
	maxCommands = 10000
	maxFiles    = 1000
	maxGreeting = 256
	// dataDeadline is how long an announced data connection may take to start.
	dataDeadline = 120e9
)

// Mask replaces a password (PASS, ACCT argument) in psm.commands.
const Mask = "****"

type command struct {
	verb    string
	arg     string
	replies []byte // "150 226"
	final   bool   // a 2xx-5xx reply came
	code    int
}

type session struct {
	ctx                *dissectors.Context
	in                 [2]lines
	cmds               []command
	pending            int // index of the oldest command without a final reply
	f                  Fields
	user               string // last USER argument
	login              record.Login
	success            int8
	creds              bool
	multi              int // code of a multi-line reply in progress, or 0
	stop               bool
	unmatched, badLine bool
	data               *dataStats
}

type dataStats struct {
	conns int
	bytes int64
}

func newSession(ctx *dissectors.Context) *session {
	return &session{ctx: ctx, data: &dataStats{}}
}

// Feed implements dissectors.Session.
func (s *session) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	if s.stop {
		return dissectors.Done
	}
	for len(data) > 0 && !s.stop {
		line, rest, ok := s.in[dir].next(data)
		if !ok {
			break
		}
		if dir == dissectors.FromClient {
			s.command(line, ts)
		} else {
			s.reply(line, ts)
		}
		data = rest
	}
	if s.stop {
		return dissectors.Done
	}
	return dissectors.Continue
}

// Gap implements dissectors.Session: the partial line is dropped.
func (s *session) Gap(dir dissectors.Direction, n int, ts int64) {
	s.in[dir].buf = s.in[dir].buf[:0]
	if dir == dissectors.FromServer {
		s.multi = 0
	}
}

func (s *session) command(line []byte, ts int64) {
	verb, arg, ok := ParseCommand(line)
	if !ok {
		if len(bytes.TrimSpace(line)) > 0 {
			s.badLine = true
		}
		return
	}
	switch verb {
	case "USER":
		s.user = string(arg)
	case "PASS", "ACCT":
		s.creds = true
		if !s.reveal() && len(arg) > 0 {
			arg = []byte(Mask)
		}
	case "PORT":
		if ap, ok := ParseHostPort(arg); ok {
			s.expectActive(ap, ts)
		}
	case "EPRT":
		if ap, ok := ParseEPRT(arg); ok {
			s.expectActive(ap, ts)
		}
	}
	if len(s.cmds) >= maxCommands {
		s.f.tooMany = true
		return
	}
	s.cmds = append(s.cmds, command{verb: verb, arg: string(arg)})
}

func (s *session) reveal() bool {
	return s.ctx != nil && s.ctx.Options != nil && s.ctx.Options.RevealCredentials
}

func (s *session) reply(line []byte, ts int64) {
	code, more, ok := ParseReplyLine(line)
	if s.multi != 0 {
		// Inside a multi-line reply only "code SP" with the same code ends it.
		if ok && code == s.multi && !more {
			s.multi = 0
		}
		return
	}
	if !ok {
		if len(bytes.TrimSpace(line)) > 0 {
			s.badLine = true
		}
		return
	}
	if more {
		s.multi = code
	}
	text := line[min(4, len(line)):]
	// The greeting: a reply before any command.
	if s.pending >= len(s.cmds) && len(s.cmds) == 0 {
		if s.f.Greeting == "" && code/100 == 2 {
			s.f.Greeting = string(text[:min(len(text), maxGreeting)])
		}
		return
	}
	if s.pending >= len(s.cmds) {
		s.unmatched = true
		return
	}
	c := &s.cmds[s.pending]
	if len(c.replies) < 32 {
		if len(c.replies) > 0 {
			c.replies = append(c.replies, ' ')
		}
		c.replies = append(c.replies, line[:3]...)
	}
	if code < 200 { // preliminary: the command waits for its final reply
		return
	}
	c.final, c.code = true, code
	s.pending++
	s.outcome(c, text, ts)
}

// outcome applies a command's final reply.
func (s *session) outcome(c *command, text []byte, ts int64) {
	ok := c.code < 400
	switch c.verb {
	case "USER":
		// 230 at once: no password needed; 530: refused before a password.
		if c.code == 230 || c.code == 530 {
			s.attempt(c.code == 230)
		}
	case "PASS", "ACCT":
		if c.code == 230 || c.code == 202 || c.code == 530 || c.code == 430 {
			s.attempt(c.code != 530 && c.code != 430)
		}
	case "RETR", "STOR", "STOU", "APPE", "DELE":
		if ok && c.arg != "" && len(s.f.Files) < maxFiles {
			s.f.Files = append(s.f.Files, c.arg)
		}
	case "AUTH":
		if c.code == 234 || c.code == 334 { // RFC 2228 / 4217: TLS (or a security mechanism) starts now
			s.f.TLS = true
			s.stop = true
		}
	case "PASV":
		if c.code == 227 {
			if ap, okp := Parse227(text); okp {
				s.expectPassive(ap.Addr(), ap.Port(), ts)
			}
		}
	case "EPSV":
		if c.code == 229 {
			if p, okp := Parse229(text); okp {
				s.expectPassive(netip.Addr{}, p, ts)
			}
		}
	}
}

func (s *session) attempt(success bool) {
	s.login.Attempts++
	if success {
		s.success = 1
	} else {
		s.success = -1
	}
}

// expectPassive: the client will connect to the server's announced port.
// The address in a 227 reply can be a NAT's or a wrong one; the control
// connection's server address is expected too.
func (s *session) expectPassive(addr netip.Addr, port uint16, ts int64) {
	if s.ctx == nil || s.ctx.Expect == nil || port == 0 {
		return
	}
	from := netip.AddrPortFrom(s.ctx.Client.Addr(), 0)
	s.ctx.Expect(dissectors.Expectation{From: from, To: netip.AddrPortFrom(s.ctx.Server.Addr(), port),
		Deadline: ts + dataDeadline, Session: s.dataSession})
	if addr.IsValid() && addr != s.ctx.Server.Addr() {
		s.ctx.Expect(dissectors.Expectation{From: from, To: netip.AddrPortFrom(addr, port),
			Deadline: ts + dataDeadline, Session: s.dataSession})
	}
}

// expectActive: the server will connect (usually from port 20) to the
// address the client announced with PORT or EPRT.
func (s *session) expectActive(to netip.AddrPort, ts int64) {
	if s.ctx == nil || s.ctx.Expect == nil || to.Port() == 0 {
		return
	}
	s.ctx.Expect(dissectors.Expectation{From: netip.AddrPortFrom(s.ctx.Server.Addr(), 0), To: to,
		Deadline: ts + dataDeadline, Session: s.dataSession})
}

func (s *session) dataSession() dissectors.Session {
	s.data.conns++
	return &dataConn{stats: s.data}
}

// dataConn counts a data connection's bytes for its control session.
type dataConn struct{ stats *dataStats }

func (d *dataConn) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	d.stats.bytes += int64(len(data))
	return dissectors.Continue
}
func (d *dataConn) Gap(dissectors.Direction, int, int64) {}
func (d *dataConn) Close(*record.Record)                 {}

// Close implements dissectors.Session.
func (s *session) Close(r *record.Record) {
	if s.user != "" {
		r.UserName = s.user
	}
	if s.login.Attempts > 0 || s.success != 0 {
		l := &record.Login{Attempts: s.login.Attempts}
		if s.success != 0 {
			ok := s.success > 0
			l.Success = &ok
		}
		r.Login = l
	}
	if s.creds {
		yes := true
		r.CleartextCredentials = &yes
	}
	if s.success > 0 {
		r.Kind = "file_transfer"
	}
	for i := range s.cmds {
		c := &s.cmds[i]
		cmd := c.verb
		if c.arg != "" {
			cmd += " " + c.arg
		}
		r.Commands = append(r.Commands, cmd)
		if len(c.replies) == 0 {
			s.f.Replies = append(s.f.Replies, "-")
		} else {
			s.f.Replies = append(s.f.Replies, string(c.replies))
		}
	}
	if s.data.conns > 0 {
		s.f.Data = &Data{Connections: s.data.conns, Bytes: s.data.bytes}
	}
	if s.in[0].Cut || s.in[1].Cut {
		r.AddAnomaly("ftp.line_too_long")
	}
	if s.badLine {
		r.AddAnomaly("ftp.bad_line")
	}
	if s.unmatched {
		r.AddAnomaly("ftp.unexpected_reply")
	}
	if s.f.tooMany {
		r.AddAnomaly("ftp.too_many_commands")
	}
	if s.f.TLS {
		r.AddAnomaly("ftp.tls")
	}
	if !s.f.empty() {
		r.Set("ftp", &s.f)
	}
}

// Fields is the "ftp" object of the record.
type Fields struct {
	Greeting string   `json:"greeting,omitempty"`
	Replies  []string `json:"replies,omitempty"`
	Files    []string `json:"files,omitempty"`
	Data     *Data    `json:"data,omitempty"`
	TLS      bool     `json:"tls,omitempty"`
	tooMany  bool
}

// Data sums the data connections tied to this control connection.
type Data struct {
	Connections int   `json:"connections"`
	Bytes       int64 `json:"bytes"`
}

func (f *Fields) empty() bool {
	return f.Greeting == "" && len(f.Replies) == 0 && len(f.Files) == 0 && f.Data == nil && !f.TLS
}

// Summary is a short human description for the table output.
func (f *Fields) Summary() string {
	s := strconv.Itoa(len(f.Replies)) + " commands"
	if len(f.Files) > 0 {
		s += ", files " + strconv.Itoa(len(f.Files))
	}
	return s
}
