package sensor

import (
	"io"
	"math"
	"strconv"
	"strings"
)

// Metric is one sample for /metrics.
type Metric struct {
	Name   string // psmtap_packets_total
	Help   string
	Type   string // counter or gauge
	Labels string // `protocol="ssh"`, or empty
	Value  float64
}

// Publish sets the metrics of a source that cannot be read from another
// goroutine (the engine's counters): the capture loop calls it now and then
// with a fresh copy, replacing the previous one.
func (h *Hub) Publish(ms []Metric) {
	h.metricsMu.Lock()
	h.published = ms
	h.metricsMu.Unlock()
}

// Gather adds a source read at each scrape; f must be safe to call from
// any goroutine (the output queue's and the rules' counters).
func (h *Hub) Gather(f func() []Metric) {
	h.metricsMu.Lock()
	h.gatherers = append(h.gatherers, f)
	h.metricsMu.Unlock()
}

// Metrics returns every sample: published, gathered, and the hub's own.
func (h *Hub) Metrics() []Metric {
	h.metricsMu.Lock()
	out := append([]Metric(nil), h.published...)
	gs := append([]func() []Metric(nil), h.gatherers...)
	h.metricsMu.Unlock()
	for _, g := range gs {
		out = append(out, g()...)
	}
	h.mu.Lock()
	open, streams, hist, finished := h.nOpen, h.streams, h.histBytes, len(h.finished)
	viewers := 0
	for _, s := range h.sessions {
		viewers += len(s.viewers)
	}
	subs := len(h.subs)
	h.mu.Unlock()
	return append(out,
		Metric{Name: "psmtap_live_sessions_open", Help: "Sessions open now, as the live view knows them.", Type: "gauge", Value: float64(open)},
		Metric{Name: "psmtap_live_sessions_finished_kept", Help: "Finished sessions kept for ?state=all.", Type: "gauge", Value: float64(finished)},
		Metric{Name: "psmtap_live_sessions_total", Help: "Sessions the live view registered.", Type: "counter", Value: float64(h.opened.Load())},
		Metric{Name: "psmtap_live_sessions_evicted_total", Help: "Open sessions forgotten by the live view because too many were open.", Type: "counter", Value: float64(h.evicted.Load())},
		Metric{Name: "psmtap_live_events_total", Help: "Activity events seen by the live view.", Type: "counter", Value: float64(h.events.Load())},
		Metric{Name: "psmtap_live_alerts_total", Help: "Alerts seen by the live view.", Type: "counter", Value: float64(h.alerts.Load())},
		Metric{Name: "psmtap_live_viewers", Help: "Live terminal streams open.", Type: "gauge", Value: float64(viewers)},
		Metric{Name: "psmtap_live_event_streams", Help: "Event streams (SSE) open.", Type: "gauge", Value: float64(subs)},
		Metric{Name: "psmtap_live_streams", Help: "Streams of both kinds open.", Type: "gauge", Value: float64(streams)},
		Metric{Name: "psmtap_live_viewers_dropped_total", Help: "Streams cut because their reader did not keep up.", Type: "counter", Value: float64(h.viewersDropped.Load())},
		Metric{Name: "psmtap_live_feed_dropped_total", Help: "Terminal chunks and session notices the packet path dropped because the live view was behind.", Type: "counter", Value: float64(h.feedDropped.Load())},
		Metric{Name: "psmtap_live_history_bytes", Help: "Bytes of terminal history kept for late viewers.", Type: "gauge", Value: float64(hist)},
	)
}

// WriteMetrics writes ms in the Prometheus text exposition format (0.0.4):
// HELP and TYPE once per name, samples of a name together.
func WriteMetrics(w io.Writer, ms []Metric) error {
	var b strings.Builder
	seen := map[string]bool{}
	for i, m := range ms {
		if seen[m.Name] {
			continue
		}
		seen[m.Name] = true
		b.WriteString("# HELP " + m.Name + " " + m.Help + "\n")
		b.WriteString("# TYPE " + m.Name + " " + m.Type + "\n")
		for _, s := range ms[i:] {
			if s.Name != m.Name {
				continue
			}
			b.WriteString(s.Name)
			if s.Labels != "" {
				b.WriteString("{" + s.Labels + "}")
			}
			b.WriteByte(' ')
			b.WriteString(formatValue(s.Value))
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// LabelValue quotes a label value as the text format wants it.
func LabelValue(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
