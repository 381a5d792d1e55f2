package reassembly

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a Sink that writes what it receives as text: data as-is, gaps
// as "[gap N]".
type recorder struct{ b strings.Builder }

func (r *recorder) Data(dir int, data []byte, ts int64) { r.b.Write(data) }
func (r *recorder) Gap(dir int, n int, ts int64)        { fmt.Fprintf(&r.b, "[gap %d]", n) }

type seg struct {
	seq   uint32
	flags uint8
	data  string
	ack   uint32 // > 0: the peer acknowledges this after the segment
}

const (
	syn = 0x02
	fin = 0x01
)

func TestStream(t *testing.T) {
	const isn = 1000
	cases := []struct {
		name    string
		segs    []seg
		flush   bool
		want    string
		missed  uint64
		retrans uint64
		closed  bool
		lim     *Limits
	}{
		{name: "in order", segs: []seg{{isn, syn, "", 0}, {isn + 1, 0, "hello ", 0}, {isn + 7, 0, "world", 0}}, want: "hello world"},
		{name: "out of order", segs: []seg{{isn, syn, "", 0}, {isn + 7, 0, "world", 0}, {isn + 1, 0, "hello ", 0}}, want: "hello world"},
		{name: "three reversed", segs: []seg{{isn, syn, "", 0}, {isn + 5, 0, "c", 0}, {isn + 3, 0, "bb", 0}, {isn + 1, 0, "aa", 0}}, want: "aabbc"},
		{name: "exact retransmission", segs: []seg{{isn, syn, "", 0}, {isn + 1, 0, "abc", 0}, {isn + 1, 0, "abc", 0}, {isn + 4, 0, "def", 0}}, want: "abcdef", retrans: 3},
		{name: "overlap keeps first copy", segs: []seg{{isn, syn, "", 0}, {isn + 1, 0, "abcd", 0}, {isn + 3, 0, "XXef", 0}}, want: "abcdef", retrans: 2},
		{name: "overlapping out-of-order segments", segs: []seg{{isn, syn, "", 0}, {isn + 4, 0, "def", 0}, {isn + 3, 0, "cdefg", 0}, {isn + 1, 0, "ab", 0}}, want: "abcdefg", retrans: 3},
		{name: "gap declared at flush", segs: []seg{{isn, syn, "", 0}, {isn + 1, 0, "ab", 0}, {isn + 6, 0, "fg", 0}}, flush: true, want: "ab[gap 3]fg", missed: 3},
		{name: "gap declared by peer ack", segs: []seg{{isn, syn, "", 0}, {isn + 1, 0, "ab", 0}, {isn + 6, 0, "fg", isn + 8}}, want: "ab[gap 3]fg", missed: 3},
		{name: "ack of in-flight data is not a gap", segs: []seg{{isn, syn, "", 0}, {isn + 1, 0, "ab", isn + 3}, {isn + 3, 0, "cd", 0}}, want: "abcd"},
		{name: "ack overtaking its data is not a gap", segs: []seg{{isn, syn, "", 0}, {isn + 3, 0, "cd", isn + 3}, {isn + 1, 0, "ab", 0}}, want: "abcd"},
		{name: "midstream pickup", segs: []seg{{5000, 0, "xyz", 0}, {5003, 0, "123", 0}}, want: "xyz123"},
		{name: "syn retry", segs: []seg{{isn, syn, "", 0}, {isn, syn, "", 0}, {isn + 1, 0, "a", 0}}, want: "a"},
		{name: "sequence wraparound", segs: []seg{{0xfffffffd, syn, "", 0}, {0xfffffffe, 0, "ab", 0}, {0, 0, "cd", 0}}, want: "abcd"},
		{name: "wraparound out of order", segs: []seg{{0xfffffffd, syn, "", 0}, {0, 0, "cd", 0}, {0xfffffffe, 0, "ab", 0}}, want: "abcd"},
		{name: "fin closes", segs: []seg{{isn, syn, "", 0}, {isn + 1, fin, "bye", 0}}, want: "bye", closed: true},
		{name: "bytes after fin dropped", segs: []seg{{isn, syn, "", 0}, {isn + 1, fin, "ab", 0}, {isn + 3, 0, "zz", 0}}, want: "ab", closed: true},
		{name: "fin before missing data", segs: []seg{{isn, syn, "", 0}, {isn + 3, fin, "cd", 0}, {isn + 1, 0, "ab", 0}}, want: "abcd", closed: true},
		{
			name:  "buffer limit forces a gap",
			segs:  []seg{{isn, syn, "", 0}, {isn + 3, 0, "cc", 0}, {isn + 6, 0, "ee", 0}, {isn + 9, 0, "gg", 0}},
			lim:   &Limits{MaxBufferedBytes: 4, MaxBufferedSegments: 10},
			flush: true, want: "[gap 2]cc[gap 1]ee[gap 1]gg", missed: 4,
		},
		{
			name: "segment limit forces a gap",
			segs: []seg{{isn, syn, "", 0}, {isn + 2, 0, "b", 0}, {isn + 4, 0, "d", 0}},
			lim:  &Limits{MaxBufferedBytes: 100, MaxBufferedSegments: 1},
			want: "[gap 1]b", missed: 1,
		},
		// A segment exactly 2^31 before the next expected byte: -d overflows
		// int32 (FuzzPacketPath found the out-of-range slice).
		{name: "segment 2^31 behind", segs: []seg{{isn, syn, "", 0}, {isn + 1, 0, "ab", 0}, {uint32(isn+3) + 0x80000000, 0, "zz", 0}, {isn + 3, 0, "c", 0}}, want: "abc", retrans: 2},
		{name: "duplicate out-of-order segment", segs: []seg{{isn, syn, "", 0}, {isn + 3, 0, "cd", 0}, {isn + 3, 0, "cd", 0}, {isn + 1, 0, "ab", 0}}, want: "abcd", retrans: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s Stream
			var r recorder
			lim := DefaultLimits
			if c.lim != nil {
				lim = *c.lim
			}
			for _, g := range c.segs {
				s.Segment(0, g.seq, g.flags, []byte(g.data), 0, &lim, &r)
				if g.ack != 0 {
					s.Acked(0, g.ack, 0, &r)
				}
			}
			if c.flush {
				s.Flush(0, 0, &r)
			}
			if got := r.b.String(); got != c.want {
				t.Errorf("stream = %q, want %q", got, c.want)
			}
			if s.Missed != c.missed {
				t.Errorf("missed = %d, want %d", s.Missed, c.missed)
			}
			if s.Retransmitted != c.retrans {
				t.Errorf("retransmitted = %d, want %d", s.Retransmitted, c.retrans)
			}
			if s.Closed() != c.closed {
				t.Errorf("closed = %v, want %v", s.Closed(), c.closed)
			}
		})
	}
}

// TestStreamAllocations: in-order delivery must not allocate (the hot path).
func TestStreamAllocations(t *testing.T) {
	var s Stream
	var r nopSink
	payload := make([]byte, 1448)
	seq := uint32(1)
	s.Segment(0, 0, syn, nil, 0, &DefaultLimits, r)
	allocs := testing.AllocsPerRun(1000, func() {
		s.Segment(0, seq, 0, payload, 0, &DefaultLimits, r)
		seq += uint32(len(payload))
	})
	if allocs != 0 {
		t.Fatalf("in-order segment allocates %.1f times", allocs)
	}
}

type nopSink struct{}

func (nopSink) Data(int, []byte, int64) {}
func (nopSink) Gap(int, int, int64)     {}

func BenchmarkInOrder(b *testing.B) {
	var s Stream
	payload := make([]byte, 1448)
	s.Segment(0, 0, syn, nil, 0, &DefaultLimits, nopSink{})
	seq := uint32(1)
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		s.Segment(0, seq, 0, payload, 0, &DefaultLimits, nopSink{})
		seq += uint32(len(payload))
	}
}

// Footprint counts what waiting segments really cost, and returns to zero
// when they are delivered or discarded.
func TestFootprint(t *testing.T) {
	var s Stream
	var r recorder
	s.Segment(0, 100, 0x02, nil, 0, &DefaultLimits, &r) // SYN: next is 101
	for i := 0; i < 100; i++ {
		s.Segment(0, uint32(102+i), 0, []byte{'x'}, 0, &DefaultLimits, &r) // byte 101 missing
	}
	if s.Buffered() != 100 || s.Footprint() < 100*(16+segmentSize) {
		t.Fatalf("buffered %d, footprint %d", s.Buffered(), s.Footprint())
	}
	s.Segment(0, 101, 0, []byte{'y'}, 0, &DefaultLimits, &r)
	if s.Buffered() != 0 || s.Footprint() != 0 || r.b.Len() != 101 {
		t.Fatalf("after the hole filled: buffered %d, footprint %d, delivered %d", s.Buffered(), s.Footprint(), r.b.Len())
	}
	s.Segment(0, 300, 0, []byte("late"), 0, &DefaultLimits, &r)
	s.Discard()
	if s.Footprint() != 0 {
		t.Fatalf("after discard: %d", s.Footprint())
	}
}

// TestConflicts: overlapping copies that differ are counted, identical ones
// are not, whether the first copy was delivered or is still waiting.
func TestConflicts(t *testing.T) {
	const isn = 1000
	big := strings.Repeat("0123456789", 20) // longer than the remembered tail
	bigX := "X" + big[1:]
	cases := []struct {
		name string
		segs []seg
		want uint64
	}{
		{"exact retransmission", []seg{{isn, syn, "", 0}, {isn + 1, 0, "abc", 0}, {isn + 1, 0, "abc", 0}}, 0},
		{"retransmission with other bytes", []seg{{isn, syn, "", 0}, {isn + 1, 0, "abc", 0}, {isn + 1, 0, "abX", 0}}, 1},
		{"partial overlap, same bytes, new data after", []seg{{isn, syn, "", 0}, {isn + 1, 0, "abcd", 0}, {isn + 3, 0, "cdef", 0}}, 0},
		{"partial overlap with other bytes", []seg{{isn, syn, "", 0}, {isn + 1, 0, "abcd", 0}, {isn + 3, 0, "XXef", 0}}, 1},
		{"large segment resent identical", []seg{{isn, syn, "", 0}, {isn + 1, 0, big, 0}, {isn + 1, 0, big, 0}}, 0},
		{"large segment resent, first byte changed", []seg{{isn, syn, "", 0}, {isn + 1, 0, big, 0}, {isn + 1, 0, bigX, 0}}, 1},
		{"large segment resent with more after it", []seg{{isn, syn, "", 0}, {isn + 1, 0, big, 0}, {isn + 1, 0, bigX + "tail", 0}}, 1},
		{"waiting segments overlap, same bytes", []seg{{isn, syn, "", 0}, {isn + 4, 0, "def", 0}, {isn + 3, 0, "cdefg", 0}, {isn + 1, 0, "ab", 0}}, 0},
		{"waiting segments overlap, other bytes", []seg{{isn, syn, "", 0}, {isn + 4, 0, "def", 0}, {isn + 3, 0, "cdXfg", 0}, {isn + 1, 0, "ab", 0}}, 1},
		{"waiting duplicate with other bytes", []seg{{isn, syn, "", 0}, {isn + 3, 0, "cd", 0}, {isn + 3, 0, "cX", 0}}, 1},
		{"waiting segment overlaps delivered bytes", []seg{{isn, syn, "", 0}, {isn + 3, 0, "Xd", 0}, {isn + 1, 0, "abc", 0}}, 1},
		{"waiting segment overlaps delivered bytes, same", []seg{{isn, syn, "", 0}, {isn + 3, 0, "cd", 0}, {isn + 1, 0, "abc", 0}}, 0},
		{"one byte at a time, each resent differently", []seg{{isn, syn, "", 0}, {isn + 1, 0, "r", 0}, {isn + 1, 0, "l", 0}, {isn + 2, 0, "m", 0}, {isn + 2, 0, "s", 0}}, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var s Stream
			var r recorder
			for _, g := range c.segs {
				s.Segment(0, g.seq, g.flags, []byte(g.data), 0, &DefaultLimits, &r)
			}
			if s.Conflicts != c.want {
				t.Errorf("conflicts = %d, want %d (stream %q)", s.Conflicts, c.want, r.b.String())
			}
		})
	}
}
