package engine

import (
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/respond"

	_ "github.com/psmtap/psmtap/dissectors/ftp"
	_ "github.com/psmtap/psmtap/dissectors/mysql"
	_ "github.com/psmtap/psmtap/dissectors/postgresql"
	_ "github.com/psmtap/psmtap/dissectors/rdp"
	_ "github.com/psmtap/psmtap/dissectors/rlogin"
	_ "github.com/psmtap/psmtap/dissectors/rsh"
	_ "github.com/psmtap/psmtap/dissectors/ssh"
	_ "github.com/psmtap/psmtap/dissectors/telnet"
)

// BenchmarkRead is `psmtap read` minus the output formatting: the whole packet
// path over the benchmark capture (make bench generates it and sets
// PSMTAP_BENCH_PCAP). It reports packets/s, Gbit/s, allocations per packet and
// the process's peak resident memory.
func BenchmarkRead(b *testing.B) { benchRead(b, false) }

// BenchmarkReadWithEvents is BenchmarkRead with activity events on (--events):
// each event gets its session context and is handed to EmitEvent, as the
// output queue would take it. Issue 9 asks for within 10% of BenchmarkRead.
func BenchmarkReadWithEvents(b *testing.B) { benchRead(b, true) }

// BenchmarkReadWithoutSSH is BenchmarkRead with the SSH dissector off: the
// difference is what SSH parsing costs (issue 3 asks for under 10%).
func BenchmarkReadWithoutSSH(b *testing.B) { benchRead(b, false, "ssh") }

// BenchmarkReadTracking is BenchmarkRead with responses on (live
// --inject-interface): every session keeps its last TCP state per
// direction (issue 14: the packet path must not slow measurably).
func BenchmarkReadTracking(b *testing.B) {
	benchTrack = true
	defer func() { benchTrack = false }()
	benchRead(b, false)
}

var benchTrack bool

func benchRead(b *testing.B, events bool, disabled ...string) {
	path := os.Getenv("PSMTAP_BENCH_PCAP")
	if path == "" {
		path = "../../pcaps/ssh-password-interactive.pcap" // small stand-in for a quick run
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("benchmark capture %s absent (make bench-pcap makes it): %v", path, err)
	}
	b.ReportAllocs()
	var pkts, bytes, records, evs uint64
	var mallocs uint64
	var elapsed time.Duration
	for b.Loop() {
		src, err := capture.OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		var n uint64
		cfg := Config{Dissectors: dissectors.All(disabled...), Emit: func(*record.Record) { n++ }}
		if events {
			cfg.EmitEvent = func(*record.Event) { evs++ }
		}
		if benchTrack {
			cfg.Responder = respond.NewResponder(func([]byte) error { return nil }, 1)
		}
		e := New(cfg)
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		start := time.Now()
		for {
			frame, link, ts, wire, err := src.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			e.Packet(link, frame, ts, wire)
		}
		e.Flush()
		elapsed += time.Since(start)
		runtime.ReadMemStats(&ms1)
		src.Close()
		st := e.Stats()
		pkts += st.Packets
		bytes += st.WireBytes
		records += n
		mallocs += ms1.Mallocs - ms0.Mallocs
	}
	secs := elapsed.Seconds()
	b.ReportMetric(float64(pkts)/secs, "pkts/s")
	b.ReportMetric(float64(bytes)*8/secs/1e9, "Gbit/s")
	b.ReportMetric(float64(mallocs)/float64(pkts), "allocs/pkt")
	b.ReportMetric(float64(records)/float64(b.N), "records")
	if events {
		b.ReportMetric(float64(evs)/float64(b.N), "events")
	}
	b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
}

// peakRSSMB reads VmHWM (the resident high-water mark) from /proc.
func peakRSSMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
