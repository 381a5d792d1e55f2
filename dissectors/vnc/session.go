package vnc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/dissectors/tls"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/rfb"
	"github.com/psmtap/psmtap/internal/rfb/screen"
)

// Where each direction is in the protocol. The handshake is a dialogue:
// a state may wait for what the other side said (the security type chosen,
// the number of capabilities offered) before its bytes can be read.
type state uint8

const (
	stVersion       state = iota
	stSecurity            // server: types offered (3.7+) or chosen (3.3); client: its choice
	stSecFailReason       // server: a failure reason at the security type step
	stChallenge           // server: VNC authentication challenge
	stResponse            // client: VNC authentication response
	stSecResult           // server: SecurityResult
	stResultReason        // server: 3.8 failure reason
	stVeVersion           // VeNCrypt version (both)
	stVeStatus            // server: VeNCrypt version accepted
	stVeSubtypes          // server: subtypes offered; client: subtype chosen
	stPlain               // client: VeNCrypt Plain user name and password
	stTLSAck              // server: the byte before the TLS handshake (VeNCrypt)
	stTLS                 // the TLS handshake, handed to dissectors/tls
	stTightTunnels        // Tight: tunnel capabilities (server) / choice (client)
	stTightAuths          // Tight: auth capabilities (server) / choice (client)
	stWait                // client: waiting for the server's choice (3.3 security type)
	stARD                 // Apple Remote Desktop: Diffie-Hellman parameters (server) / credentials (client)
	stClientInit          // client: shared flag
	stServerInit          // server: ServerInit
	stTightInit           // server: Tight's interaction capabilities after ServerInit
	stMessages            // normal protocol
	stStopped             // nothing more to read in this direction
)

// Bounds of the bytes kept while a message is incomplete.
const (
	maxPendingClient = 2 << 20
	maxPendingServer = 64 << 20 // a rectangle whose length only its contents tell (Hextile)
	bigMessage       = 1 << 20  // longer cut texts are read from their first MiB
	maxClipText      = 1 << 10  // clipboard text kept in events
	maxClickPos      = 20
	maxResync        = 64 // client segments looked at after a gap for a message start
	maxEncodings     = 64
	maxVeSubtypes    = 64
	maxCaps          = 64
	maxXVP           = 32
)

type session struct {
	ctx *dissectors.Context
	rec *record.Record
	now int64
	// lastServer is the time of the server's last bytes: a gap after them
	// may hide screen changes from then on.
	lastServer int64
	// resync: the client's bytes were lost; its next bytes are read only
	// from one that starts a message (ClientResync), after at most
	// maxResync tries.
	resync, resyncTries int

	st   [2]state
	in   [2][]byte // the bytes being parsed: owned (pend) or the borrowed Feed data
	pend [2][]byte // owned remainder between Feeds
	skip [2]int    // bytes to pass without looking (the rest of a long message, a rectangle)
	// skipRect: the bytes skipped end a rectangle.
	skipRect bool

	sv, cv         Version
	haveSV, haveCV bool
	eff            int // effective protocol: 3, 7, 8; 0 until both versions are known

	offered    []uint32
	chosen     uint32
	haveChosen bool
	veVersion  string
	veOffered  []uint32
	veChosen   uint32
	haveVe     bool
	tightTun   []Capability
	tightAuth  []Capability
	tightTunCh uint32
	tightAuCh  uint32
	tightStep  int // Tight lists read so far by the server side (0, 1, 2)
	tightCli   int // Tight choices read from the client
	tightDone  bool
	authType   uint32 // the authentication actually run (after VeNCrypt or Tight)
	ardKeyLen  int    // Apple Remote Desktop: the Diffie-Hellman key length, once the server said it

	login   loginState
	shared  *bool
	si      *ServerInit
	name    string
	pf      rfb.PixelFormat
	pfOK    bool
	pfSrv   string
	pfCli   string
	encs    []string
	tls     *tls.Stream
	stopped string
	user    string
	creds   bool

	fbOpen  bool
	fbLeft  int
	rect    Rect
	inRect  bool
	retryAt int
	updates int
	rects   int
	resizes int
	bells   int
	fbReqs  int
	xvp     []string
	width   int
	height  int
	scr     *recorder // the screen recording's queue, with --recordings
	first   int64     // packet time of the first bytes

	typ      typist
	commands []string
	buttons  uint8
	clicks   int
	clickPos []string
	used     uint8
	wheel    int
	pointer  int
	clip     [2]clipCount
}

type clipCount struct{ n, bytes int }

// loginState is the one authentication of an RFB connection.
type loginState struct {
	method    string
	started   bool
	outcome   string // success, failure; "" while unanswered
	reason    string
	published bool
	counted   bool
}

func newSession(ctx *dissectors.Context) *session {
	s := &session{ctx: ctx, rec: ctx.Record}
	return s
}

// Feed implements dissectors.Session.
func (s *session) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	s.now = ts
	if s.first == 0 {
		s.first = ts
	}
	d := int(dir)
	if d == 1 {
		s.lastServer = ts
	}
	if s.st[d] == stTLS {
		if s.tls.Feed(d, data) {
			s.st[0], s.st[1] = stStopped, stStopped
		}
		return s.status()
	}
	if s.st[d] == stStopped {
		return s.status()
	}
	if n := min(s.skip[d], len(data)); n > 0 {
		s.skip[d] -= n
		data = data[n:]
		if s.skip[d] == 0 && d == 1 && s.skipRect {
			s.skipRect = false
			s.endRect()
		}
	}
	if len(data) == 0 {
		return s.status()
	}
	if d == 0 && s.resync > 0 {
		if !ClientResync(data) {
			if s.resyncTries++; s.resyncTries >= maxResync {
				s.stop(0, "client bytes lost")
			}
			return s.status()
		}
		s.resync = 0
	}
	if len(s.pend[d]) > 0 {
		s.pend[d] = append(s.pend[d], data...)
		s.in[d] = s.pend[d]
	} else {
		s.in[d] = data
	}
	s.in[1-d] = s.pend[1-d] // the other side may have waited for this one
	s.run()
	s.keep(0)
	s.keep(1)
	return s.status()
}

// keep makes what is left of a direction's input owned, within bounds.
func (s *session) keep(d int) {
	rest := s.in[d]
	s.in[d] = nil
	if s.st[d] == stStopped || s.st[d] == stTLS {
		s.pend[d] = nil
		return
	}
	limit := maxPendingClient
	if d == 1 {
		limit = maxPendingServer
	}
	if len(rest) > limit {
		s.anomaly("vnc.message_too_large")
		s.stop(d, "oversized message from the "+dirName(d))
		return
	}
	if len(rest) == 0 {
		s.pend[d] = s.pend[d][:0]
		if cap(s.pend[d]) > 64<<10 {
			s.pend[d] = nil // a large rectangle was gathered: give its buffer back
		}
		return
	}
	// rest is the tail of pend, or the borrowed data. A tail stays where it
	// is (a rectangle gathered over many segments is not moved each time)
	// unless most of the buffer is behind it.
	if p := s.pend[d]; len(p) >= len(rest) && &p[len(p)-len(rest)] == &rest[0] {
		if cap(rest) <= 4*len(rest)+64<<10 {
			s.pend[d] = rest
			return
		}
	}
	s.pend[d] = append(make([]byte, 0, max(len(rest), 512)), rest...)
}

func dirName(d int) string {
	if d == 0 {
		return "client"
	}
	return "server"
}

func (s *session) status() dissectors.Status {
	if s.st[0] == stStopped && s.st[1] == stStopped {
		return dissectors.Done
	}
	return dissectors.Continue
}

// run parses both directions as far as each can go; a direction waiting for
// the other is retried once the other has moved.
func (s *session) run() {
	for moved := true; moved; {
		moved = false
		for d := 0; d < 2; d++ {
			// A rectangle may have no payload (DesktopSize): it ends without bytes.
			for (len(s.in[d]) > 0 || d == 1 && s.inRect && s.skip[1] == 0 && s.st[1] == stMessages) && s.st[d] != stStopped && s.st[d] != stTLS {
				n := s.step(d, s.in[d])
				if n == wait {
					break
				}
				if n > len(s.in[d]) { // the rest is skipped as it arrives
					s.skip[d] = n - len(s.in[d])
					n = len(s.in[d])
				}
				s.in[d] = s.in[d][n:]
				moved = true
			}
			if s.st[d] == stTLS && len(s.in[d]) > 0 {
				if s.tls.Feed(d, s.in[d]) {
					s.st[0], s.st[1] = stStopped, stStopped
				}
				s.in[d] = nil
			}
		}
	}
}

func (s *session) anomaly(name string) { s.rec.AddAnomaly(name) }

// stop ends parsing of one direction; why goes to vnc.stopped (the first reason).
func (s *session) stop(d int, why string) {
	if d == 1 && s.st[1] != stStopped && s.scr != nil {
		s.scr.send(job{kind: jobIncomplete, ts: s.now, text: why})
	}
	s.st[d] = stStopped
	s.in[d], s.pend[d], s.skip[d] = nil, nil, 0
	if d == 1 {
		s.skipRect = false
	}
	if s.stopped == "" && why != "" {
		s.stopped = why
	}
}

func (s *session) stopBoth(why string) {
	s.stop(0, why)
	s.stop(1, why)
}

// wait is step's answer when it needs more bytes or waits for the other side.
const wait = -1

// step reads one unit of direction d from b: it returns the bytes it took
// (more than len(b) to skip the rest of a long message; 0 for a unit with
// no bytes), or wait.
func (s *session) step(d int, b []byte) int {
	if d == 0 {
		return s.clientStep(b)
	}
	return s.serverStep(b)
}

func u32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }

// reason reads a U32-length-prefixed string (a failure reason) at b.
func reason(b []byte) (text string, n int, ok, bad bool) {
	if len(b) < 4 {
		return "", 0, false, false
	}
	l := u32(b)
	if l > 1<<16 {
		return "", 0, false, true
	}
	if len(b) < 4+int(l) {
		return "", 0, false, false
	}
	t, _ := Text(b[4:4+l], 256)
	return t, 4 + int(l), true, false
}

func (s *session) serverStep(b []byte) int {
	switch s.st[1] {
	case stVersion:
		if len(b) < VersionLen {
			return wait
		}
		v, ok := ParseVersion(b)
		if !ok {
			s.anomaly("vnc.bad_version")
			s.stopBoth("malformed handshake")
			return wait
		}
		s.sv, s.haveSV = v, true
		s.setEffective()
		s.st[1] = stSecurity
		return VersionLen
	case stSecurity:
		if !s.haveCV {
			return wait // the server answers the client's version
		}
		if s.eff == 3 {
			if len(b) < 4 {
				return wait
			}
			t := u32(b)
			if t == SecInvalid {
				s.st[1] = stSecFailReason
				return 4
			}
			s.offered = []uint32{t}
			s.choose(t)
			return 4
		}
		n := int(b[0])
		if n == 0 {
			s.st[1] = stSecFailReason
			return 1
		}
		if len(b) < 1+n {
			return wait
		}
		s.offered = s.offered[:0]
		for _, t := range b[1 : 1+n] {
			s.offered = append(s.offered, uint32(t))
		}
		s.st[1] = stWait // for the client's choice, which sets the next state
		return 1 + n
	case stSecFailReason:
		t, n, ok, bad := reason(b)
		if bad {
			s.anomaly("vnc.bad_reason")
			s.stopBoth("malformed handshake")
			return wait
		}
		if !ok {
			return wait
		}
		s.failConnection(t)
		return n
	case stChallenge:
		if len(b) < 16 {
			return wait
		}
		s.st[1] = stSecResult
		return 16 // never kept: nothing derived from the password is recorded
	case stSecResult:
		if len(b) < 4 {
			return wait
		}
		switch u32(b) {
		case 0:
			s.authResult(record.OutcomeSuccess, "")
			s.st[1] = stServerInit
		default:
			r := "authentication failed"
			if u32(b) == 2 {
				r = "too many attempts"
			}
			s.authResult(record.OutcomeFailure, r)
			if s.eff >= 8 {
				s.st[1] = stResultReason
			} else {
				s.stopBoth("")
			}
		}
		return 4
	case stResultReason:
		t, n, ok, bad := reason(b)
		if bad {
			s.anomaly("vnc.bad_reason")
			s.stopBoth("")
			return wait
		}
		if !ok {
			return wait
		}
		if t != "" {
			s.login.reason = t
		}
		s.stopBoth("")
		return n
	case stVeVersion:
		if len(b) < 2 {
			return wait
		}
		s.veVersion = fmt.Sprintf("%d.%d", b[0], b[1])
		s.st[1] = stVeStatus
		return 2
	case stVeStatus:
		if s.st[0] == stVeVersion {
			return wait // the server's status answers the client's version
		}
		if b[0] != 0 {
			s.failConnection("VeNCrypt version refused")
			return 1
		}
		s.st[1] = stVeSubtypes
		return 1
	case stVeSubtypes:
		n := int(b[0])
		if len(b) < 1+4*n {
			return wait
		}
		if n == 0 {
			s.failConnection("no VeNCrypt subtype offered")
			return 1
		}
		for i := 0; i < n && i < maxVeSubtypes; i++ {
			s.veOffered = append(s.veOffered, u32(b[1+4*i:]))
		}
		s.st[1] = stWait
		return 1 + 4*n
	case stTLSAck:
		switch b[0] {
		case 1:
			return 1 // the server's go-ahead
		case 0x16:
			s.startTLS(1)
			return wait
		case 0:
			s.failConnection("the server refused the TLS subtype")
			return 1
		}
		s.anomaly("vnc.bad_vencrypt")
		s.stopBoth("malformed handshake")
		return wait
	case stTightTunnels, stTightAuths:
		if len(b) < 4 {
			return wait
		}
		n := u32(b)
		if n > maxCaps {
			s.anomaly("vnc.bad_tight_capabilities")
			s.stopBoth("malformed handshake")
			return wait
		}
		if len(b) < 4+CapabilityLen*int(n) {
			return wait
		}
		caps := ParseCapabilities(b[4:], int(n))
		if s.st[1] == stTightTunnels {
			s.tightTun = caps
			s.tightStep = 1
			s.st[1] = stWait // for the client's tunnel
			if n == 0 {      // no tunnel to choose: the auth list follows
				s.st[1] = stTightAuths
				if s.st[0] == stTightTunnels {
					s.st[0] = stTightAuths
				}
			}
		} else {
			s.tightAuth = caps
			s.tightStep = 2
			s.st[1] = stWait
			if n == 0 { // no authentication: as None
				s.authRun(SecNone)
			}
		}
		return 4 + CapabilityLen*int(n)
	case stARD:
		if len(b) < 4 {
			return wait
		}
		kl := int(binary.BigEndian.Uint16(b[2:]))
		if kl == 0 || kl > 1024 {
			s.anomaly("vnc.bad_ard")
			s.stopBoth("malformed handshake")
			return wait
		}
		if len(b) < 4+2*kl {
			return wait
		}
		s.ardKeyLen = kl
		s.st[1] = stSecResult
		return 4 + 2*kl
	case stWait:
		return wait // the client's choice moves this side on
	case stServerInit:
		si, n, err := ParseServerInit(b)
		if errors.Is(err, ErrNeedMore) {
			return wait
		}
		if err != nil {
			s.anomaly("vnc.bad_server_init")
			s.stop(1, "malformed ServerInit")
			return wait
		}
		s.serverInit(si)
		s.st[1] = stMessages
		if s.chosen == SecTight {
			s.st[1] = stTightInit
		}
		return n
	case stTightInit:
		if len(b) < 8 {
			return wait
		}
		n := int(binary.BigEndian.Uint16(b)) + int(binary.BigEndian.Uint16(b[2:])) + int(binary.BigEndian.Uint16(b[4:]))
		if len(b) < 8+CapabilityLen*n {
			return wait
		}
		s.st[1] = stMessages
		return 8 + CapabilityLen*n
	case stMessages:
		return s.serverMessage(b)
	}
	return wait
}

func (s *session) clientStep(b []byte) int {
	switch s.st[0] {
	case stVersion:
		if !s.haveSV {
			return wait
		}
		if len(b) < VersionLen {
			return wait
		}
		v, ok := ParseVersion(b)
		if !ok {
			s.anomaly("vnc.bad_version")
			s.stopBoth("malformed handshake")
			return wait
		}
		s.cv, s.haveCV = v, true
		s.setEffective()
		s.st[0] = stSecurity
		if s.eff == 3 {
			s.st[0] = stWait // the server chooses
		}
		return VersionLen
	case stSecurity:
		if s.st[1] != stWait || len(s.offered) == 0 {
			return wait // the client chooses from the server's list
		}
		t := uint32(b[0])
		if !containsU32(s.offered, t) {
			s.anomaly("vnc.security_not_offered")
		}
		s.choose(t)
		return 1
	case stWait:
		return wait
	case stARD:
		if s.ardKeyLen == 0 || len(b) < 128+s.ardKeyLen {
			return wait
		}
		s.login.started = true // user name and password, encrypted with the shared key: never kept
		s.st[0] = stClientInit
		return 128 + s.ardKeyLen
	case stResponse:
		if len(b) < 16 {
			return wait
		}
		s.login.started = true
		s.st[0] = stClientInit
		return 16
	case stVeVersion:
		if len(b) < 2 {
			return wait
		}
		s.st[0] = stVeSubtypes
		return 2
	case stVeSubtypes:
		if s.st[1] != stWait || len(s.veOffered) == 0 {
			return wait
		}
		if len(b) < 4 {
			return wait
		}
		t := u32(b)
		s.veChosen, s.haveVe = t, true
		if !containsU32(s.veOffered, t) {
			s.anomaly("vnc.security_not_offered")
		}
		s.login.method = "vencrypt-" + VeNCryptName(t)
		s.publishSecurity()
		switch {
		case VeNCryptTLS(t):
			s.st[0], s.st[1] = stTLS, stTLSAck
			s.startTLS(0)
		case t == VePlain:
			s.st[0], s.st[1] = stPlain, stSecResult
		case t == VeNone:
			s.authRun(SecNone)
		case t == VeVNCAuth:
			s.authRun(SecVNCAuth)
		default:
			s.stopBoth("VeNCrypt subtype " + VeNCryptName(t) + " cannot be followed")
		}
		return 4
	case stPlain:
		if len(b) < 8 {
			return wait
		}
		ul, pl := u32(b), u32(b[4:])
		if ul > 1<<16 || pl > 1<<16 {
			s.anomaly("vnc.bad_vencrypt")
			s.stopBoth("malformed handshake")
			return wait
		}
		if len(b) < 8+int(ul)+int(pl) {
			return wait
		}
		s.user, _ = Text(b[8:8+ul], 256)
		s.creds = true // the password is never kept
		s.login.started = true
		s.st[0] = stClientInit
		return 8 + int(ul) + int(pl)
	case stTightTunnels:
		if s.tightStep < 1 {
			return wait
		}
		if len(b) < 4 {
			return wait
		}
		s.tightTunCh = u32(b)
		s.st[0] = stTightAuths
		if s.st[1] == stWait {
			s.st[1] = stTightAuths
		}
		return 4
	case stTightAuths:
		if s.tightStep < 2 {
			return wait
		}
		if len(b) < 4 {
			return wait
		}
		t := u32(b)
		s.tightAuCh = t
		switch t {
		case SecNone, SecVNCAuth:
			s.authRun(t)
		default:
			s.login.method = "tight-" + tightAuthName(s.tightAuth, t)
			s.stopBoth("Tight authentication " + tightAuthName(s.tightAuth, t) + " cannot be followed")
		}
		return 4
	case stClientInit:
		sh := b[0] != 0
		s.shared = &sh
		s.st[0] = stMessages
		return 1
	case stMessages:
		return s.clientMessage(b)
	}
	return wait
}

func containsU32(l []uint32, v uint32) bool {
	for _, x := range l {
		if x == v {
			return true
		}
	}
	return false
}

func tightAuthName(caps []Capability, code uint32) string {
	for _, c := range caps {
		if c.Code == code {
			return c.Name()
		}
	}
	return fmt.Sprintf("code-%d", code)
}

func (s *session) setEffective() {
	if !s.haveSV || !s.haveCV {
		return
	}
	s.eff = min(s.sv.Effective(), s.cv.Effective())
}

// choose: the security type is settled (the client's choice, or 3.3's
// server-chosen type).
func (s *session) choose(t uint32) {
	s.chosen, s.haveChosen = t, true
	switch t {
	case SecVeNCrypt: // published with its subtype
		s.st[0], s.st[1] = stVeVersion, stVeVersion
	case SecTight:
		s.st[0], s.st[1] = stTightTunnels, stTightTunnels
		s.publishSecurity()
	case SecTLS:
		s.login.method = "tls"
		s.publishSecurity()
		s.st[0], s.st[1] = stTLS, stTLSAck
		s.startTLS(0)
	case SecNone, SecVNCAuth:
		s.authRun(t)
	case SecARD:
		s.login.method = SecurityName(t)
		s.publishSecurity()
		s.st[0], s.st[1] = stARD, stARD
	default:
		s.login.method = SecurityName(t)
		s.publishSecurity()
		s.stopBoth("security type " + SecurityName(t) + " cannot be followed")
	}
}

// authRun sets both sides on an authentication the dissector follows:
// None or VNC authentication, chosen directly, as a VeNCrypt subtype or as
// a Tight capability.
func (s *session) authRun(t uint32) {
	s.authType = t
	name := map[uint32]string{SecNone: "none", SecVNCAuth: "vnc-auth"}[t]
	switch s.chosen {
	case SecTight:
		s.login.method = "tight-" + name
	case SecVeNCrypt: // set with the subtype
	default:
		s.login.method = name
	}
	if s.chosen != SecVeNCrypt && s.chosen != SecTight {
		s.publishSecurity()
	}
	switch t {
	case SecNone:
		s.login.started = true
		s.st[0] = stClientInit
		// 3.8 sends a SecurityResult after None; 3.3 and 3.7 do not. A
		// VeNCrypt or Tight None always has one.
		if s.eff >= 8 || s.chosen == SecVeNCrypt || s.chosen == SecTight {
			s.st[1] = stSecResult
		} else {
			s.authResult(record.OutcomeSuccess, "")
			s.st[1] = stServerInit
		}
	case SecVNCAuth:
		s.st[0], s.st[1] = stResponse, stChallenge
	}
}

func (s *session) startTLS(d int) {
	if s.tls == nil {
		s.tls = &tls.Stream{}
	}
	s.login.started = true
	s.st[d] = stTLS
	if s.stopped == "" {
		s.stopped = "tls"
	}
}

// failConnection: the server refused the connection with a reason before any
// authentication (RFC 6143 7.1.2, 7.1.3) or in VeNCrypt's negotiation.
func (s *session) failConnection(why string) {
	s.login.started = true
	s.authResult(record.OutcomeFailure, why)
	s.stopBoth("")
}

// authResult settles the login and publishes it.
func (s *session) authResult(outcome, why string) {
	s.login.started = true
	s.login.outcome, s.login.reason = outcome, why
	s.publishLogin()
}

func (s *session) publishLogin() {
	if s.login.published {
		return
	}
	s.login.published = true
	if !s.ctx.Listening() {
		return
	}
	ev := record.LoginEvent(s.now, s.user, s.login.outcome, s.login.method, false)
	if s.login.outcome == record.OutcomeFailure {
		ev.Reason = s.login.reason
	}
	ev.CleartextCredentials = s.creds
	ev.Login.Attempt = 1
	s.ctx.Publish(ev)
}

// publishSecurity says how the security negotiation settled.
func (s *session) publishSecurity() {
	if !s.ctx.Listening() {
		return
	}
	sec := s.security()
	ev := &record.Event{Time: time.Unix(0, s.now), Action: record.ActionSecurity, Category: []string{"network"},
		Type: []string{"info"}, Outcome: record.OutcomeSuccess, Objects: map[string]any{"vnc": &Fields{Security: sec}}}
	name := sec.Chosen
	if sec.Subtype != "" {
		name += " " + sec.Subtype
	}
	switch {
	case s.chosen == SecNone:
		ev.Reason = "security type none: no authentication, nothing encrypted"
	case s.chosen == SecVNCAuth:
		ev.Reason = "security type vnc-auth: DES challenge-response, nothing encrypted"
	case s.chosen == SecVeNCrypt && s.haveVe && VeNCryptTLS(s.veChosen):
		ev.Reason = "security type " + name + ": TLS"
	case s.chosen == SecVeNCrypt && s.haveVe:
		ev.Reason = "security type " + name + ": nothing encrypted"
	default:
		ev.Reason = "security type " + name
	}
	s.ctx.Publish(ev)
}

func (s *session) serverInit(si ServerInit) {
	s.si = &si
	s.width, s.height = si.Width, si.Height
	s.name, _ = Text(si.Name, 256)
	if si.PFErr != nil {
		s.anomaly("vnc.bad_pixel_format")
	} else {
		s.pf, s.pfOK = si.PixelFormat, true
	}
	s.pfSrv = si.PixelFormat.String()
	s.si.Name = nil // borrowed
	if s.login.outcome == "" && s.login.started {
		// A ServerInit means the security phase passed.
		s.authResult(record.OutcomeSuccess, "")
	}
	if dir := s.ctx.Options.RecordingsDir; dir != "" && s.pfOK && s.scr == nil {
		start := s.rec.Start
		if start.IsZero() {
			start = time.Unix(0, s.first)
		}
		s.scr = startRecorder(dir, "vnc-"+start.UTC().Format("20060102T150405Z")+"-"+s.rec.ID, start, si.Width, si.Height, s.pf, s.ctx.Options.WaitForRecordings)
		if s.scr == nil {
			s.anomaly("recording.refused")
		}
	}
}

// measured checks what the parser said of the message at b's start (n
// bytes, or err): ok once the whole of it (bigMessage of a larger one) is
// there. A message of an unknown type or malformed stops direction dir
// with an anomaly: its next boundary cannot be found.
func (s *session) measured(dir int, b []byte, n int, err error) (whole int, ok bool) {
	side := [2]string{"client", "server"}[dir]
	switch {
	case errors.Is(err, ErrNeedMore):
		return 0, false
	case errors.Is(err, ErrUnknownType):
		s.anomaly("vnc.unknown_" + side + "_message")
		s.stop(dir, fmt.Sprintf("unknown %s message type %d", side, b[0]))
		return 0, false
	case err != nil:
		s.anomaly("vnc.bad_" + side + "_message")
		s.stop(dir, "malformed "+side+" message")
		return 0, false
	}
	whole = min(n, bigMessage)
	return whole, len(b) >= whole
}

// clientMessage reads one client message (RFC 6143 7.5).
func (s *session) clientMessage(b []byte) int {
	n, err := ClientMessageLen(b)
	whole, ok := s.measured(0, b, n, err)
	if !ok {
		return wait
	}
	m := b[:whole]
	switch m[0] {
	case CSetPixelFormat:
		pf, err := rfb.ParsePixelFormat(m[4:])
		s.pfCli = pf.String()
		if err != nil {
			s.anomaly("vnc.bad_pixel_format")
			s.pfOK = false
			s.scr.send(job{kind: jobIncomplete, ts: s.now, text: "unusable pixel format"})
		} else {
			s.pf, s.pfOK = pf, true
			s.scr.send(job{kind: jobPixelFormat, ts: s.now, pf: pf})
		}
	case CSetEncodings:
		s.encs = s.encs[:0:0]
		for i := 4; i+4 <= len(m) && len(s.encs) < maxEncodings; i += 4 {
			s.encs = append(s.encs, rfb.EncodingName(int32(u32(m[i:]))))
		}
	case CFramebufferUpdateRequest:
		s.fbReqs++
	case CKeyEvent:
		s.key(m[1] != 0, u32(m[4:]))
	case CPointerEvent:
		s.pointerEvent(m[1], int(binary.BigEndian.Uint16(m[2:])), int(binary.BigEndian.Uint16(m[4:])))
	case CClientCutText:
		s.cutText(0, m)
	case CXVP:
		if len(s.xvp) < maxXVP {
			s.xvp = append(s.xvp, xvpName(m[3]))
		}
	case CQEMU:
		if m[1] == 0 { // extended key event: down U16, keysym U32, keycode U32
			s.key(binary.BigEndian.Uint16(m[2:]) != 0, u32(m[4:]))
		}
	}
	return n
}

func xvpName(code byte) string {
	switch code {
	case 2:
		return "shutdown"
	case 3:
		return "reboot"
	case 4:
		return "reset"
	}
	return fmt.Sprintf("code-%d", code)
}

func (s *session) key(down bool, ks uint32) {
	typed, line, ended := s.typ.key(down, ks)
	if typed != "" {
		s.scr.send(job{kind: jobKey, ts: s.now, text: typed})
	}
	if ended && line != "" && len(s.commands) < maxCommands {
		s.commands = append(s.commands, line)
		if s.ctx.Listening() {
			s.ctx.Publish(record.CommandEvent(s.now, line))
		}
	}
}

// Pointer buttons: 1-3 click, 4-5 the wheel (up, down), 6-7 horizontal.
func (s *session) pointerEvent(mask uint8, x, y int) {
	s.pointer++
	pressed := mask &^ s.buttons
	s.buttons = mask
	for i := 0; i < 8; i++ {
		if pressed&(1<<i) == 0 {
			continue
		}
		if i >= 3 && i <= 6 {
			s.wheel++
			continue
		}
		s.clicks++
		s.used |= 1 << i
		s.scr.send(job{kind: jobClick, ts: s.now, x: x, y: y, mask: mask})
		if len(s.clickPos) < maxClickPos {
			s.clickPos = append(s.clickPos, fmt.Sprintf("%s@%d,%d", buttonName(i), x, y))
		}
	}
}

func buttonName(i int) string {
	switch i {
	case 0:
		return "left"
	case 1:
		return "middle"
	case 2:
		return "right"
	}
	return fmt.Sprintf("button-%d", i+1)
}

func buttonNames(m uint8) []string {
	var out []string
	for i := 0; i < 8; i++ {
		if m&(1<<i) != 0 {
			out = append(out, buttonName(i))
		}
	}
	return out
}

// cutText handles a clipboard message (whole, or its first bigMessage bytes).
func (s *session) cutText(d int, m []byte) {
	c, err := ParseCutText(m, maxClipText)
	if err != nil {
		s.anomaly("vnc.bad_clipboard")
		return
	}
	if !c.Content {
		return
	}
	s.clip[d].n++
	s.clip[d].bytes += c.Length
	if !s.ctx.Listening() {
		return
	}
	dir := "to_server"
	if d == 1 {
		dir = "to_client"
	}
	text := ""
	if !s.ctx.Options.NoClipboardContent {
		text, _ = Text(c.Text, maxClipText+64)
	}
	s.ctx.Publish(record.ClipboardEvent(s.now, dir, c.Length, text, c.Truncated))
}

// serverMessage reads one server message (RFC 6143 7.6), or one piece of a
// FramebufferUpdate: its header, a rectangle header, a rectangle's payload.
func (s *session) serverMessage(b []byte) int {
	if s.inRect {
		return s.rectPayload(b)
	}
	if s.fbOpen {
		if len(b) < RectHeaderLen {
			return wait
		}
		s.rect = ParseRect(b)
		s.rects++
		switch s.rect.Enc {
		case rfb.EncLastRect:
			s.fbOpen = false
			s.scr.send(job{kind: jobFrame, ts: s.now})
			return RectHeaderLen
		case rfb.EncDesktopSize, rfb.EncExtendedDesktopSize:
			if s.rect.W != s.width || s.rect.H != s.height {
				s.resizes++
				s.width, s.height = s.rect.W, s.rect.H
			}
		}
		s.inRect, s.retryAt = true, 0
		return RectHeaderLen
	}
	if b[0] == SFramebufferUpdate {
		if len(b) < 4 {
			return wait
		}
		s.updates++
		s.fbLeft = int(binary.BigEndian.Uint16(b[2:]))
		s.fbOpen = s.fbLeft > 0
		return 4
	}
	n, err := ServerMessageLen(b)
	whole, ok := s.measured(1, b, n, err)
	if !ok {
		return wait
	}
	switch b[0] {
	case SSetColourMapEntries:
		if s.scr != nil {
			first, n := int(binary.BigEndian.Uint16(b[2:])), int(binary.BigEndian.Uint16(b[4:]))
			rgb := make([][3]uint16, n)
			for i := range rgb {
				e := b[6+6*i:]
				rgb[i] = [3]uint16{binary.BigEndian.Uint16(e), binary.BigEndian.Uint16(e[2:]), binary.BigEndian.Uint16(e[4:])}
			}
			s.scr.send(job{kind: jobColourMap, ts: s.now, x: first, rgb: rgb})
		}
	case SBell:
		s.bells++
	case SServerCutText:
		s.cutText(1, b[:whole])
	}
	return n
}

// rectPayload frames one rectangle's payload by its encoding.
func (s *session) rectPayload(b []byte) int {
	if len(b) < s.retryAt {
		return wait
	}
	n, err := s.rectLen(b)
	switch {
	case errors.Is(err, ErrNeedMore):
		// Asked again when half as much again has come: a Hextile rectangle
		// is walked from its start each time.
		s.retryAt = len(b) + max(len(b)/2, 512)
		return wait
	case errors.Is(err, screen.ErrUnsupported):
		s.anomaly("vnc.unknown_encoding")
		s.stop(1, "rectangle encoding "+rfb.EncodingName(s.rect.Enc)+" cannot be framed")
		return wait
	case err != nil:
		s.anomaly("vnc.bad_rectangle")
		s.stop(1, "rectangle encoding "+rfb.EncodingName(s.rect.Enc)+" cannot be framed")
		return wait
	}
	if s.scr != nil {
		switch {
		case n <= len(b):
			s.scr.send(job{kind: jobRect, ts: s.now, rect: s.rect, data: append([]byte(nil), b[:n]...)})
		case n <= maxRecordLen:
			s.retryAt = n // the recording needs the rectangle whole
			return wait
		default:
			s.scr.send(job{kind: jobIncomplete, ts: s.now, text: "a rectangle too large to record"})
		}
	}
	if n > len(b) {
		s.skipRect = true // endRect when the skip is done
		return n
	}
	s.endRect()
	return n // may be 0: a pseudo-encoding with no payload
}

func (s *session) endRect() {
	s.inRect = false
	s.fbLeft--
	if s.fbLeft <= 0 {
		s.fbOpen = false
		s.scr.send(job{kind: jobFrame, ts: s.now})
	}
}

// rectLen is the length of the current rectangle's payload at b.
func (s *session) rectLen(b []byte) (int, error) {
	if !s.pfOK && s.rect.Enc >= 0 && s.rect.Enc != rfb.EncCopyRect {
		return 0, errors.New("vnc: no usable pixel format")
	}
	n, err := screen.RectLen(s.rect.Enc, s.rect.W, s.rect.H, s.pf, b)
	if errors.Is(err, screen.ErrNeedMore) {
		return 0, ErrNeedMore
	}
	return n, err
}

// Gap implements dissectors.Session: a direction's framing is lost.
func (s *session) Gap(dir dissectors.Direction, n int, ts int64) {
	d := int(dir)
	switch s.st[d] {
	case stTLS:
		s.tls.Gap(d)
		return
	case stStopped:
		return
	}
	s.anomaly("vnc.gap")
	if d == 0 && s.st[0] == stMessages {
		// Keys go on once the client's bytes start a message again; the
		// line being typed says keys may be missing from it.
		s.in[0], s.pend[0], s.skip[0] = nil, nil, 0
		s.resync, s.resyncTries = 1, 0
		if typed := s.typ.gap(); typed != "" {
			s.scr.send(job{kind: jobKey, ts: ts, text: typed})
		}
		return
	}
	if d == 1 {
		// The lost bytes were sent after the last ones seen, not when the
		// capture noticed them missing: the picture is doubtful from
		// there (the recording keeps its times monotonic).
		from := ts
		if s.lastServer != 0 {
			from = s.lastServer
		}
		s.scr.send(job{kind: jobGap, ts: from, text: "server bytes lost"})
	}
	s.stop(d, dirName(d)+" bytes lost")
}

// commandLines copies the lines typed so far.
func (s *session) commandLines() []string { return append([]string(nil), s.commands...) }
