package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/psmtap/psmtap/capture/live"
	"github.com/psmtap/psmtap/index/queue"
	"github.com/psmtap/psmtap/internal/console"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/rules"
	"github.com/psmtap/psmtap/internal/sensor"
)

// apiFlags are live's flags for the sensor API (docs/api.md).
func apiFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "listen", Usage: "serve the sensor API (live sessions, events, /metrics) on `ADDR` (host:port; a port alone means loopback); off by default. It shows what privileged users type: anywhere but loopback it needs --tls-cert, --tls-key and --api-token-file"},
		&cli.StringFlag{Name: "tls-cert", Usage: "with --listen: serve HTTPS with this certificate (`PEM` file, chain first)"},
		&cli.StringFlag{Name: "tls-key", Usage: "with --listen: the certificate's private key (`PEM` file)"},
		&cli.StringFlag{Name: "api-token-file", Usage: "with --listen: require this bearer token (first line of `FILE`) on every request"},
	}
}

// apiServer is a running sensor API.
type apiServer struct {
	hub  *sensor.Hub
	srv  *http.Server
	ln   net.Listener
	done chan error
	log  *slog.Logger
}

// apiConfig is what the API flags say, checked before capture starts.
type apiConfig struct {
	addr       string
	token      string
	tls        *tls.Config
	recordings string // the console replays finished sessions from here
}

// checkAPIFlags refuses a bad --listen before anything is opened: a
// non-loopback address without TLS and a token, unreadable files.
func checkAPIFlags(c *cli.Context) (*apiConfig, error) {
	if !c.IsSet("listen") {
		for _, f := range []string{"tls-cert", "tls-key", "api-token-file"} {
			if c.IsSet(f) {
				return nil, cli.Exit(fmt.Sprintf("--%s goes with --listen", f), 2)
			}
		}
		return nil, nil
	}
	cfg, err := listenConfig(c, c.String("listen"))
	if cfg != nil {
		cfg.recordings = c.String("recordings")
	}
	return cfg, err
}

// listenConfig checks an address to serve on with the TLS and token flags
// (live --listen, serve --listen).
func listenConfig(c *cli.Context, listen string) (*apiConfig, error) {
	cert, key := c.String("tls-cert"), c.String("tls-key")
	if (cert == "") != (key == "") {
		return nil, cli.Exit("--tls-cert and --tls-key go together", 2)
	}
	addr, err := sensor.CheckListen(listen, cert != "", c.String("api-token-file") != "")
	if err != nil {
		return nil, cli.Exit("psmtap: "+err.Error(), 2)
	}
	cfg := &apiConfig{addr: addr}
	if f := c.String("api-token-file"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("--api-token-file: %v", err), 2)
		}
		if cfg.token, err = sensor.ReadToken(b); err != nil {
			return nil, cli.Exit(fmt.Sprintf("--api-token-file %s: %v", f, err), 2)
		}
	}
	if cert != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("--tls-cert/--tls-key: %v", err), 2)
		}
		cfg.tls = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	return cfg, nil
}

// startAPI listens and serves; the bound address is logged ("api listening
// addr=..."), so --listen 127.0.0.1:0 can be used.
func startAPI(cfg *apiConfig, hub *sensor.Hub, log *slog.Logger, terminate func(string) bool) (*apiServer, error) {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("--listen: %v", err), 1)
	}
	if cfg.tls != nil {
		ln = tls.NewListener(ln, cfg.tls)
	}
	s := &apiServer{hub: hub, ln: ln, done: make(chan error, 1), log: log}
	api := &sensor.Server{Hub: hub, Token: cfg.token, Logger: log, Terminate: terminate, Static: console.Static(),
		Mount: func(mux *http.ServeMux) {
			console.MountSensor(mux, hub, cfg.recordings, version, terminate != nil, log)
		}}
	s.srv = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go func() { s.done <- s.srv.Serve(ln) }()
	log.Info("api listening", "addr", ln.Addr().String(), "tls", cfg.tls != nil, "token", cfg.token != "")
	return s, nil
}

// stop ends every stream (the hub first, so streams end with their trailer)
// and the server.
func (s *apiServer) stop() {
	s.hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	if err := <-s.done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn("api server", "error", err)
	}
}

// wireHub puts the hub on the engine's side: sessions announced as they
// attach, terminal bytes as they are decoded, ends in order with them, and
// activity events always (the live view reads them; Tee passes them on to
// the outputs only with --events or --rules).
func wireHub(cfg *engine.Config, hub *sensor.Hub, out *queue.Queue) {
	cfg.Live = hub.Attach
	emit := cfg.Emit
	cfg.Emit = func(r *record.Record) {
		hub.Ended(r) // reads the id only: r is the queue's from here
		emit(r)
	}
	if cfg.EmitEvent == nil {
		cfg.EmitEvent = func(ev *record.Event) { out.Write(ev) }
	}
}

// captureMetrics are the engine's and the capture's counters for /metrics,
// taken on the capture goroutine (the engine is not safe to read elsewhere).
func captureMetrics(st engine.Stats, ps live.Stats) []sensor.Metric {
	m := []sensor.Metric{
		{Name: "psmtap_capture_received_total", Help: "Packets the capture handle received.", Type: "counter", Value: float64(ps.Received)},
		{Name: "psmtap_capture_kernel_dropped_total", Help: "Packets the kernel dropped because the capture buffer was full.", Type: "counter", Value: float64(ps.Dropped)},
		{Name: "psmtap_capture_interface_dropped_total", Help: "Packets the interface dropped.", Type: "counter", Value: float64(ps.IfDropped)},
		{Name: "psmtap_packets_total", Help: "Packets processed.", Type: "counter", Value: float64(st.Packets)},
		{Name: "psmtap_bytes_total", Help: "Captured frame bytes processed.", Type: "counter", Value: float64(st.Bytes)},
		{Name: "psmtap_malformed_total", Help: "Packets that could not be decoded.", Type: "counter", Value: float64(st.Malformed)},
		{Name: "psmtap_flows_total", Help: "TCP flows created.", Type: "counter", Value: float64(st.Flows)},
		{Name: "psmtap_flows_open", Help: "Flows in the flow table now.", Type: "gauge", Value: float64(st.OpenFlows)},
		{Name: "psmtap_sessions_total", Help: "Flows a protocol dissector claimed.", Type: "counter", Value: float64(st.Sessions)},
		{Name: "psmtap_records_total", Help: "Session records emitted.", Type: "counter", Value: float64(st.Records)},
		{Name: "psmtap_interim_records_total", Help: "Interim snapshot records emitted.", Type: "counter", Value: float64(st.Interims)},
		{Name: "psmtap_events_total", Help: "Activity events published.", Type: "counter", Value: float64(st.Events)},
		{Name: "psmtap_parser_panics_total", Help: "Parser panics recovered.", Type: "counter", Value: float64(st.Panics)},
	}
	protos := make([]string, 0, len(st.ByProtocol))
	for p := range st.ByProtocol {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	for _, p := range protos {
		m = append(m, sensor.Metric{Name: "psmtap_records_by_protocol_total", Help: "Session records emitted, by protocol.", Type: "counter",
			Labels: "protocol=" + sensor.LabelValue(p), Value: float64(st.ByProtocol[p])})
	}
	return m
}

// outputMetrics are the queue's and the rules' counters (safe to read at
// any time).
func outputMetrics(out *queue.Queue, set *rules.Set) func() []sensor.Metric {
	return func() []sensor.Metric {
		q := out.Stats()
		m := []sensor.Metric{
			{Name: "psmtap_queue_depth", Help: "Documents waiting for the output.", Type: "gauge", Value: float64(q.Depth)},
			{Name: "psmtap_queue_high_water", Help: "The most documents the output queue has held.", Type: "gauge", Value: float64(q.HighWater)},
			{Name: "psmtap_queue_written_total", Help: "Documents the output took.", Type: "counter", Value: float64(q.Written)},
			{Name: "psmtap_queue_failed_total", Help: "Documents the output refused with an error.", Type: "counter", Value: float64(q.Failed)},
			{Name: "psmtap_queue_spilled_total", Help: "Documents that found the queue full and went to the spool.", Type: "counter", Value: float64(q.Spilled)},
			{Name: "psmtap_queue_dropped_total", Help: "Documents lost because the queue (and spool) was full.", Type: "counter", Value: float64(q.Dropped)},
		}
		if set != nil {
			r := set.Counters()
			m = append(m,
				sensor.Metric{Name: "psmtap_rules_evaluated_total", Help: "Documents the rules looked at.", Type: "counter", Value: float64(r.Evaluated)},
				sensor.Metric{Name: "psmtap_alerts_total", Help: "Alerts raised by the rules.", Type: "counter", Value: float64(r.Alerts)},
				sensor.Metric{Name: "psmtap_alerts_suppressed_total", Help: "Alerts suppressed (repeats within a rule's window).", Type: "counter", Value: float64(r.Suppressed)},
			)
		}
		return m
	}
}
