package decode

import (
	"encoding/binary"
	"sort"
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

type datagram struct {
	frags     []fragment
	bytes     int
	total     int // known once the last fragment (MF=0) arrived; -1 before
	firstSeen int64
}

// DefragStats counts what the defragmenter did, for the run summary.
type DefragStats struct {
	Reassembled uint64 // datagrams rebuilt
	Expired     uint64 // incomplete datagrams dropped on timeout
	Dropped     uint64 // fragments refused: limits reached or inconsistent
}

// Defragmenter rebuilds IPv4 and IPv6 datagrams from their fragments. Memory is
// bounded by MaxDatagrams in progress of at most 64 KiB each; incomplete ones
// expire after Timeout nanoseconds of packet time. Overlapping fragments are
// resolved first-come-first-kept, and an overlap is counted as a drop because it
// is a known evasion trick (RFC 5722 forbids them for IPv6).
type Defragmenter struct {
	MaxDatagrams int
	Timeout      int64
	Stats        DefragStats
	pending      map[fragKey]*datagram
	out          []byte
	lastSweep    int64
}

// NewDefragmenter returns a defragmenter with limits suited to a busy link.
func NewDefragmenter() *Defragmenter {
	return &Defragmenter{MaxDatagrams: 4096, Timeout: 30e9, pending: make(map[fragKey]*datagram)}
}

const maxDatagram = 65535

// Add stores one fragment. When it completes its datagram, Add returns the
// whole transport payload; the slice is valid until the next call.
func (f *Defragmenter) Add(k fragKey, off int, more bool, data []byte, ts int64) ([]byte, bool) {
	if ts-f.lastSweep > 1e9 {
		f.sweep(ts)
	}
	dg := f.pending[k]
	if dg == nil {
		if len(f.pending) >= f.MaxDatagrams {
			f.Stats.Dropped++
			return nil, false
		}
		dg = &datagram{total: -1, firstSeen: ts}
		f.pending[k] = dg
	}
	end := off + len(data)
	if end > maxDatagram || (dg.total >= 0 && end > dg.total) || (!more && dg.total >= 0 && end != dg.total) {
		f.Stats.Dropped++
		delete(f.pending, k)
		return nil, false
	}
	for _, fr := range dg.frags {
		if off < fr.off+len(fr.data) && fr.off < end {
			f.Stats.Dropped++ // overlap: keep the first copy
			return nil, false
		}
	}
	if !more {
		dg.total = end
	}
	dg.frags = append(dg.frags, fragment{off: off, data: append([]byte(nil), data...)})
	dg.bytes += len(data)
	if dg.total < 0 || dg.bytes != dg.total {
		return nil, false
	}
	// No overlaps and the byte count matches the total; check that the
	// fragments tile [0, total) exactly (one may lie past the end if it came
	// before the last fragment told the total).
	sort.Slice(dg.frags, func(i, j int) bool { return dg.frags[i].off < dg.frags[j].off })
	at := 0
	for _, fr := range dg.frags {
		if fr.off != at {
			f.Stats.Dropped++
			delete(f.pending, k)
			return nil, false
		}
		at += len(fr.data)
	}
	if cap(f.out) < dg.total {
		f.out = make([]byte, maxDatagram)
	}
	f.out = f.out[:dg.total]
	for _, fr := range dg.frags {
		copy(f.out[fr.off:], fr.data)
	}
	delete(f.pending, k)
	f.Stats.Reassembled++
	return f.out, true
}

func (f *Defragmenter) sweep(now int64) {
	f.lastSweep = now
	for k, dg := range f.pending {
		if now-dg.firstSeen > f.Timeout {
			delete(f.pending, k)
			f.Stats.Expired++
		}
	}
}
