package decode

import (
	"encoding/binary"
)

// fragKey identifies one IP datagram being reassembled (RFC 791 §3.2: source,
// destination, protocol and identification; RFC 8200 §4.5 for IPv6).
type fragKey struct {
	src, dst [16]byte
	id       uint32
	proto    uint8
	v6       bool
}

func fragKey4(h []byte) fragKey {
	var k fragKey
	copy(k.src[:4], h[12:16])
	copy(k.dst[:4], h[16:20])
	k.id = uint32(binary.BigEndian.Uint16(h[4:6]))
	k.proto = h[9]
	return k
}

func fragKey6(h []byte, id uint32, next uint8) fragKey {
	var k fragKey
	copy(k.src[:], h[8:24])
	copy(k.dst[:], h[24:40])
	k.id = id
	k.proto = next
	k.v6 = true
	return k
}

type fragment struct {
	off  int
	data []byte
}

// srcKey is a sender, for per-source fairness.
type srcKey struct {
	addr [16]byte
	v6   bool
}

type source struct {
	n          int
	head, tail *datagram // this source's datagrams, oldest first
}

type datagram struct {
	key       fragKey
	frags     []fragment // sorted by offset, never overlapping
	bytes     int
	total     int // known once the last fragment (MF=0) arrived; -1 before
	firstSeen int64
	// ports: the first four bytes of the transport header, once the first
	// fragment arrived; they tell which flow an evicted datagram belonged to.
	ports    [4]byte
	hasPorts bool
	src      *source
	// age list (all datagrams) and source list, oldest first
	prev, next   *datagram
	sprev, snext *datagram
}

// DefragStats counts what the defragmenter did, for the run summary.
type DefragStats struct {
	Reassembled uint64 // datagrams rebuilt
	Expired     uint64 // incomplete datagrams dropped on timeout
	Dropped     uint64 // fragments refused: inconsistent, overlapping, empty, or past the per-datagram cap
	// Evicted counts incomplete datagrams pushed out (oldest first) to make
	// room for new ones: the table, a source's share or the byte limit was full.
	Evicted uint64
}

// LostFlow names the flow of an evicted datagram (known when its first
// fragment, which carries the ports, had arrived).
type LostFlow struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
	IPv6             bool
}

// maxLost bounds Defragmenter.Lost between two drains.
const maxLost = 64

// Defragmenter rebuilds IPv4 and IPv6 datagrams from their fragments.
//
// Memory is bounded by MaxDatagrams in progress, MaxBytes of fragment data
// and MaxFragments per datagram; incomplete datagrams expire after Timeout
// nanoseconds of packet time. When a limit is reached the oldest incomplete
// datagram is evicted (counted), so fragments that never complete cannot
// lock new datagrams out; one source may hold at most MaxPerSource of them,
// so a single sender cannot push everyone else's out. Overlapping and empty
// fragments are dropped (first copy kept; RFC 5722 forbids overlaps for
// IPv6) and counted, as they are a known evasion trick.
//
// Work per fragment is bounded: a binary search and a move of at most
// MaxFragments entries, and expiry walks only the expired datagrams.
type Defragmenter struct {
	MaxDatagrams int
	MaxPerSource int // 0: a quarter of MaxDatagrams
	MaxFragments int // per datagram
	MaxBytes     int // fragment data held across all datagrams
	Timeout      int64
	Stats        DefragStats
	// Lost lists the flows of datagrams evicted since the owner last
	// emptied it (at most maxLost; the owner resets it to Lost[:0]).
	Lost []LostFlow

	pending    map[fragKey]*datagram
	sources    map[srcKey]*source
	head, tail *datagram
	held       int
	out        []byte
}

// NewDefragmenter returns a defragmenter with limits suited to a busy link.
func NewDefragmenter() *Defragmenter {
	return &Defragmenter{
		MaxDatagrams: 4096,
		MaxFragments: 128, // 64 KiB at the IPv4 minimum MTU takes ~120
		MaxBytes:     64 << 20,
		Timeout:      30e9,
		pending:      make(map[fragKey]*datagram),
		sources:      make(map[srcKey]*source),
	}
}

const maxDatagram = 65535

// Held returns the fragment bytes held and the datagrams in progress.
func (f *Defragmenter) Held() (bytes, datagrams int) { return f.held, len(f.pending) }

func (f *Defragmenter) perSource() int {
	if f.MaxPerSource > 0 {
		return f.MaxPerSource
	}
	return max(f.MaxDatagrams/4, 1)
}

// Add stores one fragment. When it completes its datagram, Add returns the
// whole transport payload; the slice is valid until the next call.
func (f *Defragmenter) Add(k fragKey, off int, more bool, data []byte, ts int64) ([]byte, bool) {
	if f.pending == nil {
		f.pending = make(map[fragKey]*datagram)
		f.sources = make(map[srcKey]*source)
	}
	f.expire(ts)
	if len(data) == 0 {
		f.Stats.Dropped++ // covers nothing: an overlap of everything, ignored
		return nil, false
	}
	end := off + len(data)
	dg := f.pending[k]
	if dg == nil {
		if end > maxDatagram {
			f.Stats.Dropped++
			return nil, false
		}
		dg = f.newDatagram(k, ts)
	}
	if end > maxDatagram || (dg.total >= 0 && end > dg.total) || (!more && dg.total >= 0 && end != dg.total) ||
		(!more && len(dg.frags) > 0 && dg.frags[len(dg.frags)-1].off+len(dg.frags[len(dg.frags)-1].data) > end) {
		f.Stats.Dropped++
		f.remove(dg)
		return nil, false
	}
	// Find the first fragment at or after off; only the neighbours can overlap.
	lo, hi := 0, len(dg.frags)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if dg.frags[m].off < off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo > 0 && dg.frags[lo-1].off+len(dg.frags[lo-1].data) > off || lo < len(dg.frags) && dg.frags[lo].off < end {
		f.Stats.Dropped++ // overlap: keep the first copy
		return nil, false
	}
	if len(dg.frags) >= f.MaxFragments {
		f.Stats.Dropped++ // a datagram in more pieces than any real path makes
		f.remove(dg)
		return nil, false
	}
	if !more {
		dg.total = end
	}
	if off == 0 && len(data) >= 4 && (k.proto == ProtoTCP || k.proto == ProtoUDP) {
		copy(dg.ports[:], data[:4])
		dg.hasPorts = true
	}
	dg.frags = append(dg.frags, fragment{})
	copy(dg.frags[lo+1:], dg.frags[lo:])
	dg.frags[lo] = fragment{off: off, data: append([]byte(nil), data...)}
	dg.bytes += len(data)
	f.held += len(data)
	// Fragments never overlap and all lie inside [0, total) once total is
	// known, so the byte count alone says whether they tile it.
	if dg.total < 0 || dg.bytes != dg.total {
		for f.held > f.MaxBytes && f.head != nil && f.head != dg {
			f.evict(f.head)
		}
		return nil, false
	}
	if cap(f.out) < dg.total {
		f.out = make([]byte, maxDatagram)
	}
	f.out = f.out[:dg.total]
	for _, fr := range dg.frags {
		copy(f.out[fr.off:], fr.data)
	}
	f.remove(dg)
	f.Stats.Reassembled++
	return f.out, true
}

// newDatagram starts a datagram, evicting first if its source or the table is full.
func (f *Defragmenter) newDatagram(k fragKey, ts int64) *datagram {
	sk := srcKey{addr: k.src, v6: k.v6}
	s := f.sources[sk]
	if s != nil && s.n >= f.perSource() {
		f.evict(s.head)
		s = f.sources[sk]
	}
	if len(f.pending) >= f.MaxDatagrams && f.head != nil {
		f.evict(f.head)
		s = f.sources[sk]
	}
	if s == nil {
		s = &source{}
		f.sources[sk] = s
	}
	dg := &datagram{key: k, total: -1, firstSeen: ts, src: s}
	f.pending[k] = dg
	// age list
	dg.prev = f.tail
	if f.tail != nil {
		f.tail.next = dg
	} else {
		f.head = dg
	}
	f.tail = dg
	// source list
	dg.sprev = s.tail
	if s.tail != nil {
		s.tail.snext = dg
	} else {
		s.head = dg
	}
	s.tail = dg
	s.n++
	return dg
}

// remove forgets dg (completed, refused or evicted).
func (f *Defragmenter) remove(dg *datagram) {
	delete(f.pending, dg.key)
	f.held -= dg.bytes
	if dg.prev != nil {
		dg.prev.next = dg.next
	} else {
		f.head = dg.next
	}
	if dg.next != nil {
		dg.next.prev = dg.prev
	} else {
		f.tail = dg.prev
	}
	s := dg.src
	if dg.sprev != nil {
		dg.sprev.snext = dg.snext
	} else {
		s.head = dg.snext
	}
	if dg.snext != nil {
		dg.snext.sprev = dg.sprev
	} else {
		s.tail = dg.sprev
	}
	if s.n--; s.n == 0 {
		delete(f.sources, srcKey{addr: dg.key.src, v6: dg.key.v6})
	}
	dg.prev, dg.next, dg.sprev, dg.snext, dg.frags = nil, nil, nil, nil, nil
}

func (f *Defragmenter) evict(dg *datagram) {
	f.Stats.Evicted++
	if dg.hasPorts && len(f.Lost) < maxLost {
		f.Lost = append(f.Lost, LostFlow{
			Src: dg.key.src, Dst: dg.key.dst, Proto: dg.key.proto, IPv6: dg.key.v6,
			SrcPort: binary.BigEndian.Uint16(dg.ports[0:2]), DstPort: binary.BigEndian.Uint16(dg.ports[2:4]),
		})
	}
	f.remove(dg)
}

// expire drops incomplete datagrams older than Timeout; the age list is in
// arrival order, so only the expired ones are looked at.
func (f *Defragmenter) expire(now int64) {
	for dg := f.head; dg != nil && now-dg.firstSeen > f.Timeout; dg = f.head {
		f.remove(dg)
		f.Stats.Expired++
	}
}
