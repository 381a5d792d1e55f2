package postgresql

import (
	"encoding/binary"
	"strings"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/dissectors/tls"
	"github.com/psmtap/psmtap/internal/record"
)

// Caps on what one connection keeps.
const (
	// maxMessage: a message body buffered whole; longer ones keep their
	// first maxMessage bytes (Query, Parse, Bind) or are only counted
	// (DataRow, CopyData...), never buffered.
	maxMessage = 256 << 10
	// maxQueryText bounds a statement's text on events and in psm.commands.
	maxQueryText = 4096
	maxCommands  = 10000
	// maxCommandBytes bounds psm.commands as a whole.
	maxCommandBytes = 1 << 20
	maxStatements   = 1024 // named prepared statements remembered
	maxPortals      = 256  // named portals remembered
	maxPending      = 4096 // requests waiting for their responses
	maxErrorText    = 512
)

// reader modes.
const (
	modeStartup = iota // untyped: Int32 length, then the body (client's first messages)
	modeTyped          // type byte, Int32 length, body
	modeAnswer         // one byte: the server's answer to SSLRequest / GSSENCRequest
	modeTLS            // TLS records, handed to dissectors/tls
	modeStop           // nothing more to read in this direction
)

// reader cuts one direction's stream into messages.
type reader struct {
	mode   uint8
	hdr    [5]byte
	nhdr   int
	typ    byte
	length int // body length; -1 between messages
	got    int
	keep   bool
	body   []byte
	start  int64 // packet time of the message's first byte
}

// request kinds waiting in the queue for the server's responses, in order.
type opKind uint8

const (
	opSimple   opKind = iota // a statement of a Simple Query
	opQueryEnd               // the ReadyForQuery ending a Simple Query
	opParse
	opBind
	opDescribe
	opExecute
	opClose
	opSync
	opFunction
)

type op struct {
	kind opKind
	q    *query // opSimple, opExecute; opParse keeps its text for an error
}

// stmt is a prepared statement.
type stmt struct {
	name string
	text string
	op   string
	oids []uint32
}

// portal is a bound statement.
type portal struct {
	st     *stmt
	params []Param // values copied
	count  int
}

// query is one statement on its way: a statement of a Simple Query, or an
// Execute of a portal.
type query struct {
	text, op, stmtName string
	st                 *stmt
	params             []Param
	nparams            int
	start              int64
	rows               int64 // DataRows counted
	described          bool  // a RowDescription came: it returns rows
	tag                string
	tagRows            int64
	copyDir            byte // 'i' in, 'o' out
	copyBytes          int64
	err                *ErrorFields
	masked             bool
}

type session struct {
	ctx       *dissectors.Context
	rd        [2]reader
	f         Fields
	user      string
	dbName    string
	tls       *tls.Stream
	stop      bool
	anomalies map[string]bool

	// authentication
	authCode    uint32 // last authentication request
	method      string
	authOk      bool
	ready       bool // first ReadyForQuery seen: logged in
	loginDone   bool
	attempts    int
	creds       bool
	password    string // revealed cleartext password (--reveal-credentials only)
	loginReason string

	// statements
	ops       []op
	head      int
	stmts     map[string]*stmt
	unnamed   *stmt
	portals   map[string]*portal
	unnamedP  *portal
	commands  []string
	cmdBytes  int
	tooMany   bool
	copyQuery *query // the statement in COPY mode
}

func newSession(ctx *dissectors.Context) *session {
	s := &session{ctx: ctx, stmts: map[string]*stmt{}, portals: map[string]*portal{}}
	s.rd[dissectors.FromClient].mode = modeStartup
	s.rd[dissectors.FromServer].mode = modeTyped
	s.rd[0].length, s.rd[1].length = -1, -1
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
	r := &s.rd[dir&1]
	for len(data) > 0 && !s.stop {
		switch r.mode {
		case modeStop:
			data = nil
		case modeTLS:
			if s.tls.Feed(int(dir&1), data) {
				s.stop = true
			}
			data = nil
		case modeAnswer:
			if data[0] == msgError { // an old server refusing the request with an error
				r.mode = modeTyped
				continue
			}
			s.answer(data[0])
			data = data[1:]
		default:
			data = s.messages(dir&1, r, data, ts)
		}
	}
	if s.stop {
		return dissectors.Done
	}
	return dissectors.Continue
}

// messages cuts as many messages from data as it holds; it returns what is
// left when the reader's mode changed.
func (s *session) messages(dir dissectors.Direction, r *reader, data []byte, ts int64) []byte {
	for len(data) > 0 && (r.mode == modeStartup || r.mode == modeTyped) && !s.stop {
		hl := 5
		if r.mode == modeStartup {
			hl = 4
		}
		if r.length < 0 {
			// Whole messages straight from data, without copying.
			if r.nhdr == 0 && len(data) >= hl {
				typ, n, ok := s.header(r, data[:hl])
				if !ok {
					return nil
				}
				if len(data) >= hl+n && n <= maxMessage {
					s.dispatch(dir, typ, data[hl:hl+n], n, false, ts, ts)
					data = data[hl+n:]
					continue
				}
				r.typ, r.length, r.got, r.start = typ, n, 0, ts
				r.keep = s.wants(dir, typ)
				r.body = r.body[:0]
				data = data[hl:]
			} else {
				if r.nhdr == 0 {
					r.start = ts
				}
				k := copy(r.hdr[r.nhdr:hl], data)
				r.nhdr += k
				data = data[k:]
				if r.nhdr < hl {
					return nil
				}
				r.nhdr = 0
				typ, n, ok := s.header(r, r.hdr[:hl])
				if !ok {
					return nil
				}
				r.typ, r.length, r.got = typ, n, 0
				r.keep = s.wants(dir, typ)
				r.body = r.body[:0]
			}
		}
		take := min(r.length-r.got, len(data))
		if r.keep && len(r.body) < maxMessage {
			r.body = append(r.body, data[:min(take, maxMessage-len(r.body))]...)
		}
		r.got += take
		data = data[take:]
		if r.got == r.length {
			n := r.length
			r.length = -1
			s.dispatch(dir, r.typ, r.body, n, n > len(r.body), r.start, ts)
		}
	}
	return data
}

// header reads a message header; a length no PostgreSQL peer sends ends
// parsing of this direction.
func (s *session) header(r *reader, h []byte) (typ byte, n int, ok bool) {
	var err error
	if r.mode == modeStartup {
		n = int(binary.BigEndian.Uint32(h))
		if n < 8 || n > 10000 {
			err = errLength
		}
		n -= 4
	} else {
		typ, n, _, err = ParseHeader(h)
		n -= 4
	}
	if err != nil {
		s.anomaly("postgresql.bad_length")
		r.mode = modeStop
		return 0, 0, false
	}
	return typ, n, true
}

// wants says whether a message's body is read; rows and COPY data are only
// counted.
func (s *session) wants(dir dissectors.Direction, typ byte) bool {
	if s.rd[dir].mode == modeStartup {
		return true
	}
	switch typ {
	case msgCopyData:
		return false
	case msgDataRow:
		return dir == dissectors.FromClient // Describe, from the client
	}
	return true
}

// dispatch handles one message. n is its full body length; body may be its
// head only (cut).
func (s *session) dispatch(dir dissectors.Direction, typ byte, body []byte, n int, cut bool, start, ts int64) {
	if cut && typ != msgQuery && typ != msgParse && typ != msgBind && typ != msgCopyData && typ != msgDataRow {
		s.anomaly("postgresql.message_too_long")
	}
	if dir == dissectors.FromClient {
		if s.rd[0].mode == modeStartup {
			s.startup(body, ts)
			return
		}
		s.client(typ, body, n, cut, start, ts)
		return
	}
	s.server(typ, body, n, ts)
}

// startup handles an untyped first message: StartupMessage, SSLRequest,
// GSSENCRequest or CancelRequest (55.2.1, 55.7).
func (s *session) startup(body []byte, ts int64) {
	if len(body) < 4 {
		s.anomaly("postgresql.bad_startup")
		s.rd[0].mode = modeStop
		return
	}
	code := binary.BigEndian.Uint32(body)
	switch code {
	case codeSSL:
		s.f.SSLRequest = "sent"
		s.rd[1].mode = modeAnswer
		return // the next client message is again untyped (after 'N') or TLS
	case codeGSSENC:
		s.f.GSSENCRequest = "sent"
		s.rd[1].mode = modeAnswer
		return
	case codeCancel:
		if len(body) >= 12 {
			s.f.Cancel = &Cancel{BackendPID: int64(binary.BigEndian.Uint32(body[4:]))}
		}
		s.rd[0].mode = modeStop
		return
	}
	major, minor := code>>16, code&0xffff
	if major != 3 {
		s.anomaly("postgresql.bad_startup")
		s.rd[0].mode = modeStop
		return
	}
	s.f.ProtocolVersion = itoa(int64(major)) + "." + itoa(int64(minor))
	err := ParseStartupParams(body[4:], func(name, value []byte) {
		switch string(name) {
		case "user":
			s.user = printable(value, 128)
		case "database":
			s.dbName = printable(value, 128)
		case "application_name":
			s.f.ApplicationName = printable(value, 128)
		case "client_encoding":
			s.f.ClientEncoding = printable(value, 64)
		case "options":
			s.f.Options = printable(value, 256)
		case "replication":
			s.f.Replication = printable(value, 16)
		}
	})
	if err != nil {
		s.anomaly("postgresql.bad_startup")
	}
	if s.dbName == "" {
		s.dbName = s.user // the server's default
	}
	s.f.Database = s.dbName
	s.rd[0].mode = modeTyped
}

// answer handles the server's one-byte answer to SSLRequest ('S'/'N') or
// GSSENCRequest ('G'/'N').
func (s *session) answer(b byte) {
	switch {
	case b == 'S' && s.f.SSLRequest == "sent":
		s.f.SSLRequest = "accepted"
		s.tls = &tls.Stream{}
		s.rd[0].mode, s.rd[1].mode = modeTLS, modeTLS
	case b == 'G' && s.f.GSSENCRequest == "sent":
		s.f.GSSENCRequest = "accepted"
		s.stop = true // GSSAPI encryption: nothing more in clear
	case b == 'N':
		if s.f.SSLRequest == "sent" {
			s.f.SSLRequest = "refused"
		}
		if s.f.GSSENCRequest == "sent" {
			s.f.GSSENCRequest = "refused"
		}
		s.rd[0].mode, s.rd[1].mode = modeStartup, modeTyped
	default:
		s.anomaly("postgresql.bad_answer")
		s.stop = true
	}
}

// client handles a typed frontend message.
func (s *session) client(typ byte, body []byte, n int, cut bool, start, ts int64) {
	switch typ {
	case msgQuery:
		s.simpleQuery(ParseQuery(body, cut), start)
	case msgParse:
		p, err := ParseParse(body, cut)
		if err != nil {
			s.anomaly("postgresql.bad_message")
			return
		}
		st := &stmt{name: printable(p.Name, 64), oids: p.OIDs}
		st.text, _ = MaskPasswords(queryText(p.Query, maxQueryText))
		st.op = Operation(p.Query)
		if st.name == "" {
			s.unnamed = st
		} else if _, ok := s.stmts[st.name]; ok || len(s.stmts) < maxStatements {
			s.stmts[st.name] = st
		} else {
			s.anomaly("postgresql.too_many_statements")
		}
		s.push(op{kind: opParse, q: &query{text: st.text, op: st.op, stmtName: st.name, st: st, start: start}})
	case msgBind:
		b, err := ParseBind(body)
		if err != nil && !cut {
			s.anomaly("postgresql.bad_message")
		}
		name := printable(b.Statement, 64)
		p := &portal{st: s.statement(name), count: b.Count}
		for _, v := range b.Params {
			v.Value = append([]byte(nil), v.Value...)
			p.params = append(p.params, v)
		}
		if pn := printable(b.Portal, 64); pn == "" {
			s.unnamedP = p
		} else if _, ok := s.portals[pn]; ok || len(s.portals) < maxPortals {
			s.portals[pn] = p
		}
		s.push(op{kind: opBind})
	case msgDescribe:
		o := op{kind: opDescribe}
		if kind, name, err := ParseTarget(body); err == nil && kind == 'S' {
			// the statement whose parameter types a ParameterDescription will give
			o.q = &query{st: s.statement(printable(name, 64))}
		}
		s.push(o)
	case msgExecute:
		name, _, err := ParseExecute(body)
		if err != nil {
			s.anomaly("postgresql.bad_message")
			return
		}
		p := s.unnamedP
		if len(name) > 0 {
			p = s.portals[printable(name, 64)]
		}
		q := &query{start: start}
		if p != nil && p.st != nil {
			q.text, q.op, q.stmtName, q.st = p.st.text, p.st.op, p.st.name, p.st
			q.params, q.nparams = p.params, p.count
		}
		if q.text != "" {
			s.command(q.text)
		}
		s.f.Statements++
		s.push(op{kind: opExecute, q: q})
	case msgClose:
		kind, name, err := ParseTarget(body)
		if err != nil {
			s.anomaly("postgresql.bad_message")
			return
		}
		nm := printable(name, 64)
		if kind == 'S' {
			delete(s.stmts, nm)
		} else {
			delete(s.portals, nm)
		}
		s.push(op{kind: opClose})
	case msgSync:
		s.push(op{kind: opSync})
	case msgFunction:
		s.push(op{kind: opFunction})
	case msgPassword:
		s.password0(body)
	case msgCopyData:
		if s.copyQuery != nil && s.copyQuery.copyDir == 'i' {
			s.copyQuery.copyBytes += int64(n)
		}
		s.f.copyBytes('i', int64(n))
	case msgCopyDone, msgCopyFail, msgFlush:
	case msgTerminate:
		s.f.Terminated = true
	default:
		s.anomaly("postgresql.unknown_message")
	}
}

// statement finds a prepared statement by name ("" is the unnamed one).
func (s *session) statement(name string) *stmt {
	if name == "" {
		return s.unnamed
	}
	return s.stmts[name]
}

// password0 handles a 'p' message: what it is depends on the request the
// server made last.
func (s *session) password0(body []byte) {
	switch s.authCode {
	case authCleartext:
		s.creds = true
		if s.reveal() {
			if pw, _, ok := cstring(body); ok {
				s.password = printable(pw, 128)
			}
		}
	case authMD5:
		// "md5" + hex(md5(md5(password || user) || salt)): crackable offline with
		// the salt, so it is never kept, whatever the options.
	case authSASL:
		if m, err := ParseSASLInitial(body); err == nil {
			s.f.SASLMechanism = m
			s.method = strings.ToLower(strings.TrimSuffix(m, "-PLUS"))
		}
	}
}

// simpleQuery queues the statements of a Query message (55.2.2).
func (s *session) simpleQuery(text []byte, ts int64) {
	n := 0
	SplitStatements(text, func(st []byte) {
		q := &query{op: Operation(st), start: ts}
		q.text, q.masked = MaskPasswords(queryText(st, maxQueryText))
		s.command(q.text)
		s.f.Statements++
		s.push(op{kind: opSimple, q: q})
		n++
	})
	if n == 0 { // an empty query: EmptyQueryResponse, then ReadyForQuery
		s.push(op{kind: opSimple})
	}
	s.push(op{kind: opQueryEnd})
}

func (s *session) command(text string) {
	if len(s.commands) >= maxCommands || s.cmdBytes+len(text) > maxCommandBytes {
		s.tooMany = true
		return
	}
	s.commands = append(s.commands, text)
	s.cmdBytes += len(text)
}

func (s *session) push(o op) {
	if len(s.ops)-s.head >= maxPending {
		s.anomaly("postgresql.too_many_pending")
		return
	}
	if s.head > 0 && s.head == len(s.ops) {
		s.ops, s.head = s.ops[:0], 0
	} else if s.head >= 1024 {
		s.ops = append(s.ops[:0], s.ops[s.head:]...)
		s.head = 0
	}
	s.ops = append(s.ops, o)
}

func (s *session) front() *op {
	if s.head < len(s.ops) {
		return &s.ops[s.head]
	}
	return nil
}

func (s *session) pop() {
	if s.head < len(s.ops) {
		s.ops[s.head] = op{}
		s.head++
	}
}

// server handles a typed backend message.
func (s *session) server(typ byte, body []byte, n int, ts int64) {
	switch typ {
	case msgAuth:
		s.auth(body, ts)
	case msgParameterStatus:
		name, value, err := ParseParameterStatus(body)
		if err != nil {
			s.anomaly("postgresql.bad_message")
			return
		}
		switch string(name) {
		case "server_version":
			s.f.ServerVersion = printable(value, 64)
		case "client_encoding":
			s.f.ClientEncoding = printable(value, 64)
		case "application_name":
			if len(value) > 0 {
				s.f.ApplicationName = printable(value, 128)
			}
		}
	case msgKeyData:
		if len(body) >= 8 {
			s.f.BackendPID = int64(binary.BigEndian.Uint32(body))
		}
	case msgReady:
		if len(body) >= 1 {
			s.f.TransactionStatus = string(body[:1])
		}
		if !s.ready {
			s.ready = true
			s.login(true, "", ts)
		}
		s.readyForQuery(ts)
	case msgError, msgNotice:
		e, err := ParseErrorFields(body)
		if err != nil {
			s.anomaly("postgresql.bad_message")
		}
		if typ == msgNotice {
			s.f.Notices++
			return
		}
		s.error(&e, ts)
	case msgRowDescription:
		if o := s.front(); o != nil && o.q != nil && (o.kind == opSimple || o.kind == opExecute) {
			o.q.described = true
		} else if o != nil && o.kind == opDescribe {
			s.pop()
			if o := s.front(); o != nil && o.kind == opExecute && o.q != nil {
				o.q.described = true // Describe of the portal it executes
			}
		}
	case msgNoData:
		if o := s.front(); o != nil && o.kind == opDescribe {
			s.pop()
		}
	case msgParamDesc:
		if o := s.front(); o != nil && o.kind == opDescribe {
			// Describe of a statement: the server's types for parameters the
			// Parse left unspecified.
			if oids, err := ParseParamDescription(body); err == nil && o.q != nil && o.q.st != nil {
				learnTypes(o.q.st, oids)
			}
		}
	case msgDataRow:
		if o := s.front(); o != nil && o.q != nil {
			o.q.rows++
		}
	case msgCommandComplete:
		tag, _, _ := cstring(body)
		s.complete(tag, false, ts)
	case msgEmptyQuery:
		s.complete(nil, true, ts)
	case msgPortalSuspended:
		s.complete(nil, false, ts)
	case msgParseComplete:
		s.expect(opParse)
	case msgBindComplete:
		s.expect(opBind)
	case msgCloseComplete:
		s.expect(opClose)
	case msgFunctionResult:
		s.expect(opFunction)
	case msgCopyIn, msgCopyOut, msgCopyBoth:
		if o := s.front(); o != nil && o.q != nil {
			o.q.copyDir = 'o'
			if typ == msgCopyIn {
				o.q.copyDir = 'i'
			}
			s.copyQuery = o.q
		}
	case msgCopyData:
		if s.copyQuery != nil && s.copyQuery.copyDir == 'o' {
			s.copyQuery.copyBytes += int64(n)
			s.copyQuery.rows++
		}
		s.f.copyBytes('o', int64(n))
	case msgCopyDone, msgNotification, msgNegotiate:
	default:
		s.anomaly("postgresql.unknown_message")
	}
}

// learnTypes gives a statement the parameter types the server inferred,
// where its Parse said 0.
func learnTypes(st *stmt, oids []uint32) {
	if len(st.oids) < len(oids) {
		st.oids = append(st.oids, make([]uint32, len(oids)-len(st.oids))...)
	}
	for i, o := range oids {
		if st.oids[i] == 0 {
			st.oids[i] = o
		}
	}
}

// expect pops the request a simple acknowledgement answers.
func (s *session) expect(k opKind) {
	o := s.front()
	if o == nil || o.kind != k {
		s.anomaly("postgresql.unexpected_reply")
		return
	}
	s.pop()
}

// auth handles an Authentication request or result (55.2.1).
func (s *session) auth(body []byte, ts int64) {
	code, data, err := ParseAuth(body)
	if err != nil {
		s.anomaly("postgresql.bad_message")
		return
	}
	switch code {
	case authOk:
		s.authOk = true
		if s.method == "" {
			s.method = "trust" // nothing was asked of the client
		}
	case authCleartext:
		s.method = "password"
	case authMD5:
		s.method = "md5"
	case authKerberos:
		s.method = "kerberos"
	case authGSS:
		s.method = "gss"
	case authSSPI:
		s.method = "sspi"
	case authSASL:
		s.f.SASLMechanisms = ParseSASLMechanisms(data)
		if s.method == "" {
			s.method = "sasl"
		}
	case authGSSCont, authSASLCont, authSASLFinal:
	default:
		s.anomaly("postgresql.bad_message")
	}
	s.authCode = code
}

// login settles the login: success at the first ReadyForQuery, failure at
// an error before it (a wrong password, an unknown database...).
func (s *session) login(success bool, reason string, ts int64) {
	if s.loginDone {
		return
	}
	s.loginDone = true
	s.attempts = 1
	s.f.AuthMethod = s.method
	if !success {
		s.loginReason = reason
	}
	if !s.ctx.Listening() {
		return
	}
	outcome := record.OutcomeFailure
	if success {
		outcome = record.OutcomeSuccess
	}
	ev := record.LoginEvent(ts, s.user, outcome, s.method, false)
	ev.Login.Attempt = 1
	ev.CleartextCredentials = s.creds
	ev.Reason = reason
	s.ctx.Publish(ev)
}

// error handles an ErrorResponse.
func (s *session) error(e *ErrorFields, ts int64) {
	s.f.Errors++
	if e.Severity == "FATAL" || e.Severity == "PANIC" {
		s.f.Error = &Error{Severity: e.Severity, Code: e.Code, Message: e.Message}
	}
	if !s.ready {
		s.login(false, e.Message, ts)
		return
	}
	o := s.front()
	if o == nil {
		return
	}
	switch o.kind {
	case opSimple:
		if o.q != nil {
			o.q.err = e
			s.publish(o.q, ts)
		}
		s.pop() // the rest of this Query is not executed: ReadyForQuery says so
	case opQueryEnd, opSync:
		// an error between requests (a session killed by an administrator)
	default:
		// Extended protocol: the failing request and everything up to the
		// next Sync are skipped. The error belongs to the statement the
		// batch executes, or to the Parse when nothing executes.
		var target *query
		for i := s.head; i < len(s.ops) && s.ops[i].kind != opSync; i++ {
			if s.ops[i].kind == opExecute {
				target = s.ops[i].q
				break
			}
		}
		if target == nil && o.kind == opParse && o.q != nil {
			// A statement that failed to prepare (a syntax error) and that
			// nothing in the batch executes: it is listed when it fails.
			target = o.q
			s.command(target.text)
			s.f.Statements++
		}
		if target != nil {
			target.err = e
			s.publish(target, ts)
		}
		for s.head < len(s.ops) && s.ops[s.head].kind != opSync {
			if q := s.ops[s.head].q; s.ops[s.head].kind == opExecute && q != target {
				s.skipped(q, ts)
			}
			s.pop()
		}
	}
	s.copyQuery = nil
}

// complete ends the statement at the front with its CommandComplete tag
// (empty: EmptyQueryResponse or PortalSuspended).
func (s *session) complete(tag []byte, empty bool, ts int64) {
	o := s.front()
	if o == nil || (o.kind != opSimple && o.kind != opExecute) {
		s.anomaly("postgresql.unexpected_reply")
		return
	}
	if q := o.q; q != nil && !empty {
		q.tag, q.tagRows = ParseTag(tag)
		s.publish(q, ts)
	}
	s.pop()
	s.copyQuery = nil
}

// readyForQuery ends a Simple Query or a Sync: statements still waiting
// were not executed.
func (s *session) readyForQuery(ts int64) {
	for s.head < len(s.ops) {
		o := s.ops[s.head]
		s.pop()
		if o.kind == opQueryEnd || o.kind == opSync {
			break
		}
		if o.kind == opSimple || o.kind == opExecute {
			s.skipped(o.q, ts)
		}
	}
	s.copyQuery = nil
}

// skipped publishes a statement the server did not execute (an earlier one
// in the same Query or batch failed).
func (s *session) skipped(q *query, ts int64) {
	if q == nil || !s.ctx.Listening() {
		return
	}
	ev := s.event(q, ts)
	ev.Outcome = record.OutcomeUnknown
	ev.Reason = "not executed: an earlier statement of the same request failed"
	s.ctx.Publish(ev)
}

// publish counts a finished statement and sends its query event.
func (s *session) publish(q *query, ts int64) {
	affected, returned := q.results()
	if affected > 0 {
		s.f.RowsAffected += affected
	}
	if returned > 0 {
		s.f.RowsReturned += returned
	}
	if q.copyDir == 'i' && affected > 0 {
		s.f.copyRows('i', affected)
	} else if q.copyDir == 'o' && returned > 0 {
		s.f.copyRows('o', returned)
	}
	if !s.ctx.Listening() {
		return
	}
	s.ctx.Publish(s.event(q, ts))
}

// results are the rows a finished statement changed and returned (-1: not
// known or not applicable).
func (q *query) results() (affected, returned int64) {
	affected, returned = -1, -1
	if q.err != nil {
		if q.described || q.rows > 0 {
			returned = q.rows
		}
		return
	}
	switch q.tag {
	case "SELECT", "FETCH":
		returned = q.tagRows
	case "COPY":
		if q.copyDir == 'o' {
			returned = q.tagRows
		} else {
			affected = q.tagRows
		}
	case "INSERT", "UPDATE", "DELETE", "MERGE":
		affected = q.tagRows
		if q.described {
			returned = q.rows // RETURNING
		}
	default:
		if q.described {
			returned = q.rows
		}
	}
	return
}

func (s *session) event(q *query, ts int64) *record.Event {
	eq := &record.EventQuery{System: "postgresql", Namespace: s.dbName, Text: q.text, Operation: q.op,
		Statement: q.stmtName}
	eq.AffectedRows, eq.ReturnedRows = q.results()
	if q.err != nil {
		eq.StatusCode, eq.Error = q.err.Code, q.err.Message
		if eq.StatusCode == "" && eq.Error == "" {
			eq.Error = "error"
		}
	}
	if d := ts - q.start; d > 0 {
		eq.Duration = d
	}
	for i, p := range q.params {
		var oid uint32
		if q.st != nil && i < len(q.st.oids) {
			oid = q.st.oids[i]
		}
		eq.Parameters = append(eq.Parameters, FormatParam(oid, p))
	}
	ev := record.QueryEvent(ts, eq)
	if q.err == nil && q.tag == "ROLLBACK" && (q.op == "COMMIT" || q.op == "END") {
		// The server answers COMMIT with ROLLBACK when the transaction had
		// already failed: nothing was committed.
		ev.Outcome = record.OutcomeFailure
		ev.Reason = "the transaction had failed: the server rolled it back instead of committing"
	}
	if q.copyDir != 0 {
		dir := "in"
		if q.copyDir == 'o' {
			dir = "out"
		}
		ev.Objects = map[string]any{"postgresql": map[string]any{"copy": map[string]any{"direction": dir, "bytes": q.copyBytes}}}
	}
	if q.masked {
		ev.CleartextCredentials = true
	}
	return ev
}

// Gap implements dissectors.Session: the message framing of that direction
// is lost; psmtap does not try to find it again.
func (s *session) Gap(dir dissectors.Direction, n int, ts int64) {
	r := &s.rd[dir&1]
	if r.mode == modeTLS {
		s.tls.Gap(int(dir & 1))
		return
	}
	if r.mode != modeStop {
		s.anomaly("postgresql.gap")
	}
	r.mode = modeStop
	r.body = nil
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
