package respond

import (
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"
)

// Actions a response may take (rules' "response:" attribute).
const (
	ActionTerminate = "terminate"
	ActionWarn      = "warn"
	ActionLockdown  = "lockdown"
)

// Outcomes (psm.response.outcome).
const (
	OutcomeConfirmed   = "confirmed"   // the tap saw both ends answer as closed connections
	OutcomePartial     = "partial"     // one end confirmed closed, the other not within the tries
	OutcomeUnconfirmed = "unconfirmed" // the resets were sent; no end answered as closed
	OutcomeEnded       = "ended"       // the connection ended (FIN/RST of its own or idle) before confirmation
	OutcomeNotFound    = "not_found"   // no open session with that id
	OutcomeUnsupported = "unsupported" // the link type gives no header to send with (not Ethernet)
	OutcomeFailed      = "failed"      // the interface refused the frames
	OutcomeAlertOnly   = "alert_only"  // warn on an encrypted session: nothing sent, the alert is the warning
	OutcomeDryRun      = "dry_run"     // --response-dry-run: decided, nothing sent, no program run
	OutcomeDisabled    = "disabled"    // a rule asked for a kind live was not started with (--enable-response)
)

// Request asks for a session to be ended.
type Request struct {
	SessionID string
	Action    string    // terminate or warn
	Why       string    // "rule" or "api"
	RuleID    string    // the rule, when Why is "rule"
	RuleTitle string    // shown to the user by warn
	Trigger   time.Time // packet time of what triggered it (the alert's), zero for the API
	Asked     time.Time // wall time of the request
	// Outcome and Err: set on a request that only records (a lockdown's
	// result, a dry run's or a disabled kind's decision).
	Outcome, Err string
	// AlertID, Client, Server, User: the alert's, for an event when the
	// session has ended before the outcome came back.
	AlertID        string
	Client, Server netip.AddrPort
	User           string
}

// Termination is one response in progress on a session.
type Termination struct {
	Req       Request
	Started   time.Time // wall time the first frames were sent
	LastTry   time.Time
	Tries     int
	Packets   int
	Warned    bool      // a warning line was injected to the client
	Confirmed time.Time // packet time the tap saw the last end confirm
	Outcome   string
	Err       string
	DryRun    bool // --response-dry-run: nothing was sent
	// settling: a warn waits for the server to go quiet (settle) before
	// its line goes out; serverData is the wall time of the last server
	// data segment seen meanwhile.
	settling   bool
	serverData time.Time
	closed     [2]bool   // endpoint answered as a closed connection (RST)
	aim        [2]uint32 // re-aim: the RCV.NXT endpoint i last told (challenge ACK)
	aimSet     [2]bool
	sent       [24]sent // frames of this response, to tell our own from the endpoints'
	nSent      int
}

type sent struct {
	from  int8
	flags uint8
	seq   uint32
}

// Done says the termination has an outcome.
func (t *Termination) Done() bool { return t.Outcome != "" }

// Responder sends the frames. It is used from the capture goroutine only,
// except Submit, which any goroutine may call.
type Responder struct {
	// Inject sends one frame on the inject interface.
	Inject func(frame []byte) error
	// MaxTries bounds the rounds of resets (default 5).
	MaxTries int
	// Retry is how long a round waits for an answer before the next (default 20 ms).
	Retry time.Duration
	// WarnQuiet is how long the server must have sent nothing, with all the
	// client sent acknowledged, before a warning line goes out (default
	// 15 ms); WarnWait bounds that wait (default 150 ms). The line takes the
	// server's next sequence numbers: bytes the server had in flight then
	// would reach the client first, and the client would drop that much of
	// the line as already received (seen in TestRespondActionsNetns: the
	// client read "n ended by policy", the shell's output having taken the
	// line's first bytes' place).
	WarnQuiet, WarnWait time.Duration
	// Finished is told of every outcome (record, event, log), on the capture goroutine.
	Finished func(c *Conn, t *Termination)
	Logger   *slog.Logger
	// DryRun decides as usual and sends nothing (--response-dry-run).
	DryRun bool

	reqs    chan Request
	pending atomic.Int32
	active  []*Conn
	buf     []byte
}

// NewResponder returns a responder with a request queue of n.
func NewResponder(inject func([]byte) error, n int) *Responder {
	if n <= 0 {
		n = 256
	}
	return &Responder{Inject: inject, reqs: make(chan Request, n), Logger: slog.New(slog.DiscardHandler)}
}

// Submit queues a request for the capture goroutine; false when the queue
// is full (never blocks: rules run on the output goroutine, the API on its own).
func (r *Responder) Submit(req Request) bool {
	if req.Asked.IsZero() {
		req.Asked = time.Now()
	}
	select {
	case r.reqs <- req:
		r.pending.Add(1)
		return true
	default:
		return false
	}
}

// Busy says there are requests to take or terminations in progress: the
// capture loop calls the engine's Respond only then (one atomic load a packet).
func (r *Responder) Busy() bool { return r.pending.Load() != 0 }

// Next takes a queued request, if any.
func (r *Responder) Next() (Request, bool) {
	select {
	case req := <-r.reqs:
		r.pending.Add(-1)
		return req, true
	default:
		return Request{}, false
	}
}

// Start begins ending session c (the engine found it by id).
func (r *Responder) Start(c *Conn, req Request, now time.Time) {
	if c.Term != nil && !c.Term.Done() {
		return // already under way: one response a session
	}
	t := &Termination{Req: req, Started: now, DryRun: r.DryRun}
	c.Term = t
	if c.Side[0].L2Len == 0 && c.Side[1].L2Len == 0 {
		t.Outcome = OutcomeUnsupported
		t.Err = "no link header to send with (not Ethernet)"
		r.finish(c)
		return
	}
	if !c.Side[0].Seen || !c.Side[1].Seen {
		// What one end expects is only known from what the other sent.
		t.Outcome = OutcomeUnsupported
		t.Err = "only one direction of the connection seen"
		r.finish(c)
		return
	}
	if r.DryRun || r.Inject == nil {
		// Everything decided; nothing is sent. Without an injector (only
		// lockdown enabled) no terminate reaches here; said, not assumed.
		t.Outcome = OutcomeDryRun
		if !r.DryRun {
			t.Outcome, t.Err = OutcomeFailed, "no --inject-interface"
		}
		r.finish(c)
		return
	}
	r.active = append(r.active, c)
	r.pending.Add(1) // busy while it lasts
	if req.Action == ActionWarn && c.Client >= 0 {
		t.settling, t.serverData = true, now // Tick sends the line once the server is quiet
		return
	}
	r.try(c, now)
	if t.Packets == 0 && t.Err != "" {
		t.Outcome = OutcomeFailed
		r.finish(c)
	}
}

// AlertOnly records a warn that sends nothing (an encrypted session).
func (r *Responder) AlertOnly(c *Conn, req Request, now time.Time) {
	if c.Term != nil && !c.Term.Done() {
		return
	}
	c.Term = &Termination{Req: req, Started: now, Outcome: OutcomeAlertOnly, DryRun: r.DryRun}
	r.finish(c)
}

// Record records an action that sent nothing itself (a lockdown's result,
// a dry run's or a disabled kind's decision) on session c, without
// touching a termination in progress.
func (r *Responder) Record(c *Conn, req Request, now time.Time) {
	t := Recorded(req, now, r.DryRun)
	if c.Done != nil {
		c.Done(t)
	}
	if r.Finished != nil {
		r.Finished(c, t)
	}
}

// Recorded is the termination a record-only request stands for.
func Recorded(req Request, now time.Time, dryRun bool) *Termination {
	return &Termination{Req: req, Started: now, Outcome: req.Outcome, Err: req.Err, DryRun: dryRun}
}

// warn injects the policy line to the client as the next server bytes.
func (r *Responder) warn(c *Conn) {
	t := c.Term
	sv := 1 - int(c.Client)
	s := &c.Side[sv]
	if !s.Seen || !s.Acked {
		return
	}
	line := "\r\nsession ended by policy: " + sanitize(t.Req.RuleTitle) + "\r\n"
	r.send(c, sv, s.Next, s.Ack, flagPSH|flagACK, s.Win, []byte(line))
	s.Next += uint32(len(line)) // the client's RCV.NXT moved past it
	t.Warned = true
}

// sanitize keeps a rule title printable on a terminal.
func sanitize(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 200; i++ {
		if ch := s[i]; ch >= 0x20 && ch < 0x7f {
			b = append(b, ch)
		}
	}
	return string(b)
}

// try sends one round: to each end not yet closed, resets at every
// sequence number it may expect, then a probe it must answer.
func (r *Responder) try(c *Conn, now time.Time) {
	t := c.Term
	t.Tries++
	t.LastTry = now
	t.nSent = 0
	for to := 0; to < 2; to++ {
		if t.closed[to] {
			continue
		}
		from := 1 - to
		f, d := &c.Side[from], &c.Side[to]
		var aims [3]uint32
		n := 0
		add := func(seq uint32) {
			for i := 0; i < n; i++ {
				if aims[i] == seq {
					return
				}
			}
			aims[n] = seq
			n++
		}
		if t.aimSet[to] {
			add(t.aim[to]) // what it told us last: exact
		}
		if f.Seen {
			add(f.Next) // all the peer sent has arrived
		}
		if d.Acked {
			add(d.Ack) // data in flight: where it had got to
		}
		for i := 0; i < n; i++ {
			r.send(c, from, aims[i], 0, flagRST, 0, nil)
		}
		// The probe: one byte behind, like a keepalive. A live end answers
		// with an ACK carrying its RCV.NXT (the next aim); a closed one with
		// a RST whose sequence number is the probe's acknowledgment.
		if f.Seen && d.Seen {
			r.send(c, from, f.Next-1, d.Next-1, flagACK, f.Win, nil)
		}
	}
}

func (r *Responder) send(c *Conn, from int, seq, ack uint32, flags uint8, win uint16, payload []byte) {
	t := c.Term
	r.buf = c.build(r.buf, from, seq, ack, flags, win, payload)
	if err := r.Inject(r.buf); err != nil {
		t.Err = err.Error()
		return
	}
	t.Packets++
	if t.nSent < len(t.sent) {
		t.sent[t.nSent] = sent{from: int8(from), flags: flags, seq: seq}
		t.nSent++
	}
}

func (t *Termination) ours(ep int, seq uint32, flags uint8, plen int) bool {
	for _, s := range t.sent[:t.nSent] {
		if int(s.from) == ep && s.seq == seq && s.flags == flags {
			return true
		}
	}
	return false
}

// Seen is told of each segment of a session under termination (after
// Observe). ts is its packet time.
func (r *Responder) Seen(c *Conn, ep int, seq, ack uint32, flags uint8, plen int, ts time.Time, now time.Time) {
	t := c.Term
	if t == nil || t.Done() || t.ours(ep, seq, flags, plen) {
		return
	}
	if t.settling {
		if ep != int(c.Client) && plen > 0 {
			t.serverData = now
		}
		return
	}
	switch {
	case flags&flagRST != 0:
		t.closed[ep] = true
		if t.closed[0] && t.closed[1] {
			t.Confirmed = ts
			t.Outcome = OutcomeConfirmed
			r.finish(c)
		}
	case flags&flagACK != 0 && plen == 0 && flags&(flagSYN|flagFIN) == 0:
		if ts.Before(t.LastTry) {
			// Captured before the last round went out (the capture loop was
			// still working through its backlog): not an answer. Observe has
			// noted where the end was; spending a round on it would aim at a
			// stale number, and a busy flow's ACKs would use up every try
			// before the real answer is read.
			return
		}
		// A challenge ACK, or the answer to the probe: this end lives and
		// expects ack. Aim there at once (bounded by the tries).
		to := 1 - ep
		_ = to
		t.aim[ep], t.aimSet[ep] = ack, true
		// ack is ep's RCV.NXT: the sequence number a reset to ep must carry.
		if t.Tries < r.maxTries() {
			r.try(c, now)
		}
	}
}

func (r *Responder) maxTries() int {
	if r.MaxTries > 0 {
		return r.MaxTries
	}
	return 5
}

// Tick retries rounds that got no answer, and gives up after the last.
func (r *Responder) Tick(now time.Time) {
	retry := r.Retry
	if retry <= 0 {
		retry = 20 * time.Millisecond
	}
	for _, c := range r.active {
		t := c.Term
		if t.settling {
			r.settle(c, now)
			continue
		}
		if t.Done() || now.Sub(t.LastTry) < retry {
			continue
		}
		if t.Tries < r.maxTries() {
			r.try(c, now)
			continue
		}
		t.Outcome = OutcomeUnconfirmed
		if t.closed[0] || t.closed[1] {
			t.Outcome = OutcomePartial
		}
		r.finish(c)
	}
	r.compact()
}

// settle sends a waiting warning and the first round of resets once the
// server has answered all the client sent and gone quiet, or the wait is
// over.
func (r *Responder) settle(c *Conn, now time.Time) {
	t := c.Term
	quiet, wait := r.WarnQuiet, r.WarnWait
	if quiet <= 0 {
		quiet = 15 * time.Millisecond
	}
	if wait <= 0 {
		wait = 150 * time.Millisecond
	}
	cl, sv := &c.Side[c.Client], &c.Side[1-c.Client]
	answered := sv.Acked && !seqGT(cl.Next, sv.Ack)
	if now.Sub(t.Started) < wait && (!answered || now.Sub(t.serverData) < quiet) {
		return
	}
	t.settling = false
	r.warn(c)
	r.try(c, now)
	if t.Packets == 0 && t.Err != "" {
		t.Outcome = OutcomeFailed
		r.finish(c)
	}
}

// Ended is told that a session under termination left the engine (its
// connection closed by itself, went idle, or capture stopped).
func (r *Responder) Ended(c *Conn) {
	if t := c.Term; t != nil && !t.Done() {
		t.Outcome = OutcomeEnded
		r.finish(c)
		r.compact()
	}
}

// finish reports the outcome to the session's owner and to Finished.
func (r *Responder) finish(c *Conn) {
	if c.Done != nil {
		c.Done(c.Term)
	}
	if r.Finished != nil {
		r.Finished(c, c.Term)
	}
}

// compact drops finished terminations from the active list.
func (r *Responder) compact() {
	kept := r.active[:0]
	for _, c := range r.active {
		if c.Term.Done() {
			r.pending.Add(-1)
			continue
		}
		kept = append(kept, c)
	}
	for i := len(kept); i < len(r.active); i++ {
		r.active[i] = nil
	}
	r.active = kept
}
