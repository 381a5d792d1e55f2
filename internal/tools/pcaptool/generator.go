package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/psmtap/psmtap/internal/pcaptool"
)

// Flow kinds in the benchmark.
const (
	kindCopy uint8 = iota // copy of an input session: the traffic psmtap is about
	kindTCP               // bulk TCP on 80/443/8080/5432
	kindDNS               // DNS-like query and answer
	kindScan              // a lone SYN probe
	numKinds
)

var kindNames = [numKinds]string{"copies", "bulk-tcp", "dns", "scan"}

// benchStart is the fixed capture start, so that files are byte-identical across runs.
var benchStart = time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC).UnixNano()

var (
	bulkPorts = []uint16{80, 443, 443, 443, 8080, 5432}
	scanPorts = []uint16{21, 22, 23, 25, 80, 443, 445, 513, 514, 3306, 3389, 5900, 8080}
	synOpts   = []byte{2, 4, (mss + 12) >> 8, (mss + 12) & 0xff} // MSS 1460
)

// flow is one slot of the schedule; a finished flow's slot is reused by the next one.
type flow struct {
	kind     uint8
	started  bool
	pos      int32 // copies: next template frame; DNS: packets sent
	tpl      *template
	cli, srv netip.AddrPort
	rtt      int64 // nanoseconds
	dnsID    uint16
	name     uint32 // DNS query name, or the object an HTTP request asks for
	tcp      bulkTCP
	conv     pcaptool.Conversation
}

type generator struct {
	cfg     benchConfig
	rng     *rand.Rand
	tpls    []*template
	slots   []flow
	sched   schedule
	w       *pcaptool.Writer
	pool    []byte // pseudo-random payload bytes, sliced at random offsets
	buf     []byte // the frame being written, reused
	dns     []byte
	text    []byte // HTTP headers and the segments that start with them
	scratch pcaptool.Frame
	meanGap float64 // mean nanoseconds between two paced packets of one flow

	nCopy, nBulk, nTpl uint32 // address counters

	packets, bytes, interest int64
	pendingInterest          int64 // near-term packets of running copies (at most pendingCap each)
	flows                    [numKinds]int64
	copiesDone               int64
	open, peakOpen           int
	last                     int64
}

func newGenerator(cfg benchConfig, tpls []*template, out io.Writer) (*generator, error) {
	w, err := pcaptool.NewWriter(out, pcaptool.LinkEthernet, pcaptool.DefaultSnaplen, false)
	if err != nil {
		return nil, err
	}
	g := &generator{
		cfg: cfg, tpls: tpls, w: w,
		rng:     rand.New(rand.NewPCG(cfg.seed, 0x9e3779b97f4a7c15)),
		slots:   make([]flow, cfg.flows),
		sched:   make(schedule, 0, cfg.flows),
		buf:     make([]byte, 0, 2048),
		dns:     make([]byte, 0, 128),
		text:    make([]byte, 0, 2*mss),
		meanGap: float64(cfg.flows) / cfg.pps * 1e9 * packetsPerPace,
		bytes:   24,
	}
	g.pool = make([]byte, 1<<20+mss)
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], cfg.seed)
	_, _ = rand.NewChaCha8(key).Read(g.pool) // never fails
	// Spread the first flows over two pacing gaps so the capture does not open with a SYN storm.
	for i := range g.slots {
		at := int64(g.rng.Float64() * 2 * g.meanGap)
		g.spawn(&g.slots[i])
		g.sched.push(entry{t: at, slot: int32(i)})
	}
	return g, nil
}

// run writes packets until the size is reached.
func (g *generator) run(ctx context.Context) error {
	for g.bytes < g.cfg.size {
		if g.packets&0xffff == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		if err := g.step(); err != nil {
			return err
		}
	}
	return g.w.Flush()
}

// step writes the packet due first, so timestamps never go backwards, and reschedules its flow
// (or the next flow in its slot).
func (g *generator) step() error {
	top := &g.sched[0]
	fl := &g.slots[top.slot]
	gap, done, err := g.emit(fl, top.t)
	if err != nil {
		return err
	}
	g.last = top.t
	if done {
		g.finish(fl)
		g.spawn(fl)
		gap = g.pace()
	}
	top.t += max(gap, 1000) // at least 1µs apart within a flow, the pcap resolution
	g.sched.fix()
	return nil
}

// packetsPerPace corrects the pacing for packets sent without a pacing gap (ACKs, handshakes,
// DNS answers), measured on runs of the default mix, so that -pps is close to the real rate.
const packetsPerPace = 2.0

// pace draws a gap between two packets of one flow: exponential around flows/pps.
func (g *generator) pace() int64 { return int64(g.rng.ExpFloat64() * g.meanGap) }

// pendingCap is how many of a running copy's next packets count as already written when
// deciding whether to start another copy. Counting all of them would starve copies behind
// long-lived sessions; counting none would make every slot a copy at start-up.
const pendingCap = 8

// spawn starts a new flow in slot fl, choosing a copy of an input session whenever copies are
// behind their share of the packets written (counting the near-term packets of copies already
// running, plus a lead of one packet per slot to start with).
func (g *generator) spawn(fl *flow) {
	r := g.rng
	*fl = flow{kind: kindScan, rtt: int64(200e3 + r.IntN(40e6))}
	ahead := g.interest + g.pendingInterest
	switch x := r.IntN(100); {
	case float64(ahead) < g.cfg.interest*float64(g.packets+int64(g.cfg.flows)):
		g.spawnCopy(fl)
	case x < 60:
		fl.kind = kindTCP
		g.nBulk++
		fl.cli = netip.AddrPortFrom(addr4(100, 64, g.nBulk), uint16(32768+g.nBulk%28000))
		fl.srv = netip.AddrPortFrom(addr4(198, 18, uint32(1+r.IntN(4000))), bulkPorts[r.IntN(len(bulkPorts))])
		fl.tcp.plan(r)
		fl.name = uint32(r.IntN(1000000))
		fl.conv = pcaptool.Conversation{Client: fl.cli, Server: fl.srv, ClientISN: r.Uint32() | 1, ServerISN: r.Uint32() | 1, MSS: mss}
	case x < 90:
		fl.kind = kindDNS
		g.nBulk++
		fl.cli = netip.AddrPortFrom(addr4(100, 64, g.nBulk), uint16(1024+r.IntN(60000)))
		fl.srv = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(r.IntN(4)), 53}), 53)
		fl.dnsID, fl.name = uint16(r.Uint32()), uint32(r.IntN(1000000))
	default:
		fl.cli = netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(1 + r.IntN(20))}), uint16(40000+r.IntN(20000)))
		fl.srv = netip.AddrPortFrom(addr4(198, 18, uint32(1+r.IntN(4000))), scanPorts[r.IntN(len(scanPorts))])
	}
	g.flows[fl.kind]++
}

// spawnCopy picks the input sessions in turn and gives each copy its own client (sequential
// addresses in 10/8 or fd00:10::/64, distinct ports) and a server per template.
func (g *generator) spawnCopy(fl *flow) {
	fl.kind = kindCopy
	tIndex := g.nTpl % uint32(len(g.tpls))
	t := g.tpls[tIndex]
	g.nTpl++
	g.nCopy++
	fl.tpl = t
	var sport uint16
	if f := &t.frames[0]; t.fromClient[0] {
		_, dst := f.Flow()
		sport = dst.Port()
	} else {
		src, _ := f.Flow()
		sport = src.Port()
	}
	cport := uint16(10000 + g.nCopy%50000)
	if t.v6 {
		fl.cli = netip.AddrPortFrom(addr6(0x10, g.nCopy), cport)
		fl.srv = netip.AddrPortFrom(addr6(0x172, tIndex+1), sport)
	} else {
		fl.cli = netip.AddrPortFrom(addr4(10, 0, g.nCopy), cport)
		fl.srv = netip.AddrPortFrom(addr4(172, 16, tIndex+1), sport)
	}
	g.pendingInterest += int64(min(len(t.frames), pendingCap))
}

// addr4 returns a.b.0.0 plus n, skipping host numbers 0 and 255.
func addr4(a, b byte, n uint32) netip.Addr {
	n = n/254*256 + n%254 + 1
	return netip.AddrFrom4([4]byte{a, b + byte(n>>16), byte(n >> 8), byte(n)})
}

// addr6 returns fd00:<net>::<n>.
func addr6(net uint16, n uint32) netip.Addr {
	return netip.AddrFrom16([16]byte{0xfd, 0, byte(net >> 8), byte(net), 12: byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func (g *generator) finish(fl *flow) {
	if fl.started {
		g.open--
	}
	if fl.kind == kindCopy {
		g.copiesDone++
	}
}

// emit writes the next packet of fl at time t (ns from the start) and returns the gap to its
// following packet, or done when it was the last one.
func (g *generator) emit(fl *flow, t int64) (gap int64, done bool, err error) {
	if !fl.started {
		fl.started = true
		g.open++
		g.peakOpen = max(g.peakOpen, g.open)
	}
	ts := time.Unix(0, benchStart+t)
	var f *pcaptool.Frame
	switch fl.kind {
	case kindCopy:
		if len(fl.tpl.frames)-int(fl.pos) <= pendingCap {
			g.pendingInterest--
		}
		f, gap, done = g.copyFrame(fl)
		g.interest++
	case kindTCP:
		p := fl.tcp.next(g.rng)
		f = fl.conv.Segment(ts, p.dir, p.flags, g.bulkPayload(fl, p))
		gap, done = g.pace(), p.done
		if p.quick {
			gap = fl.rtt / 2
		}
	case kindDNS:
		f = g.dnsFrame(fl)
		fl.pos++
		gap, done = fl.rtt, fl.pos == 2
	default:
		f = &g.scratch
		*f = pcaptool.Frame{EtherType: pcaptool.EtherTypeIPv4, L4: pcaptool.L4TCP,
			IP:  pcaptool.IP{Version: 4, Src: fl.cli.Addr(), Dst: fl.srv.Addr(), Proto: pcaptool.ProtoTCP, TTL: 48, ID: uint16(g.rng.Uint32())},
			TCP: pcaptool.TCP{SrcPort: fl.cli.Port(), DstPort: fl.srv.Port(), Seq: g.rng.Uint32(), Flags: pcaptool.SYN, Window: 1024, Options: synOpts}}
		done = true
	}
	if g.buf, err = f.Append(g.buf[:0], pcaptool.LinkEthernet); err != nil {
		return 0, false, err
	}
	if err = g.w.WritePacket(ts, g.buf, 0); err != nil {
		return 0, false, fmt.Errorf("writing %s: %w", g.cfg.out, err)
	}
	g.packets++
	g.bytes += int64(16 + len(g.buf))
	return gap, done, nil
}

// bulkPayload returns pseudo-random bytes for a bulk segment; on the HTTP ports requests and
// the start of responses are HTTP/1.1 text, so that dissectors see what such ports carry.
func (g *generator) bulkPayload(fl *flow, p bulkPacket) []byte {
	http := fl.srv.Port() == 80 || fl.srv.Port() == 8080
	switch {
	case http && p.request:
		return appendHTTPRequest(g.text[:0], fl.name, fl.tcp.upload, fl.tcp.transfer())
	case http && p.first && !fl.tcp.upload:
		g.text = appendHTTPResponse(g.text[:0], fl.tcp.transfer())
		if len(g.text) < p.n {
			off := g.rng.IntN(len(g.pool) - mss)
			g.text = append(g.text, g.pool[off:off+p.n-len(g.text)]...)
		}
		return g.text
	}
	off := g.rng.IntN(len(g.pool) - mss)
	return g.pool[off : off+p.n]
}

// copyFrame returns the next template frame with the copy's addresses and ports.
func (g *generator) copyFrame(fl *flow) (*pcaptool.Frame, int64, bool) {
	t, i := fl.tpl, fl.pos
	f := &g.scratch
	*f = t.frames[i]
	src, dst := fl.cli, fl.srv
	if !t.fromClient[i] {
		src, dst = dst, src
	}
	f.IP.Src, f.IP.Dst = src.Addr(), dst.Addr()
	if f.L4 == pcaptool.L4TCP {
		f.TCP.SrcPort, f.TCP.DstPort = src.Port(), dst.Port()
	} else {
		f.UDP.SrcPort, f.UDP.DstPort = src.Port(), dst.Port()
	}
	fl.pos++
	if int(fl.pos) == len(t.frames) {
		return f, 0, true
	}
	return f, t.gaps[fl.pos], false
}

func (g *generator) dnsFrame(fl *flow) *pcaptool.Frame {
	answer := fl.pos == 1
	src, dst := fl.cli, fl.srv
	if answer {
		src, dst = dst, src
	}
	g.dns = appendDNS(g.dns[:0], fl.dnsID, fl.name, answer)
	f := &g.scratch
	*f = pcaptool.Frame{EtherType: pcaptool.EtherTypeIPv4, L4: pcaptool.L4UDP, Payload: g.dns,
		IP:  pcaptool.IP{Version: 4, Src: src.Addr(), Dst: dst.Addr(), Proto: pcaptool.ProtoUDP, TTL: 64, ID: fl.dnsID + uint16(fl.pos)},
		UDP: pcaptool.UDP{SrcPort: src.Port(), DstPort: dst.Port()}}
	return f
}

func (g *generator) summary(inputs int, elapsed time.Duration) string {
	total := int64(0)
	kinds := ""
	for k, n := range g.flows {
		total += n
		kinds += fmt.Sprintf(" %s=%d", kindNames[k], n)
	}
	return fmt.Sprintf("bench: %s: %d packets, %d bytes, %d flows (%s; %d copies complete, from %d sessions of %d files), "+
		"peak %d open, %.1f%% packets of interest, capture spans %v (%.0fk packets/s); written in %v = %.0f MB/s",
		g.cfg.out, g.packets, g.bytes, total, kinds[1:], g.copiesDone, len(g.tpls), inputs,
		g.peakOpen, 100*float64(g.interest)/float64(max(g.packets, 1)), time.Duration(g.last).Round(time.Millisecond),
		float64(g.packets)/max(time.Duration(g.last).Seconds(), 1e-9)/1e3, elapsed.Round(time.Millisecond), float64(g.bytes)/1e6/elapsed.Seconds())
}
