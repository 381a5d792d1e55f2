package respond

import (
	"fmt"
	"log/slog"
	"sync"
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
	Logger      *slog.Logger
}

// Lockdown runs the operator's program for alerts of rules with
// "response: lockdown" (alertout's exec runner: no shell, the alert's JSON
// on stdin, its own process group killed at the timeout), and hands each
// outcome back to the capture goroutine as a request, to be recorded on the
// session. Run is called on the output goroutine and never waits.
type Lockdown struct {
	x    *alertout.Exec
	outs *alertout.Outputs
	rs   *Responder

	mu      sync.Mutex
	waiting map[string][][]Request // alert id → the requests of each queued run
}

// NewLockdown checks the program and starts its workers.
func NewLockdown(opt LockdownOptions, rs *Responder) (*Lockdown, error) {
	if opt.Concurrency <= 0 {
		opt.Concurrency = 4
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	l := &Lockdown{rs: rs, waiting: map[string][][]Request{}}
	x, err := alertout.NewExec(alertout.ExecOptions{Argv: opt.Argv, Concurrency: opt.Concurrency, Timeout: opt.Timeout,
		Queue: 256, CloseTimeout: opt.Timeout, Logger: opt.Logger, Done: l.done})
	if err != nil {
		return nil, err
	}
	l.x, l.outs = x, alertout.New(opt.Logger, x)
	return l, nil
}

// Run queues one run for alert a; reqs (one per session of the alert)
// come back through the responder with the outcome.
func (l *Lockdown) Run(a *record.Alert, reqs []Request) {
	l.mu.Lock()
	l.waiting[a.ID] = append(l.waiting[a.ID], reqs)
	l.mu.Unlock()
	// Only the output goroutine offers to this runner, so a drop counted
	// across OnAlert is this alert's.
	before := l.x.Stats().Dropped
	l.outs.OnAlert(a)
	if l.x.Stats().Dropped != before {
		l.report(a.ID, OutcomeFailed, "not run: too many lockdowns waiting")
	}
}

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
	l.mu.Unlock()
	for _, req := range reqs {
		req.Outcome, req.Err = outcome, why
		if !l.rs.Submit(req) {
			l.rs.Logger.Warn("response", "session", req.SessionID, "action", req.Action, "rule", req.RuleID,
				"outcome", outcome, "error", why, "recorded", "log only: too many requests waiting")
		}
	}
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

// Close waits for the runs under way (within the timeout) and says when
// some were not run.
func (l *Lockdown) Close() error { return l.outs.Close() }
