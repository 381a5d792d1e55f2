package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/capture/flow"
	"github.com/psmtap/psmtap/index/queue"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
)

func readCommand() *cli.Command {
	return &cli.Command{
		Name:      "read",
		Usage:     "read capture files and write one record per session",
		ArgsUsage: "FILE|DIR...",
		Description: "Reads pcap and pcapng files, plain or gzip/zstd-compressed. A directory means every\n" +
			"capture in it (recursively), in time order. Records go to stdout as NDJSON unless\n" +
			"--format table or -w DIR.\n\n" +
			"Examples:\n" +
			"   psmtap read capture.pcap\n" +
			"   psmtap read --format table pcaps/\n" +
			"   psmtap read -w /var/lib/psmtap/out evidence/*.pcapng.zst",
		Flags: append(append(commonFlags(),
			&cli.BoolFlag{Name: "progress", Usage: "show a progress line on stderr (default: when stderr is a terminal)"}),
			readResponseFlags()...),
		Action: runRead,
	}
}

func defaultFlowConfig(c *cli.Context) flow.Config {
	fc := flow.DefaultConfig()
	if d := c.Duration("session-timeout"); d > 0 {
		fc.Timeouts[flow.ClassSession] = d.Nanoseconds()
	}
	if n := c.Int("max-flows"); n > 0 {
		fc.MaxFlows = n
	}
	return fc
}

func runRead(c *cli.Context) error {
	if err := checkReadResponses(c); err != nil {
		return err
	}
	if c.NArg() == 0 {
		return cli.Exit("read: name at least one capture file or directory (see psmtap read --help)", 2)
	}
	skipped := 0
	files, err := capture.Expand(c.Context, c.Args().Slice(), func(path, why string) {
		skipped++
		newLogger(c.String("log-level")).Warn("skipped", "file", path, "reason", why)
	})
	if err != nil {
		return cli.Exit(fmt.Sprintf("read: %v", err), 1)
	}
	if len(files) == 0 {
		return cli.Exit("read: no capture files (*.pcap, *.pcapng, optionally .gz/.zst) found there", 1)
	}
	out, ruleSet, err := queuedOutput(c, false, nil, nil)
	if err != nil {
		return err
	}
	cfg, err := engineConfig(c, out)
	if err != nil {
		out.Close()
		return err
	}
	// Files wait for a screen recording's decoder rather than drop: a
	// recording incomplete only because the reader was fast would surprise.
	cfg.Options.WaitForRecordings = true
	log := cfg.Logger
	anomalies := map[string]int{}
	emit := cfg.Emit
	cfg.Emit = func(r *record.Record) {
		if r.EventType == "end" { // not the interim snapshots of the same session
			for _, a := range r.Anomalies {
				anomalies[a]++
			}
		}
		emit(r)
	}
	eng := newEngine(c, cfg)
	progress := c.Bool("progress") || !c.IsSet("progress") && stderrIsTerminal()
	prog := newProgress(progress)
	failed, truncated := 0, 0
	for _, path := range files {
		src, err := capture.Open(c.Context, path)
		if err != nil {
			if c.Context.Err() != nil {
				log.Warn("interrupted; flushing open sessions")
				break
			}
			fmt.Fprintln(os.Stderr, "psmtap:", err)
			failed++
			continue
		}
		eng.SetInterface(src.Name())
		err = readAll(c, src, eng, prog)
		src.Close()
		switch {
		case err == nil:
		case errors.Is(err, capture.ErrTruncatedFile):
			truncated++
			if errors.Is(err, capture.ErrCorruptCompression) {
				log.Warn("capture ends early; sessions up to there are reported", "file", path, "error", err.Error())
			} else {
				log.Warn("capture ends in the middle of a packet; sessions up to there are reported", "file", path)
			}
		case errors.Is(err, c.Context.Err()) && c.Context.Err() != nil:
			log.Warn("interrupted; flushing open sessions")
		default:
			fmt.Fprintln(os.Stderr, "psmtap:", err)
			failed++
		}
		if c.Context.Err() != nil {
			break
		}
	}
	eng.Flush()
	writeErr := out.Close() // waits until every document is written
	prog.done(eng.Stats())
	if writeErr != nil {
		return cli.Exit(fmt.Sprintf("writing records: %v", writeErr), 1)
	}
	// One line at the default level, so that nothing lost passes unnoticed.
	log.Info("read done", runSummary(eng.Stats(), out.Stats(), anomalies, len(files), failed, truncated, skipped)...)
	log.Debug("output", out.Stats().LogAttrs()...)
	if ruleSet != nil {
		log.Info("rules", append([]any{"loaded", len(ruleSet.Rules())}, ruleSet.Counters().LogAttrs()...)...)
	}
	if failed == len(files) {
		return cli.Exit("", 1)
	}
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("%d of %d files could not be read", failed, len(files)), 1)
	}
	return nil
}

// readAll feeds every packet of src to the engine.
func readAll(c *cli.Context, src capture.Source, eng packetEngine, prog *progress) error {
	ctx := c.Context
	for n := 0; ; n++ {
		frame, link, ts, wire, err := src.Next()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		eng.Packet(link, frame, ts, wire)
		if n&0xffff == 0 {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			prog.tick(eng)
		}
	}
}

// runSummary gives the figures of a read as log attributes: what came in,
// what went out, and everything that was lost or looked wrong on the way
// (those only when there is something to say).
func runSummary(st engine.Stats, qs queue.Stats, anomalies map[string]int, files, unreadable, truncated, skipped int) []any {
	a := []any{"files", files}
	more := func(name string, n uint64) {
		if n > 0 {
			a = append(a, name, n)
		}
	}
	more("unreadable_files", uint64(unreadable))
	more("truncated_files", uint64(truncated))
	more("skipped_files", uint64(skipped))
	return append(a, summaryAttrs(st, qs, anomalies)...)
}

// summaryAttrs are the figures read and live both report at the end.
func summaryAttrs(st engine.Stats, qs queue.Stats, anomalies map[string]int) []any {
	a := []any{"packets", st.Packets, "sessions", st.Sessions, "records", st.Records, "written", qs.Written}
	more := func(name string, n uint64) {
		if n > 0 {
			a = append(a, name, n)
		}
	}
	more("dropped", qs.Dropped)
	more("write_failed", qs.Failed)
	more("spilled", qs.Spilled)
	more("malformed", st.Malformed)
	more("probe_budget_exceeded", st.ProbeBudgetExceeded)
	more("related_refused", st.ExpectedDropped)
	more("shed_undecided", st.ShedUndecided)
	more("shed_at_login", st.ShedAtLogin)
	more("shed_logged_in", st.ShedLoggedIn)
	more("buffers_flushed", st.BuffersFlushed)
	more("fragments_evicted", st.FragmentsEvicted)
	more("fragments_dropped", st.FragmentsDropped)
	more("fragments_expired", st.FragmentsExpired)
	more("overlap_mismatches", st.OverlapMismatches)
	more("parser_panics", st.Panics)
	if len(anomalies) > 0 {
		a = append(a, "anomalies", topCounts(anomalies, 5))
	}
	return a
}

// topCounts writes the n largest counts as "name=count ...", most first,
// and how many other names there were.
func topCounts(m map[string]int, n int) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if m[names[i]] != m[names[j]] {
			return m[names[i]] > m[names[j]]
		}
		return names[i] < names[j]
	})
	var b strings.Builder
	for i, k := range names {
		if i == n {
			fmt.Fprintf(&b, " (+%d more)", len(names)-n)
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

func stderrIsTerminal() bool {
	st, err := os.Stderr.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress draws one line on stderr, at most a few times a second.
type progress struct {
	on    bool
	start time.Time
	last  time.Time
}

func newProgress(on bool) *progress { return &progress{on: on, start: time.Now()} }

func (p *progress) tick(eng packetEngine) {
	if !p.on || time.Since(p.last) < 250*time.Millisecond {
		return
	}
	p.last = time.Now()
	st := eng.Stats()
	secs := time.Since(p.start).Seconds()
	fmt.Fprintf(os.Stderr, "\r%d packets  %s  %d sessions  %d open flows  %.0f pkt/s  %.1f MB/s ",
		st.Packets, humanBytes(st.Bytes), st.Sessions, st.OpenFlows, float64(st.Packets)/secs, float64(st.Bytes)/secs/1e6)
}

func (p *progress) done(st engine.Stats) {
	if p.on {
		fmt.Fprintf(os.Stderr, "\r%s in %s\n", summary(st), time.Since(p.start).Round(time.Millisecond))
	}
}
