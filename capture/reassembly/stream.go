// Package reassembly turns the TCP segments of one direction into an ordered
// byte stream (RFC 9293 §3.4 sequence space), the way a receiver would: in-order
// data goes straight through without a copy, out-of-order data waits in a
// bounded buffer, retransmissions and overlaps are trimmed (the first copy of a
// byte wins), and a hole the capture will never fill becomes a Gap.
//
// A hole is declared when the peer acknowledges beyond it (the receiver got the
// bytes, only our capture missed them), when the buffer limits are reached, or
// when the flow ends with segments still waiting.
//
// Overlaps are compared with the copy kept: a retransmission whose bytes
// differ is the classic evasion (the monitor keeps one version, the server
// another) and is counted in Conflicts. Delivered bytes are not kept, so they
// are compared through the last tailSize bytes delivered and a checksum of
// the last delivered segment (caught: any overlap within the recent bytes,
// and any retransmission that covers the last segment; not caught: a change
// in older delivered bytes that does not cover the last segment).
package reassembly

import (
	"hash/crc32"
	"unsafe"
)

// Sink receives the ordered stream of one direction.
type Sink interface {
	// Data is called with the next contiguous bytes. data aliases the packet or
	// the stream's buffer: copy what you keep.
	Data(dir int, data []byte, ts int64)
	// Gap is called when n bytes are lost for good.
	Gap(dir int, n int, ts int64)
}

// Limits bound the memory of one direction.
type Limits struct {
	MaxBufferedBytes    int // out-of-order bytes held
	MaxBufferedSegments int
}

// DefaultLimits are generous for interactive sessions and small for bulk flows.
var DefaultLimits = Limits{MaxBufferedBytes: 256 << 10, MaxBufferedSegments: 512}

type segment struct {
	seq      uint32
	conflict bool // already counted as differing from a waiting segment
	data     []byte
	ts       int64
}

// Stream is one direction of a TCP connection. The zero value is ready.
type Stream struct {
	started  bool
	next     uint32 // next sequence number expected
	finSeq   uint32 // sequence number of the FIN
	finSeen  bool
	pending  []segment
	buffered int
	held     int // heap bytes of the buffered copies (size-class rounded)

	Delivered     uint64 // bytes handed to the sink
	Missed        uint64 // bytes reported as gaps
	Retransmitted uint64 // bytes seen twice (retransmissions, overlaps)
	// Conflicts counts overlapping segments whose bytes differed from the
	// copy kept (delivered or waiting): a sign of evasion or corruption.
	Conflicts uint64
	// MidStream is true when the stream was picked up without its SYN.
	MidStream bool

	tail    [tailSize]byte // the last bytes delivered, ending at next
	tailLen uint8
	lastSeq uint32 // the last delivered segment: where, how long, checksum
	lastLen uint32
	lastSum uint32
}

// tailSize is how many delivered bytes are kept to compare overlaps with.
const tailSize = 64

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// seqDiff is a - b in sequence space (RFC 1982 serial arithmetic).
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// Closed reports whether every byte up to the FIN was delivered.
func (s *Stream) Closed() bool { return s.finSeen && s.started && seqDiff(s.next, s.finSeq) >= 0 }

// Buffered returns the bytes waiting out of order.
func (s *Stream) Buffered() int { return s.buffered }

const segmentSize = int(unsafe.Sizeof(segment{}))

// heapCost is what a copy of n bytes takes on the heap, roughly: small
// allocations are rounded up to 16-byte classes.
func heapCost(n int) int { return (n + 15) &^ 15 }

// Footprint estimates the memory the waiting segments really take: their
// copies rounded as the allocator does, plus the segment list (40 bytes a
// slot). A thousand 1-byte segments take ~56 KB, not 1 KB.
func (s *Stream) Footprint() int { return s.held + cap(s.pending)*segmentSize }

// Segment processes one TCP segment of this direction.
func (s *Stream) Segment(dir int, seq uint32, flags uint8, payload []byte, ts int64, lim *Limits, sink Sink) {
	const (
		fin = 0x01
		syn = 0x02
	)
	if flags&syn != 0 {
		if !s.started || s.Delivered == 0 && len(s.pending) == 0 {
			s.started = true
			s.MidStream = false
			s.next = seq + 1 // the SYN occupies one sequence number
		}
		seq++
	}
	if !s.started {
		s.started = true
		s.MidStream = true
		s.next = seq
	}
	if flags&fin != 0 {
		s.finSeen = true
		s.finSeq = seq + uint32(len(payload)) // the FIN's own sequence number
	}
	if len(payload) == 0 {
		return
	}
	d := seqDiff(seq, s.next)
	switch {
	case d == 0:
		s.deliver(dir, payload, ts, sink)
		s.drain(dir, sink)
	case d < 0:
		// Starts before what we have: a retransmission, perhaps with new bytes
		// at the end. (Negate in 64 bits: -d overflows for d = -2^31.)
		old := -int64(d)
		s.compareDelivered(seq, payload)
		if old >= int64(len(payload)) {
			s.Retransmitted += uint64(len(payload))
			return
		}
		s.Retransmitted += uint64(old)
		s.deliver(dir, payload[old:], ts, sink)
		s.drain(dir, sink)
	default:
		s.hold(dir, seq, payload, ts, lim, sink)
	}
}

// Acked tells the stream that the peer acknowledged everything before ack. If
// bytes we never saw are acknowledged while later ones wait, they are lost.
func (s *Stream) Acked(dir int, ack uint32, ts int64, sink Sink) {
	// Only when the ack reaches past the start of a buffered segment is the
	// hole certainly lost to the capture: an ack that merely covers the hole
	// may have overtaken its data (a SPAN port mixes the two directions and
	// can reorder them).
	if !s.started || len(s.pending) == 0 || seqDiff(ack, s.pending[0].seq) <= 0 {
		return
	}
	s.skipTo(dir, s.pending[0].seq, ts, sink)
}

// Flush delivers everything still buffered, declaring the holes as gaps. Call
// it when the flow ends.
func (s *Stream) Flush(dir int, ts int64, sink Sink) {
	for len(s.pending) > 0 {
		s.skipTo(dir, s.pending[0].seq, ts, sink)
	}
}

func (s *Stream) deliver(dir int, b []byte, ts int64, sink Sink) {
	if s.finSeen {
		// Bytes past the FIN are not part of the stream.
		if room := seqDiff(s.finSeq, s.next); room < int32(len(b)) {
			if room <= 0 {
				return
			}
			b = b[:room]
		}
	}
	if len(b) == 0 {
		return
	}
	s.remember(b)
	s.next += uint32(len(b))
	s.Delivered += uint64(len(b))
	sink.Data(dir, b, ts)
}

// remember keeps what overlaps with b will be compared with.
func (s *Stream) remember(b []byte) {
	s.lastSeq, s.lastLen, s.lastSum = s.next, uint32(len(b)), crc32.Checksum(b, castagnoli)
	if len(b) >= tailSize {
		copy(s.tail[:], b[len(b)-tailSize:])
		s.tailLen = tailSize
		return
	}
	keep := min(int(s.tailLen), tailSize-len(b))
	copy(s.tail[:keep], s.tail[int(s.tailLen)-keep:s.tailLen])
	copy(s.tail[keep:], b)
	s.tailLen = uint8(keep + len(b))
}

// compareDelivered checks a segment starting before next against what was
// delivered, as far as it is remembered.
func (s *Stream) compareDelivered(seq uint32, p []byte) {
	ov := -int64(seqDiff(seq, s.next)) // bytes of p that were delivered
	if ov <= 0 || s.Delivered == 0 {
		return
	}
	if ov > int64(len(p)) {
		ov = int64(len(p))
	}
	// The remembered tail covers [next-tailLen, next).
	tseq := s.next - uint32(s.tailLen)
	from := int64(0) // offset in p of the first byte the tail covers
	if d := seqDiff(tseq, seq); d > 0 {
		from = int64(d)
	}
	if from < ov {
		t := s.tail[int64(seqDiff(seq, tseq))+from : s.tailLen]
		if string(p[from:ov]) != string(t[:ov-from]) {
			s.Conflicts++
			return
		}
	}
	// The last segment, if p covers it whole and the tail did not.
	if off := int64(seqDiff(s.lastSeq, seq)); off >= 0 && off+int64(s.lastLen) <= ov && s.lastLen > uint32(s.tailLen) {
		if crc32.Checksum(p[off:off+int64(s.lastLen)], castagnoli) != s.lastSum {
			s.Conflicts++
		}
	}
}

func (s *Stream) skipTo(dir int, seq uint32, ts int64, sink Sink) {
	if n := seqDiff(seq, s.next); n > 0 {
		s.Missed += uint64(n)
		s.next = seq
		sink.Gap(dir, int(n), ts)
	}
	s.drain(dir, sink)
}

// drain delivers waiting segments that became contiguous.
func (s *Stream) drain(dir int, sink Sink) {
	for len(s.pending) > 0 {
		p := s.pending[0]
		d := seqDiff(p.seq, s.next)
		if d > 0 {
			return
		}
		s.pending = s.pending[1:]
		s.buffered -= len(p.data)
		s.held -= heapCost(len(p.data))
		if !p.conflict {
			s.compareDelivered(p.seq, p.data)
		}
		old := -int64(d)
		if old >= int64(len(p.data)) {
			s.Retransmitted += uint64(len(p.data))
			continue
		}
		s.deliver(dir, p.data[old:], p.ts, sink)
	}
	if len(s.pending) == 0 {
		s.pending = nil // let the backing array go
	}
}

// hold buffers an out-of-order segment (a copy), in sequence order.
func (s *Stream) hold(dir int, seq uint32, payload []byte, ts int64, lim *Limits, sink Sink) {
	for s.buffered+len(payload) > lim.MaxBufferedBytes || len(s.pending) >= lim.MaxBufferedSegments {
		if len(s.pending) == 0 {
			// A single segment larger than the buffer: skip straight to it.
			s.skipTo(dir, seq, ts, sink)
			s.deliver(dir, payload, ts, sink)
			return
		}
		// Full: give up on the oldest hole.
		s.skipTo(dir, s.pending[0].seq, ts, sink)
		if seqDiff(seq, s.next) <= 0 {
			s.Segment(dir, seq, 0, payload, ts, lim, sink)
			return
		}
	}
	i := len(s.pending)
	for i > 0 && seqDiff(s.pending[i-1].seq, seq) > 0 {
		i--
	}
	conflict := s.comparePending(i, seq, payload)
	if i > 0 && s.pending[i-1].seq == seq && len(s.pending[i-1].data) >= len(payload) {
		s.Retransmitted += uint64(len(payload)) // same out-of-order segment again
		return
	}
	seg := segment{seq: seq, conflict: conflict, data: append([]byte(nil), payload...), ts: ts}
	s.pending = append(s.pending, segment{})
	copy(s.pending[i+1:], s.pending[i:])
	s.pending[i] = seg
	s.buffered += len(payload)
	s.held += heapCost(len(payload))
}

// comparePending checks a segment about to wait at position i against the
// waiting segments it overlaps, and marks both when they differ (counted
// once, not again when they are delivered).
func (s *Stream) comparePending(i int, seq uint32, p []byte) bool {
	for j := max(i-1, 0); j < len(s.pending); j++ {
		q := s.pending[j]
		d := int64(seqDiff(q.seq, seq)) // q's start relative to p's
		if d >= int64(len(p)) {
			return false // sorted: no later segment overlaps either
		}
		lo, hi := max(d, 0), min(int64(len(p)), d+int64(len(q.data)))
		if lo < hi && string(p[lo:hi]) != string(q.data[lo-d:hi-d]) {
			s.Conflicts++
			s.pending[j].conflict = true
			return true
		}
	}
	return false
}

// Discard drops the buffered segments without delivering them, for a flow
// that no longer needs its content.
func (s *Stream) Discard() {
	s.pending = nil
	s.buffered = 0
	s.held = 0
}
