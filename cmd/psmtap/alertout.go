package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/index/alertout"
)

// alertOutputFlags are the flags of the alert outputs (docs/rules.md, "Alert
// outputs") on read and live.
func alertOutputFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "alert-webhook", Usage: "with --rules: POST each alert as JSON to `URL` (repeatable), retried with backoff, kept in --alert-spool while the receiver is down"},
		&cli.StringFlag{Name: "alert-webhook-header-file", Usage: "add the HTTP headers in `FILE` (\"Name: value\" lines, e.g. Authorization: Bearer ...) to every webhook request"},
		&cli.StringFlag{Name: "alert-webhook-ca-file", Usage: "trust the CA certificates in this PEM `FILE` for webhooks (default: the system's; certificates are always verified)"},
		&cli.DurationFlag{Name: "alert-webhook-timeout", Value: 10 * time.Second, Usage: "give up on one webhook request after this long (it is tried again)"},
		&cli.StringFlag{Name: "alert-spool", Usage: "keep alerts a webhook has not taken in `DIR` (a subdirectory per URL; default " + defaultAlertSpoolDir() + ")"},
		&cli.StringFlag{Name: "alert-spool-max", Value: "256MB", Usage: "size bound of each webhook's spool (`SIZE`); past it alerts are lost, loudly"},
		&cli.StringSliceFlag{Name: "alert-exec", Usage: "with --rules: run `CMD` for each alert, the alert as JSON on its stdin (repeatable; split into words like a shell but run without one)"},
		&cli.DurationFlag{Name: "alert-exec-timeout", Value: 30 * time.Second, Usage: "kill an --alert-exec program (and its children) after this long"},
		&cli.IntFlag{Name: "alert-exec-concurrency", Value: 1, Usage: "--alert-exec programs running at once at most (1: one alert after the other, in order)"},
		&cli.IntFlag{Name: "alert-queue", Value: alertout.DefaultQueue, Usage: "alerts waiting in memory for each webhook or program at most; past it they are dropped, counted and logged"},
	}
}

// defaultAlertSpoolDir sits next to the Elasticsearch spool, not in it (that
// directory is one spool, locked as a whole).
func defaultAlertSpoolDir() string {
	d := defaultSpoolDir()
	if filepath.Base(d) == "psmtap-spool" { // the temporary directory fallback
		return filepath.Join(filepath.Dir(d), "psmtap-alert-spool")
	}
	return filepath.Join(filepath.Dir(d), "alert-spool")
}

// alertOutputs opens the webhooks and programs the flags ask for (nil when
// none). They need rules: without them there is no alert to send.
func alertOutputs(c *cli.Context, haveRules bool, log *slog.Logger) (*alertout.Outputs, error) {
	hooks, execs := c.StringSlice("alert-webhook"), c.StringSlice("alert-exec")
	if len(hooks) == 0 && len(execs) == 0 {
		return nil, nil
	}
	if !haveRules {
		return nil, cli.Exit("--alert-webhook and --alert-exec send the alerts of rules: add --rules PATH (or --rules builtin)", 2)
	}
	var outs []alertout.Output
	fail := func(err error) (*alertout.Outputs, error) {
		alertout.New(log, outs...).Close()
		return nil, err
	}
	if len(hooks) > 0 {
		opt, base, err := webhookOptions(c, log)
		if err != nil {
			return fail(err)
		}
		for _, u := range hooks {
			o := opt
			o.URL, o.SpoolDir = u, alertout.SpoolDirFor(base, u)
			w, err := alertout.NewWebhook(o)
			if err != nil {
				return fail(cli.Exit("--alert-webhook: "+err.Error(), 2))
			}
			log.Info("alerts to a webhook", "url", alertout.Redact(u), "spool", o.SpoolDir)
			outs = append(outs, w)
		}
	}
	for _, line := range execs {
		argv, err := alertout.SplitCommand(line)
		if err != nil {
			return fail(cli.Exit("--alert-exec: "+err.Error(), 2))
		}
		x, err := alertout.NewExec(alertout.ExecOptions{Argv: argv, Concurrency: c.Int("alert-exec-concurrency"),
			Timeout: c.Duration("alert-exec-timeout"), Queue: c.Int("alert-queue"), Logger: log})
		if err != nil {
			return fail(cli.Exit(fmt.Sprintf("--alert-exec: %v", err), 2))
		}
		outs = append(outs, x)
	}
	return alertout.New(log, outs...), nil
}

// webhookOptions reads the flags every webhook shares, and the spool base
// directory (one subdirectory per URL under it).
func webhookOptions(c *cli.Context, log *slog.Logger) (alertout.WebhookOptions, string, error) {
	opt := alertout.WebhookOptions{Timeout: c.Duration("alert-webhook-timeout"), Queue: c.Int("alert-queue"), Logger: log}
	if f := c.String("alert-webhook-header-file"); f != "" {
		h, err := alertout.ReadHeaderFile(f)
		if err != nil {
			return opt, "", cli.Exit("--alert-webhook-header-file: "+err.Error(), 2)
		}
		opt.Header = h
	}
	if f := c.String("alert-webhook-ca-file"); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return opt, "", cli.Exit("--alert-webhook-ca-file: "+err.Error(), 2)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return opt, "", cli.Exit("--alert-webhook-ca-file: no PEM certificate in "+f, 2)
		}
		opt.TLS = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	}
	max, err := parseSize(c.String("alert-spool-max"))
	if err != nil {
		return opt, "", cli.Exit("--alert-spool-max: "+err.Error(), 2)
	}
	opt.SpoolMax = max
	base := c.String("alert-spool")
	if base == "" {
		base = defaultAlertSpoolDir()
	}
	return opt, base, nil
}

// spoolAlertsCommand sends what waits in webhooks' spools now, instead of
// at the next run with the same --alert-webhook.
func spoolAlertsCommand() *cli.Command {
	var flags []cli.Flag
	for _, f := range alertOutputFlags() {
		switch f.Names()[0] {
		case "alert-webhook", "alert-webhook-header-file", "alert-webhook-ca-file", "alert-webhook-timeout", "alert-spool", "alert-spool-max":
			flags = append(flags, f)
		}
	}
	flags = append(flags,
		&cli.DurationFlag{Name: "wait", Value: time.Minute, Usage: "give up after `DURATION`; what is not delivered stays in the spool"},
		&cli.StringFlag{Name: "log-level", Value: "info"})
	return &cli.Command{
		Name:  "alerts",
		Usage: "send the alerts waiting in a webhook's spool now (--alert-webhook URL, as the run that spooled them)",
		Description: "Alerts a webhook receiver did not take wait in --alert-spool, one directory per URL, and\n" +
			"are sent first by the next read or live run with the same --alert-webhook. This sends them now.\n" +
			"Exit 0 when nothing waits any more, 1 when some still wait or were lost.\n\n" +
			"Example:\n" +
			"   psmtap spool alerts --alert-webhook https://soar.example/hook --alert-webhook-header-file /etc/psmtap/hook-headers",
		Flags: flags,
		Action: func(c *cli.Context) error {
			hooks := c.StringSlice("alert-webhook")
			if len(hooks) == 0 {
				return cli.Exit("spool alerts: name the receiver with --alert-webhook URL (the spool is per URL)", 2)
			}
			log := newLogger(c.String("log-level"))
			opt, base, err := webhookOptions(c, log)
			if err != nil {
				return err
			}
			opt.CloseTimeout = c.Duration("wait")
			failed := false
			for _, u := range hooks {
				o := opt
				o.URL, o.SpoolDir = u, alertout.SpoolDirFor(base, u)
				// A webhook sends its spool first when it starts; closing it at
				// once waits (up to --wait) for that and keeps the rest.
				w, err := alertout.NewWebhook(o)
				if err != nil {
					return cli.Exit("--alert-webhook: "+err.Error(), 2)
				}
				cerr := alertout.New(log, w).Close()
				st := w.Stats()
				fmt.Fprintf(c.App.Writer, "%s: delivered %d, refused %d (dead-letter.ndjson), still waiting %d\n",
					alertout.Redact(u), st.FromSpool, st.Rejected, st.Waiting)
				if cerr != nil || st.Waiting > 0 {
					failed = true
				}
			}
			if failed {
				return cli.Exit("", 1)
			}
			return nil
		},
	}
}
