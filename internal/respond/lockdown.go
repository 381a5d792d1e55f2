package respond

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/psmtap/psmtap/index/alertout"
	"github.com/psmtap/psmtap/internal/record"
)

// Outcomes of a lockdown run (psm.response.outcome; failed is shared).
const (
	OutcomeOK      = "ok"      // the program exited 0
	OutcomeTimeout = "timeout" // killed at --lockdown-timeout
)

// LockdownOptions configure the lockdown hook.
type LockdownOptions struct {
	Argv        []string      // the program and its arguments (alertout.SplitCommand)
	Concurrency int           // runs at once at most (default 4)
	Timeout     time.Duration // one run (default 10s)
	Duration    time.Duration // how long the program should block the client (its input's duration; default 1h)
	Logger      *slog.Logger
}

// HookInput is the JSON a --response-exec program reads on its stdin (one
// line). Client, server, user and protocol are those of the document that
// fired the rule (for a correlation, the one that completed it).
type HookInput struct {
	Action          string   `json:"action"` // lockdown
	AlertID         string   `json:"alert_id"`
	Time            string   `json:"time"` // the alert's @timestamp
	Rule            HookRule `json:"rule"`
	SessionIDs      []string `json:"session_ids"`
	Client          HookAddr `json:"client"`
	Server          HookAddr `json:"server"`
	User            string   `json:"user,omitempty"`
	Protocol        string   `json:"protocol,omitempty"`
	Duration        string   `json:"duration"`         // how long to block the client, as Go writes it (1h0m0s)
	DurationSeconds int64    `json:"duration_seconds"` // the same in seconds (an nftables timeout)
}

// HookRule names the rule that asked.
type HookRule struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Level string `json:"level,omitempty"`
}

// HookAddr is an endpoint; IP empty when the alert did not say.
type HookAddr struct {
	IP   string `json:"ip"`
	Port uint16 `json:"port"`
}

// AlertEndpoints reads the client and server (source and destination when
// client and server are absent), the user and the protocol from an alert's
// context (the triggering document's fields).
func AlertEndpoints(a *record.Alert) (client, server netip.AddrPort, user, protocol string) {
	get := func(obj, key string) any {
		if m, ok := a.Context[obj].(map[string]any); ok {
			return m[key]
		}
		return nil
	}
	ep := func(names ...string) netip.AddrPort {
		for _, n := range names {
			s, _ := get(n, "ip").(string)
			ip, err := netip.ParseAddr(s)
			if err != nil {
				continue
			}
			var port uint16
			switch p := get(n, "port").(type) {
			case float64:
				port = uint16(p)
			case int:
				port = uint16(p)
			case uint16:
				port = p
			}
			return netip.AddrPortFrom(ip, port)
		}
		return netip.AddrPort{}
	}
	client, server = ep("client", "source"), ep("server", "destination")
	user, _ = get("user", "name").(string)
	protocol, _ = get("network", "protocol").(string)
	return
}

// NewHookInput is the program's input for alert a.
func NewHookInput(a *record.Alert, d time.Duration) HookInput {
	c, s, user, proto := AlertEndpoints(a)
	addr := func(ap netip.AddrPort) HookAddr {
		if !ap.IsValid() {
			return HookAddr{}
		}
		return HookAddr{IP: ap.Addr().Unmap().String(), Port: ap.Port()}
	}
	return HookInput{Action: ActionLockdown, AlertID: a.ID, Time: a.Time.UTC().Format(record.TimeFormat),
		Rule: HookRule{ID: a.RuleID, Title: a.RuleName, Level: a.RuleLevel}, SessionIDs: a.SessionIDs,
		Client: addr(c), Server: addr(s), User: user, Protocol: proto,
		Duration: d.String(), DurationSeconds: int64(d / time.Second)}
}

// Lockdown runs the operator's program for alerts of rules with
// "response: lockdown" (alertout's exec runner: no shell, HookInput's JSON
// on stdin, its own process group killed at the timeout), and hands each
// outcome back to the capture goroutine as a request, to be recorded on the
// session. Run is called on the output goroutine and never waits.
type Lockdown struct {
	x   *alertout.Exec
	rs  *Responder
	dur time.Duration
	log *slog.Logger

	mu      sync.Mutex
	waiting map[string][][]Request // alert id → the requests of each queued run
	n       int                    // runs queued or under way
	late    atomic.Bool            // the engine is gone: outcomes are logged only
}

// NewLockdown checks the program and starts its workers.
func NewLockdown(opt LockdownOptions, rs *Responder) (*Lockdown, error) {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Duration <= 0 {
		opt.Duration = time.Hour
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Lockdown{rs: rs, dur: opt.Duration, log: opt.Logger, waiting: map[string][][]Request{}}
	x, err := alertout.NewExec(alertout.ExecOptions{Argv: opt.Argv, Concurrency: opt.Concurrency, Timeout: opt.Timeout,
		Queue: 256, CloseTimeout: opt.Timeout, Logger: opt.Logger, Done: l.done})
	if err != nil {
		return nil, err
	}
	l.x = x
	return l, nil
}

// Run queues one run for alert a; reqs (one per session of the alert)
// come back through the responder with the outcome.
func (l *Lockdown) Run(a *record.Alert, reqs []Request) {
	body, err := json.Marshal(NewHookInput(a, l.dur))
	if err != nil { // plain strings and numbers: cannot happen
		body = []byte("{}")
	}
	l.mu.Lock()
	l.waiting[a.ID] = append(l.waiting[a.ID], reqs)
	l.n++
	l.mu.Unlock()
	if !l.x.Run(a.ID, a.RuleName, a.RuleLevel, body) {
		l.report(a.ID, OutcomeFailed, "not run: too many lockdowns waiting")
	}
}

// Pending is the number of runs queued or under way.
func (l *Lockdown) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Detach says the engine has flushed: outcomes from now on have no session
// or event to go to and are logged only.
func (l *Lockdown) Detach() { l.late.Store(true) }

func (l *Lockdown) done(id string, r alertout.ExecResult) {
	switch {
	case r.TimedOut:
		l.report(id, OutcomeTimeout, fmt.Sprintf("killed after %s", r.Took.Round(time.Millisecond)))
	case r.Err != nil:
		msg := r.Err.Error()
		if r.Output != "" {
			msg += ": " + lastLine(r.Output)
		}
		l.report(id, OutcomeFailed, msg)
	default:
		l.report(id, OutcomeOK, "")
	}
}

// report takes the oldest waiting run of alert id and submits its outcome.
func (l *Lockdown) report(id, outcome, why string) {
	l.mu.Lock()
	q := l.waiting[id]
	if len(q) == 0 {
		l.mu.Unlock()
		return
	}
	reqs := q[0]
	if len(q) == 1 {
		delete(l.waiting, id)
	} else {
		l.waiting[id] = q[1:]
	}
	// Submitted before the count drops: a shutdown waiting for Pending
	// then finds the outcome in the responder's queue.
	for _, req := range reqs {
		req.Outcome, req.Err = outcome, why
		recorded := ""
		switch {
		case l.late.Load():
			recorded = "log only: psmtap was stopping"
		case !l.rs.Submit(req):
			recorded = "log only: too many requests waiting"
		}
		if recorded != "" {
			l.log.Warn("response", "session", req.SessionID, "action", req.Action, "rule", req.RuleID,
				"outcome", outcome, "error", why, "recorded", recorded)
		}
	}
	l.n--
	l.mu.Unlock()
}

// lastLine keeps what a failing program said last, bounded.
func lastLine(s string) string {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '\n' {
			s = s[i+1:]
			break
		}
	}
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// Close waits for the runs under way (within the timeout); runs still
// queued at the deadline are not run, and say so.
func (l *Lockdown) Close() error {
	err := l.x.Close()
	l.late.Store(true)
	l.mu.Lock()
	var ids []string
	for id, q := range l.waiting {
		for range q {
			ids = append(ids, id)
		}
	}
	l.mu.Unlock()
	for _, id := range ids {
		l.report(id, OutcomeFailed, "not run: psmtap was stopping")
	}
	return err
}
