package screen

import (
	"compress/flate"
	"errors"
	"fmt"
	"io"
)

// errShort: the compressed bytes of this rectangle ran out before the
// picture was complete.
var errShort = errors.New("screen: compressed data ends early")

// zin is the compressed input of a stream: the few bytes the last rectangle
// left unconsumed (carry, typically the flush marker) followed by the current
// rectangle's bytes, borrowed for the rectangle's time only. It is a
// flate.Reader (a ByteReader), so the decompressor reads exactly what it
// needs and never buffers past a rectangle's end.
type zin struct {
	carry []byte
	cpos  int
	cur   []byte
	pos   int
}

func (z *zin) ReadByte() (byte, error) {
	if z.cpos < len(z.carry) {
		c := z.carry[z.cpos]
		z.cpos++
		return c, nil
	}
	if z.pos >= len(z.cur) {
		return 0, errShort
	}
	c := z.cur[z.pos]
	z.pos++
	return c, nil
}

func (z *zin) Read(p []byte) (int, error) {
	if z.cpos < len(z.carry) {
		n := copy(p, z.carry[z.cpos:])
		z.cpos += n
		return n, nil
	}
	if z.pos >= len(z.cur) {
		return 0, errShort
	}
	n := copy(p, z.cur[z.pos:])
	z.pos += n
	return n, nil
}

// left is how many input bytes are still unread.
func (z *zin) left() int { return len(z.carry) - z.cpos + len(z.cur) - z.pos }

// keep moves what is unread into carry and lets go of the rectangle's bytes.
func (z *zin) keep() {
	rest := append(z.carry[z.cpos:z.cpos:z.cpos], z.cur[z.pos:]...) // never aliases cur
	z.carry = append(z.carry[:0], rest...)
	z.cpos, z.cur, z.pos = 0, nil, 0
}

// zstream is one zlib stream of a connection (RFC 1950 around RFC 1951). The
// server compresses each rectangle's data into it and flushes, so one
// rectangle's compressed bytes yield exactly its data; the dictionary carries
// over to the next rectangle.
type zstream struct {
	in      zin
	fr      io.ReadCloser // nil until the stream's first bytes (the zlib header) arrive
	started bool
	out     []byte // decompressed bytes read ahead, out[r:w]
	r, w    int
	broken  bool
	tmp     []byte // what take returned
}

// begin gives the stream one rectangle's compressed bytes (borrowed until end).
func (z *zstream) begin(data []byte) error {
	if z.broken {
		return ErrBroken
	}
	z.in.cur, z.in.pos = data, 0
	if !z.started {
		hdr := make([]byte, 0, 2)
		for len(hdr) < 2 {
			c, err := z.in.ReadByte()
			if err != nil {
				z.fail()
				return fmt.Errorf("%w: zlib header missing", ErrMalformed)
			}
			hdr = append(hdr, c)
		}
		cmf, flg := hdr[0], hdr[1]
		// RFC 1950 2.2: deflate, window up to 32K, header checksum, no preset dictionary.
		if cmf&0x0f != 8 || cmf>>4 > 7 || (uint16(cmf)<<8|uint16(flg))%31 != 0 || flg&0x20 != 0 {
			z.fail()
			return fmt.Errorf("%w: bad zlib header %02x %02x", ErrMalformed, cmf, flg)
		}
		if z.fr == nil {
			z.fr = flate.NewReader(&z.in)
		} else if err := z.fr.(flate.Resetter).Reset(&z.in, nil); err != nil {
			z.fail()
			return err
		}
		z.started = true
	}
	if z.out == nil {
		z.out = make([]byte, 4096)
	}
	return nil
}

// end checks that the rectangle used all its decompressed data.
func (z *zstream) end() error {
	if z.broken {
		return ErrBroken
	}
	if z.w > z.r {
		n := z.w - z.r
		z.fail()
		return fmt.Errorf("%w: %d decompressed bytes left after the rectangle", ErrMalformed, n)
	}
	// What stays unread is the flush marker (an empty block, a few bytes) the
	// decompressor reads at the start of the next rectangle; more would be
	// data of no rectangle.
	if n := z.in.left(); n > maxLeftover {
		z.fail()
		return fmt.Errorf("%w: %d compressed bytes unused by the rectangle", ErrMalformed, n)
	}
	z.in.keep()
	return nil
}

func (z *zstream) fill() error {
	if z.broken {
		return ErrBroken
	}
	z.r, z.w = 0, 0
	n, err := z.fr.Read(z.out)
	z.w = n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	z.fail()
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errShort) || err == io.EOF {
		return fmt.Errorf("%w: %w", ErrMalformed, errShort)
	}
	return fmt.Errorf("%w: %w", ErrMalformed, err)
}

func (z *zstream) readByte() (byte, error) {
	if z.r >= z.w {
		if err := z.fill(); err != nil {
			return 0, err
		}
	}
	c := z.out[z.r]
	z.r++
	return c, nil
}

// readFull fills p with the next decompressed bytes.
func (z *zstream) readFull(p []byte) error {
	for len(p) > 0 {
		if z.r >= z.w {
			if len(p) >= len(z.out) {
				// Large reads go straight through; flate stops at what is asked.
				n, err := io.ReadFull(z.fr, p)
				if err != nil {
					z.fail()
					if n < len(p) {
						return fmt.Errorf("%w: %w", ErrMalformed, errShort)
					}
					return fmt.Errorf("%w: %w", ErrMalformed, err)
				}
				return nil
			}
			if err := z.fill(); err != nil {
				return err
			}
		}
		n := copy(p, z.out[z.r:z.w])
		z.r += n
		p = p[n:]
	}
	return nil
}

// fail: the stream lost its place; refuse it until reset.
func (z *zstream) fail() {
	z.broken = true
	z.in = zin{carry: z.in.carry[:0]}
	z.r, z.w = 0, 0
	z.started = false
}

// reset starts a new stream (Tight's reset bits); the next bytes carry a new
// zlib header. The decompressor is kept for reuse.
func (z *zstream) reset() {
	z.broken = false
	z.in = zin{carry: z.in.carry[:0]}
	z.r, z.w = 0, 0
	z.started = false
}

// take returns the next n decompressed bytes, valid until the next call.
func (z *zstream) take(n int) ([]byte, error) {
	if cap(z.tmp) < n {
		z.tmp = make([]byte, n)
	}
	b := z.tmp[:n]
	return b, z.readFull(b)
}
