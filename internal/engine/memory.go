package engine

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/psmtap/psmtap/capture/flow"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/asciicast"
	"github.com/psmtap/psmtap/internal/record"
)

// Memory budget.
//
// The engine keeps an estimate of what its state really costs and sheds
// load when the estimate passes Config.MaxMemory:
//
//   - each open flow: its table entry and index slots (flowCost);
//   - each session: its parser and record, a per-session constant measured
//     on the heaviest parsers (sessionCost; TestSessionCost keeps it honest);
//   - out-of-order segments: their copies rounded as the allocator rounds
//     them, and the segment list (reassembly.Stream.Footprint);
//   - detection buffers (the first bytes of undecided flows);
//   - recordings in progress (internal/asciicast counts their buffers; with
//     several engines each takes its share).
//
// Over budget, flows are ended least valuable first, down to 90% of the
// budget (flow.ShedOrder): closing flows, then new (half-open, undecided)
// flows and flows of no interest, then UDP sessions, then sessions still at
// their login, and only then sessions past their login (a login succeeded
// or commands were typed); within a class the least recently active goes
// first. A shed session's record is written at once with the anomaly
// memory.shed; Stats counts what was shed by class.
//
// The IP defragmenter has limits of its own (decode.Defragmenter) and is
// not part of this budget.

// flowCost is a flow's table entry plus its index slots (16 bytes each, the
// index at most half full).
const flowCost = int32(unsafe.Sizeof(flow.Flow[conn]{})) + 48

// sessionCost is what a session's parser and record take at least: a
// Telnet session with its terminal model, line editor and login tracker is
// the heaviest (measured by TestSessionCost).
const sessionCost = 3 << 10

// DefaultMaxMemory is a quarter of the machine's memory, at most 4 GiB (1 GiB
// when /proc/meminfo cannot be read).
func DefaultMaxMemory() int64 {
	total := memTotal()
	if total <= 0 {
		return 1 << 30
	}
	return min(total/4, 4<<30)
}

// memTotal reads MemTotal from /proc/meminfo (bytes), 0 if unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// memUsed is the estimate of the engine's state, in bytes.
func (e *Engine) memUsed() int64 {
	return e.static + int64(e.buffered) + int64(e.probeHeld) + asciicast.Held()/e.share
}

// checkMemory runs after each packet: one estimate and a comparison.
func (e *Engine) checkMemory() {
	m := e.memUsed()
	if m > e.stats.MemoryPeak {
		e.stats.MemoryPeak = m
	}
	if m > e.cfg.MaxMemory {
		e.shed(m)
	}
}

// pastLogin asks a session whether it got past its login (a login succeeded
// or commands were typed), through its snapshot: only when shedding, so the
// packet path pays nothing for it.
func (e *Engine) pastLogin(c *conn) (yes bool) {
	sn, ok := c.sess.(dissectors.Snapshotter)
	if !ok {
		return false
	}
	var r record.Record
	defer func() {
		if recover() != nil {
			yes = false
		}
	}()
	sn.Snapshot(&r)
	return len(r.Commands) > 0 || r.Login != nil && r.Login.Success != nil && *r.Login.Success
}

// shed ends flows, least valuable first, until the estimate is back under
// 90% of the budget.
func (e *Engine) shed(m int64) {
	if e.now-e.shedLogged >= 10e9 || e.shedLogged == 0 {
		// Said at once, then at most every 10 s of packet time.
		e.shedLogged = e.now
		e.cfg.Logger.Warn("memory budget reached: shedding the least valuable flows",
			"budget", e.cfg.MaxMemory, "estimate", m, "open_flows", e.table.Len(),
			"shed_undecided", e.stats.ShedUndecided, "shed_at_login", e.stats.ShedAtLogin, "shed_logged_in", e.stats.ShedLoggedIn)
	}
	target := e.cfg.MaxMemory - e.cfg.MaxMemory/10
	for _, cl := range flow.ShedOrder {
		for m > target {
			f := e.table.Oldest(cl, nil)
			if f == nil {
				break
			}
			c := &f.Data
			if cl == flow.ClassSession && !c.loggedIn && e.pastLogin(c) {
				// Not known before (no events asked for): it moves up to
				// the logged-in class instead of being shed now.
				c.loggedIn = true
				e.table.Touch(f, f.Last, flow.ClassLoggedIn)
				continue
			}
			switch {
			case c.rec == nil:
				e.stats.ShedUndecided++
			case c.loggedIn:
				e.stats.ShedLoggedIn++
			default:
				e.stats.ShedAtLogin++
			}
			e.table.Remove(f)
			e.end(f, flow.EndShed)
			m = e.memUsed()
		}
	}
}
