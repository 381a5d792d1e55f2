// Package engine is psmtap's packet path: frame -> decode -> flow table ->
// TCP reassembly -> content detection -> protocol session -> session record.
//
// Cost is spent only where it pays: a flow no dissector wants is dropped to
// counting after its first bytes, and a session whose parser is Done (an
// encrypted stream whose clear facts are known) is only counted from then on.
package engine

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
	"unsafe"

	"github.com/psmtap/psmtap/capture/decode"
	"github.com/psmtap/psmtap/capture/flow"
	"github.com/psmtap/psmtap/capture/reassembly"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/communityid"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/respond"
)

// Config sets up an Engine.
type Config struct {
	Dissectors []dissectors.Dissector
	// All emits a record for every TCP flow, detected or not.
	All        bool
	Flow       flow.Config
	Reassembly reassembly.Limits
	// MaxBufferedTotal bounds out-of-order segments held across all flows,
	// by their real cost (copies and per-segment overhead, not payload only).
	MaxBufferedTotal int
	// MaxMemory is the memory budget (bytes) of the engine's state, by
	// estimated real cost: flows, session parsers, out-of-order segments,
	// detection buffers and recordings in progress. Over it, flows are shed
	// least valuable first (see shed). 0: DefaultMaxMemory().
	MaxMemory int64
	// MaxProbeTotal bounds the detection buffers (first bytes of undecided
	// flows) across all flows.
	MaxProbeTotal int
	// ProbeBytes bounds what each endpoint's prefix may hold for detection.
	ProbeBytes int
	Observer   string
	Interface  string
	// Options are passed to every session (credential masking, recordings).
	Options dissectors.Options
	// Interim, when positive, emits a snapshot record (event.type "start",
	// then "info") of every session still open this long after it started,
	// and again each Interim after that (packet time, ns). For live sensors:
	// a shell open for hours is visible while it lasts.
	Interim int64
	// Emit receives each finished record. It may keep r: the engine never
	// touches a record after Emit (interim records are copies), so the
	// output queue writes it later on another goroutine.
	Emit func(r *record.Record)
	// EmitEvent, when set, receives each activity event as a session
	// publishes it (--events); nil turns them off and they cost nothing.
	// It may keep ev, as Emit may keep a record.
	EmitEvent func(ev *record.Event)
	// Live, when set, is told of each session as it is attached (ctx:
	// addresses, and ctx.Record with protocol and psm.session_id; it must
	// not keep ctx.Record; start: the flow's first packet time, ns) and
	// returns the session's live terminal feed (dissectors.Context.Live),
	// or nil. Runs on the packet path: it must not block.
	Live func(ctx *dissectors.Context, start int64) func(dir dissectors.Direction, ts int64, data []byte)
	// Responder, when set (live --enable-response), makes each session keep
	// the last sequence numbers, window and link header of both directions,
	// so Respond can end it (internal/respond). Nil: nothing is kept.
	Responder *respond.Responder
	Logger    *slog.Logger
}

// Stats are the engine's counters.
type Stats struct {
	Packets             uint64
	Bytes               uint64 // captured frame bytes
	WireBytes           uint64 // original frame lengths
	TCP, UDP            uint64
	NotIP               uint64
	Malformed           uint64
	Fragments           uint64 // fragments held or dropped by the defragmenter
	Flows               uint64 // TCP flows created
	Sessions            uint64 // flows a dissector claimed
	Records             uint64 // records emitted
	Interims            uint64 // interim snapshot records of open sessions
	Events              uint64 // activity events published
	ProbeBudgetExceeded uint64 // flows given up because detection buffers were full
	Panics              uint64 // parser panics recovered
	Related             uint64 // connections tied to the session that announced them (FTP data, rsh stderr)
	ExpectedDropped     uint64 // announced related connections refused: too many pending
	// IP defragmentation.
	FragmentsReassembled uint64 // datagrams rebuilt from fragments
	FragmentsExpired     uint64 // incomplete datagrams dropped after 30 s
	FragmentsDropped     uint64 // fragments refused: overlapping, empty, inconsistent, too many
	FragmentsEvicted     uint64 // incomplete datagrams evicted to make room (flood)
	// Memory (estimated real cost, bytes): the budget, the estimate now and
	// its peak, and the flows shed to stay within it, by value.
	MemoryBudget      int64
	MemoryUsed        int64
	MemoryPeak        int64
	ShedUndecided     uint64 // undecided, half-open or closing flows, and flows of no interest
	ShedAtLogin       uint64 // sessions not yet past their login
	ShedLoggedIn      uint64 // sessions past their login (login success or commands)
	BuffersFlushed    uint64 // flows whose out-of-order segments were given up (gaps) for memory
	OverlapMismatches uint64 // TCP overlaps whose bytes differed from the copy kept (ended flows)
	OpenFlows         int
	FirstPacket       int64
	LastPacket        int64
	ByProtocol        map[string]uint64
}

// Engine processes packets. Not safe for concurrent use: run one per core on
// disjoint flows (hash-partitioned) to scale.
type Engine struct {
	cfg        Config
	table      *flow.Table[conn]
	defrag     *decode.Defragmenter
	dec        decode.Decoder
	pkt        decode.Packet
	stats      Stats
	now        int64
	swept      int64
	cur        *flow.Flow[conn] // flow whose segment is being reassembled
	buffered   int              // footprint of the out-of-order segments of all flows
	static     int64            // fixed cost of the open flows and their sessions
	share      int64            // engines sharing the process's recordings (Parallel)
	shedLogged int64            // packet time of the last "shedding" log line
	// fragLost: flows that lost an evicted IP datagram before they existed
	// (bounded; checked when a flow is created).
	fragLost      map[flow.Key]struct{}
	probeHeld     int // detection bytes held by all flows
	endFn         func(*flow.Flow[conn], flow.Reason)
	allCandidates uint32
	// probeIn is reused for every probe call: passing a pointer to a local
	// through an interface method would make it escape (one allocation a call).
	probeIn dissectors.ProbeInput
	// freeProbes recycles probe buffers between flows.
	freeProbes []*probeState
	// udpCandidates are the dissectors that take UDP flows (bit per index).
	udpCandidates uint32
	// tunnels are the proxy handshake dissectors (bit per index).
	tunnels uint32
	// unwrapped: a proxy handshake was taken off during this probe call
	// (the segment being probed was copied into the probe buffers).
	unwrapped bool
	probeTS   int64 // packet time of the segment being probed
	// expected holds related connections announced by sessions, by destination.
	expected  map[netip.AddrPort][]dissectors.Expectation
	nExpected int
	// frame and link: the frame being processed, kept only with a Responder
	// (its link header is what responses are sent with).
	frame []byte
	link  int
}

type mode uint8

const (
	modeProbe   mode = iota // collecting first bytes, asking dissectors
	modeSession             // a dissector parses the stream
	modeDone                // parser finished or detached: count only
	modeOther               // no dissector wants it: count only
)

// conn is the engine's per-flow state, stored inside the flow table entry.
type conn struct {
	mode   mode
	client int8 // endpoint index of the client, -1 unknown
	// resp: the last TCP state of both directions, for responses (only
	// sessions, only with Config.Responder).
	resp *respond.Conn
	// tunnel: the session runs inside a proxy (SOCKS, HTTP CONNECT) whose
	// handshake was taken off the stream; nil for every other flow.
	tunnel    *tunnel
	first     int8 // endpoint that sent the first packet
	synSeen   bool
	rst       bool
	fin       [2]bool
	truncated bool
	// memoryPressure: the global reassembly budget forced this flow's holes
	// to be declared early.
	memoryPressure bool
	// related: a connection announced by another session (FTP data, rsh
	// stderr); its bytes go to that session's helper and it has no record.
	related bool
	// loggedIn: the session got past its login (a login success or a
	// command was published): kept longest when memory runs short.
	loggedIn bool
	// fragEvicted: an IP datagram of this flow was evicted by the defragmenter.
	fragEvicted bool
	// static is the fixed cost accounted for this flow (flow + session).
	static int32
	// interimAt is the packet time of the last interim record, 0 before.
	interimAt  int64
	udp        bool
	pkts       [2]uint64
	bytes      [2]uint64
	streams    [2]reassembly.Stream
	candidates uint32
	probe      *probeState
	diss       dissectors.Dissector
	sess       dissectors.Session
	rec        *record.Record
	// iface is observer.ingress.interface.name when the flow began: with
	// several capture files, the file the session came from, not the one
	// being read when it ended.
	iface string
}

// tunnel is what a proxy handshake said.
type tunnel struct {
	proxy record.Proxy
	port  uint16 // the target port: the hint for the inner protocol
}

// tunnelCost is what a tunnel adds to a flow's fixed cost.
const tunnelCost = int32(unsafe.Sizeof(tunnel{})) + 64

type chunk struct {
	ep       int8
	off, len int32
	ts       int64
}

type probeState struct {
	buf    [2][]byte
	view   [2][]byte // a side's first bytes, still in the packet (see probeData)
	full   [2]bool
	chunks []chunk
}

// data returns what endpoint i sent so far, for the probes.
func (ps *probeState) data(i int) []byte {
	if ps.view[i] != nil {
		return ps.view[i]
	}
	return ps.buf[i]
}

// New returns an engine.
func New(cfg Config) *Engine {
	if cfg.ProbeBytes <= 0 {
		cfg.ProbeBytes = 4096
	}
	if cfg.MaxProbeTotal <= 0 {
		cfg.MaxProbeTotal = 256 << 20
	}
	if cfg.MaxBufferedTotal <= 0 {
		cfg.MaxBufferedTotal = 512 << 20
	}
	if cfg.MaxMemory <= 0 {
		cfg.MaxMemory = DefaultMaxMemory()
	}
	if cfg.Reassembly.MaxBufferedBytes == 0 {
		cfg.Reassembly = reassembly.DefaultLimits
	}
	if cfg.Flow.MaxFlows == 0 {
		cfg.Flow = flow.DefaultConfig()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Dissectors) > 32 {
		panic("engine: more than 32 dissectors")
	}
	e := &Engine{
		cfg:    cfg,
		table:  flow.NewTable[conn](cfg.Flow),
		defrag: decode.NewDefragmenter(),
	}
	e.dec.Defrag = e.defrag
	e.share = 1
	e.stats.ByProtocol = map[string]uint64{}
	e.stats.MemoryBudget = cfg.MaxMemory
	e.allCandidates = uint32(1)<<len(cfg.Dissectors) - 1
	for i, d := range cfg.Dissectors {
		if dd, ok := d.(dissectors.DatagramDissector); ok && dd.UDP() {
			e.udpCandidates |= 1 << i
		}
		if _, ok := d.(dissectors.Tunnel); ok {
			e.tunnels |= 1 << i
		}
	}
	e.expected = map[netip.AddrPort][]dissectors.Expectation{}
	e.endFn = e.end
	return e
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.OpenFlows = e.table.Len()
	ds := e.defrag.Stats
	s.FragmentsReassembled, s.FragmentsExpired, s.FragmentsDropped, s.FragmentsEvicted = ds.Reassembled, ds.Expired, ds.Dropped, ds.Evicted
	s.MemoryUsed = e.memUsed()
	s.ByProtocol = make(map[string]uint64, len(e.stats.ByProtocol))
	for k, v := range e.stats.ByProtocol {
		s.ByProtocol[k] = v
	}
	return s
}

// Packet processes one captured frame. frame is borrowed for the call only.
func (e *Engine) Packet(linkType int, frame []byte, ts int64, wireLen int) {
	e.stats.Packets++
	e.stats.Bytes += uint64(len(frame))
	e.stats.WireBytes += uint64(wireLen)
	if e.stats.FirstPacket == 0 {
		e.stats.FirstPacket = ts
	}
	if ts > e.now {
		e.now = ts
		e.stats.LastPacket = ts
		if e.now-e.swept >= 1e9 {
			e.swept = e.now
			e.table.Expire(e.now, e.endFn)
			e.interims()
		}
	}
	e.dec.LinkType = linkType
	if e.cfg.Responder != nil {
		e.frame, e.link = frame, linkType
	}
	p := &e.pkt
	if err := e.dec.Decode(frame, ts, p); err != nil {
		switch err {
		case decode.ErrNotIP, decode.ErrNotTCPUDP, decode.ErrUnknownLink:
			e.stats.NotIP++
		case decode.ErrFragment:
			e.stats.Fragments++
			if len(e.defrag.Lost) > 0 {
				e.fragmentsLost()
			}
		default:
			e.stats.Malformed++
		}
		return
	}
	if len(e.defrag.Lost) > 0 {
		e.fragmentsLost()
	}
	if p.Proto != decode.ProtoTCP {
		e.stats.UDP++
		if e.udpCandidates != 0 {
			e.udpPacket(p, ts)
			e.checkMemory()
		}
		return
	}
	e.stats.TCP++
	e.tcp(p, ts)
	e.checkMemory()
}

// fragmentsLost marks the flows whose IP datagrams the defragmenter evicted
// (those whose first fragment, with the ports, had arrived): the session
// record says ip.fragments_evicted. A flow not open yet is remembered, in a
// bounded set, until it starts.
func (e *Engine) fragmentsLost() {
	for _, l := range e.defrag.Lost {
		p := decode.Packet{IPv6: l.IPv6, Src: l.Src, Dst: l.Dst, SrcPort: l.SrcPort, DstPort: l.DstPort, Proto: l.Proto}
		key, _ := flow.KeyOf(&p)
		if f := e.table.Lookup(&key); f != nil {
			f.Data.fragEvicted = true
			continue
		}
		if e.fragLost == nil || len(e.fragLost) >= 4096 {
			e.fragLost = make(map[flow.Key]struct{})
		}
		e.fragLost[key] = struct{}{}
	}
	e.defrag.Lost = e.defrag.Lost[:0]
}

func (e *Engine) tcp(p *decode.Packet, ts int64) {
	key, ep := flow.KeyOf(p)
	f := e.table.Lookup(&key)
	if f != nil && p.Flags&(decode.FlagSYN|decode.FlagACK) == decode.FlagSYN && f.Data.finished() {
		// A new connection reusing the 4-tuple of one that closed (TIME_WAIT
		// reuse, a quick reconnect): end the old session, start a new one.
		e.table.Remove(f)
		e.end(f, flow.EndClosed)
		f = nil
	}
	if f == nil {
		f = e.table.Create(&key, ts, e.endFn)
		e.stats.Flows++
		c := &f.Data
		c.client, c.first = -1, int8(ep)
		c.iface = e.cfg.Interface
		c.candidates = e.allCandidates
		c.static = flowCost
		e.static += int64(flowCost)
		if len(e.fragLost) > 0 {
			if _, ok := e.fragLost[key]; ok {
				c.fragEvicted = true
				delete(e.fragLost, key)
			}
		}
		if e.nExpected > 0 {
			e.matchExpected(f, p, ep, ts)
		}
	}
	c := &f.Data
	c.pkts[ep]++
	c.bytes[ep] += uint64(len(p.Payload))
	if p.Truncated && len(p.Payload) > 0 {
		c.truncated = true
	}
	fl := p.Flags
	if fl&decode.FlagSYN != 0 {
		c.synSeen = true
		if c.client < 0 {
			if fl&decode.FlagACK == 0 {
				c.client = int8(ep) // SYN sender
			} else {
				c.client = int8(1 - ep) // SYN+ACK answers the client
			}
		}
	}
	if fl&decode.FlagRST != 0 {
		c.rst = true
	}
	if fl&decode.FlagFIN != 0 {
		c.fin[ep] = true
	}

	// Sessions keep their sequence bookkeeping even when the parser is done,
	// so psm.missed_bytes covers the whole session; in-order segments cost a
	// few comparisons and no copy. Flows of no interest skip it.
	if c.mode != modeOther {
		e.cur = f
		before := c.streams[0].Footprint() + c.streams[1].Footprint()
		c.streams[ep].Segment(ep, p.Seq, fl, p.Payload, ts, &e.cfg.Reassembly, e)
		if fl&decode.FlagACK != 0 {
			c.streams[1-ep].Acked(1-ep, p.Ack, ts, e)
		}
		if c.mode == modeOther { // detection gave up during this segment
			c.streams[0].Discard()
			c.streams[1].Discard()
		}
		e.buffered += c.streams[0].Footprint() + c.streams[1].Footprint() - before
		if e.buffered > e.cfg.MaxBufferedTotal {
			// Out of reassembly memory across all flows: this flow gives up its
			// holes now (as gaps) rather than let memory grow.
			before = c.streams[0].Footprint() + c.streams[1].Footprint()
			c.streams[0].Flush(0, ts, e)
			c.streams[1].Flush(1, ts, e)
			e.buffered -= before - c.streams[0].Footprint() - c.streams[1].Footprint()
			c.memoryPressure = true
			e.stats.BuffersFlushed++
		}
		e.cur = nil
	}
	if c.resp != nil {
		e.observe(c, ep, p, ts)
	}

	class := flow.ClassNew
	switch {
	case c.rst || c.fin[0] && c.fin[1]:
		class = flow.ClassClosing
	case c.loggedIn:
		class = flow.ClassLoggedIn
	case c.mode == modeSession || c.mode == modeDone:
		class = flow.ClassSession
	case c.mode == modeOther || c.bytes[0]+c.bytes[1] > 0:
		class = flow.ClassOther
	}
	e.table.Touch(f, ts, class)
}

// Data is the reassembly sink: the next bytes endpoint ep sent.
func (e *Engine) Data(ep int, data []byte, ts int64) {
	c := &e.cur.Data
	switch c.mode {
	case modeProbe:
		e.probeData(e.cur, ep, data, ts)
	case modeSession:
		e.feed(e.cur, ep, data, ts)
	}
}

// Gap is the reassembly sink for lost bytes.
func (e *Engine) Gap(ep int, n int, ts int64) {
	c := &e.cur.Data
	switch c.mode {
	case modeProbe:
		// A prefix with a hole cannot be matched reliably: give up on detection.
		e.giveUp(c)
	case modeSession:
		dir := c.dir(ep)
		func() {
			defer e.recoverParser(c)
			c.sess.Gap(dir, n, ts)
		}()
	}
}

// finished reports whether the connection ended (RST, or FIN both ways).
func (c *conn) finished() bool { return c.rst || c.fin[0] && c.fin[1] }

func (c *conn) dir(ep int) dissectors.Direction {
	if int8(ep) == c.client {
		return dissectors.FromClient
	}
	return dissectors.FromServer
}

func (e *Engine) giveUp(c *conn) {
	c.mode = modeOther
	e.freeProbe(c.probe)
	c.probe = nil
	c.candidates = 0
}

// newProbe takes a probe buffer from the free list.
func (e *Engine) newProbe() *probeState {
	if n := len(e.freeProbes); n > 0 {
		ps := e.freeProbes[n-1]
		e.freeProbes = e.freeProbes[:n-1]
		return ps
	}
	return &probeState{}
}

// freeProbe returns a probe buffer for reuse; a bounded number are kept.
func (e *Engine) freeProbe(ps *probeState) {
	if ps == nil {
		return
	}
	e.probeHeld -= len(ps.buf[0]) + len(ps.buf[1])
	if len(e.freeProbes) >= 1024 {
		return
	}
	ps.buf[0], ps.buf[1] = ps.buf[0][:0], ps.buf[1][:0]
	ps.view = [2][]byte{}
	ps.full = [2]bool{}
	ps.chunks = ps.chunks[:0]
	e.freeProbes = append(e.freeProbes, ps)
}

func (e *Engine) probeData(f *flow.Flow[conn], ep int, data []byte, ts int64) {
	c := &f.Data
	ps := c.probe
	if ps == nil {
		ps = e.newProbe()
		c.probe = ps
	}
	room := e.cfg.ProbeBytes - len(ps.buf[ep])
	take := data
	if len(take) > room {
		take = take[:room]
		ps.full[ep] = true
	}
	if len(take) == 0 {
		return
	}
	// The first bytes of a side are probed where they lie, in the packet:
	// most flows are decided on them (no match: traffic of no interest), and
	// then nothing is copied. They are copied only if the verdict stays open.
	if e.probeHeld+len(take) > e.cfg.MaxProbeTotal {
		// Detection buffers across all flows are full (a flood of flows that
		// never decide): this flow is given up rather than memory grown.
		e.stats.ProbeBudgetExceeded++
		e.giveUp(c)
		return
	}
	borrowed := len(ps.buf[ep]) == 0
	if borrowed {
		ps.view[ep] = take
	} else {
		ps.chunks = append(ps.chunks, chunk{ep: int8(ep), off: int32(len(ps.buf[ep])), len: int32(len(take)), ts: ts})
		ps.buf[ep] = append(ps.buf[ep], take...)
		e.probeHeld += len(take)
	}
	e.probeTS = ts
	e.runProbes(f, false)
	if e.unwrapped {
		// A proxy handshake came off: take was copied, and replayed if a
		// session inside matched; only what did not fit is left.
		e.unwrapped = false
		if c.mode == modeSession && len(take) < len(data) {
			e.feed(f, ep, data[len(take):], ts)
		}
		return
	}
	switch {
	case c.mode == modeProbe && borrowed:
		ps.view[ep] = nil
		ps.chunks = append(ps.chunks, chunk{ep: int8(ep), off: 0, len: int32(len(take)), ts: ts})
		ps.buf[ep] = append(ps.buf[ep], take...)
		e.probeHeld += len(take)
	case c.mode == modeSession && borrowed:
		// Matched on these very bytes: attach replayed what came before; the
		// whole segment goes to the parser now.
		e.feed(f, ep, data, ts)
	case c.mode == modeSession && len(take) < len(data):
		// Matched on this very call: the rest of the segment goes to the parser.
		e.feed(f, ep, data[len(take):], ts)
	}
}

// runProbes asks every remaining candidate; final means no more bytes will come.
func (e *Engine) runProbes(f *flow.Flow[conn], final bool) {
	c := &f.Data
	ps := c.probe
	if ps == nil {
		if !final {
			return
		}
		ps = e.newProbe()
		c.probe = ps
	}
	in := &e.probeIn
	*in = dissectors.ProbeInput{
		Data:   [2][]byte{ps.data(0), ps.data(1)},
		Port:   [2]uint16{f.Key.PA, f.Key.PB},
		Done:   [2]bool{final || ps.full[0] || c.fin[0] || c.rst, final || ps.full[1] || c.fin[1] || c.rst},
		Client: int(c.client),
	}
	if c.client < 0 {
		in.Client = dissectors.Unknown
	}
	if c.tunnel != nil && c.tunnel.port != 0 && c.client >= 0 {
		in.Port[1-c.client] = c.tunnel.port // inside a proxy: the port asked for is the hint
	}
	var matched dissectors.Dissector
	matchedClient := dissectors.Unknown
	for i, d := range e.cfg.Dissectors {
		bit := uint32(1) << i
		if c.candidates&bit == 0 {
			continue
		}
		res := e.safeProbe(d, in)
		switch res.Verdict {
		case dissectors.NoMatch:
			c.candidates &^= bit
		case dissectors.Match:
			if matched == nil || portHint(d, in) && !portHint(matched, in) {
				matched, matchedClient = d, res.Client
			}
		}
	}
	if matched != nil {
		if t, ok := matched.(dissectors.Tunnel); ok {
			e.unwrap(f, t, final)
			return
		}
		e.attach(f, matched, matchedClient)
		return
	}
	if c.candidates == 0 || (in.Done[0] && in.Done[1]) {
		e.giveUp(c)
	}
}

func portHint(d dissectors.Dissector, in *dissectors.ProbeInput) bool {
	for _, p := range d.Ports() {
		if in.Port[0] == p || in.Port[1] == p {
			return true
		}
	}
	return false
}

func (e *Engine) safeProbe(d dissectors.Dissector, in *dissectors.ProbeInput) (res dissectors.ProbeResult) {
	defer func() {
		if r := recover(); r != nil {
			e.stats.Panics++
			e.cfg.Logger.Error("probe panicked; treating as no match", "dissector", d.Name(), "panic", fmt.Sprint(r))
			res = dissectors.ProbeResult{Verdict: dissectors.NoMatch}
		}
	}()
	return d.Probe(in)
}

// unwrap takes a completed proxy handshake off the probe buffers and runs
// detection again on what follows it, with every protocol but the proxies
// (one level: a proxy inside a proxy is not unwrapped).
func (e *Engine) unwrap(f *flow.Flow[conn], t dissectors.Tunnel, final bool) {
	c := &f.Data
	ps := c.probe
	u, ok := e.safeUnwrap(t, &e.probeIn)
	if !ok || u.Consumed[0] < 0 || u.Consumed[1] < 0 || u.Consumed[0] > len(ps.data(0)) || u.Consumed[1] > len(ps.data(1)) {
		c.candidates &^= e.tunnels
		return
	}
	// The bytes still in the packet are copied: they outlive this call now.
	for ep := 0; ep < 2; ep++ {
		if v := ps.view[ep]; v != nil {
			ps.view[ep] = nil
			ps.chunks = append(ps.chunks, chunk{ep: int8(ep), off: int32(len(ps.buf[ep])), len: int32(len(v)), ts: e.probeTS})
			ps.buf[ep] = append(ps.buf[ep], v...)
			e.probeHeld += len(v)
			e.unwrapped = true
		}
	}
	// Cut the handshake off each side and renumber the chunks.
	kept := ps.chunks[:0]
	for _, ch := range ps.chunks {
		cut := int32(u.Consumed[ch.ep])
		switch {
		case ch.off+ch.len <= cut:
			continue
		case ch.off < cut:
			ch.len -= cut - ch.off
			ch.off = 0
		default:
			ch.off -= cut
		}
		kept = append(kept, ch)
	}
	ps.chunks = kept
	for ep := 0; ep < 2; ep++ {
		n := u.Consumed[ep]
		ps.buf[ep] = ps.buf[ep][:copy(ps.buf[ep], ps.buf[ep][n:])]
		e.probeHeld -= n
	}
	if c.client < 0 && (u.Client == 0 || u.Client == 1) {
		c.client = int8(u.Client)
	}
	c.tunnel = &tunnel{proxy: u.Proxy, port: u.TargetPort}
	c.static += tunnelCost
	e.static += int64(tunnelCost)
	c.candidates = e.allCandidates &^ e.tunnels
	e.runProbes(f, final)
}

func (e *Engine) safeUnwrap(t dissectors.Tunnel, in *dissectors.ProbeInput) (u dissectors.Unwrapped, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			e.stats.Panics++
			e.cfg.Logger.Error("proxy unwrap panicked; not unwrapped", "dissector", t.Name(), "panic", fmt.Sprint(r))
			ok = false
		}
	}()
	return t.Unwrap(in), true
}

// attach hands the flow to d and replays the probed bytes in arrival order.
func (e *Engine) attach(f *flow.Flow[conn], d dissectors.Dissector, contentClient int) {
	c := &f.Data
	switch {
	case c.client >= 0: // the TCP handshake is the best witness
	case contentClient != dissectors.Unknown:
		c.client = int8(contentClient)
	default:
		c.client = int8(guessClientByPort(f, d))
	}
	ps := c.probe
	c.probe = nil
	c.candidates = 0
	c.diss = d
	c.rec = &record.Record{Protocol: d.Name()}
	c.mode = modeSession
	e.stats.Sessions++
	c.static += sessionCost
	e.static += sessionCost
	ctx := &dissectors.Context{
		Record: c.rec, Client: e.addrPort(f, int(c.client)), Server: e.addrPort(f, 1-int(c.client)),
		Transport: "tcp", Options: &e.cfg.Options, Expect: e.expect,
	}
	if c.udp {
		ctx.Transport = "udp"
	}
	// The session id is known from the start (flow and first packet), so the
	// events published while the session runs carry the id its record will.
	c.rec.CommunityID = e.communityID(f, int(c.client))
	c.rec.ID = sessionID(c.rec.CommunityID, f.First)
	if e.cfg.EmitEvent != nil {
		ctx.Events = e.publisher(ctx, c)
	}
	if e.cfg.Live != nil {
		ctx.Live = e.cfg.Live(ctx, f.First)
	}
	if e.cfg.Responder != nil && !c.udp {
		e.track(f, ctx)
	}
	func() {
		defer e.recoverParser(c)
		c.sess = d.NewSession(ctx)
	}()
	if ps == nil {
		return
	}
	for _, ch := range ps.chunks {
		if c.mode != modeSession {
			break
		}
		e.feed(f, int(ch.ep), ps.buf[ch.ep][ch.off:ch.off+ch.len], ch.ts)
	}
	e.freeProbe(ps)
}

// guessClientByPort picks the server as the endpoint on the dissector's
// well-known port, else on the lower port.
func guessClientByPort(f *flow.Flow[conn], d dissectors.Dissector) int {
	for _, p := range d.Ports() {
		if f.Key.PA == p && f.Key.PB != p {
			return 1
		}
		if f.Key.PB == p && f.Key.PA != p {
			return 0
		}
	}
	if f.Key.PA < f.Key.PB {
		return 1
	}
	return 0
}

func (e *Engine) feed(f *flow.Flow[conn], ep int, data []byte, ts int64) {
	c := &f.Data
	if c.sess == nil {
		c.mode = modeDone
		return
	}
	defer e.recoverParser(c)
	if c.sess.Feed(c.dir(ep), data, ts) == dissectors.Done {
		c.mode = modeDone
	}
}

// recoverParser contains a parser panic to its own flow: counted, recorded,
// and the parser is detached; the capture goes on.
func (e *Engine) recoverParser(c *conn) {
	if r := recover(); r != nil {
		e.stats.Panics++
		name := "?"
		if c.diss != nil {
			name = c.diss.Name()
		}
		e.cfg.Logger.Error("parser panicked; detached from its flow", "dissector", name, "panic", fmt.Sprint(r))
		if c.rec != nil {
			c.rec.AddAnomaly("parser.panic")
		}
		c.sess = nil
		c.mode = modeDone
	}
}

// end finishes a flow that left the table: flush, close the parser, emit.
func (e *Engine) end(f *flow.Flow[conn], why flow.Reason) {
	c := &f.Data
	e.buffered -= c.streams[0].Footprint() + c.streams[1].Footprint()
	e.static -= int64(c.static)
	if c.mode != modeOther {
		e.cur = f
		for ep := 0; ep < 2; ep++ {
			c.streams[ep].Flush(ep, f.Last, e)
		}
		e.cur = nil
	}
	if c.resp != nil && c.resp.Term != nil {
		e.cfg.Responder.Ended(c.resp)
	}
	e.stats.OverlapMismatches += c.streams[0].Conflicts + c.streams[1].Conflicts
	if c.mode == modeProbe && !c.udp {
		e.runProbes(f, true)
	}
	if c.probe != nil {
		e.freeProbe(c.probe)
		c.probe = nil
	}
	if c.related {
		// Part of another session: close its helper, write no record.
		if c.sess != nil {
			func() {
				defer e.recoverParser(c)
				c.sess.Close(&record.Record{})
			}()
		}
		e.table.Recycle(f)
		return
	}
	r := c.rec
	if r == nil {
		if !e.cfg.All || c.udp {
			e.table.Recycle(f)
			return
		}
		r = &record.Record{}
	}
	// Common fields first, so a parser's Close can see how the flow ended.
	e.fill(f, r, why)
	r.EventType = "end"
	if c.sess != nil {
		func() {
			defer e.recoverParser(c)
			c.sess.Close(r)
		}()
	}
	if r.Protocol != "" {
		e.stats.ByProtocol[r.Protocol]++
	}
	e.stats.Records++
	e.table.Recycle(f)
	if e.cfg.Emit != nil {
		e.cfg.Emit(r)
	}
}

// fill writes the fields every session has (SCHEMA.md, "Every session").
func (e *Engine) fill(f *flow.Flow[conn], r *record.Record, why flow.Reason) {
	c := &f.Data
	cl := int(c.client)
	if cl < 0 {
		cl = int(c.first)
	}
	sv := 1 - cl
	r.Client, r.Server = e.addrPort(f, cl), e.addrPort(f, sv)
	r.ClientBytes, r.ClientPkts = c.bytes[cl], c.pkts[cl]
	r.ServerBytes, r.ServerPkts = c.bytes[sv], c.pkts[sv]
	r.Start, r.End = time.Unix(0, f.First), time.Unix(0, f.Last)
	r.Transport = "tcp"
	if c.udp {
		r.Transport = "udp"
	}
	r.CommunityID = e.communityID(f, cl)
	r.ID = sessionID(r.CommunityID, f.First)
	r.Observer, r.Interface = e.cfg.Observer, c.iface
	if c.tunnel != nil {
		p := c.tunnel.proxy
		r.Proxy = &p
	}
	r.MissedBytes = c.streams[0].Missed + c.streams[1].Missed
	if r.MissedBytes > 0 {
		r.AddAnomaly("tcp.gap")
	}
	if c.truncated {
		r.AddAnomaly("capture.truncated_payload")
	}
	if c.memoryPressure {
		r.AddAnomaly("reassembly.memory_pressure")
	}
	if c.streams[0].Conflicts+c.streams[1].Conflicts > 0 {
		r.AddAnomaly("tcp.overlap_mismatch") // the monitor and the server may have read different bytes
	}
	switch {
	case c.udp && why == flow.EndShutdown:
		r.State = record.StateCaptureEnd
	case c.udp:
		r.State = record.StateTimeout
	case !c.synSeen:
		r.State = record.StatePartial
	case c.rst:
		r.State = record.StateReset
	case c.fin[0] && c.fin[1] || why == flow.EndClosed:
		r.State = record.StateClosed
	case why == flow.EndShutdown:
		r.State = record.StateCaptureEnd
	default:
		r.State = record.StateTimeout
	}
	if why == flow.EndEvicted {
		r.AddAnomaly("flow.evicted")
	}
	if why == flow.EndShed {
		r.AddAnomaly("memory.shed")
	}
	if c.fragEvicted {
		r.AddAnomaly("ip.fragments_evicted")
	}
	if c.client < 0 && r.Protocol != "" {
		r.AddAnomaly("roles.guessed")
	}
}

// communityID is the flow's Community ID with endpoint cl as the client.
func (e *Engine) communityID(f *flow.Flow[conn], cl int) string {
	k := &f.Key
	return communityid.Compute(0, k.Addr(cl), k.Addr(1-cl), k.Port(cl), k.Port(1-cl), k.Proto)
}

// publisher returns the function a session's activity events go through:
// it adds the session's context and numbers the events in order. The user
// of later events is the one the last login settled on (a successful one
// wins over attempts), unless the event names its own.
func (e *Engine) publisher(ctx *dissectors.Context, c *conn) func(*record.Event) {
	p := &publisher{e: e, ctx: ctx, c: c, rec: c.rec, iface: c.iface}
	if c.tunnel != nil {
		proxy := c.tunnel.proxy
		p.proxy = &proxy
	}
	return p.publish
}

// publisher is one session's event path: a struct rather than a closure
// over several variables, so a session costs one allocation for it.
type publisher struct {
	e            *Engine
	ctx          *dissectors.Context
	c            *conn
	rec          *record.Record
	seq          int
	user         string
	userLoggedIn bool
	iface        string // the session's, kept here: c may be reused after it ends
	proxy        *record.Proxy
}

func (p *publisher) publish(ev *record.Event) {
	e, ctx, rec := p.e, p.ctx, p.rec
	// The events say which sessions got past their login (kept longest
	// when memory runs short; without events, shed asks the session).
	// A related connection's helper may publish after its parent ended
	// and the entry was reused: only the session's own entry is marked.
	if p.c.rec == rec && (ev.Action == record.ActionCommand || ev.Action == record.ActionLogin && ev.Outcome == record.OutcomeSuccess) {
		p.c.loggedIn = true
	}
	p.seq++
	ev.Sequence = p.seq
	ev.SessionID = rec.ID
	ev.ID = record.EventID(rec.ID, p.seq)
	ev.Client, ev.Server = ctx.Client, ctx.Server
	ev.Transport, ev.Protocol, ev.CommunityID = ctx.Transport, rec.Protocol, rec.CommunityID
	ev.Observer, ev.Interface = e.cfg.Observer, p.iface
	ev.Proxy = p.proxy
	if ev.Action == record.ActionLogin && ev.UserName != "" {
		if ev.Outcome == record.OutcomeSuccess {
			p.user, p.userLoggedIn = ev.UserName, true
		} else if !p.userLoggedIn {
			p.user = ev.UserName
		}
	}
	if ev.UserName == "" {
		ev.UserName = p.user
	}
	e.stats.Events++
	e.cfg.EmitEvent(ev)
}

// sessionID is stable for a given flow and start time, so re-reading a capture
// gives the same ids (and Elasticsearch dedups on them).
func sessionID(cid string, start int64) string {
	h := sha256.New()
	h.Write([]byte(cid))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(start))
	h.Write(b[:])
	sum := h.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:15])
}

// Flush ends every open flow (end of capture or shutdown), exactly once each.
func (e *Engine) Flush() {
	e.table.Drain(e.endFn)
}

// SetInterface sets observer.ingress.interface.name for flows that begin
// from now on (the file being read, or the interface).
func (e *Engine) SetInterface(name string) { e.cfg.Interface = name }

// Tick advances packet time without a packet (a quiet live link), so idle
// flows still expire.
func (e *Engine) Tick(now int64) {
	if now > e.now && e.now != 0 {
		e.now = now
		if e.now-e.swept >= 1e9 {
			e.swept = e.now
			e.table.Expire(e.now, e.endFn)
			e.interims()
		}
	}
}

// interims emits the snapshot records that are due (Config.Interim).
func (e *Engine) interims() {
	if e.cfg.Interim <= 0 || e.cfg.Emit == nil {
		return
	}
	due := func(f *flow.Flow[conn]) {
		c := &f.Data
		if c.rec == nil || c.related {
			return
		}
		since := f.First
		if c.interimAt != 0 {
			since = c.interimAt
		}
		if e.now-since < e.cfg.Interim {
			return
		}
		r := *c.rec // a snapshot: the session goes on filling its own record
		r.Anomalies = append([]string(nil), c.rec.Anomalies...)
		r.Objects = nil
		r.EventType = "info"
		if c.interimAt == 0 {
			r.EventType = "start"
		}
		c.interimAt = e.now
		e.fill(f, &r, flow.EndShutdown)
		r.State = "" // still open: how it ends is not known yet
		if sn, ok := c.sess.(dissectors.Snapshotter); ok {
			func() {
				defer e.recoverParser(c)
				sn.Snapshot(&r)
			}()
		}
		e.stats.Interims++
		e.cfg.Emit(&r)
	}
	e.table.Each(flow.ClassSession, due)
	e.table.Each(flow.ClassLoggedIn, due)
	e.table.Each(flow.ClassDatagram, due)
}

// addrPort returns endpoint i of a flow.
func (e *Engine) addrPort(f *flow.Flow[conn], i int) netip.AddrPort {
	a, _ := netip.AddrFromSlice(f.Key.Addr(i))
	return netip.AddrPortFrom(a, f.Key.Port(i))
}
