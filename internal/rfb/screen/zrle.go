package screen

import (
	"encoding/binary"
	"fmt"
	"image"
)

const zrleTile = 64

// zlibRect: the Zlib encoding (6), raw pixels through the connection's own
// zlib stream, behind a 4-byte length.
func (s *Screen) zlibRect(r image.Rectangle, p []byte) (int, error) {
	z := &s.zlib
	in := &slice{b: p}
	n, err := in.u32()
	if err != nil {
		z.fail()
		return in.off, err
	}
	data, err := in.take(n)
	if err != nil {
		z.fail()
		return in.off, err
	}
	if err := z.begin(data); err != nil {
		return in.off, err
	}
	row := r.Dx() * s.px.bpp
	for y := r.Min.Y; y < r.Max.Y; y++ {
		b, err := z.take(row)
		if err != nil {
			return in.off, err
		}
		s.pixelsTo(image.Rect(r.Min.X, y, r.Max.X, y+1), b, pixNative)
	}
	return in.off, z.end()
}

// zrleRect: RFC 6143 7.7.6. A 4-byte length, then zlib data (one stream for
// the whole connection) holding 64x64 tiles left to right, top to bottom.
func (s *Screen) zrleRect(r image.Rectangle, p []byte) (int, error) {
	z := &s.zrle
	in := &slice{b: p}
	n, err := in.u32()
	if err != nil {
		z.fail()
		return in.off, err
	}
	data, err := in.take(n)
	if err != nil {
		z.fail()
		return in.off, err
	}
	if err := z.begin(data); err != nil {
		return in.off, err
	}
	for ty := r.Min.Y; ty < r.Max.Y; ty += zrleTile {
		for tx := r.Min.X; tx < r.Max.X; tx += zrleTile {
			tile := image.Rect(tx, ty, min(tx+zrleTile, r.Max.X), min(ty+zrleTile, r.Max.Y))
			if err := s.zrleTile(tile, z); err != nil {
				z.fail()
				return in.off, err
			}
		}
	}
	return in.off, z.end()
}

func (s *Screen) zrleTile(tile image.Rectangle, z *zstream) error {
	sub, err := z.readByte()
	if err != nil {
		return err
	}
	k := s.px.cpix
	w, h := tile.Dx(), tile.Dy()
	switch {
	case sub == 0: // raw CPIXELs
		b, err := z.take(w * h * s.px.size(k))
		if err != nil {
			return err
		}
		s.pixelsTo(tile, b, k)
		return nil
	case sub == 1: // solid
		c, err := s.pixel(z, k)
		if err != nil {
			return err
		}
		s.fill(tile, c)
		return nil
	case sub <= 16: // packed palette
		var pal [16][4]uint8
		for i := 0; i < int(sub); i++ {
			if pal[i], err = s.pixel(z, k); err != nil {
				return err
			}
		}
		bits := 4
		switch {
		case sub == 2:
			bits = 1
		case sub <= 4:
			bits = 2
		}
		return s.packed(tile, z, pal[:sub], bits)
	case sub == 128: // plain RLE
		return s.runs(tile, z, nil)
	case sub >= 130: // palette RLE
		var pal [127][4]uint8
		n := int(sub) - 128
		for i := 0; i < n; i++ {
			if pal[i], err = s.pixel(z, k); err != nil {
				return err
			}
		}
		return s.runs(tile, z, pal[:n])
	}
	return fmt.Errorf("%w: zrle sub-encoding %d", ErrMalformed, sub)
}

// packed reads palette indices of bits each, rows padded to a byte, most
// significant bits first (ZRLE packed palette and Tight's 2-colour palette).
func (s *Screen) packed(r image.Rectangle, in src, pal [][4]uint8, bits int) error {
	w := r.Dx()
	rowLen := (w*bits + 7) / 8
	perByte := 8 / bits
	mask := byte(1<<bits - 1)
	// Indices past the palette are refused; the table has every index bits can make.
	var words [16]uint32
	for i := range words {
		if i < len(pal) {
			words[i] = binary.LittleEndian.Uint32(pal[i][:])
		}
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		b, err := in.take(rowLen)
		if err != nil {
			return err
		}
		o := s.fb.PixOffset(r.Min.X, y)
		dst := s.fb.Pix[o : o+w*4]
		x := 0
		for _, c := range b {
			for j := 0; j < perByte && x < w; j++ {
				i := (c >> (8 - bits)) & mask
				c <<= bits
				if int(i) >= len(pal) {
					return fmt.Errorf("%w: palette index %d of %d", ErrMalformed, i, len(pal))
				}
				binary.LittleEndian.PutUint32(dst[x*4:], words[i])
				x++
			}
		}
	}
	return nil
}

// runs reads ZRLE run-length data: plain (pal nil: a CPIXEL per run) or
// palette (an index byte, its top bit saying whether a run length follows).
// Run lengths are 1 + the sum of bytes up to the first one below 255.
func (s *Screen) runs(tile image.Rectangle, z *zstream, pal [][4]uint8) error {
	w, total := tile.Dx(), tile.Dx()*tile.Dy()
	for pos := 0; pos < total; {
		var c [4]uint8
		long := true
		if pal == nil {
			var err error
			if c, err = s.pixel(z, s.px.cpix); err != nil {
				return err
			}
		} else {
			i, err := z.readByte()
			if err != nil {
				return err
			}
			long = i&128 != 0
			i &= 127
			if int(i) >= len(pal) {
				return fmt.Errorf("%w: palette index %d of %d", ErrMalformed, i, len(pal))
			}
			c = pal[i]
		}
		n := 1
		if long {
			for {
				b, err := z.readByte()
				if err != nil {
					return err
				}
				n += int(b)
				if n > total {
					return fmt.Errorf("%w: run of %d in a %d-pixel tile", ErrMalformed, n, total)
				}
				if b != 255 {
					break
				}
			}
		}
		if n > total-pos {
			return fmt.Errorf("%w: run of %d past the tile's end", ErrMalformed, n)
		}
		for n > 0 {
			x, y := pos%w, pos/w
			k := min(n, w-x)
			s.fill(image.Rect(tile.Min.X+x, tile.Min.Y+y, tile.Min.X+x+k, tile.Min.Y+y+1), c)
			pos += k
			n -= k
		}
	}
	return nil
}
