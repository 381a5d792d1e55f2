package mysql

import (
	"strconv"
	"strings"
	"time"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/dissectors/tls"
	"github.com/psmtap/psmtap/internal/record"
)

// Caps on what one connection keeps.
const (
	keepPacket      = 64 << 10 // bytes of a packet kept for parsing; the rest is skipped by length
	maxQueryText    = 4096     // bytes of a statement kept (db.query.text, psm.commands)
	maxCommands     = 10000    // psm.commands entries
	maxCommandBytes = 1 << 20  // and their bytes
	maxPending      = 256      // commands sent and not yet answered (pipelining)
	maxStatements   = 4096     // prepared statements remembered
	maxSplit        = 256      // statements of one multi-statement query paired with results
	maxInfile       = 100      // LOCAL INFILE names kept
)

type phase uint8

const (
	phGreeting  phase = iota // waiting for the server's greeting
	phHandshake              // waiting for the client's handshake response or SSLRequest
	phAuth                   // authentication exchange until OK or ERR
	phCommand                // commands and their responses
	phTLS                    // the TLS handshake after an SSLRequest, handed to dissectors/tls
	phStopped                // nothing more to learn
)

// Response states of the command waiting for its response.
type respState uint8

const (
	stFirst   respState = iota // the first packet of a response (or of the next result)
	stColumns                  // column definitions of a result set
	stColEOF                   // the EOF after them (without CLIENT_DEPRECATE_EOF)
	stRows                     // rows until EOF/OK or ERR
	stDefs                     // parameter or column definitions of a PREPARE_OK
	stDefsEOF                  // the EOF after them
)

// stmt is a prepared statement.
type stmt struct {
	text     string
	params   int
	types    []uint16
	longData uint64
}

// result is one result of a command (a multi-statement query has several).
type result struct {
	ts       int64
	rows     int64 // rows of a result set, -1 for none
	affected int64 // an OK's affected rows, -1 for none
	err      *Err
}

// command is a command waiting for its response.
type command struct {
	code      byte
	ts        int64
	text      string
	stmts     []string // the statements of a multi-statement query
	db        string   // the database when it was sent
	stmtID    uint32
	stmtKnown bool
	params    []string
	initDB    string // COM_INIT_DB / USE: the database it switches to
	// An execution of "the statement prepared last" (id 0xFFFFFFFF) sent
	// before that PREPARE's answer: read when its own answer comes.
	raw []byte
	// response progress
	state   respState
	left    int
	defs    [2]int // a PREPARE_OK's parameter and column counts still to skip
	defIdx  int
	prepOK  *PrepareOK
	infile  bool // a LOCAL INFILE request was answered: the client sends the file
	cur     result
	results []result
}

type half struct {
	fr   framer
	z    *decompressor
	lost bool // framing lost after a gap: skipping until a packet boundary
}

type session struct {
	ctx   *dissectors.Context
	rec   *record.Record
	h     [2]half
	phase phase
	greet *Greeting
	caps  uint32 // negotiated: client's and server's
	mcaps uint32 // MariaDB extended, negotiated

	user      string
	db        string
	f         Fields
	attempts  int
	success   int8
	cleartext bool
	authStart int64
	plugin    string // the auth plugin in effect
	authUser  string
	authOpen  bool // an attempt waits for its outcome

	pending  []*command
	pendBase []*command
	stmts    map[uint32]*stmt
	lastID   uint32

	commands  []string
	cmdBytes  int
	tls       *tls.Stream
	anomalies map[string]bool
}

func newSession(ctx *dissectors.Context) *session {
	s := &session{ctx: ctx, stmts: map[uint32]*stmt{}, pendBase: make([]*command, 0, 8)}
	s.pending = s.pendBase
	if ctx != nil {
		s.rec = ctx.Record
	}
	for i := range s.h {
		s.h[i].fr.keep = keepPacket
	}
	return s
}

func (s *session) anomaly(name string) {
	if s.anomalies == nil {
		s.anomalies = map[string]bool{}
	}
	s.anomalies[name] = true
}

func (s *session) reveal() bool {
	return s.ctx != nil && s.ctx.Options != nil && s.ctx.Options.RevealCredentials
}

// Feed implements dissectors.Session.
func (s *session) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	h := &s.h[dir]
	for len(data) > 0 && s.phase != phStopped {
		if s.phase == phTLS {
			if s.tls.Feed(int(dir), data) {
				s.phase = phStopped
			}
			break
		}
		if h.lost {
			if !s.resync(dir, data) {
				break
			}
		}
		if h.z != nil {
			stopped := false
			ok := h.z.feed(data, func(chunk []byte) {
				for len(chunk) > 0 && !stopped {
					p, rest, got := h.fr.next(chunk)
					if !got {
						return
					}
					s.packet(dir, &p, ts)
					chunk = rest
					stopped = s.phase == phStopped
				}
			})
			if !ok {
				s.anomaly("mysql.decompress_failed")
				s.lose(dir, ts)
				h.z.reset()
			}
			break
		}
		p, rest, got := h.fr.next(data)
		if !got {
			break
		}
		s.packet(dir, &p, ts)
		data = rest
	}
	if s.phase == phStopped {
		return dissectors.Done
	}
	return dissectors.Continue
}

// resync: after a gap, take a segment that is exactly one packet, of the
// sequence number that starts a command (client) or a response (server),
// as the way back in.
func (s *session) resync(dir dissectors.Direction, data []byte) bool {
	h := &s.h[dir]
	if h.z != nil || len(data) < 5 {
		return false
	}
	n := int(data[0]) | int(data[1])<<8 | int(data[2])<<16
	want := byte(0)
	if dir == dissectors.FromServer {
		want = 1
	}
	if n+4 != len(data) || data[3] != want {
		return false
	}
	h.lost = false
	h.fr.reset()
	return true
}

// Gap implements dissectors.Session.
func (s *session) Gap(dir dissectors.Direction, n int, ts int64) {
	if s.phase == phTLS {
		s.tls.Gap(int(dir))
		if s.tls.Done() {
			s.phase = phStopped
		}
		return
	}
	if s.phase == phStopped {
		return
	}
	s.anomaly("mysql.gap")
	s.lose(dir, ts)
}

// lose gives up dir's framing until resync; responses in flight are lost
// with it, and their commands are published without a result.
func (s *session) lose(dir dissectors.Direction, ts int64) {
	h := &s.h[dir]
	h.lost = true
	h.fr.reset()
	if dir == dissectors.FromServer {
		for _, c := range s.pending {
			s.complete(c, ts)
		}
		s.pending = s.pending[:0]
	}
	if s.phase < phCommand {
		s.phase = phStopped // the login cannot be followed further
	}
}

func (s *session) packet(dir dissectors.Direction, p *Packet, ts int64) {
	if dir == dissectors.FromServer {
		s.server(p, ts)
	} else {
		s.client(p, ts)
	}
}

// ---------------------------------------------------------------- server

func (s *session) server(p *Packet, ts int64) {
	b := p.Data
	switch s.phase {
	case phGreeting:
		if len(b) > 0 && b[0] == hdrErr {
			if e, err := ParseErr(b); err == nil {
				s.f.LoginError = e.Message
			}
			s.phase = phStopped
			return
		}
		g, err := ParseGreeting(b)
		if err != nil {
			s.anomaly("mysql.bad_greeting")
			s.phase = phStopped
			return
		}
		s.greet = g
		s.phase = phHandshake
	case phHandshake:
		s.anomaly("mysql.unexpected_response")
	case phAuth:
		s.authReply(p, ts)
	case phCommand:
		s.response(p, ts)
	}
}

// authReply reads the server's side of the authentication exchange.
func (s *session) authReply(p *Packet, ts int64) {
	b := p.Data
	if len(b) == 0 {
		s.anomaly("mysql.bad_packet")
		return
	}
	switch b[0] {
	case hdrOK:
		s.outcome(true, "", ts)
		s.phase = phCommand
		if s.caps&capCompress != 0 {
			// Compression starts with the packets after this OK.
			s.h[0].z, s.h[1].z = &decompressor{}, &decompressor{}
			s.f.Compression = true
		}
	case hdrErr:
		e, err := ParseErr(b)
		if err != nil {
			s.anomaly("mysql.bad_packet")
			s.outcome(false, "", ts)
		} else {
			s.f.LoginError = e.Message
			s.outcome(false, e.Message, ts)
		}
		s.phase = phStopped
	case hdrEOF: // AuthSwitchRequest: plugin name, plugin data
		r := &reader{b: b[1:]}
		if len(b) > 1 {
			name := printable(r.nulString(), 64)
			if name != "" {
				s.plugin = name
			}
		} else {
			s.plugin = "mysql_old_password" // the old switch request without a name
		}
	case 0x01: // AuthMoreData: plugin-specific; nothing the record keeps
	default:
		s.anomaly("mysql.bad_packet")
	}
}

// outcome settles the login attempt in flight.
func (s *session) outcome(ok bool, reason string, ts int64) {
	if !s.authOpen {
		return
	}
	s.authOpen = false
	s.attempts++
	if ok {
		s.success = 1
		s.user = s.authUser
	} else {
		s.success = -1
	}
	s.f.AuthPlugin = s.plugin
	if !s.ctx.Listening() {
		return
	}
	out := record.OutcomeFailure
	if ok {
		out = record.OutcomeSuccess
	}
	ev := record.LoginEvent(ts, s.authUser, out, s.plugin, false)
	ev.Login.Attempt = s.attempts
	ev.Reason = reason
	ev.CleartextCredentials = s.cleartext
	s.ctx.Publish(ev)
}

// response reads a packet of the response to the oldest pending command.
func (s *session) response(p *Packet, ts int64) {
	if len(s.pending) == 0 {
		s.anomaly("mysql.unexpected_response")
		return
	}
	b := p.Data
	if len(b) == 0 {
		s.anomaly("mysql.bad_packet")
		return
	}
	c := s.pending[0]
	switch c.state {
	case stFirst:
		s.first(c, p, ts)
	case stColumns:
		if c.left--; c.left <= 0 {
			c.state = stRows
			if s.caps&capDeprecateEOF == 0 {
				c.state = stColEOF
			}
		}
	case stColEOF:
		e, err := ParseEOF(b)
		if err != nil {
			s.anomaly("mysql.bad_packet")
			c.state = stRows
			return
		}
		c.state = stRows
		if e.Status&statusCursorExists != 0 {
			// A cursor: the rows come with COM_STMT_FETCH.
			c.cur.rows = -1
			s.endResult(c, e.Status, ts)
		}
	case stRows:
		switch {
		case b[0] == hdrEOF && p.Len < maxFrame && (p.Len < 9 || s.caps&capDeprecateEOF != 0):
			var status uint16
			if p.Len < 9 {
				if e, err := ParseEOF(b); err == nil {
					status = e.Status
				}
			} else if ok, err := ParseOK(b, s.caps); err == nil {
				status = ok.Status
			}
			s.endResult(c, status, ts)
		case b[0] == hdrErr:
			s.errResult(c, b, ts)
		default:
			c.cur.rows++
		}
	case stDefs:
		if c.left--; c.left <= 0 {
			if s.caps&capDeprecateEOF == 0 {
				c.state = stDefsEOF
			} else {
				s.nextDefs(c, ts)
			}
		}
	case stDefsEOF:
		if b[0] != hdrEOF {
			s.anomaly("mysql.bad_packet")
		}
		s.nextDefs(c, ts)
	}
}

// first reads the first packet of a response, or of the next result.
func (s *session) first(c *command, p *Packet, ts int64) {
	b := p.Data
	c.cur.ts = ts
	if c.raw != nil {
		s.bindExecute(c, c.raw, s.lastID)
		c.raw = nil
	}
	switch c.code {
	case comQuery, comStmtExecute:
		switch {
		case b[0] == hdrOK && p.Len >= 7 || b[0] == hdrEOF && p.Len < 9:
			var status uint16
			if b[0] == hdrOK {
				ok, err := ParseOK(b, s.caps)
				if err != nil {
					s.anomaly("mysql.bad_packet")
				} else {
					c.cur.affected = int64(ok.AffectedRows)
					status = ok.Status
				}
			}
			s.endResult(c, status, ts)
		case b[0] == hdrErr:
			s.errResult(c, b, ts)
		case b[0] == hdrInfile:
			// LOCAL INFILE: the server asks the client for a file of its own.
			c.infile = true
			if len(s.f.LocalInfile) < maxInfile {
				s.f.LocalInfile = append(s.f.LocalInfile, printable(b[1:], 256))
			}
		default:
			n, meta, err := ColumnCount(b, s.caps, s.mcaps)
			if err != nil {
				s.anomaly("mysql.bad_packet")
				s.endResult(c, 0, ts)
				return
			}
			c.cur.rows = 0
			switch {
			case meta:
				c.state, c.left = stColumns, int(n)
			case s.caps&capDeprecateEOF == 0:
				c.state = stColEOF
			default:
				c.state = stRows
			}
		}
	case comStmtPrepare:
		switch b[0] {
		case hdrOK:
			o, err := ParsePrepareOK(b)
			if err != nil {
				s.anomaly("mysql.bad_packet")
				s.done(c, ts)
				return
			}
			c.prepOK = o
			if len(s.stmts) < maxStatements {
				s.stmts[o.StatementID] = &stmt{text: c.text, params: int(o.Params)}
			}
			s.lastID = o.StatementID
			c.defs = [2]int{int(o.Params), int(o.Columns)}
			s.nextDefs(c, ts)
		case hdrErr:
			s.errResult(c, b, ts)
		default:
			s.anomaly("mysql.bad_packet")
			s.done(c, ts)
		}
	case comStmtFetch:
		if b[0] == hdrErr {
			s.errResult(c, b, ts)
			return
		}
		c.state = stRows
		s.response(p, ts) // the first row, or the EOF
	case comFieldList:
		// Column definitions up to an EOF (or an ERR).
		switch b[0] {
		case hdrErr:
			s.errResult(c, b, ts)
		case hdrEOF:
			s.done(c, ts)
		}
	case comStatistics:
		s.done(c, ts) // a bare string
	default:
		switch b[0] {
		case hdrOK, hdrEOF:
			if c.code == comInitDB && c.initDB != "" {
				s.db = c.initDB
			}
			s.endResult(c, 0, ts)
		case hdrErr:
			s.errResult(c, b, ts)
		default:
			s.anomaly("mysql.bad_packet")
			s.done(c, ts)
		}
	}
}

// nextDefs moves a PREPARE_OK to its next block of definitions, or ends it.
func (s *session) nextDefs(c *command, ts int64) {
	for c.defIdx < 2 && c.defs[c.defIdx] == 0 {
		c.defIdx++
	}
	if c.defIdx == 2 {
		s.done(c, ts)
		return
	}
	c.state, c.left = stDefs, c.defs[c.defIdx]
	c.defIdx++
}

func (s *session) errResult(c *command, b []byte, ts int64) {
	e, err := ParseErr(b)
	if err != nil {
		s.anomaly("mysql.bad_packet")
		s.done(c, ts)
		return
	}
	if e.Progress {
		return // MariaDB progress report: the real answer follows
	}
	s.f.Errors++
	c.cur.err = e
	c.cur.ts = ts
	c.results = appendResult(c.results, c.cur)
	s.done(c, ts)
}

// endResult closes the current result; another follows when the server
// says more results exist.
func (s *session) endResult(c *command, status uint16, ts int64) {
	c.cur.ts = ts
	c.results = appendResult(c.results, c.cur)
	c.cur = result{rows: -1, affected: -1}
	c.state = stFirst
	if status&statusMoreResults == 0 {
		s.done(c, ts)
	}
}

// appendResult keeps at most maxSplit+1 results: the rest are added into
// the last (a procedure returning many result sets).
func appendResult(rs []result, r result) []result {
	if len(rs) <= maxSplit {
		return append(rs, r)
	}
	last := &rs[len(rs)-1]
	last.rows = addKnown(last.rows, r.rows)
	last.affected = addKnown(last.affected, r.affected)
	last.ts = r.ts
	if r.err != nil {
		last.err = r.err
	}
	return rs
}

func addKnown(a, b int64) int64 {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return a + b
}

// done: the oldest pending command has its whole response.
func (s *session) done(c *command, ts int64) {
	if len(s.pending) > 0 && s.pending[0] == c {
		s.pop()
		// Closes that were queued behind it take effect now.
		for len(s.pending) > 0 && s.pending[0].code == comStmtClose {
			delete(s.stmts, s.pending[0].stmtID)
			s.pop()
		}
	}
	if c.code == comQuery && len(c.results) > 0 && c.results[len(c.results)-1].err == nil && c.initDB != "" {
		s.db = c.initDB // USE db succeeded
	}
	s.complete(c, ts)
}

func (s *session) pop() {
	s.pending[0] = nil
	s.pending = s.pending[1:]
	if len(s.pending) == 0 {
		s.pending = s.pendBase[:0] // back to the start of the array, which is kept
	}
}

// complete publishes a command's query events.
func (s *session) complete(c *command, ts int64) {
	if !s.ctx.Listening() {
		return
	}
	switch c.code {
	case comQuery:
	case comStmtExecute:
	case comInitDB:
	case comStmtPrepare:
		// A prepared statement runs at its executions; only a refused one is an event.
		if len(c.results) == 0 || c.results[0].err == nil {
			return
		}
	default:
		return
	}
	stmts := c.stmts
	if len(stmts) == 0 {
		stmts = []string{c.text}
	}
	rs := c.results
	switch {
	case len(rs) == 0:
		// No response seen (the capture ended, or lost it).
		s.publish(c, stmts[0], c.text, result{ts: ts, rows: -1, affected: -1}, false)
		return
	case len(stmts) == 1 || len(rs) > len(stmts):
		// One statement, or more results than statements (a procedure's
		// result sets): one event with the results added up.
		total := rs[0]
		for _, r := range rs[1:] {
			total.rows = addKnown(total.rows, r.rows)
			total.affected = addKnown(total.affected, r.affected)
			total.ts = r.ts
			if r.err != nil {
				total.err = r.err
			}
		}
		s.publish(c, stmts[0], c.text, total, true)
		return
	}
	last := rs[len(rs)-1]
	if len(rs) < len(stmts) && last.err == nil {
		// Fewer results than statements without an error: the split did
		// not match the server's; one event for the whole text.
		total := rs[0]
		for _, r := range rs[1:] {
			total.rows = addKnown(total.rows, r.rows)
			total.affected = addKnown(total.affected, r.affected)
			total.ts = r.ts
		}
		s.publish(c, stmts[0], c.text, total, true)
		return
	}
	// One result per statement, in order; an error ends the query, and the
	// statements after it did not run.
	for i, r := range rs {
		s.publish(c, stmts[i], stmts[i], r, true)
	}
}

func (s *session) publish(c *command, first, text string, r result, answered bool) {
	q := &record.EventQuery{System: s.system(), Namespace: c.db, Text: text, Operation: Operation(first),
		ReturnedRows: r.rows, AffectedRows: r.affected, Parameters: c.params}
	if !answered {
		q.ReturnedRows, q.AffectedRows = -1, -1
	}
	if c.code == comInitDB {
		q.Operation = "USE"
	}
	if c.code == comStmtExecute || c.code == comStmtPrepare && c.prepOK != nil {
		if c.stmtKnown {
			q.Statement = strconv.FormatUint(uint64(c.stmtID), 10)
		}
	}
	if r.err != nil {
		q.StatusCode = strconv.Itoa(int(r.err.Code))
		q.Error = r.err.Message
	}
	if answered && r.ts >= c.ts {
		q.Duration = r.ts - c.ts
	}
	ts := r.ts
	if ts == 0 {
		ts = c.ts
	}
	ev := record.QueryEvent(ts, q)
	if !answered {
		ev.Outcome = record.OutcomeUnknown
	}
	s.ctx.Publish(ev)
}

// system is db.system.name: from the server's version string.
func (s *session) system() string {
	if s.greet != nil && s.greet.MariaDB() {
		return "mariadb"
	}
	return "mysql"
}

// ---------------------------------------------------------------- client

func (s *session) client(p *Packet, ts int64) {
	b := p.Data
	switch s.phase {
	case phGreeting:
		s.anomaly("mysql.client_spoke_first")
		s.phase = phStopped
	case phHandshake:
		s.handshake(p, ts)
	case phAuth:
		// Auth data for the plugin in effect: never kept. A cleartext plugin
		// gets the password as it is.
		if isCleartextPlugin(s.plugin) && p.Len > 1 {
			s.cleartext = true
		}
	case phCommand:
		if len(s.pending) > 0 && s.pending[0].infile {
			// The file a LOCAL INFILE request asked for; an empty packet ends it.
			if p.Len == 0 {
				s.pending[0].infile = false
			}
			return
		}
		if len(b) == 0 {
			s.anomaly("mysql.bad_packet")
			return
		}
		s.command(p, ts)
	}
}

func isCleartextPlugin(name string) bool {
	return name == "mysql_clear_password" || name == "dialog" || name == "auth_pam"
}

func (s *session) handshake(p *Packet, ts int64) {
	h, _, err := ParseHandshakeResponse(p.Data)
	if h == nil {
		s.anomaly("mysql.bad_handshake_response")
		s.phase = phStopped
		return
	}
	if err != nil {
		s.anomaly("mysql.bad_handshake_response")
	}
	serverCaps := uint32(0xffffffff)
	if s.greet != nil {
		serverCaps = s.greet.Capabilities
		s.mcaps = h.MariaCaps & s.greet.MariaCaps
	}
	s.caps = h.Capabilities & serverCaps
	if h.SSLRequest {
		s.f.TLS = true
		s.tls = &tls.Stream{}
		s.phase = phTLS
		if s.ctx.Listening() {
			s.ctx.Publish(&record.Event{Time: time.Unix(0, ts), Action: record.ActionSecurity,
				Category: []string{"network"}, Type: []string{"info"}, Outcome: record.OutcomeSuccess,
				Reason:  "SSLRequest: the connection is encrypted from here",
				Objects: map[string]any{"mysql": map[string]bool{"tls": true}}})
		}
		return
	}
	s.f.Database = h.Database
	s.f.ClientAuthPlugin = h.AuthPlugin
	if len(h.Attrs) > 0 {
		c := &Client{Name: h.Attrs["_client_name"], Version: h.Attrs["_client_version"],
			Program: h.Attrs["program_name"], OS: h.Attrs["_os"]}
		if *c != (Client{}) {
			s.f.Client = c
		}
	}
	s.db = h.Database
	s.startAttempt(h.User, h.AuthPlugin, p.Len > 0 && h.AuthLen > 0, ts)
}

func (s *session) startAttempt(user, plugin string, authData bool, ts int64) {
	s.authUser = user
	if s.user == "" {
		s.user = user
	}
	s.plugin = plugin
	if s.plugin == "" && s.greet != nil {
		s.plugin = s.greet.AuthPlugin
	}
	if s.plugin == "" && s.caps&capSecureConnection != 0 {
		s.plugin = "mysql_native_password"
	}
	if isCleartextPlugin(s.plugin) && authData {
		s.cleartext = true
	}
	s.authOpen = true
	s.authStart = ts
	s.phase = phAuth
}

func (s *session) command(p *Packet, ts int64) {
	b := p.Data
	c := &command{code: b[0], ts: ts, db: s.db, cur: result{rows: -1, affected: -1}}
	switch b[0] {
	case comQuit:
		s.f.Quit = true
		return
	case comStmtClose:
		if len(b) >= 5 {
			id := le32(b[1:])
			if len(s.pending) > 0 && len(s.pending) < maxPending {
				// Pipelined behind commands still waiting (perhaps its own
				// PREPARE): it takes effect in its turn.
				s.pending = append(s.pending, &command{code: comStmtClose, stmtID: id})
			} else {
				delete(s.stmts, id)
			}
		}
		return
	case comStmtSendLongData:
		if len(b) >= 7 {
			if st := s.stmts[le32(b[1:])]; st != nil {
				if n := int(b[5]) | int(b[6])<<8; n < 64 {
					st.longData |= 1 << n
				}
			}
		}
		return
	case comQuery:
		text := b[1:]
		if s.caps&capQueryAttributes != 0 {
			// Query attributes come first: their count, the parameter set count (1), then the values.
			r := &reader{b: text}
			n, _ := r.lenenc()
			r.lenenc()
			if r.bad || n != 0 {
				s.anomaly("mysql.query_attributes")
				text = nil
			} else {
				text = text[r.off:]
			}
		}
		c.text = s.statementText(text, p.Truncated())
		s.f.Statements++
		if s.caps&capMultiStatements != 0 && strings.IndexByte(c.text, ';') >= 0 {
			if parts := SplitStatements(c.text, maxSplit); len(parts) > 1 {
				c.stmts = parts
			}
		}
		if len(c.stmts) > 0 {
			for _, st := range c.stmts {
				s.addCommand(st)
			}
		} else {
			s.addCommand(c.text)
		}
		if Operation(c.text) == "USE" && len(c.stmts) == 0 {
			c.initDB = useTarget(c.text)
		}
	case comInitDB:
		c.initDB = printable(b[1:], 128)
		c.text = "USE " + c.initDB
		s.addCommand(c.text)
	case comStmtPrepare:
		c.text = s.statementText(b[1:], p.Truncated())
		s.f.Prepared++
		s.addCommand(c.text)
	case comStmtExecute:
		s.f.Executed++
		if len(b) < 5 {
			s.anomaly("mysql.bad_packet")
			break
		}
		id := le32(b[1:])
		if id == 0xffffffff { // MariaDB: the statement prepared last
			if s.preparing() {
				c.raw = append([]byte(nil), b...) // its PREPARE_OK has not come yet
				break
			}
			id = s.lastID
		}
		s.bindExecute(c, b, id)
	case comStmtReset:
		if len(b) >= 5 {
			if st := s.stmts[le32(b[1:])]; st != nil {
				st.longData = 0
			}
		}
	case comChangeUser:
		cu, _, err := ParseChangeUser(b, s.caps)
		if err != nil || cu == nil {
			s.anomaly("mysql.bad_packet")
			if cu == nil {
				return
			}
		}
		s.db = cu.Database
		s.pending = s.pending[:0]
		s.startAttempt(cu.User, cu.AuthPlugin, true, ts)
		return
	case comBinlogDump, comBinlogDumpGTID, comTableDump:
		// Replication: a stream of events, not a privileged user's statements.
		s.f.Replication = true
		s.phase = phStopped
		return
	case comFieldList, comStmtFetch, comStatistics, comPing, comProcessInfo, comProcessKill, comDebug, comRefresh,
		comShutdown, comSetOption, comResetConnection, comCreateDB, comDropDB, comRegisterSlave, comDaemon, comConnect:
	default:
		s.anomaly("mysql.unknown_command")
	}
	if len(s.pending) >= maxPending {
		s.anomaly("mysql.too_many_pending")
		s.phase = phStopped
		return
	}
	s.pending = append(s.pending, c)
}

// bindExecute reads a COM_STMT_EXECUTE of statement id.
func (s *session) bindExecute(c *command, b []byte, id uint32) {
	c.stmtID = id
	st := s.stmts[id]
	n := -1
	var types []uint16
	var long uint64
	if st != nil {
		c.stmtKnown = true
		c.text = st.text
		n, types, long = st.params, st.types, st.longData
	}
	e, err := ParseExecute(b, n, types, long)
	if err != nil {
		s.anomaly("mysql.bad_packet")
	}
	if e != nil {
		c.params = e.Params
		if st != nil {
			if e.NewTypes {
				st.types = e.Types
			}
			st.longData = 0
		}
	}
}

// preparing reports whether a COM_STMT_PREPARE waits for its answer.
func (s *session) preparing() bool {
	for _, c := range s.pending {
		if c.code == comStmtPrepare {
			return true
		}
	}
	return false
}

// statementText is a statement as the record and events show it: bounded,
// passwords masked.
func (s *session) statementText(b []byte, truncated bool) string {
	cut := len(b) > maxQueryText || truncated
	if len(b) > maxQueryText {
		b = b[:maxQueryText]
	}
	t := strings.ToValidUTF8(string(b), "?")
	if !s.reveal() {
		t = MaskPasswords(t)
	}
	if cut {
		t += "..."
	}
	return t
}

func (s *session) addCommand(t string) {
	if len(s.commands) >= maxCommands || s.cmdBytes+len(t) > maxCommandBytes {
		s.anomaly("mysql.too_many_commands")
		return
	}
	s.commands = append(s.commands, t)
	s.cmdBytes += len(t)
}

// useTarget is the database of "USE db" (backquotes removed).
func useTarget(q string) string {
	f := strings.Fields(q)
	if len(f) < 2 {
		return ""
	}
	return strings.Trim(strings.TrimSuffix(f[1], ";"), "`")
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
