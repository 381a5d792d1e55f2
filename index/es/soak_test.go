package es

import (
	"testing"
	"time"
)

// Over 100,000 records through every fault the stand-in can inject — per-item
// 429s, whole-request 503s, the server killed in the middle of bulks, slow
// answers, a stop and a restart — nothing is lost and nothing is duplicated.
func TestHundredThousandRecordsThroughFaults(t *testing.T) {
	const n = 100_000
	h := newHarness(t)
	s, sp := h.shipper(func(c *Config, o *Options) {
		c.Timeout = 200 * time.Millisecond
		c.MaxRetries = 1
		o.FlushBytes = 1 << 20
		o.DrainEvery = 100 * time.Millisecond // as live runs: the spool is retried while records keep coming
	})
	step := n / 10
	for k := 0; k < 10; k++ {
		switch k {
		case 1:
			h.srv.RejectEvery(13)
		case 2:
			h.srv.RejectEvery(0)
			h.srv.FailRequests(5, 503)
		case 3:
			h.srv.KillMidBulk(4)
		case 4:
			h.srv.Delay(300 * time.Millisecond) // past the 200 ms timeout
		case 5:
			h.srv.Delay(0)
			h.srv.Stop()
		case 7:
			if _, err := h.srv.Start(); err != nil {
				t.Fatal(err)
			}
		}
		t0 := time.Now()
		write(t, s, k*step, step)
		t.Logf("phase %d: %v", k, time.Since(t0))
		if k == 4 || k == 6 {
			s.Flush()
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	st := s.Stats()
	t.Logf("after the faulty run: %v", st)
	if st.Spooled == 0 || st.Duplicates == 0 || st.Retried == 0 {
		t.Fatalf("the faults did not happen? %v", st)
	}
	if st.Indexed+st.Waiting+st.Duplicates < n {
		t.Fatalf("records unaccounted for: %v", st)
	}
	// A later run delivers what still waits.
	s, sp = h.shipper(nil)
	s.Close()
	sp.Close()
	h.exactlyOnce(n)
}

// BenchmarkShip: records per second and CPU per record through the stand-in
// (the stand-in's own work is included: it parses and type-checks every
// document).
func BenchmarkShip(b *testing.B) {
	s, sp := newHarness(b).shipper(func(c *Config, o *Options) { o.FlushBytes = 5 << 20; o.FlushInterval = time.Second })
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		s.Write(rec(i))
	}
	s.Close()
	sp.Close()
	el := time.Since(start)
	b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/record")
	if st := s.Stats(); st.Indexed != int64(b.N) {
		b.Fatalf("stats %v", st)
	}
}
