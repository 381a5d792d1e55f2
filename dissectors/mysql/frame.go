package mysql

import (
	"bytes"
	"compress/zlib"
	"io"
)

// Packet is one logical packet (Protocol::Packet): the payload of one frame,
// or of a run of 2^24-1-byte frames and the shorter one that ends them.
// Data holds at most the framer's keep bytes of it (borrowed when it came
// whole in one call); Len is its whole length.
type Packet struct {
	Seq  byte
	Len  int
	Data []byte
}

// Truncated reports whether Data holds less than the whole payload.
func (p *Packet) Truncated() bool { return len(p.Data) < p.Len }

// framer cuts one direction's bytes into logical packets, keeping at most
// keep bytes of each; the rest is skipped by length.
type framer struct {
	keep   int
	hdr    [4]byte
	nh     int    // header bytes held
	remain int    // payload bytes of the current frame still to come
	inPkt  bool   // inside a packet (between its first header and its end)
	more   bool   // the current frame is full-size: another frame continues the packet
	buf    []byte // the kept prefix of the current packet
	length int    // bytes of the current packet so far
	seq    byte
}

// next returns the next complete packet from data, and the bytes after it.
// ok is false when data ended first (everything was consumed).
func (f *framer) next(data []byte) (p Packet, rest []byte, ok bool) {
	for {
		if f.remain == 0 && f.nh == 0 && !f.inPkt && len(data) >= 4 {
			// A whole frame in data: hand it out without copying.
			n := int(data[0]) | int(data[1])<<8 | int(data[2])<<16
			if n < maxFrame && len(data) >= 4+n {
				return Packet{Seq: data[3], Len: n, Data: data[4 : 4+min(n, f.keep)]}, data[4+n:], true
			}
		}
		if f.remain == 0 && (f.nh > 0 || !f.inPkt || f.more) {
			// Read a frame header.
			if len(data) == 0 {
				return Packet{}, nil, false
			}
			c := copy(f.hdr[f.nh:], data)
			f.nh += c
			data = data[c:]
			if f.nh < 4 {
				return Packet{}, nil, false
			}
			f.nh = 0
			n := int(f.hdr[0]) | int(f.hdr[1])<<8 | int(f.hdr[2])<<16
			if !f.inPkt {
				f.inPkt, f.seq, f.length, f.buf = true, f.hdr[3], 0, f.buf[:0]
			}
			f.remain, f.more = n, n == maxFrame
			if n == 0 {
				p, done := f.finish()
				if done {
					return p, data, true
				}
				continue
			}
		}
		if len(data) == 0 {
			return Packet{}, nil, false
		}
		take := min(f.remain, len(data))
		if room := f.keep - len(f.buf); room > 0 {
			f.buf = append(f.buf, data[:min(take, room)]...)
		}
		f.length += take
		f.remain -= take
		data = data[take:]
		if f.remain == 0 {
			if p, done := f.finish(); done {
				return p, data, true
			}
		}
	}
}

// finish ends a frame: the packet is complete unless the frame was full-size.
func (f *framer) finish() (Packet, bool) {
	if f.more {
		return Packet{}, false
	}
	f.inPkt = false
	return Packet{Seq: f.seq, Len: f.length, Data: f.buf}, true
}

// reset forgets a partial packet (after a gap).
func (f *framer) reset() {
	f.nh, f.remain, f.inPkt, f.more, f.length = 0, 0, false, false, 0
	f.buf = f.buf[:0]
}

// idle reports whether the framer is between packets.
func (f *framer) idle() bool { return f.nh == 0 && f.remain == 0 && !f.inPkt }

// Compressed protocol (Protocol::Compression): each compressed packet has a
// 7-byte header (3 bytes compressed length, 1 byte sequence, 3 bytes length
// before compression, 0 when the payload is sent as is) and carries a piece
// of the stream of ordinary packets.
const (
	// maxCompressed caps the compressed payload held for inflating; a longer
	// one is skipped and the direction's packet stream is lost.
	maxCompressed = 1 << 20
	// inflateChunk is how much inflated data is handed on at a time.
	inflateChunk = 32 << 10
)

type decompressor struct {
	hdr    [7]byte
	nh     int
	remain int
	skip   bool // the current payload is too long: skipped
	plain  bool // the current payload is not compressed
	ulen   int  // its declared length before compression
	buf    []byte
	zr     io.ReadCloser
	br     bytes.Reader
	out    []byte
	Bad    bool // an inflate error or an over-long payload happened
}

// feed reads compressed packets from data and passes the stream they carry
// to emit, a chunk at a time. It returns false when the stream was lost
// (emit must then reset its framer).
func (d *decompressor) feed(data []byte, emit func([]byte)) (intact bool) {
	intact = true
	for len(data) > 0 {
		if d.remain == 0 {
			c := copy(d.hdr[d.nh:], data)
			d.nh += c
			data = data[c:]
			if d.nh < 7 {
				return intact
			}
			d.nh = 0
			clen := int(d.hdr[0]) | int(d.hdr[1])<<8 | int(d.hdr[2])<<16
			d.ulen = int(d.hdr[4]) | int(d.hdr[5])<<8 | int(d.hdr[6])<<16
			d.plain = d.ulen == 0
			d.remain = clen
			d.skip = !d.plain && clen > maxCompressed
			d.buf = d.buf[:0]
			if d.skip {
				d.Bad, intact = true, false
			}
			if clen == 0 {
				continue
			}
		}
		take := min(d.remain, len(data))
		chunk := data[:take]
		data = data[take:]
		d.remain -= take
		switch {
		case d.skip:
		case d.plain:
			emit(chunk)
		default:
			d.buf = append(d.buf, chunk...)
			if d.remain == 0 && !d.inflate(emit) {
				d.Bad, intact = true, false
			}
		}
	}
	return intact
}

// inflate decompresses the held payload, at most its declared length.
func (d *decompressor) inflate(emit func([]byte)) bool {
	d.br.Reset(d.buf)
	var err error
	if d.zr == nil {
		d.zr, err = zlib.NewReader(&d.br)
	} else {
		err = d.zr.(zlib.Resetter).Reset(&d.br, nil)
	}
	if err != nil {
		return false
	}
	if d.out == nil {
		d.out = make([]byte, inflateChunk)
	}
	left := d.ulen
	for left > 0 {
		n, err := d.zr.Read(d.out[:min(len(d.out), left)])
		if n > 0 {
			emit(d.out[:n])
			left -= n
		}
		if err == io.EOF {
			return left == 0
		}
		if err != nil {
			return false
		}
	}
	d.buf = d.buf[:0]
	if cap(d.buf) > 64<<10 {
		d.buf = nil // a large payload's buffer is not kept
	}
	return true
}

func (d *decompressor) reset() {
	d.nh, d.remain, d.skip = 0, 0, false
	d.buf = d.buf[:0]
}
