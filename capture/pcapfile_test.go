package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// pcapBytes writes a classic pcap file: order and resolution as asked.
func pcapBytes(order binary.ByteOrder, nanos bool, link uint32, recs ...[]byte) []byte {
	var b bytes.Buffer
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	h := make([]byte, 24)
	order.PutUint32(h[0:], magic)
	order.PutUint16(h[4:], 2)
	order.PutUint16(h[6:], 4)
	order.PutUint32(h[16:], 65535)
	order.PutUint32(h[20:], link)
	b.Write(h)
	for i, r := range recs {
		rh := make([]byte, 16)
		order.PutUint32(rh[0:], uint32(1700000000+i))
		order.PutUint32(rh[4:], 123)
		order.PutUint32(rh[8:], uint32(len(r)))
		order.PutUint32(rh[12:], uint32(len(r)+10))
		b.Write(rh)
		b.Write(r)
	}
	return b.Bytes()
}

func TestPcapReader(t *testing.T) {
	recs := [][]byte{[]byte("first packet"), bytes.Repeat([]byte{7}, 3000), {}}
	for _, c := range []struct {
		order binary.ByteOrder
		nanos bool
	}{{binary.LittleEndian, false}, {binary.BigEndian, false}, {binary.LittleEndian, true}, {binary.BigEndian, true}} {
		// A tiny read size forces records across buffer refills.
		p, err := newPcapReader(&slowReader{b: pcapBytes(c.order, c.nanos, 1|0x10000000, recs...)})
		if err != nil {
			t.Fatal(err)
		}
		if p.link != 1 {
			t.Fatalf("link %d", p.link)
		}
		for i, want := range recs {
			data, ts, orig, err := p.next()
			if err != nil || !bytes.Equal(data, want) || orig != len(want)+10 {
				t.Fatalf("record %d: %q %v orig %d", i, data, err, orig)
			}
			frac := int64(123000)
			if c.nanos {
				frac = 123
			}
			if ts != int64(1700000000+i)*1e9+frac {
				t.Fatalf("record %d: ts %d", i, ts)
			}
		}
		if _, _, _, err := p.next(); err != io.EOF {
			t.Fatalf("end: %v", err)
		}
	}
	// Cut inside a record: ErrUnexpectedEOF after the good ones, read or mapped.
	b := pcapBytes(binary.LittleEndian, false, 1, recs...)
	cut := b[:24+16+12+16+100]
	rd, _ := newPcapReader(bytes.NewReader(cut))
	mp, _ := newMappedPcapReader(cut)
	for _, p := range []*pcapReader{rd, mp} {
		if _, _, _, err := p.next(); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := p.next(); err != io.ErrUnexpectedEOF {
			t.Fatalf("cut record: %v", err)
		}
	}
	// Mapped: the same records as read.
	mp, _ = newMappedPcapReader(b)
	for i, want := range recs {
		if data, _, _, err := mp.next(); err != nil || !bytes.Equal(data, want) {
			t.Fatalf("mapped record %d: %q %v", i, data, err)
		}
	}
	if _, _, _, err := mp.next(); err != io.EOF {
		t.Fatalf("mapped end: %v", err)
	}
}

type slowReader struct{ b []byte }

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 7)], s.b)
	s.b = s.b[n:]
	return n, nil
}

// FuzzPcapReader: any bytes give records or an error, never a panic or a
// record longer than the cap.
func FuzzPcapReader(f *testing.F) {
	f.Add(pcapBytes(binary.LittleEndian, false, 1, []byte("abc"), []byte("defg"))) // two records
	f.Add(pcapBytes(binary.BigEndian, true, 276, []byte("x")))                     // big-endian, nanoseconds, SLL2
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1})                                          // header cut short
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, open := range []func() (*pcapReader, error){
			func() (*pcapReader, error) { return newPcapReader(bytes.NewReader(b)) },
			func() (*pcapReader, error) { return newMappedPcapReader(b) },
		} {
			p, err := open()
			if err != nil {
				continue
			}
			for i := 0; i < 1000; i++ {
				data, _, _, err := p.next()
				if err != nil {
					break
				}
				if len(data) > maxRecord {
					t.Fatalf("record of %d bytes", len(data))
				}
			}
		}
	})
}
