package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// pcapReader reads classic pcap files (the tcpdump format: a 24-byte global
// header, then a 16-byte header per record). It is here instead of gopacket's
// pcapgo for the hot path: records are returned as slices of one large read
// buffer, so a packet costs no copy and no allocation. pcapng still goes
// through pcapgo.
type pcapReader struct {
	r       io.Reader
	buf     []byte
	start   int // first unread byte
	end     int // end of valid data
	order   binary.ByteOrder
	nanos   bool
	link    int
	snaplen int
	eof     bool
	mapped  bool // buf is the whole file, mapped read-only: never written
	// release, for a mapped file, hands pages already read back to the
	// kernel, so the process does not appear to hold the whole file.
	release  func([]byte)
	released int
}

// releaseEvery is how much of a mapped file is read between releases.
const releaseEvery = 16 << 20

// maxRecord bounds a record's captured length: larger is a corrupt file.
const maxRecord = 1 << 20

func newPcapReader(r io.Reader) (*pcapReader, error) {
	return initPcapReader(&pcapReader{r: r, buf: make([]byte, 4<<20)})
}

// newMappedPcapReader reads a whole file held in memory (mapped): records
// are slices of it.
func newMappedPcapReader(mem []byte) (*pcapReader, error) {
	return initPcapReader(&pcapReader{buf: mem, end: len(mem), eof: true, mapped: true})
}

func initPcapReader(p *pcapReader) (*pcapReader, error) {
	if err := p.fill(24); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	h := p.buf[p.start : p.start+24]
	switch {
	case h[0] == 0xa1 && h[1] == 0xb2 && h[2] == 0xc3 && h[3] == 0xd4:
		p.order = binary.BigEndian
	case h[0] == 0xd4 && h[1] == 0xc3 && h[2] == 0xb2 && h[3] == 0xa1:
		p.order = binary.LittleEndian
	case h[0] == 0xa1 && h[1] == 0xb2 && h[2] == 0x3c && h[3] == 0x4d:
		p.order, p.nanos = binary.BigEndian, true
	case h[0] == 0x4d && h[1] == 0x3c && h[2] == 0xb2 && h[3] == 0xa1:
		p.order, p.nanos = binary.LittleEndian, true
	default:
		return nil, ErrNotCapture
	}
	p.snaplen = int(p.order.Uint32(h[16:20]))
	// The link type is the low 16 bits; the upper bits may carry FCS flags.
	p.link = int(p.order.Uint32(h[20:24]) & 0xffff)
	p.start += 24
	return p, nil
}

// fill makes at least n unread bytes available, or fails with io.EOF (no
// bytes at all) or io.ErrUnexpectedEOF (some, but fewer than n).
func (p *pcapReader) fill(n int) error {
	if p.end-p.start >= n {
		return nil
	}
	if p.mapped {
		if p.end == p.start {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	if n > len(p.buf) {
		nb := make([]byte, n+len(p.buf))
		p.end = copy(nb, p.buf[p.start:p.end])
		p.start, p.buf = 0, nb
	} else if p.start+n > len(p.buf) {
		p.end = copy(p.buf, p.buf[p.start:p.end])
		p.start = 0
	}
	for p.end-p.start < n && !p.eof {
		m, err := p.r.Read(p.buf[p.end:])
		p.end += m
		if err == io.EOF {
			p.eof = true
		} else if err != nil {
			return err
		}
	}
	if p.end-p.start >= n {
		return nil
	}
	if p.end == p.start {
		return io.EOF
	}
	return io.ErrUnexpectedEOF
}

var errBadRecord = errors.New("pcap record length out of range")

// next returns the next record's data (valid until the next call), its time
// in nanoseconds and its original length.
func (p *pcapReader) next() ([]byte, int64, int, error) {
	if err := p.fill(16); err != nil {
		return nil, 0, 0, err
	}
	h := p.buf[p.start : p.start+16]
	sec := int64(p.order.Uint32(h[0:4]))
	frac := int64(p.order.Uint32(h[4:8]))
	incl := int(p.order.Uint32(h[8:12]))
	orig := int(p.order.Uint32(h[12:16]))
	if incl > maxRecord {
		return nil, 0, 0, errBadRecord
	}
	if err := p.fill(16 + incl); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // a header without its data
		}
		return nil, 0, 0, err
	}
	data := p.buf[p.start+16 : p.start+16+incl]
	if p.release != nil && p.start-p.released >= releaseEvery {
		// Everything before this record is done with; keep whole pages.
		upto := p.start &^ (1<<16 - 1)
		p.release(p.buf[p.released:upto])
		p.released = upto
	}
	p.start += 16 + incl
	if !p.nanos {
		frac *= 1000
	}
	return data, sec*1e9 + frac, orig, nil
}
