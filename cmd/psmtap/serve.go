package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/internal/console"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:      "serve",
		Usage:     "the web console over recorded sessions: the files read -w and live -w wrote, and their recordings",
		UsageText: "psmtap serve --records DIR [--recordings DIR] [--listen ADDR]",
		Description: "Serves the web console (docs/console.md) over the session records and alerts in --records\n" +
			"(psmtap-*.ndjson.zst, *.ndjson, in DIR and below), with search by user, host, protocol,\n" +
			"time and command text, and replay of the recordings in --recordings. No Elasticsearch\n" +
			"needed. It shows what privileged users typed: loopback by default; any other address needs\n" +
			"--tls-cert, --tls-key and --api-token-file.\n\n" +
			"   psmtap serve --records /var/lib/psmtap/out --recordings /var/lib/psmtap/rec\n" +
			"   then open http://127.0.0.1:8765/",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "records", Required: true, Usage: "read the session records and alerts in `DIR` and below"},
			&cli.StringFlag{Name: "recordings", Usage: "replay the recordings in `DIR` (the --recordings of read or live)"},
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8765", Usage: "serve on `ADDR` (host:port; a port alone means loopback)"},
			&cli.StringFlag{Name: "tls-cert", Usage: "serve HTTPS with this certificate (`PEM` file, chain first)"},
			&cli.StringFlag{Name: "tls-key", Usage: "the certificate's private key (`PEM` file)"},
			&cli.StringFlag{Name: "api-token-file", Usage: "require this bearer token (first line of `FILE`) on every API request"},
			&cli.DurationFlag{Name: "reload", Value: 30 * time.Second, Usage: "read --records again this often (files a sensor is writing); 0: never"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error"},
		},
		Action: runServe,
	}
}

func runServe(c *cli.Context) error {
	log := newLogger(c.String("log-level"))
	cfg, err := listenConfig(c, c.String("listen"))
	if err != nil {
		return err
	}
	for _, f := range []string{"records", "recordings"} {
		if d := c.String(f); d != "" {
			if st, err := os.Stat(d); err != nil || !st.IsDir() {
				return cli.Exit(fmt.Sprintf("--%s %s: not a directory", f, d), 2)
			}
		}
	}
	arch := &console.Archive{Dir: c.String("records")}
	load := func() {
		t := time.Now()
		if err := arch.Load(c.Context); err != nil {
			log.Warn("records not read", "dir", arch.Dir, "error", err)
			return
		}
		files, sessions, alerts, bad := arch.Stats()
		log.Info("records read", "dir", arch.Dir, "files", files, "sessions", sessions, "alerts", alerts, "bad_lines", bad, "took", time.Since(t).Round(time.Millisecond))
	}
	load()

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return cli.Exit(fmt.Sprintf("--listen: %v", err), 1)
	}
	if cfg.tls != nil {
		ln = tls.NewListener(ln, cfg.tls)
	}
	srv := &http.Server{Handler: console.Handler(arch, c.String("recordings"), cfg.token, version, log),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	scheme := "http"
	if cfg.tls != nil {
		scheme = "https"
	}
	log.Info("console listening", "addr", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String()+"/", "tls", cfg.tls != nil, "token", cfg.token != "")

	var tick <-chan time.Time
	if d := c.Duration("reload"); d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			load()
		case err := <-done:
			return cli.Exit(fmt.Sprintf("serve: %v", err), 1)
		case <-c.Context.Done():
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				srv.Close()
			}
			if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
}
