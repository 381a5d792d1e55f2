package screen

import "fmt"

// src is where a decoder reads a rectangle's bytes from: the payload itself,
// or a zlib stream's output.
type src interface {
	readByte() (byte, error)
	take(n int) ([]byte, error) // the next n bytes, valid until the next call
}

// slice reads a payload front to back.
type slice struct {
	b   []byte
	off int
}

func (s *slice) readByte() (byte, error) {
	if s.off >= len(s.b) {
		return 0, fmt.Errorf("%w: rectangle ends early", ErrMalformed)
	}
	c := s.b[s.off]
	s.off++
	return c, nil
}

func (s *slice) take(n int) ([]byte, error) {
	if n < 0 || len(s.b)-s.off < n {
		return nil, fmt.Errorf("%w: rectangle ends early (%d bytes wanted, %d left)", ErrMalformed, n, len(s.b)-s.off)
	}
	b := s.b[s.off : s.off+n]
	s.off += n
	return b, nil
}

func (s *slice) u16() (int, error) {
	b, err := s.take(2)
	if err != nil {
		return 0, err
	}
	return int(b[0])<<8 | int(b[1]), nil
}

func (s *slice) u32() (int, error) {
	b, err := s.take(4)
	if err != nil {
		return 0, err
	}
	return int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3]), nil
}

// compact reads Tight's compact length (see walker.compact).
func (s *slice) compact() (int, error) {
	n, shift := 0, 0
	for i := 0; i < 3; i++ {
		c, err := s.readByte()
		if err != nil {
			return 0, err
		}
		if i == 2 {
			return n | int(c)<<14, nil
		}
		n |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			break
		}
		shift += 7
	}
	return n, nil
}

// pixel reads one pixel of kind k as RGBA.
func (s *Screen) pixel(r src, k pixKind) ([4]uint8, error) {
	b, err := r.take(s.px.size(k))
	if err != nil {
		return [4]uint8{}, err
	}
	return s.px.colour(b, k), nil
}
