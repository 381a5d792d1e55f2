package engine

import (
	"time"

	"github.com/psmtap/psmtap/capture/decode"
	"github.com/psmtap/psmtap/capture/flow"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/respond"
)

// respCost is what response tracking adds to a session's fixed cost.
const respCost = 256

// track starts keeping a session's TCP state for responses (attach).
func (e *Engine) track(f *flow.Flow[conn], ctx *dissectors.Context) {
	c := &f.Data
	rc := &respond.Conn{Client: c.client, IPv6: len(f.Key.Addr(0)) == 16}
	for i := 0; i < 2; i++ {
		copy(rc.Addr[i][:], f.Key.Addr(i))
		rc.Port[i] = f.Key.Port(i)
	}
	c.resp = rc
	c.static += respCost
	e.static += respCost
	rec, events := c.rec, ctx.Events
	client, server := ctx.Client, ctx.Server
	log := e.cfg.Logger
	// Finished runs on this goroutine, before the flow can be recycled
	// (end tells the responder first), so rec is still this session's.
	rc.Done = func(t *respond.Termination) {
		r := responseOf(t)
		// One psm.response a record: the one that did most wins (a
		// terminate's or warn's over a lockdown's over a disabled kind's);
		// each has its own event either way.
		if rec.Response == nil || responseRank(r) >= responseRank(rec.Response) {
			rec.Response = r
		}
		log.Warn("response", "session", rec.ID, "action", r.Action, "reason", r.Reason, "rule", r.RuleID,
			"client", client, "server", server, "outcome", r.Outcome, "dry_run", r.DryRun, "tries", r.Tries, "packets", r.Packets, "error", r.Error)
		if events != nil {
			events(responseEvent(t, r))
		}
	}
}

// responseRank orders the responses of one session for its record.
func responseRank(r *record.Response) int {
	switch {
	case r.Outcome == respond.OutcomeDisabled:
		return 0
	case r.Action == respond.ActionLockdown:
		return 1
	}
	return 2
}

// responseEvent is the response activity event of t (the engine adds the
// session's context when the session publishes it).
func responseEvent(t *respond.Termination, r *record.Response) *record.Event {
	ev := &record.Event{Time: time.Now(), Action: record.ActionResponse, Category: []string{"intrusion_detection", "network"},
		Type: []string{"denied", "end"}, Outcome: record.OutcomeSuccess, Response: r}
	switch t.Outcome {
	case respond.OutcomeConfirmed, respond.OutcomeEnded, respond.OutcomeOK:
	case respond.OutcomePartial, respond.OutcomeUnconfirmed, respond.OutcomeAlertOnly, respond.OutcomeDryRun, respond.OutcomeDisabled:
		ev.Outcome = record.OutcomeUnknown
	default:
		ev.Outcome = record.OutcomeFailure
	}
	ev.Reason = t.Req.Action + " by " + t.Req.Why
	if t.Req.RuleID != "" {
		ev.Reason += " " + t.Req.RuleID
	}
	switch {
	case t.Outcome == respond.OutcomeDisabled:
		ev.Reason += ": not done, " + t.Req.Action + " is not enabled (--enable-response)"
	case t.DryRun:
		ev.Reason += ": dry run, nothing sent"
		if t.Outcome != respond.OutcomeDryRun {
			ev.Reason += " (" + t.Outcome + ")"
		}
	case t.Req.Action == respond.ActionLockdown && t.Err != "":
		ev.Reason += ": " + t.Err
	case t.Outcome == respond.OutcomeAlertOnly:
		ev.Reason += ": alert only, nothing sent (no line can be shown in an encrypted session)"
	}
	return ev
}

// lateResponse records the outcome of a record-only request whose session
// has ended (a lockdown program that finished after the session): no
// record to put it on, so an event of its own and the log line.
func (e *Engine) lateResponse(req respond.Request, now time.Time) {
	t := respond.Recorded(req, now, e.cfg.Responder.DryRun)
	r := responseOf(t)
	e.cfg.Logger.Warn("response", "session", req.SessionID, "action", r.Action, "reason", r.Reason, "rule", r.RuleID,
		"client", req.Client, "server", req.Server, "outcome", r.Outcome, "dry_run", r.DryRun, "error", r.Error,
		"recorded", "event only: the session had ended")
	if e.cfg.EmitEvent == nil {
		return
	}
	ev := responseEvent(t, r)
	// Not one of the session's numbered events (its publisher is gone):
	// an id of its own, stable for the alert.
	ev.SessionID = req.SessionID
	ev.ID = req.SessionID + "-" + req.Action + "-" + req.AlertID
	ev.Client, ev.Server, ev.UserName = req.Client, req.Server, req.User
	ev.Observer, ev.Interface = e.cfg.Observer, e.cfg.Interface
	if req.Client.IsValid() {
		ev.Transport = "tcp"
	}
	e.stats.Events++
	e.cfg.EmitEvent(ev)
}

func responseOf(t *respond.Termination) *record.Response {
	r := &record.Response{Action: t.Req.Action, Reason: t.Req.Why, RuleID: t.Req.RuleID, Tries: t.Tries, Packets: t.Packets,
		Warned: t.Warned, Outcome: t.Outcome, Error: t.Err, DryRun: t.DryRun, Requested: t.Req.Asked.UTC().Format(record.TimeFormat)}
	if !t.Req.Trigger.IsZero() {
		r.Triggered = t.Req.Trigger.UTC().Format(record.TimeFormat)
	}
	if !t.Confirmed.IsZero() {
		r.Confirmed = t.Confirmed.UTC().Format(record.TimeFormat)
	}
	return r
}

// observe notes a segment of a tracked session: its link header, sequence
// numbers and window; and tells a termination in progress.
func (e *Engine) observe(c *conn, ep int, p *decode.Packet, ts int64) {
	var l2 []byte
	if e.link == decode.LinkEthernet {
		if n := respond.EthernetHeaderLen(e.frame); n > 0 {
			l2 = e.frame[:n]
		}
	}
	c.resp.Observe(ep, l2, p.Seq, p.Ack, p.Flags, len(p.Payload), p.Window)
	if c.resp.Term != nil {
		e.cfg.Responder.Seen(c.resp, ep, p.Seq, p.Ack, p.Flags, len(p.Payload), time.Unix(0, ts), time.Now())
	}
}

// Respond takes the queued response requests and moves the terminations
// in progress on (retries, timeouts). The capture loop calls it between
// packets when the responder is busy (Responder.Busy).
func (e *Engine) Respond(now time.Time) {
	rs := e.cfg.Responder
	if rs == nil {
		return
	}
	for {
		req, ok := rs.Next()
		if !ok {
			break
		}
		c := e.findSession(req.SessionID)
		if req.Outcome != "" {
			// Only to record: a lockdown's result, a dry run's or a
			// disabled kind's decision.
			if c == nil {
				// The session ended first (often: the same rule terminated it).
				e.lateResponse(req, now)
				continue
			}
			rs.Record(c.resp, req, now)
			continue
		}
		if c == nil {
			e.cfg.Logger.Warn("response: no open session with that id", "session", req.SessionID, "action", req.Action, "reason", req.Why, "rule", req.RuleID)
			continue
		}
		if req.Action == respond.ActionWarn && c.rec.Protocol != "telnet" && c.rec.Protocol != "rlogin" {
			// No line can be shown inside an encrypted session, and ending it
			// unannounced is not what warn asked: the alert is the warning.
			rs.AlertOnly(c.resp, req, now)
			continue
		}
		rs.Start(c.resp, req, now)
	}
	rs.Tick(now)
}

// findSession returns the open session id (tracked for responses), or nil.
func (e *Engine) findSession(id string) *conn {
	var found *conn
	look := func(f *flow.Flow[conn]) {
		if c := &f.Data; found == nil && c.resp != nil && c.rec != nil && c.rec.ID == id {
			found = c
		}
	}
	for _, cl := range []flow.Class{flow.ClassSession, flow.ClassLoggedIn, flow.ClassClosing} {
		e.table.Each(cl, look)
	}
	return found
}
