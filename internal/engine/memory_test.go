package engine

import (
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/capture/decode"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/pcaptool"
	"github.com/psmtap/psmtap/internal/record"
)

// feedFlood runs a pcaptool flood through e starting at packet time start.
func feedFlood(t testing.TB, e *Engine, o pcaptool.FloodOptions, start int64) int64 {
	t.Helper()
	o.Start = time.Unix(0, start)
	var buf []byte
	var last int64
	err := pcaptool.Flood(o, func(f *pcaptool.Frame) error {
		var err error
		buf, err = f.Append(buf[:0], layers.LinkTypeEthernet)
		last = f.Time.UnixNano()
		e.Packet(decode.LinkEthernet, buf, last, len(buf))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// feedLogin plays pcaps/telnet-login.pcap (a real login and commands)
// without its closing packets, so the session stays open, logged in.
func feedLogin(t testing.TB, e *Engine) int64 {
	t.Helper()
	src, err := capture.OpenFile("../../pcaps/telnet-login.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var d decode.Decoder
	var p decode.Packet
	var last int64
	for {
		frame, link, ts, wire, err := src.Next()
		if err != nil {
			break
		}
		d.LinkType = link
		if d.Decode(frame, ts, &p) == nil && p.Flags&(decode.FlagFIN|decode.FlagRST) != 0 {
			continue
		}
		e.Packet(link, frame, ts, wire)
		last = ts
	}
	return last
}

func memEngine(budget int64, recordings string) (*Engine, *[]*record.Record) {
	return memEngineEvents(budget, recordings, false)
}

// memEngineEvents: with events, the engine learns of logins as they happen;
// without, it asks the session when it must choose what to shed.
func memEngineEvents(budget int64, recordings string, events bool) (*Engine, *[]*record.Record) {
	var recs []*record.Record
	cfg := Config{Dissectors: dissectors.All(), MaxMemory: budget,
		Options: dissectors.Options{RecordingsDir: recordings},
		Emit:    func(r *record.Record) { r.Complete(); recs = append(recs, r) }}
	if events {
		cfg.EmitEvent = func(*record.Event) {}
	}
	return New(cfg), &recs
}

// The budget sheds the least valuable flows first: undecided flows, then
// sessions still at their login; the logged-in session stays. Memory stays
// within the budget however long the flood.
func TestMemoryShedOrder(t *testing.T) {
	for _, events := range []bool{false, true} {
		t.Run(map[bool]string{false: "without events", true: "with events"}[events], func(t *testing.T) {
			testMemoryShedOrder(t, events)
		})
	}
}

func testMemoryShedOrder(t *testing.T, events bool) {
	const budget = 8 << 20
	e, recs := memEngineEvents(budget, "", events)
	ts := feedLogin(t, e)
	st := e.Stats()
	if st.Sessions != 1 || st.OpenFlows != 1 {
		t.Fatalf("login capture: %+v", st)
	}
	// Undecided flows holding 1-byte segments out of order.
	ts = feedFlood(t, e, pcaptool.FloodOptions{Kind: pcaptool.FloodTinyOutOfOrder, Conns: 400}, ts+1e6)
	st = e.Stats()
	if st.ShedUndecided == 0 || st.ShedAtLogin != 0 || st.ShedLoggedIn != 0 {
		t.Fatalf("after undecided flood: shed %d/%d/%d", st.ShedUndecided, st.ShedAtLogin, st.ShedLoggedIn)
	}
	// Half-open Telnet sessions (at their login).
	ts = feedFlood(t, e, pcaptool.FloodOptions{Kind: pcaptool.FloodTelnetHalfOpen, Conns: 5000}, ts+1e6)
	st = e.Stats()
	if st.ShedAtLogin == 0 || st.ShedLoggedIn != 0 {
		t.Fatalf("after half-open flood: shed %d/%d/%d", st.ShedUndecided, st.ShedAtLogin, st.ShedLoggedIn)
	}
	if st.MemoryPeak > budget+64<<10 {
		t.Fatalf("peak %d over the budget %d", st.MemoryPeak, budget)
	}
	// Every shed session's record says so; the logged-in one was not shed.
	shed := 0
	for _, r := range *recs {
		if slices.Contains(r.Anomalies, "memory.shed") {
			shed++
			if len(r.Commands) > 0 {
				t.Fatalf("a session with commands was shed: %+v", r)
			}
		}
	}
	if uint64(shed) != st.ShedAtLogin {
		t.Fatalf("%d records say memory.shed, %d sessions shed", shed, st.ShedAtLogin)
	}
	e.Flush()
	var login *record.Record
	for _, r := range *recs {
		if len(r.Commands) > 0 {
			login = r
		}
	}
	if login == nil || slices.Contains(login.Anomalies, "memory.shed") || login.UserName == "" {
		t.Fatalf("logged-in session: %+v", login)
	}
}

// With nothing but logged-in sessions left, they are shed too (oldest
// first): memory never grows past the budget.
func TestMemoryShedsLoggedInLast(t *testing.T) {
	e, _ := memEngine(1<<20, "")
	ts := feedLogin(t, e)
	e.cfg.MaxMemory = 1 // nothing fits now
	feedFlood(t, e, pcaptool.FloodOptions{Kind: pcaptool.FloodTelnetHalfOpen, Conns: 1}, ts+1e6)
	st := e.Stats()
	if st.ShedLoggedIn != 1 || st.OpenFlows != 0 {
		t.Fatalf("shed %d/%d/%d, open %d", st.ShedUndecided, st.ShedAtLogin, st.ShedLoggedIn, st.OpenFlows)
	}
}

// Out-of-order segments count by their real cost: 1-byte segments cost far
// more than a byte each.
func TestMemorySegmentCost(t *testing.T) {
	e, _ := memEngine(1<<40, "")
	feedFlood(t, e, pcaptool.FloodOptions{Kind: pcaptool.FloodTinyOutOfOrder, Conns: 10, Segments: 500}, 1e18)
	st := e.Stats()
	if per := (st.MemoryUsed - 10*int64(flowCost)) / 5000; per < 50 {
		t.Fatalf("%d bytes a 1-byte segment", per)
	}
}

// sessionCost must not be far from what a half-open Telnet session (the
// flood of the issue) really takes on the heap.
func TestSessionCost(t *testing.T) {
	const n = 3000
	e, _ := memEngine(1<<40, "")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	feedFlood(t, e, pcaptool.FloodOptions{Kind: pcaptool.FloodTelnetHalfOpen, Conns: n}, 1e18)
	runtime.GC()
	runtime.ReadMemStats(&after)
	real := float64(after.HeapAlloc-before.HeapAlloc) / n
	est := float64(e.Stats().MemoryUsed) / n
	t.Logf("half-open Telnet session: %.0f bytes on the heap, %.0f estimated", real, est)
	if est < 0.8*real || est > 1.6*real {
		t.Fatalf("estimate %.0f, heap %.0f bytes a session", est, real)
	}
	runtime.KeepAlive(e)
}

// Sessions that never got past the login prompt get no recording; the real
// login does.
func TestNoRecordingsForHalfOpenSessions(t *testing.T) {
	dir := t.TempDir()
	e, recs := memEngine(1<<40, dir)
	ts := feedLogin(t, e)
	feedFlood(t, e, pcaptool.FloodOptions{Kind: pcaptool.FloodTelnetHalfOpen, Conns: 10000}, ts+1e6)
	e.Flush()
	files, _ := os.ReadDir(dir)
	if len(*recs) != 10001 || len(files) != 1 {
		t.Fatalf("%d records, %d recording files", len(*recs), len(files))
	}
}

// A datagram evicted from a full defragmenter is said on its session.
func TestFragmentsEvictedAnomaly(t *testing.T) {
	e, recs := newEngine(false, talker{})
	c := newConv(e, 40000, 23, 1e9)
	c.handshake()
	c.send(true, decode.FlagPSH, "HELO\n")
	// The next client segment, in two fragments; only the first arrives
	// before a flood of fragments from elsewhere fills the defragmenter.
	whole := frame(1, 2, 40000, 23, c.seq[0], c.seq[1], decode.FlagACK|decode.FlagPSH, "world and more words\n")
	first := append([]byte(nil), whole[:20+24]...)
	first[6] = 0x20 // MF, offset 0
	first[2], first[3] = 0, 44
	c.ts += 1e6
	e.Packet(decode.LinkRaw, first, c.ts, len(first))
	for i := 0; i < 5000; i++ {
		junk := append([]byte(nil), whole[:20+8]...)
		junk[6] = 0x20
		junk[2], junk[3] = 0, 28
		junk[12], junk[13], junk[14] = 203, 0, byte(i%64) // 64 sources
		junk[4], junk[5] = byte(i>>8), byte(i)
		e.Packet(decode.LinkRaw, junk, c.ts+int64(i), len(junk))
	}
	st := e.Stats()
	if st.FragmentsEvicted < 5000-4096 {
		t.Fatalf("evicted %d", st.FragmentsEvicted)
	}
	e.Flush()
	if len(*recs) != 1 || !slices.Contains((*recs)[0].Anomalies, "ip.fragments_evicted") {
		t.Fatalf("records %+v", *recs)
	}
}
