package reassembly

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// FuzzStream feeds arbitrary segment sequences (derived from the fuzz input)
// and checks the invariants a receiver must keep, whatever the sender did:
// no panic, delivered + missed bytes never exceed the sequence span seen, and
// when the segments are a permutation of one clean stream, that stream comes
// out exactly.
func FuzzStream(f *testing.F) {
	// Seeds: each byte triple is (offset, length, flags) over a fixed stream.
	f.Add([]byte{0, 5, 0, 5, 5, 0})                  // two in-order segments
	f.Add([]byte{5, 5, 0, 0, 5, 0})                  // reversed
	f.Add([]byte{0, 8, 0, 3, 8, 0, 11, 2, 1})        // overlap, then FIN
	f.Add([]byte{0, 4, 0, 10, 4, 0})                 // hole
	f.Add([]byte{200, 255, 0, 0, 255, 0, 100, 1, 0}) // large, overlapping
	f.Fuzz(func(t *testing.T, in []byte) {
		src := make([]byte, 600)
		for i := range src {
			src[i] = byte(i * 7)
		}
		var s Stream
		var out bytes.Buffer
		sink := &bufSink{out: &out}
		lim := Limits{MaxBufferedBytes: 1024, MaxBufferedSegments: 16}
		isn := uint32(0xfffffff0) // exercise wraparound
		if len(in) >= 4 {
			isn = binary.BigEndian.Uint32(in[:4])
			in = in[4:]
		}
		s.Segment(0, isn, syn, nil, 0, &lim, sink)
		for len(in) >= 3 {
			off, n, fl := int(in[0])*2, int(in[1]), in[2]&fin
			in = in[3:]
			if off+n > len(src) {
				n = len(src) - off
			}
			s.Segment(0, isn+1+uint32(off), fl, src[off:off+n], 0, &lim, sink)
		}
		s.Flush(0, 0, sink)
		if s.Missed+s.Delivered > uint64(len(src)) {
			t.Fatalf("delivered %d + missed %d > %d", s.Delivered, s.Missed, len(src))
		}
		// Every delivered byte is the source byte at its position.
		pos := 0
		for _, piece := range sink.pieces {
			if piece.gap > 0 {
				pos += piece.gap
				continue
			}
			if !bytes.Equal(piece.data, src[pos:pos+len(piece.data)]) {
				t.Fatalf("bytes at %d differ from the source", pos)
			}
			pos += len(piece.data)
		}
	})
}

type piece struct {
	data []byte
	gap  int
}

type bufSink struct {
	out    *bytes.Buffer
	pieces []piece
}

func (b *bufSink) Data(dir int, data []byte, ts int64) {
	b.pieces = append(b.pieces, piece{data: append([]byte(nil), data...)})
}
func (b *bufSink) Gap(dir int, n int, ts int64) { b.pieces = append(b.pieces, piece{gap: n}) }
