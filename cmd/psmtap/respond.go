package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/index/alertout"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/respond"
	"github.com/psmtap/psmtap/internal/rules"
)

// responseFlags are live's flags for responses (docs/response.md).
func responseFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "inject-interface", Usage: "turn responses on: send TCP resets (rules' response: terminate/warn, POST .../terminate) on `IFACE` (the capture interface or another on the same segment). Off by default: without it psmtap never sends a packet"},
		&cli.IntFlag{Name: "response-tries", Value: 5, Usage: "rounds of resets before a termination is given up as unconfirmed"},
		&cli.DurationFlag{Name: "response-retry", Value: 20 * time.Millisecond, Usage: "wait this long for an end's answer before the next round"},
		&cli.StringFlag{Name: "lockdown-exec", Usage: "run `CMD` (no shell; the alert's JSON on stdin) when a rule with response: lockdown fires; its outcome goes on the session (psm.response) and in a response event"},
		&cli.DurationFlag{Name: "lockdown-timeout", Value: 10 * time.Second, Usage: "kill a --lockdown-exec run (and its process group) after this long: outcome timeout"},
		&cli.IntFlag{Name: "lockdown-concurrency", Value: 4, Usage: "--lockdown-exec runs at once at most"},
	}
}

// refuseResponseFlag is read's --inject-interface: read never sends anything.
func refuseResponseFlag() cli.Flag {
	return &cli.StringFlag{Name: "inject-interface", Hidden: true, Usage: "refused: read never sends anything"}
}

func checkReadResponses(c *cli.Context) error {
	if c.IsSet("inject-interface") {
		return cli.Exit("read never sends anything: responses (--inject-interface) are for live, on traffic as it happens", 2)
	}
	return nil
}

// liveResponder opens --inject-interface; nil, nil when responses are off.
func liveResponder(c *cli.Context) (*respond.Responder, *respond.Injector, error) {
	iface := c.String("inject-interface")
	if iface == "" {
		for _, f := range []string{"response-tries", "response-retry", "lockdown-exec", "lockdown-timeout", "lockdown-concurrency"} {
			if c.IsSet(f) {
				return nil, nil, cli.Exit(fmt.Sprintf("--%s goes with --inject-interface", f), 2)
			}
		}
		return nil, nil, nil
	}
	if c.Int("workers") > 1 {
		return nil, nil, cli.Exit("--inject-interface needs --workers 1 (a response is sent from the engine that holds the session)", 2)
	}
	inj, err := respond.OpenInjector(iface)
	if err != nil {
		return nil, nil, cli.Exit(err.Error(), 1)
	}
	rs := respond.NewResponder(inj.Send, 256)
	rs.MaxTries, rs.Retry = c.Int("response-tries"), c.Duration("response-retry")
	return rs, inj, nil
}

// liveLockdown starts --lockdown-exec's runner; nil when not asked for.
func liveLockdown(c *cli.Context, rs *respond.Responder) (*respond.Lockdown, error) {
	line := c.String("lockdown-exec")
	if line == "" || rs == nil {
		return nil, nil
	}
	argv, err := alertout.SplitCommand(line)
	if err != nil {
		return nil, cli.Exit("--lockdown-exec: "+err.Error(), 2)
	}
	lk, err := respond.NewLockdown(respond.LockdownOptions{Argv: argv, Concurrency: c.Int("lockdown-concurrency"),
		Timeout: c.Duration("lockdown-timeout"), Logger: newLogger(c.String("log-level"))}, rs)
	if err != nil {
		return nil, cli.Exit("--lockdown-exec: "+err.Error(), 2)
	}
	return lk, nil
}

// ruleResponder turns alerts of rules with a response into requests for
// the capture goroutine (it runs on the output goroutine: never waits).
// A rule with response: lockdown needs lk (--lockdown-exec): refused otherwise.
func ruleResponder(set *rules.Set, rs *respond.Responder, lk *respond.Lockdown, log interface {
	Warn(string, ...any)
}) (func(*record.Alert), error) {
	type want struct {
		action   string
		title    string
		lockdown bool
	}
	byID := map[string]want{}
	for _, r := range set.Rules() {
		w := want{title: r.Title}
		for _, a := range r.Response {
			switch a {
			case respond.ActionLockdown:
				if lk == nil {
					return nil, fmt.Errorf("rule %s (%s) asks for response: lockdown: name the program to run with --lockdown-exec CMD, or take lockdown out of the rule", r.ID, r.Title)
				}
				w.lockdown = true
			case respond.ActionWarn:
				w.action = respond.ActionWarn // warn ends the session too, after the line
			case respond.ActionTerminate:
				if w.action == "" {
					w.action = respond.ActionTerminate
				}
			}
		}
		if w.action != "" || w.lockdown {
			byID[r.ID] = w
		}
	}
	if len(byID) == 0 {
		return nil, nil
	}
	return func(a *record.Alert) {
		w, ok := byID[a.RuleID]
		if !ok {
			return
		}
		if w.lockdown && len(a.SessionIDs) > 0 {
			reqs := make([]respond.Request, len(a.SessionIDs))
			for i, id := range a.SessionIDs {
				reqs[i] = respond.Request{SessionID: id, Action: respond.ActionLockdown, Why: "rule", RuleID: a.RuleID, Trigger: a.Time, Asked: time.Now()}
			}
			lk.Run(a, reqs) // queued; never waits for the program
		}
		if w.action == "" {
			return
		}
		for _, id := range a.SessionIDs {
			req := respond.Request{SessionID: id, Action: w.action, Why: "rule", RuleID: a.RuleID, RuleTitle: w.title, Trigger: a.Time}
			if !rs.Submit(req) {
				log.Warn("response dropped: too many waiting", "session", id, "rule", a.RuleID)
			}
		}
	}, nil
}

func terminateCommand() *cli.Command {
	return &cli.Command{
		Name:      "terminate",
		Usage:     "ask a sensor (live --listen --inject-interface) to end an open session with TCP resets",
		ArgsUsage: "SESSION_ID",
		Description: "The sensor queues the request and sends resets to both ends; the outcome is on the\n" +
			"session's record (psm.response.*) and in a response event.\n\n" +
			"Example:\n" +
			"   psmtap terminate --sensor http://127.0.0.1:8080 Jx3...",
		Flags: sensorFlags(),
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
