package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/respond"
	"github.com/psmtap/psmtap/internal/rules"

	_ "github.com/psmtap/psmtap/dissectors/ftp"
	_ "github.com/psmtap/psmtap/dissectors/mysql"
	_ "github.com/psmtap/psmtap/dissectors/postgresql"
	_ "github.com/psmtap/psmtap/dissectors/rdp"
	_ "github.com/psmtap/psmtap/dissectors/rlogin"
	_ "github.com/psmtap/psmtap/dissectors/rsh"
	_ "github.com/psmtap/psmtap/dissectors/ssh"
	_ "github.com/psmtap/psmtap/dissectors/telnet"
	_ "github.com/psmtap/psmtap/dissectors/vnc"
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

// BenchmarkReadWithRules is BenchmarkReadWithEvents with about 100 Sigma
// rules run on every event and every session record, as --rules does on
// the output goroutine: the shipped rules and three copies of each of their
// detection rules under other ids (see benchRuleCopies). Issue 12 asks that 100
// rules cost under 10% of the throughput; compare with
// BenchmarkReadWithEvents on one core (GOMAXPROCS=1, taskset), where the
// rules cannot hide on a second core.
func BenchmarkReadWithRules(b *testing.B) { benchReadRules(b, 3) }

// BenchmarkReadWithShippedRules is the same with the shipped rules alone
// (27): what is paid per document whatever the number of rules.
func BenchmarkReadWithShippedRules(b *testing.B) { benchReadRules(b, 0) }

func benchReadRules(b *testing.B, copies int) {
	paths := []string{rules.Builtin}
	if copies > 0 {
		paths = append(paths, benchRuleCopies(b, copies))
	}
	// A fresh set each pass: no suppression or correlation state carried over.
	benchReadWith(b, true, func() *rules.Set {
		set, err := rules.Load(paths)
		if err != nil {
			b.Fatal(err)
		}
		return set
	})
}

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
	benchReadWith(b, events, nil, disabled...)
}

// benchRuleCopies writes k copies of each shipped detection rule under
// other ids into a rule file, to be loaded with the shipped ones as --rules
// loads them (27 + 3 x 23 = 96 rules for k = 3).
func benchRuleCopies(b *testing.B, k int) string {
	b.Helper()
	files, err := filepath.Glob("../rules/builtin/*.yml")
	if err != nil || len(files) == 0 {
		b.Fatalf("shipped rules: %v %v", files, err)
	}
	id := regexp.MustCompile(`(?m)^id: *(.*)$`)
	name := regexp.MustCompile(`(?m)^name: .*\n`)
	var copies []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\n`).Split(string(src), -1) {
			// Correlations, and the named rules they count (quiet: they
			// alert only through the correlation; a copy without the name
			// would alert on every login), are not copied.
			if strings.Contains(doc, "\ncorrelation:") || name.MatchString(doc) {
				continue
			}
			for n := 1; n <= k; n++ {
				copies = append(copies, id.ReplaceAllString(doc, fmt.Sprintf("id: ${1}-%d", n)))
			}
		}
	}
	path := filepath.Join(b.TempDir(), "copies.yml")
	if err := os.WriteFile(path, []byte(strings.Join(copies, "---\n")), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

func benchReadWith(b *testing.B, events bool, newSet func() *rules.Set, disabled ...string) {
	path := os.Getenv("PSMTAP_BENCH_PCAP")
	if path == "" {
		path = "../../pcaps/ssh-password-interactive.pcap" // small stand-in for a quick run
	}
	if _, err := os.Stat(path); err != nil {
		b.Skipf("benchmark capture %s absent (make bench-pcap makes it): %v", path, err)
	}
	b.ReportAllocs()
	var pkts, bytes, records, evs, alerts uint64
	var set *rules.Set
	var mallocs uint64
	var elapsed, cpu time.Duration
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
		if newSet != nil {
			set = newSet()
			eval := func(d record.Document) {
				a, err := set.Evaluate(d)
				if err != nil {
					b.Fatal(err)
				}
				alerts += uint64(len(a))
			}
			cfg.Emit = func(r *record.Record) { n++; eval(r) }
			cfg.EmitEvent = func(ev *record.Event) { evs++; eval(ev) }
		}
		if benchTrack {
			cfg.Responder = respond.NewResponder(func([]byte) error { return nil }, 1)
		}
		e := New(cfg)
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		cpu0 := cpuTime()
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
		cpu += cpuTime() - cpu0
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
	// CPU time (user+system, the whole process) a pass: on a shared machine
	// it varies less than the wall time when other work takes the core.
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/pass")
	if events {
		b.ReportMetric(float64(evs)/float64(b.N), "events")
	}
	if set != nil {
		b.ReportMetric(float64(len(set.Rules())), "rules")
		b.ReportMetric(float64(alerts)/float64(b.N), "alerts")
	}
	b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
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

// BenchmarkRulesAlone runs the rules of BenchmarkReadWithRules on the
// documents of one pass over the capture, kept in memory: the rules' share
// of BenchmarkReadWithRules without the packet path around it, split into
// session records and activity events. Each iteration is one pass's
// documents with a fresh rule set (its loading not timed). On a shared
// machine the fastest of several runs says more than the median.
func BenchmarkRulesAlone(b *testing.B) {
	path := os.Getenv("PSMTAP_BENCH_PCAP")
	if path == "" {
		path = "../../pcaps/telnet-suspicious.pcap"
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		b.Skipf("benchmark capture %s: %v", path, err)
	}
	var recs, evs []record.Document
	e := New(Config{Dissectors: dissectors.All(),
		Emit:      func(r *record.Record) { recs = append(recs, r) },
		EmitEvent: func(ev *record.Event) { evs = append(evs, ev) }})
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
	src.Close()
	for _, r := range recs {
		r.(*record.Record).Complete() // its deferred work is the output's, not the rules'
	}
	paths := []string{rules.Builtin, benchRuleCopies(b, 3)}
	for _, c := range []struct {
		name string
		docs []record.Document
	}{{"all", append(append([]record.Document(nil), evs...), recs...)}, {"events", evs}, {"records", recs}} {
		b.Run(c.name, func(b *testing.B) {
			var alerts int
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				set, err := rules.Load(paths)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				for _, d := range c.docs {
					a, err := set.Evaluate(d)
					if err != nil {
						b.Fatal(err)
					}
					alerts += len(a)
				}
			}
			b.ReportMetric(float64(len(c.docs)), "docs")
			b.ReportMetric(float64(alerts)/float64(b.N), "alerts")
		})
	}
}
