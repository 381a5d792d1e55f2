package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/capture/live"
	"github.com/psmtap/psmtap/index"
	"github.com/psmtap/psmtap/index/queue"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/respond"
	"github.com/psmtap/psmtap/internal/rules"
	"github.com/psmtap/psmtap/internal/sensor"
)

func liveCommand() *cli.Command {
	return &cli.Command{
		Name:  "live",
		Usage: "capture from an interface (mirror/SPAN port or tap) until stopped",
		Description: "Captures through libpcap into a kernel ring sized for the link (TPACKET_V3: packets\n" +
			"are handed over in blocks within 100 ms). The snapshot length keeps the largest frame\n" +
			"the interface can hand over (MTU, or GRO/GSO super-frames, plus link headers); the\n" +
			"ring holds 250 ms of the link speed (32-256 MiB; 1 Gbit/s assumed when the interface\n" +
			"does not say). SIGINT or SIGTERM ends the capture and flushes every open session\n" +
			"exactly once. Counters (with the kernel's and the interface's drops) are logged every\n" +
			"minute, and a summary at exit.\n\n" +
			"Responses are off unless asked: --enable-response terminate,warn,lockdown (any subset)\n" +
			"lets rules with response: (and POST .../terminate) end sessions with TCP resets sent on\n" +
			"--inject-interface, or run --response-exec to block the client. A kind a rule asks for\n" +
			"that is not enabled is recorded as disabled; --response-dry-run decides and records\n" +
			"without sending or running anything (docs/response.md).\n\n" +
			"Examples:\n" +
			"   sudo psmtap live -i eth1 --bpf 'tcp' -w /var/lib/psmtap/out\n" +
			"   sudo psmtap live -i eth1 --rules my-rules/ --enable-response terminate,warn,lockdown \\\n" +
			"        --inject-interface eth1 --response-exec /usr/local/lib/psmtap/nft-lockdown.sh",
		Flags: append(append(commonFlags(),
			&cli.StringFlag{Name: "interface", Aliases: []string{"i"}, Required: true, Usage: "capture on `IFACE`"},
			&cli.StringFlag{Name: "bpf", Usage: "capture filter `EXPR` (tcpdump syntax)"},
			&cli.IntFlag{Name: "snaplen", Usage: "bytes kept of each packet (default: MTU or GRO/GSO size of the interface + 26)"},
			&cli.BoolFlag{Name: "promisc", Usage: "put the interface in promiscuous mode"},
			&cli.IntFlag{Name: "buffer-mb", Usage: "kernel capture ring in MiB (default: 250 ms of the link speed, 32-256)"},
			&cli.BoolFlag{Name: "immediate", Usage: "hand over each packet at once (TPACKET_V2: fixed slots, fewer packets in the ring; the default snapshot length is then the MTU's)"},
			&cli.DurationFlag{Name: "stats-every", Value: time.Minute, Usage: "log counters this often"},
			&cli.DurationFlag{Name: "spool-drain-every", Value: 30 * time.Second, Usage: "with --output es: send what waits in the spool this often"},
		), append(apiFlags(), responseFlags()...)...), // api.go, respond.go
		Action: runLive,
	}
}

// counters are the output queue's and the rules' counters for a log line.
func counters(out *queue.Queue, set *rules.Set) []any {
	attrs := out.Stats().LogAttrs()
	if set != nil {
		attrs = append(attrs, set.Counters().LogAttrs()...)
	}
	return attrs
}

func runLive(c *cli.Context) error {
	apiCfg, err := checkAPIFlags(c) // refused before anything is opened
	if err != nil {
		return err
	}
	resp, err := setupResponses(c) // respond.go: refused before anything is opened
	if err != nil {
		return err
	}
	defer resp.close()
	rsp := resp.rs
	if resp.lk != nil {
		// On an early return; the normal path closes it after the output.
		defer resp.lk.Close()
	}
	src, err := live.Open(live.Options{
		Interface: c.String("interface"), BPF: c.String("bpf"), Snaplen: c.Int("snaplen"),
		Promisc: c.Bool("promisc"), BufferSize: c.Int("buffer-mb") << 20, Immediate: c.Bool("immediate"),
	})
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	defer src.Close()
	var hub *sensor.Hub
	if apiCfg != nil {
		hub = sensor.New(sensor.Options{Observer: c.String("observer"), Interface: src.Name(), Logger: newLogger(c.String("log-level"))})
	}
	var onAlert func(*record.Alert)
	if len(c.StringSlice("rules")) > 0 {
		set, err := rules.Load(c.StringSlice("rules"))
		if err != nil {
			return cli.Exit("psmtap: "+err.Error(), 2)
		}
		onAlert = ruleResponder(set, resp, newLogger(c.String("log-level")))
	}
	out, ruleSet, err := queuedOutput(c, true, hub, onAlert)
	if err != nil {
		return err
	}
	cfg, err := engineConfig(c, out)
	if err != nil {
		out.Close()
		return err
	}
	var api *apiServer
	if hub != nil {
		wireHub(&cfg, hub, out)
		hub.Gather(outputMetrics(out, ruleSet))
		var terminate func(string) bool // nil: the API answers 409
		if resp.on(respond.ActionTerminate) {
			terminate = func(id string) bool {
				return rsp.Submit(respond.Request{SessionID: id, Action: respond.ActionTerminate, Why: "api"})
			}
		}
		if api, err = startAPI(apiCfg, hub, cfg.Logger, terminate); err != nil {
			out.Close()
			hub.Close()
			return err
		}
	}
	cfg.Interface = src.Name()
	if !c.IsSet("interim") {
		cfg.Interim = (5 * time.Minute).Nanoseconds() // a sensor shows long sessions while they last
	}
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
	if rsp != nil {
		rsp.Logger = log
		cfg.Responder = rsp
	}
	eng := newEngine(c, cfg)
	respondEng, _ := eng.(*engine.Engine) // --workers 1 (setupResponses)
	p := src.Plan()
	log.Info("capturing", "interface", src.Name(), "bpf", c.String("bpf"), "snaplen", p.Snaplen, "buffer_mb", p.BufferSize>>20,
		"immediate", p.Immediate, "mtu", p.MTU, "gro_gso_max", p.SuperFrame, "speed_mbps", p.SpeedMbps, "speed_known", p.SpeedKnown)
	started := time.Now()
	every := c.Duration("stats-every")
	next := time.Now().Add(every)
	nextStats := time.Now().Add(time.Second)
	report := func() {
		st := eng.Stats()
		ps, _ := src.Stats()
		log.Info("counters", append([]any{"received", ps.Received, "kernel_dropped", ps.Dropped, "interface_dropped", ps.IfDropped,
			"packets", st.Packets, "flows_open", st.OpenFlows, "sessions_written", st.Records,
			"memory_used", st.MemoryUsed, "memory_peak", st.MemoryPeak, "memory_budget", st.MemoryBudget,
			"shed_undecided", st.ShedUndecided, "shed_at_login", st.ShedAtLogin, "shed_logged_in", st.ShedLoggedIn,
			"buffers_flushed", st.BuffersFlushed, "fragments_evicted", st.FragmentsEvicted, "fragments_dropped", st.FragmentsDropped},
			counters(out, ruleSet)...)...)
	}
	publish := func() {
		if hub != nil {
			ps, _ := src.Stats()
			hub.Publish(captureMetrics(eng.Stats(), ps))
		}
	}
	nextPublish := time.Now()
	var runErr error
	for n := uint(0); ; n++ {
		frame, link, ts, wire, err := src.Next()
		if err == nil {
			eng.Packet(link, frame, ts, wire)
			if rsp != nil && rsp.Busy() {
				respondEng.Respond(time.Now()) // requests and retries, between packets
			}
			if n&255 != 0 {
				continue // the clock and the context are read every 256 packets (and when the link is quiet)
			}
		}
		if c.Context.Err() != nil {
			break
		}
		if err != nil && !errors.Is(err, live.ErrTimeout) {
			runErr = fmt.Errorf("capture on %s: %w", src.Name(), err)
			break
		}
		if err != nil {
			// Quiet link: let packet time advance with the clock so idle flows expire.
			eng.Tick(time.Now().UnixNano())
			if rsp != nil && rsp.Busy() {
				respondEng.Respond(time.Now())
			}
		}
		if now := time.Now(); every > 0 && now.After(next) {
			next = now.Add(every)
			report()
		} else if now.After(nextStats) {
			// Keep Source.Last fresh for readers on other goroutines (/metrics).
			nextStats = now.Add(time.Second)
			src.Stats()
		}
		if hub != nil && time.Now().After(nextPublish) {
			nextPublish = time.Now().Add(time.Second) // the engine's counters for /metrics
			publish()
		}
	}
	ps, _ := src.Stats() // before the flush: what the capture saw
	// Hooks under way are waited for (within --lockdown-timeout) while the
	// sessions are still open, so their outcomes are on the records.
	resp.drain(respondEng, c.Duration("lockdown-timeout"))
	eng.Flush()
	if resp.lk != nil {
		resp.lk.Detach() // the engine is gone: later outcomes are logged
	}
	writeErr := out.Close() // waits until every document is written or spooled
	if resp.lk != nil {
		// Runs started by alerts of the last records: waited for, logged.
		if err := resp.lk.Close(); err != nil {
			log.Error("lockdown", "err", err)
		}
	}
	publish()
	if api != nil {
		api.stop()
	}
	report()
	// One line at the default level, like read's: drops at any layer show.
	log.Info("live done", liveSummary(src.Name(), time.Since(started), ps, eng.Stats(), out.Stats(), anomalies)...)
	if runErr != nil {
		return cli.Exit(runErr.Error(), 1)
	}
	if writeErr != nil {
		return cli.Exit(fmt.Sprintf("writing records: %v", writeErr), 1)
	}
	return nil
}

// liveSummary gives the figures of a capture as log attributes: what the
// kernel saw and dropped, then what read's summary says.
func liveSummary(iface string, d time.Duration, ps live.Stats, st engine.Stats, qs queue.Stats, anomalies map[string]int) []any {
	pct := 0.0
	if ps.Received > 0 {
		pct = float64(ps.Dropped) / float64(ps.Received) * 100
	}
	a := []any{"interface", iface, "seconds", int64(d.Seconds()), "received", ps.Received, "kernel_dropped", ps.Dropped,
		"kernel_dropped_pct", fmt.Sprintf("%.3f", pct), "interface_dropped", ps.IfDropped}
	return append(a, summaryAttrs(st, qs, anomalies)...)
}

var _ index.Sink = (*index.NDJSON)(nil)
