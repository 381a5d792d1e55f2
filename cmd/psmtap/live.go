package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/capture/live"
	"github.com/psmtap/psmtap/index"
	"github.com/psmtap/psmtap/index/queue"
	"github.com/psmtap/psmtap/internal/rules"
	"github.com/psmtap/psmtap/internal/sensor"
)

func liveCommand() *cli.Command {
	return &cli.Command{
		Name:  "live",
		Usage: "capture from an interface (mirror/SPAN port or tap) until stopped",
		Description: "Captures through libpcap in immediate mode with a large buffer. SIGINT or SIGTERM\n" +
			"ends the capture and flushes every open session exactly once. Counters are logged\n" +
			"every minute and at exit.\n\n" +
			"Example:\n" +
			"   sudo psmtap live -i eth1 --bpf 'tcp' -w /var/lib/psmtap/out",
		Flags: append(append(commonFlags(),
			&cli.StringFlag{Name: "interface", Aliases: []string{"i"}, Required: true, Usage: "capture on `IFACE`"},
			&cli.StringFlag{Name: "bpf", Usage: "capture filter `EXPR` (tcpdump syntax)"},
			&cli.IntFlag{Name: "snaplen", Value: 262144, Usage: "bytes kept of each packet"},
			&cli.BoolFlag{Name: "promisc", Usage: "put the interface in promiscuous mode"},
			&cli.IntFlag{Name: "buffer-mb", Value: 64, Usage: "kernel capture buffer in MiB"},
			&cli.DurationFlag{Name: "stats-every", Value: time.Minute, Usage: "log counters this often"},
			&cli.DurationFlag{Name: "spool-drain-every", Value: 30 * time.Second, Usage: "with --output es: send what waits in the spool this often"},
		), apiFlags()...), // api.go
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
	src, err := live.Open(live.Options{
		Interface: c.String("interface"), BPF: c.String("bpf"), Snaplen: c.Int("snaplen"),
		Promisc: c.Bool("promisc"), BufferSize: c.Int("buffer-mb") << 20,
	})
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	defer src.Close()
	var hub *sensor.Hub
	if apiCfg != nil {
		hub = sensor.New(sensor.Options{Observer: c.String("observer"), Interface: src.Name(), Logger: newLogger(c.String("log-level"))})
	}
	out, ruleSet, err := queuedOutput(c, true, hub)
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
		if api, err = startAPI(apiCfg, hub, cfg.Logger); err != nil {
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
	eng := newEngine(c, cfg)
	log.Info("capturing", "interface", src.Name(), "bpf", c.String("bpf"))
	every := c.Duration("stats-every")
	next := time.Now().Add(every)
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
	for c.Context.Err() == nil {
		frame, link, ts, wire, err := src.Next()
		if err == nil {
			eng.Packet(link, frame, ts, wire)
		} else if !errors.Is(err, live.ErrTimeout) {
			runErr = fmt.Errorf("capture on %s: %w", src.Name(), err)
			break
		} else {
			// Quiet link: let packet time advance with the clock so idle flows expire.
			eng.Tick(time.Now().UnixNano())
		}
		if every > 0 && time.Now().After(next) {
			next = time.Now().Add(every)
			report()
		}
		if hub != nil && time.Now().After(nextPublish) {
			nextPublish = time.Now().Add(time.Second) // the engine's counters for /metrics
			publish()
		}
	}
	eng.Flush()
	writeErr := out.Close() // waits until every document is written or spooled
	publish()
	if api != nil {
		api.stop()
	}
	report()
	if runErr != nil {
		return cli.Exit(runErr.Error(), 1)
	}
	if writeErr != nil {
		return cli.Exit(fmt.Sprintf("writing records: %v", writeErr), 1)
	}
	return nil
}

var _ index.Sink = (*index.NDJSON)(nil)
