package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/index"
	"github.com/psmtap/psmtap/index/es"
	"github.com/psmtap/psmtap/index/spool"
	"github.com/psmtap/psmtap/internal/record"
)

// esConnFlags say how to reach Elasticsearch (read, live, setup, spool, search).
// Secrets come from the environment or a file, never from a flag value (which
// any user could read in the process list), and are never logged.
func esConnFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "es-url", EnvVars: []string{"PSMTAP_ES_URL"}, Usage: "Elasticsearch `URL`s (comma-separated or repeated)"},
		&cli.StringFlag{Name: "es-username", EnvVars: []string{"PSMTAP_ES_USERNAME"}, Usage: "basic authentication user (password from PSMTAP_ES_PASSWORD or --es-password-file)"},
		&cli.StringFlag{Name: "es-password-file", Usage: "read the basic authentication password from `FILE`"},
		&cli.StringFlag{Name: "es-api-key-file", Usage: "read the API key (base64 id:key, as Elasticsearch returns it in \"encoded\") from `FILE` (or PSMTAP_ES_API_KEY)"},
		&cli.StringFlag{Name: "es-service-token-file", Usage: "read a service account token from `FILE` (or PSMTAP_ES_SERVICE_TOKEN)"},
		&cli.StringFlag{Name: "es-ca-file", Usage: "trust the CA certificates in this PEM `FILE`"},
		&cli.StringFlag{Name: "es-ca-fingerprint", Usage: "trust the server chain holding a certificate with this SHA-256 `HEX` fingerprint (as Elasticsearch prints at first start)"},
		&cli.BoolFlag{Name: "es-insecure", Usage: "do not verify the server certificate (testing only)"},
		&cli.DurationFlag{Name: "es-timeout", Value: 30 * time.Second, Usage: "give up on one request after this long (its records go to the spool)"},
		&cli.StringFlag{Name: "es-namespace", EnvVars: []string{"PSMTAP_ES_NAMESPACE"}, Value: "default", Usage: "data stream namespace: records go to logs-psmtap.session-`NS`, activity events to logs-psmtap.activity-NS, alerts to logs-psmtap.alert-NS"},
	}
}

// esShipFlags are the shipping flags of read and live.
func esShipFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "`es` to ship records to Elasticsearch (default: stdout, see --format, or files with -w)"},
	}, append(esConnFlags(), spoolFlags()...)...)
}

func spoolFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "spool", EnvVars: []string{"PSMTAP_SPOOL"}, Usage: "keep records Elasticsearch has not acknowledged in `DIR` (default " + defaultSpoolDir() + ")"},
		&cli.StringFlag{Name: "spool-max", Value: "1GB", Usage: "size bound of the spool (`SIZE`); past it records are lost, loudly"},
		&cli.StringFlag{Name: "dead-letter", Usage: "append documents Elasticsearch refuses (mapping errors) to `FILE` (default DIR/dead-letter.ndjson in the spool)"},
	}
}

func defaultSpoolDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/psmtap/spool"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "psmtap", "spool")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "psmtap", "spool")
	}
	return filepath.Join(os.TempDir(), "psmtap-spool")
}

// secret reads a secret from a file (trailing newline trimmed) or else from
// the environment variable.
func secret(c *cli.Context, fileFlag, env string) (string, error) {
	if f := c.String(fileFlag); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", cli.Exit(fmt.Sprintf("--%s: %v", fileFlag, err), 2)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return os.Getenv(env), nil
}

func esConfig(c *cli.Context) (es.Config, error) {
	var urls []string
	for _, u := range c.StringSlice("es-url") {
		for _, p := range strings.Split(u, ",") {
			if p = strings.TrimSpace(p); p != "" {
				urls = append(urls, strings.TrimRight(p, "/"))
			}
		}
	}
	if len(urls) == 0 {
		return es.Config{}, cli.Exit("Elasticsearch: give --es-url URL (or set PSMTAP_ES_URL)", 2)
	}
	cfg := es.Config{URLs: urls, Username: c.String("es-username"), CAFile: c.String("es-ca-file"),
		CAFingerprint: c.String("es-ca-fingerprint"), Insecure: c.Bool("es-insecure"), Timeout: c.Duration("es-timeout"), MaxRetries: 3}
	var err error
	if cfg.Password, err = secret(c, "es-password-file", "PSMTAP_ES_PASSWORD"); err != nil {
		return cfg, err
	}
	if cfg.APIKey, err = secret(c, "es-api-key-file", "PSMTAP_ES_API_KEY"); err != nil {
		return cfg, err
	}
	if cfg.ServiceToken, err = secret(c, "es-service-token-file", "PSMTAP_ES_SERVICE_TOKEN"); err != nil {
		return cfg, err
	}
	if err := es.CheckNamespace(c.String("es-namespace")); err != nil {
		return cfg, cli.Exit("--es-namespace: "+err.Error(), 2)
	}
	return cfg, nil
}

func esClient(c *cli.Context, retried *atomic.Int64) (*elasticsearch.Client, es.Config, error) {
	cfg, err := esConfig(c)
	if err != nil {
		return nil, cfg, err
	}
	cl, err := es.NewClient(cfg, retried)
	if err != nil {
		return nil, cfg, cli.Exit("Elasticsearch: "+err.Error(), 2)
	}
	if cfg.Insecure {
		newLogger(c.String("log-level")).Warn("Elasticsearch certificate verification is OFF (--es-insecure)")
	}
	return cl, cfg, nil
}

func openSpool(c *cli.Context) (*spool.Spool, error) {
	dir := c.String("spool")
	if dir == "" {
		dir = defaultSpoolDir()
	}
	max, err := parseSize(c.String("spool-max"))
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("--spool-max: %v", err), 2)
	}
	sp, err := spool.Open(dir, spool.Options{MaxBytes: max})
	if err != nil {
		return nil, cli.Exit(err.Error(), 1)
	}
	return sp, nil
}

// esOutput opens the Elasticsearch sink of read and live.
func esOutput(c *cli.Context) (index.Sink, error) {
	log := newLogger(c.String("log-level"))
	retried := new(atomic.Int64)
	cl, cfg, err := esClient(c, retried)
	if err != nil {
		return nil, err
	}
	sp, err := openSpool(c)
	if err != nil {
		return nil, err
	}
	live := c.Command != nil && c.Command.Name == "live"
	opt := es.Options{Client: cl, Index: es.DataStream(c.String("es-namespace")), ActivityIndex: es.ActivityDataStream(c.String("es-namespace")),
		AlertIndex: es.AlertDataStream(c.String("es-namespace")), IntegrityIndex: es.IntegrityDataStream(c.String("es-namespace")), Spool: sp,
		DeadLetter: c.String("dead-letter"), Logger: log, Retried: retried, KeepSource: c.String("signing-key") != ""}
	if live {
		opt.DrainEvery = c.Duration("spool-drain-every")
	}
	log.Info("shipping to Elasticsearch", "target", opt.Index, "cluster", cfg.String(), "spool", sp.Dir())
	sh, err := es.New(context.Background(), opt)
	if err != nil {
		sp.Close()
		return nil, cli.Exit("Elasticsearch: "+err.Error(), 1)
	}
	s := &esSink{sh: sh, sp: sp, log: log, stop: make(chan struct{})}
	if live && c.Duration("stats-every") > 0 {
		go s.report(c.Duration("stats-every"))
	}
	return s, nil
}

// esSink wraps the shipper for the CLI: it reports counters and, at the end,
// how many records wait in the spool. It has no Flush on purpose: the bulk
// indexer sends at least every second by itself.
type esSink struct {
	sh   *es.Shipper
	sp   *spool.Spool
	log  *slog.Logger
	stop chan struct{}
}

func (s *esSink) Write(d record.Document) error { return s.sh.Write(d) }

// WriteCheckpoint stores a signed checkpoint (--signing-key).
func (s *esSink) WriteCheckpoint(id string, doc []byte) error { return s.sh.WriteCheckpoint(id, doc) }

// Spool takes what the output queue of live has no room for (the cluster is
// slow): straight to disk, delivered by the periodic drain.
func (s *esSink) Spool(ds []record.Document) error { return s.sh.Spool(ds) }

func (s *esSink) report(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			st := s.sh.Stats()
			s.log.Info("elasticsearch", "indexed", st.Indexed, "duplicates", st.Duplicates, "retried", st.Retried,
				"spooled", st.Spooled, "from_spool", st.FromSpool, "dead_lettered", st.DeadLettered, "dropped", st.Dropped, "waiting", st.Waiting)
		}
	}
}

func (s *esSink) Close() error {
	close(s.stop)
	err := s.sh.Close()
	st := s.sh.Stats()
	s.sp.Close()
	s.log.Info("elasticsearch", "indexed", st.Indexed, "duplicates", st.Duplicates, "retried", st.Retried,
		"spooled", st.Spooled, "from_spool", st.FromSpool, "dead_lettered", st.DeadLettered, "dropped", st.Dropped, "waiting", st.Waiting)
	if st.Waiting > 0 {
		fmt.Fprintf(os.Stderr, "psmtap: %d records wait in the spool %s; they go first on the next run, or now with: psmtap spool drain --spool %s --es-url URL\n",
			st.Waiting, s.sp.Dir(), s.sp.Dir())
	}
	if st.DeadLettered > 0 {
		fmt.Fprintf(os.Stderr, "psmtap: Elasticsearch refused %d records; they are in the dead-letter file with the reason\n", st.DeadLettered)
	}
	return err
}
