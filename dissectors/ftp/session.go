package ftp

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// A transfer's size: bytes its data connection carried (data), or what
	// the server announced ("150 ... (57 bytes)"), -1 when it did not.
	data      int64
	dataSeen  bool
	announced int64
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
	// For activity events.
	passSent   bool   // a PASS/ACCT since the last USER: the attempt carried a password
	renameFrom string // RNFR path accepted (350), waiting for RNTO
	sizePath   string // the path of the last SIZE answered 213, and that size
	size       int64
	published  int // commands whose command event went out (they go in order)
}

type dataStats struct {
	conns int
	bytes int64
}

// maxReplyText bounds a reply text carried on an event (psm.command.reply,
// event.reason).
const maxReplyText = 200

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
		s.passSent = false
	case "PASS", "ACCT":
		s.creds = true
		s.passSent = true
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
	s.cmds = append(s.cmds, command{verb: verb, arg: string(arg), announced: -1})
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
		if c.verb == "RETR" {
			if n, ok := announcedSize(text); ok {
				c.announced = n
			}
		}
		return
	}
	c.final, c.code = true, code
	s.pending++
	s.outcome(c, text, ts)
}

// outcome applies a command's final reply. With events wanted, the login
// attempt it settles goes out first (so that the command carries the user),
// then the command, then what the command did (a file, TLS).
func (s *session) outcome(c *command, text []byte, ts int64) {
	ok := c.code < 400
	var file, security *record.Event
	switch c.verb {
	case "USER":
		// 230 at once: no password needed; 530: refused before a password.
		if c.code == 230 || c.code == 530 {
			s.attempt(c.code == 230, "none", text, ts)
		}
	case "PASS", "ACCT":
		if c.code == 230 || c.code == 202 || c.code == 530 || c.code == 430 {
			s.attempt(c.code != 530 && c.code != 430, "password", text, ts)
		}
	case "RETR", "STOR", "STOU", "APPE", "DELE":
		if ok && c.arg != "" && len(s.f.Files) < maxFiles {
			s.f.Files = append(s.f.Files, c.arg)
			if s.ctx.Listening() {
				file = s.fileEvent(c, ts)
			}
		}
	case "RNFR":
		s.renameFrom = ""
		if c.code == 350 && c.arg != "" {
			s.renameFrom = c.arg
		}
	case "RNTO":
		// RFC 959: RNTO follows an accepted RNFR at once.
		if ok && s.renameFrom != "" && c.arg != "" && len(s.f.Files) < maxFiles {
			s.f.Files = append(s.f.Files, s.renameFrom)
			if s.ctx.Listening() {
				file = record.FileEvent(ts, "change", s.renameFrom, -1, "")
				file.File.NewPath = c.arg
			}
		}
		s.renameFrom = ""
	case "SIZE":
		if c.code == 213 {
			if n, err := strconv.ParseInt(string(bytes.TrimSpace(text)), 10, 64); err == nil && n >= 0 {
				s.sizePath, s.size = c.arg, n
			}
		}
	case "AUTH":
		if c.code == 234 || c.code == 334 { // RFC 2228 / 4217: TLS (or a security mechanism) starts now
			s.f.TLS = true
			s.stop = true
			if s.ctx.Listening() {
				security = &record.Event{Time: time.Unix(0, ts), Action: record.ActionSecurity,
					Category: []string{"network"}, Type: []string{"info"}, Outcome: record.OutcomeSuccess,
					Reason:  "AUTH " + printable(c.arg, 16) + " accepted: the control connection is encrypted from here",
					Objects: map[string]any{"ftp": map[string]bool{"tls": true}}}
			}
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
	if s.ctx.Listening() {
		s.publishCommands(ts, text)
		s.ctx.Publish(file)
		s.ctx.Publish(security)
	}
}

// publishCommands sends the command events of the commands that have their
// final reply (all but the last got theirs earlier: replies come in order);
// text is the last one's reply.
func (s *session) publishCommands(ts int64, text []byte) {
	for ; s.published < s.pending && s.published < len(s.cmds); s.published++ {
		c := &s.cmds[s.published]
		ev := record.CommandEvent(ts, c.line())
		ev.Command.ReplyCode = c.code
		if s.published == s.pending-1 {
			ev.Command.Reply = printable(string(text), maxReplyText)
		}
		s.ctx.Publish(ev)
	}
}

// line is the command as psm.commands lists it (PASS masked).
func (c *command) line() string {
	if c.arg == "" {
		return c.verb
	}
	return c.verb + " " + c.arg
}

// fileEvent describes a transfer or a deletion that the server confirmed.
func (s *session) fileEvent(c *command, ts int64) *record.Event {
	switch c.verb {
	case "DELE":
		return record.FileEvent(ts, "deletion", c.arg, -1, "")
	case "RETR":
		return record.FileEvent(ts, "access", c.arg, s.transferSize(c), record.Download)
	}
	return record.FileEvent(ts, "creation", c.arg, s.transferSize(c), record.Upload)
}

// transferSize is what the transfer's data connection carried. The server
// sends its 226 after it closed the data connection (a download) or read its
// end (an upload), so on the wire the data comes first: in ftp-vsftpd.pcap
// and ftp-active.pcap every data segment and its FIN precede the 226. The
// event therefore goes out at the 226 with the bytes counted so far. When no
// data connection was seen (not captured, or not yet), a download falls back
// on the size the server announced in its 150 reply, then on a SIZE reply
// for the same path; otherwise the size is unknown (-1).
func (s *session) transferSize(c *command) int64 {
	switch {
	case c.dataSeen:
		return c.data
	case c.verb != "RETR":
		return -1
	case c.announced >= 0:
		return c.announced
	case s.sizePath != "" && s.sizePath == c.arg:
		return s.size
	}
	return -1
}

// announcedSize reads "(1234 bytes)" in a 150 reply (vsftpd, ProFTPD, ...).
func announcedSize(text []byte) (int64, bool) {
	i := bytes.LastIndexByte(text, '(')
	if i < 0 {
		return 0, false
	}
	rest := text[i+1:]
	j := 0
	for j < len(rest) && j < 19 && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j == 0 || !bytes.HasPrefix(rest[j:], []byte(" bytes)")) {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return n, err == nil
}

// printable bounds s to n bytes and replaces control bytes, so that a
// server's text cannot forge lines in a log.
func printable(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = ' '
		}
	}
	return strings.TrimSpace(string(b))
}

// attempt counts a login attempt the reply settled, and publishes it.
func (s *session) attempt(success bool, method string, text []byte, ts int64) {
	s.login.Attempts++
	if success {
		s.success = 1
	} else {
		s.success = -1
	}
	if !s.ctx.Listening() {
		return
	}
	outcome := record.OutcomeFailure
	if success {
		outcome = record.OutcomeSuccess
	}
	if method == "password" && !s.passSent {
		method = "" // ACCT alone
	}
	ev := record.LoginEvent(ts, s.user, outcome, method, false)
	ev.Login.Attempt = s.login.Attempts
	ev.CleartextCredentials = s.passSent
	if !success {
		ev.Reason = printable(string(text), maxReplyText)
	}
	s.ctx.Publish(ev)
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
	return &dataConn{s: s, owner: -1}
}

// dataConn counts a data connection's bytes for its control session, and
// for the transfer it carries: the transfer command waiting for its final
// reply when the first bytes come (the client sent RETR/STOR/LIST before
// any data can flow).
type dataConn struct {
	s     *session
	owner int // index in s.cmds, -1 before the first bytes or when no transfer waits
	bound bool
}

func (d *dataConn) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	s := d.s
	s.data.bytes += int64(len(data))
	if !d.bound {
		d.bound = true
		if p := s.pending; p < len(s.cmds) && transferVerb(s.cmds[p].verb) {
			d.owner = p
		}
	}
	if d.owner >= 0 {
		c := &s.cmds[d.owner]
		c.data += int64(len(data))
		c.dataSeen = true
	}
	return dissectors.Continue
}

// transferVerb: commands that use a data connection.
func transferVerb(v string) bool {
	switch v {
	case "RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD":
		return true
	}
	return false
}
func (d *dataConn) Gap(dissectors.Direction, int, int64) {}
func (d *dataConn) Close(*record.Record)                 {}

// Close implements dissectors.Session. Commands still waiting for their
// final reply get their command event now, without a reply code.
func (s *session) Close(r *record.Record) {
	if s.ctx.Listening() {
		ts := r.End.UnixNano()
		for ; s.published < len(s.cmds); s.published++ {
			s.ctx.Publish(record.CommandEvent(ts, s.cmds[s.published].line()))
		}
	}
	s.fill(r)
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
}

// Snapshot implements dissectors.Snapshotter: what Close would write, so
// far, leaving the session as it is.
func (s *session) Snapshot(r *record.Record) { s.fill(r) }

// fill writes user, login, commands and the "ftp" object into r; it changes
// nothing in s and shares no slice that s goes on appending to.
func (s *session) fill(r *record.Record) {
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
	f := s.f
	f.Files = slices.Clone(s.f.Files)
	f.Replies = nil
	r.Commands = nil
	for i := range s.cmds {
		c := &s.cmds[i]
		r.Commands = append(r.Commands, c.line())
		if len(c.replies) == 0 {
			f.Replies = append(f.Replies, "-")
		} else {
			f.Replies = append(f.Replies, string(c.replies))
		}
	}
	if s.data.conns > 0 {
		f.Data = &Data{Connections: s.data.conns, Bytes: s.data.bytes}
	}
	if !f.empty() {
		r.Set("ftp", &f)
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
