package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/index/alertout"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/respond"
	"github.com/psmtap/psmtap/internal/rules"
)

// responseFlags are live's flags for responses (docs/response.md).
func responseFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "enable-response", Usage: "turn responses on: `KINDS` is a list of terminate, warn, lockdown (comma-separated or repeated). " +
			"Off by default: psmtap never sends a packet nor runs a hook; a rule asking for a kind not listed still alerts, and its response is recorded as disabled"},
		&cli.StringFlag{Name: "inject-interface", Usage: "send the frames of terminate and warn on `IFACE` (the capture interface or another on the same segment); needed by them"},
		&cli.BoolFlag{Name: "response-dry-run", Usage: "decide every response as usual but send nothing and run no hook; each is logged and recorded (psm.response.outcome dry_run, psm.response.dry_run)"},
		&cli.IntFlag{Name: "response-tries", Value: 5, Usage: "rounds of resets before a termination is given up as unconfirmed"},
		&cli.DurationFlag{Name: "response-retry", Value: 20 * time.Millisecond, Usage: "wait this long for an end's answer before the next round"},
		&cli.StringFlag{Name: "response-exec", Usage: "run `CMD` (no shell) for response: lockdown, with JSON on stdin (client and server addresses, user, rule, duration); needed by lockdown"},
		&cli.StringFlag{Name: "lockdown-exec", Hidden: true, Usage: "deprecated name of --response-exec"},
		&cli.DurationFlag{Name: "lockdown-duration", Value: time.Hour, Usage: "how long the hook should block the client: duration in its JSON"},
		&cli.DurationFlag{Name: "lockdown-timeout", Value: 10 * time.Second, Usage: "kill a --response-exec run (and its process group) after this long: outcome timeout; also how long psmtap waits for runs at exit"},
		&cli.IntFlag{Name: "lockdown-concurrency", Value: 4, Usage: "--response-exec runs at once at most"},
	}
}

// readResponseFlags are live's response flags on read, refused: read never
// sends anything nor runs a hook.
func readResponseFlags() []cli.Flag {
	var fs []cli.Flag
	for _, n := range []string{"inject-interface", "enable-response", "response-exec", "lockdown-exec"} {
		fs = append(fs, &cli.StringFlag{Name: n, Hidden: true, Usage: "refused: read never sends anything"})
	}
	return append(fs, &cli.BoolFlag{Name: "response-dry-run", Hidden: true, Usage: "refused: read never sends anything"})
}

func checkReadResponses(c *cli.Context) error {
	for _, n := range []string{"inject-interface", "enable-response", "response-exec", "lockdown-exec", "response-dry-run"} {
		if c.IsSet(n) {
			return cli.Exit(fmt.Sprintf("read never sends anything: responses (--%s) are for live, on traffic as it happens", n), 2)
		}
	}
	return nil
}

// liveResponses is what live was asked to do about sessions.
type liveResponses struct {
	enabled map[string]bool // kinds of --enable-response
	dryRun  bool
	rs      *respond.Responder // nil: nothing enabled
	inj     *respond.Injector  // terminate or warn (opened in a dry run too: the same checks)
	lk      *respond.Lockdown  // lockdown
}

func (lr *liveResponses) on(kind string) bool { return lr.enabled[kind] }

// setupResponses checks live's response flags (before anything is opened)
// and opens what they ask for. A flag that would do nothing is refused, not
// ignored.
func setupResponses(c *cli.Context) (*liveResponses, error) {
	lr := &liveResponses{enabled: map[string]bool{}, dryRun: c.Bool("response-dry-run")}
	for _, k := range c.StringSlice("enable-response") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if !slices.Contains(rules.Responses, k) {
			return nil, cli.Exit(fmt.Sprintf("--enable-response %s: one of %s", k, strings.Join(rules.Responses, ", ")), 2)
		}
		lr.enabled[k] = true
	}
	exe := c.String("response-exec")
	if c.IsSet("lockdown-exec") {
		if exe != "" {
			return nil, cli.Exit("--lockdown-exec is the old name of --response-exec: give one", 2)
		}
		exe = c.String("lockdown-exec")
	}
	set := func(names ...string) string {
		for _, n := range names {
			if c.IsSet(n) {
				return n
			}
		}
		return ""
	}
	if len(lr.enabled) == 0 {
		if n := set("inject-interface", "response-dry-run", "response-exec", "lockdown-exec", "response-tries", "response-retry",
			"lockdown-duration", "lockdown-timeout", "lockdown-concurrency"); n != "" {
			return nil, cli.Exit(fmt.Sprintf("--%s does nothing without --enable-response: name the responses to turn on (--enable-response terminate,warn,lockdown)", n), 2)
		}
		return lr, nil
	}
	ends := lr.on(respond.ActionTerminate) || lr.on(respond.ActionWarn)
	switch {
	case ends && !c.IsSet("inject-interface"):
		return nil, cli.Exit("--enable-response terminate and warn need --inject-interface IFACE: the interface the resets are sent on", 2)
	case !ends:
		if n := set("inject-interface", "response-tries", "response-retry"); n != "" {
			return nil, cli.Exit(fmt.Sprintf("--%s goes with --enable-response terminate or warn", n), 2)
		}
	}
	switch {
	case lr.on(respond.ActionLockdown) && exe == "":
		return nil, cli.Exit("--enable-response lockdown needs --response-exec CMD: the program that blocks the client", 2)
	case !lr.on(respond.ActionLockdown):
		if n := set("response-exec", "lockdown-exec", "lockdown-duration", "lockdown-timeout", "lockdown-concurrency"); n != "" {
			return nil, cli.Exit(fmt.Sprintf("--%s goes with --enable-response lockdown", n), 2)
		}
	}
	if c.Int("workers") > 1 {
		return nil, cli.Exit("--enable-response needs --workers 1 (a response is recorded by the engine that holds the session)", 2)
	}
	var argv []string
	if lr.on(respond.ActionLockdown) {
		var err error
		if argv, err = alertout.SplitCommand(exe); err != nil {
			return nil, cli.Exit("--response-exec: "+err.Error(), 2)
		}
	}
	var inject func([]byte) error
	if ends {
		inj, err := respond.OpenInjector(c.String("inject-interface"))
		if err != nil {
			return nil, cli.Exit(err.Error(), 1)
		}
		lr.inj, inject = inj, inj.Send
	}
	lr.rs = respond.NewResponder(inject, 256)
	lr.rs.MaxTries, lr.rs.Retry, lr.rs.DryRun = c.Int("response-tries"), c.Duration("response-retry"), lr.dryRun
	log := newLogger(c.String("log-level"))
	if c.IsSet("lockdown-exec") {
		log.Warn("--lockdown-exec is deprecated: it is now --response-exec")
	}
	if argv != nil {
		lk, err := respond.NewLockdown(respond.LockdownOptions{Argv: argv, Concurrency: c.Int("lockdown-concurrency"),
			Timeout: c.Duration("lockdown-timeout"), Duration: c.Duration("lockdown-duration"), Logger: log}, lr.rs)
		if err != nil {
			lr.close()
			return nil, cli.Exit("--response-exec: "+err.Error(), 2)
		}
		lr.lk = lk
	}
	kinds := make([]string, 0, len(lr.enabled))
	for _, k := range rules.Responses {
		if lr.enabled[k] {
			kinds = append(kinds, k)
		}
	}
	log.Warn("responses enabled", "kinds", strings.Join(kinds, ","), "dry_run", lr.dryRun, "inject_interface", c.String("inject-interface"), "response_exec", exe)
	return lr, nil
}

// close releases the injector (the lockdown runner is closed at shutdown:
// drain, below).
func (lr *liveResponses) close() {
	if lr.inj != nil {
		lr.inj.Close()
	}
}

// drain is live's shutdown before the engine flushes: wait (within
// --lockdown-timeout) for the hooks under way, taking their outcomes onto
// the sessions still open, so the flushed records and events carry them.
func (lr *liveResponses) drain(eng *engine.Engine, within time.Duration) {
	if lr.rs == nil || eng == nil {
		return
	}
	for end := time.Now().Add(within); lr.lk != nil && lr.lk.Pending() > 0 && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		eng.Respond(time.Now())
	}
	eng.Respond(time.Now())
}

// ruleResponder turns alerts of rules with a response into requests for
// the capture goroutine (it runs on the output goroutine: never waits).
// A kind the rule asks for that is not enabled is recorded as disabled on
// the session and in a response event (logged only when no response is
// enabled at all: then nothing is kept per session).
func ruleResponder(set *rules.Set, lr *liveResponses, log interface {
	Warn(string, ...any)
}) func(*record.Alert) {
	type want struct {
		end      string   // terminate or warn: the session is ended
		lockdown bool     // the hook runs
		disabled []string // asked for, not enabled
		title    string
	}
	byID := map[string]want{}
	for _, r := range set.Rules() {
		if len(r.Response) == 0 {
			continue
		}
		w := want{title: r.Title}
		asked := map[string]bool{}
		for _, a := range r.Response {
			asked[a] = true
		}
		switch {
		case asked[respond.ActionWarn] && lr.on(respond.ActionWarn):
			w.end = respond.ActionWarn // warn ends the session too, after the line
		case asked[respond.ActionTerminate] && lr.on(respond.ActionTerminate):
			w.end = respond.ActionTerminate
		}
		w.lockdown = asked[respond.ActionLockdown] && lr.on(respond.ActionLockdown)
		for _, k := range rules.Responses {
			if asked[k] && !lr.on(k) && !(k == respond.ActionTerminate && w.end == respond.ActionWarn) {
				w.disabled = append(w.disabled, k)
			}
		}
		if len(w.disabled) > 0 {
			log.Warn("a rule asks for a response that is not enabled: its alerts go out, the response is recorded as disabled",
				"rule", r.ID, "title", r.Title, "kinds", strings.Join(w.disabled, ","))
		}
		byID[r.ID] = w
	}
	if len(byID) == 0 {
		return nil
	}
	rs := lr.rs
	return func(a *record.Alert) {
		w, ok := byID[a.RuleID]
		if !ok || len(a.SessionIDs) == 0 {
			return
		}
		cl, sv, user, _ := respond.AlertEndpoints(a)
		req := func(id, action, outcome string) respond.Request {
			return respond.Request{SessionID: id, Action: action, Why: "rule", RuleID: a.RuleID, RuleTitle: w.title, Trigger: a.Time,
				Asked: time.Now(), Outcome: outcome, AlertID: a.ID, Client: cl, Server: sv, User: user}
		}
		submit := func(r respond.Request) {
			if !rs.Submit(r) {
				log.Warn("response dropped: too many waiting", "session", r.SessionID, "action", r.Action, "rule", a.RuleID)
			}
		}
		for _, k := range w.disabled {
			for _, id := range a.SessionIDs {
				if rs == nil {
					// Nothing enabled, nothing kept per session: the log is the record.
					log.Warn("response", "session", id, "action", k, "reason", "rule", "rule", a.RuleID, "client", cl, "server", sv,
						"outcome", respond.OutcomeDisabled, "recorded", "log only: no response enabled (--enable-response)")
					continue
				}
				submit(req(id, k, respond.OutcomeDisabled))
			}
		}
		if w.lockdown {
			if lr.dryRun {
				for _, id := range a.SessionIDs {
					submit(req(id, respond.ActionLockdown, respond.OutcomeDryRun))
				}
			} else {
				reqs := make([]respond.Request, len(a.SessionIDs))
				for i, id := range a.SessionIDs {
					reqs[i] = req(id, respond.ActionLockdown, "")
				}
				lr.lk.Run(a, reqs) // queued; never waits for the program
			}
		}
		if w.end != "" {
			for _, id := range a.SessionIDs {
				submit(req(id, w.end, ""))
			}
		}
	}
}

func terminateCommand() *cli.Command {
	return &cli.Command{
		Name:      "terminate",
		Usage:     "ask a sensor (live --listen --enable-response terminate) to end an open session with TCP resets",
		ArgsUsage: "SESSION_ID",
		Description: "The sensor queues the request and sends resets to both ends; the outcome is on the\n" +
			"session's record (psm.response.*) and in a response event.\n\n" +
			"Example:\n" +
			"   psmtap terminate --sensor http://127.0.0.1:8080 Jx3...",
		Flags:        sensorFlags(),
		OnUsageError: dashID("terminate"),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("terminate: name one session id (psmtap sessions lists them)", 2)
			}
			cl, err := sensorClient(c)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
			defer cancel()
			if err := cl.Terminate(ctx, c.Args().First()); err != nil {
				return cli.Exit("terminate: "+err.Error(), 1)
			}
			fmt.Fprintf(c.App.Writer, "termination of %s queued\n", c.Args().First())
			return nil
		},
	}
}

// dashID explains the usage error of a command given a session id that
// begins with '-' (one in 64: ids are base64url), which the flag parser
// took for a flag: the id goes after "--".
func dashID(cmd string) cli.OnUsageErrorFunc {
	return func(c *cli.Context, err error, _ bool) error {
		const undefined = "flag provided but not defined: -"
		msg := err.Error()
		if i := strings.Index(msg, undefined); i >= 0 {
			if id := strings.TrimPrefix(msg[i+len(undefined):], "-"); len(id) == sessionIDLen-1 && isBase64URL(id) {
				return cli.Exit(fmt.Sprintf("%s: session id -%s begins with '-': put it after --  (psmtap %s [flags] -- -%s)", cmd, id, cmd, id), 2)
			}
		}
		return cli.Exit(fmt.Sprintf("%s: %v (psmtap %s --help)", cmd, err, cmd), 2)
	}
}

// sessionIDLen is the length of a psm.session_id.
const sessionIDLen = 20

func isBase64URL(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
