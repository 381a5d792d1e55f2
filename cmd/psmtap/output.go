package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/index"
	"github.com/psmtap/psmtap/index/es"
	"github.com/psmtap/psmtap/index/queue"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/rules"
	"github.com/psmtap/psmtap/internal/sensor"
)

// commonFlags are shared by read and live.
func commonFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "ndjson", Usage: "output on stdout: `ndjson` or table"},
		&cli.StringFlag{Name: "write", Aliases: []string{"w"}, Usage: "write rotated zstd-compressed NDJSON files into `DIR` instead of stdout"},
		&cli.StringFlag{Name: "rotate-size", Value: "256MB", Usage: "with -w: start a new file after this much NDJSON (`SIZE`: KB, MB, GB)"},
		&cli.DurationFlag{Name: "rotate-age", Value: time.Hour, Usage: "with -w: start a new file after this long"},
		&cli.BoolFlag{Name: "events", Usage: "also write an activity event for every login attempt, command, file and other action, as it happens (event.dataset psmtap.activity)"},
		&cli.StringSliceFlag{Name: "rules", Usage: "run the Sigma rules in `PATH` (a .yml file or a directory; repeatable; \"builtin\" = the rules shipped with psmtap) on activity events and session records, and write an alert for each hit"},
		&cli.BoolFlag{Name: "all", Usage: "also write a record for every TCP flow of no interest (to check detection)"},
		&cli.StringSliceFlag{Name: "disable", Usage: "turn off a protocol (repeatable): " + strings.Join(dissectors.Names(), ", ")},
		&cli.StringFlag{Name: "observer", Usage: "observer.hostname in records (default: this host's name)"},
		&cli.DurationFlag{Name: "session-timeout", Value: 2 * time.Hour, Usage: "end a session idle this long (packet time)"},
		&cli.IntFlag{Name: "max-flows", Value: 1 << 20, Usage: "flow table limit; the least recently active flow of least value is evicted (and says so)"},
		&cli.StringFlag{Name: "max-memory", Usage: "memory budget of the flow and session state by estimated real cost (`SIZE`: MB, GB); over it, the least valuable flows are shed first (half-open and undecided, then sessions at their login, logged-in sessions last), counted, and their records say memory.shed (default: a quarter of the machine's memory, at most 4GB)"},
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error (logs go to stderr)"},
		&cli.BoolFlag{Name: "reveal-credentials", Usage: "show passwords seen in cleartext instead of masking them (records still say a cleartext credential crossed the wire)"},
		&cli.BoolFlag{Name: "no-clipboard-content", Usage: "keep clipboard text (VNC) out of activity events: only its direction and length"},
		&cli.StringFlag{Name: "recordings", Usage: "write a timed recording of each interactive session into `DIR`"},
		&cli.IntFlag{Name: "workers", Value: 1, Usage: "engines in parallel, one core each, flows spread by IP address pair (record order then varies from run to run)"},
		&cli.IntFlag{Name: "queue-docs", Value: queue.DefaultMaxDocs, Usage: "documents waiting for the output at most (read waits for room; live sends the rest to the spool with --output es, else drops them, counted)"},
		&cli.StringFlag{Name: "queue-bytes", Value: "64MB", Usage: "bytes (estimated) waiting for the output at most (`SIZE`)"},
		&cli.StringFlag{Name: "signing-key", Usage: "make the output tamper-evident: every document and recording a leaf of a Merkle tree, checkpoints signed with this key `FILE` (psmtap keygen) into -w DIR or Elasticsearch; docs/integrity.md"},
		&cli.DurationFlag{Name: "interim", Usage: "also write a snapshot record (event.type start, then info) of every session open this long, and again each interval (live default 5m; 0 = off)"},
	}, append(esShipFlags(), alertOutputFlags()...)...) // --output es and its flags: esflags.go; alert outputs: alertout.go
}

// output opens the sink the flags ask for.
func output(c *cli.Context) (index.Sink, error) {
	switch c.String("output") {
	case "es", "elasticsearch":
		return esOutput(c) // esflags.go
	case "", "stdout":
	default:
		return nil, cli.Exit(fmt.Sprintf("unknown --output %q: use es (or leave it out for stdout/-w)", c.String("output")), 2)
	}
	if dir := c.String("write"); dir != "" {
		size, err := parseSize(c.String("rotate-size"))
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("--rotate-size: %v", err), 2)
		}
		return index.NewRotating(dir, size, c.Duration("rotate-age"))
	}
	switch c.String("format") {
	case "ndjson", "json":
		return index.NewNDJSON(os.Stdout), nil
	case "table":
		return index.NewTable(os.Stdout), nil
	}
	return nil, cli.Exit(fmt.Sprintf("unknown --format %q: use ndjson or table", c.String("format")), 2)
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	u := strings.ToUpper(strings.TrimSpace(s))
	for _, x := range []struct {
		suf string
		m   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(u, x.suf) {
			u, mult = strings.TrimSuffix(u, x.suf), x.m
			break
		}
	}
	var n int64
	if _, err := fmt.Sscan(u, &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size like 256MB", s)
	}
	return n * mult, nil
}

// queuedOutput opens the sink the flags ask for behind the output queue, so
// that the sink runs on a goroutine of its own, never on the one reading
// packets. read waits when the queue is full (a file can wait; nothing is
// lost); live never waits: what does not fit goes to the Elasticsearch
// spool with --output es, or is dropped and counted with files and stdout
// (the disk that is too slow for them is the one a spool would be on).
//
// hub, when set (live --listen), sits right behind the queue (sensor.Tee):
// it sees every record, event and alert first, and events go on to the
// outputs only with --events (or to the rules, which want them).
//
// respond, when set (rules with a response:), sees each alert first: the
// rules' responses (respond.go). It must not block.
func queuedOutput(c *cli.Context, live bool, hub *sensor.Hub, respond func(*record.Alert)) (*queue.Queue, *rules.Set, error) {
	// data_stream.namespace of every document, whatever the output: the
	// same documents in NDJSON and in the cluster.
	if err := es.CheckNamespace(c.String("es-namespace")); err != nil && c.IsSet("es-namespace") {
		return nil, nil, cli.Exit("--es-namespace: "+err.Error(), 2)
	}
	record.SetNamespace(c.String("es-namespace"))
	// Rules first: a bad rule file stops the start, before anything is opened.
	var set *rules.Set
	if paths := c.StringSlice("rules"); len(paths) > 0 {
		var err error
		if set, err = rules.Load(paths); err != nil {
			return nil, nil, cli.Exit("psmtap: "+err.Error(), 2)
		}
	}
	sink, err := output(c)
	if err != nil {
		return nil, nil, err
	}
	// --signing-key: each document gets its leaf just before the sink (after the rules: alerts too).
	if sink, err = signedOutput(c, sink); err != nil { // keygen.go
		return nil, nil, err
	}
	maxBytes, err := parseSize(c.String("queue-bytes"))
	if err != nil {
		sink.Close()
		return nil, nil, cli.Exit(fmt.Sprintf("--queue-bytes: %v", err), 2)
	}
	log := newLogger(c.String("log-level"))
	opt := queue.Options{MaxDocs: c.Int("queue-docs"), MaxBytes: maxBytes, Block: !live, FlushIdle: live, Logger: log}
	outs, err := alertOutputs(c, set != nil, log) // webhooks, programs: alertout.go
	if err != nil {
		sink.Close()
		return nil, nil, err
	}
	sp, spools := sink.(rules.Spooler)
	if set != nil {
		// Rules run behind the queue, on the output goroutine (and on the
		// spill path, so an overloaded sensor still alerts).
		rs := &rules.Sink{Set: set, Next: sink, Events: c.Bool("events"), Logger: log}
		sink = rs
		if spools {
			sp = rs
		}
		if outs != nil {
			rs.OnAlert = outs.OnAlert // queues only: never waits for a receiver
			sink = outs.Wrap(sink)    // closed after the sink: the last alerts are out
		}
		if hub != nil {
			next := rs.OnAlert
			rs.OnAlert = func(a *record.Alert) {
				hub.Alert(a) // never waits: slow event streams are dropped
				if next != nil {
					next(a)
				}
			}
		}
		if respond != nil {
			next := rs.OnAlert
			rs.OnAlert = func(a *record.Alert) {
				respond(a) // queues a request for the capture goroutine: never waits
				if next != nil {
					next(a)
				}
			}
		}
	}
	if hub != nil {
		tee := &sensor.Tee{Hub: hub, Next: sink, PassEvents: c.Bool("events") || set != nil}
		if spools {
			tee.SpoolTo = sp.Spool
			sp = tee
		}
		sink = tee
	}
	if spools && live {
		opt.Spill = sp.Spool
	}
	return queue.New(sink, opt), set, nil
}

// engineConfig builds the engine settings from the flags; documents go to
// sink (the output queue: Write only enqueues).
func engineConfig(c *cli.Context, sink index.Sink) (engine.Config, error) {
	known := map[string]bool{}
	for _, n := range dissectors.Names() {
		known[n] = true
	}
	for _, n := range c.StringSlice("disable") {
		if !known[n] {
			return engine.Config{}, cli.Exit(fmt.Sprintf("--disable %s: no such protocol (known: %s)", n, strings.Join(dissectors.Names(), ", ")), 2)
		}
	}
	cfg := engine.Config{
		Dissectors: dissectors.All(c.StringSlice("disable")...),
		All:        c.Bool("all"),
		Observer:   c.String("observer"),
		Logger:     newLogger(c.String("log-level")),
		Interim:    c.Duration("interim").Nanoseconds(),
		Options: dissectors.Options{
			RevealCredentials:  c.Bool("reveal-credentials"),
			RecordingsDir:      c.String("recordings"),
			NoClipboardContent: c.Bool("no-clipboard-content"),
		},
	}
	if cfg.Observer == "" {
		cfg.Observer, _ = os.Hostname()
	}
	cfg.Flow = defaultFlowConfig(c)
	if v := c.String("max-memory"); v != "" {
		n, err := parseSize(v)
		if err != nil {
			return engine.Config{}, cli.Exit(fmt.Sprintf("--max-memory: %v", err), 2)
		}
		cfg.MaxMemory = n
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// The budget is of live state, and the garbage collector lets the
		// heap grow to about twice the live state before it collects. A
		// soft limit above the budget (and the output queue) keeps the
		// process near it; GOMEMLIMIT overrides.
		budget := cfg.MaxMemory
		if budget <= 0 {
			budget = engine.DefaultMaxMemory()
		}
		queued, _ := parseSize(c.String("queue-bytes"))
		debug.SetMemoryLimit(budget + budget/4 + 2*queued + 64<<20)
	}
	// The queue reports write errors at Close.
	cfg.Emit = func(r *record.Record) { sink.Write(r) }
	if c.Bool("events") || len(c.StringSlice("rules")) > 0 {
		// Rules look at events even when they are not written (--events).
		cfg.EmitEvent = func(ev *record.Event) { sink.Write(ev) }
	}
	return cfg, nil
}

func summary(st engine.Stats) string {
	var protos []string
	for p, n := range st.ByProtocol {
		protos = append(protos, fmt.Sprintf("%s=%d", p, n))
	}
	sort.Strings(protos)
	s := fmt.Sprintf("%d packets, %s, %d TCP flows, %d sessions", st.Packets, humanBytes(st.Bytes), st.Flows, st.Sessions)
	if len(protos) > 0 {
		s += " (" + strings.Join(protos, " ") + ")"
	}
	if st.Malformed > 0 {
		s += fmt.Sprintf(", %d malformed", st.Malformed)
	}
	if st.Panics > 0 {
		s += fmt.Sprintf(", %d parser panics recovered", st.Panics)
	}
	return s
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// packetEngine is what read and live drive: one engine, or several in parallel.
type packetEngine interface {
	Packet(linkType int, frame []byte, ts int64, wireLen int)
	SetInterface(name string)
	Tick(now int64)
	Flush()
	Stats() engine.Stats
}

func newEngine(c *cli.Context, cfg engine.Config) packetEngine {
	if n := c.Int("workers"); n > 1 {
		return engine.NewParallel(cfg, n)
	}
	return engine.New(cfg)
}
