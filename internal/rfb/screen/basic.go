package screen

import (
	"fmt"
	"image"
)

// rre: RFC 6143 7.7.3 (RRE) and the CoRRE variant with 8-bit subrectangle
// geometry: a background, then solid subrectangles.
func (s *Screen) rre(r image.Rectangle, p []byte, compact bool) (int, error) {
	in := &slice{b: p}
	n, err := in.u32()
	if err != nil {
		return 0, err
	}
	bg, err := s.pixel(in, pixNative)
	if err != nil {
		return 0, err
	}
	s.fill(r, bg)
	geom := 8
	if compact {
		geom = 4
	}
	if rest := len(p) - in.off; n > rest/(s.px.bpp+geom) {
		return 0, fmt.Errorf("%w: %d subrectangles in %d bytes", ErrMalformed, n, rest)
	}
	// Encoders send disjoint subrectangles; allow some overlap, not a few
	// bytes each repainting the whole rectangle.
	budget := 4 * area(r)
	for i := 0; i < n; i++ {
		c, _ := s.pixel(in, pixNative)
		g, _ := in.take(geom)
		var x, y, w, h int
		if compact {
			x, y, w, h = int(g[0]), int(g[1]), int(g[2]), int(g[3])
		} else {
			x, y = int(g[0])<<8|int(g[1]), int(g[2])<<8|int(g[3])
			w, h = int(g[4])<<8|int(g[5]), int(g[6])<<8|int(g[7])
		}
		sub := image.Rect(x, y, x+w, y+h).Add(r.Min)
		if !sub.In(r) && !sub.Empty() {
			return in.off, fmt.Errorf("%w: subrectangle %v outside %v", ErrMalformed, sub, r)
		}
		if budget -= area(sub); budget < 0 {
			return in.off, fmt.Errorf("%w: subrectangles cover more than 4 times their rectangle", ErrMalformed)
		}
		s.fill(sub, c)
	}
	return in.off, nil
}

// hextile: RFC 6143 7.7.4, 16x16 tiles left to right, top to bottom; the
// background and foreground carry over from tile to tile. With zlibHex the
// ZlibHex variant: a tile's raw pixels (ZlibRaw) or its other data (Zlib)
// may come compressed, each kind in its own zlib stream.
func (s *Screen) hextile(r image.Rectangle, p []byte, zlibHex bool) (n int, err error) {
	in := &slice{b: p}
	var bg, fg [4]uint8
	bg[3], fg[3] = 255, 255
	for ty := r.Min.Y; ty < r.Max.Y; ty += 16 {
		for tx := r.Min.X; tx < r.Max.X; tx += 16 {
			tile := image.Rect(tx, ty, min(tx+16, r.Max.X), min(ty+16, r.Max.Y))
			sub, err := in.readByte()
			if err != nil {
				return in.off, err
			}
			var body src = in
			var z *zstream
			switch {
			case zlibHex && sub&hexZlibRaw != 0:
				z = &s.zlibHexRaw
			case zlibHex && sub&hexRaw == 0 && sub&hexZlib != 0:
				z = &s.zlibHex
			}
			if z != nil {
				n, err := in.u16()
				if err != nil {
					return in.off, err
				}
				data, err := in.take(n)
				if err != nil {
					return in.off, err
				}
				if err := z.begin(data); err != nil {
					return in.off, err
				}
				body = z
			}
			if sub&hexRaw != 0 || (zlibHex && sub&hexZlibRaw != 0) {
				px, err := body.take(tile.Dx() * tile.Dy() * s.px.bpp)
				if err != nil {
					return in.off, err
				}
				s.pixelsTo(tile, px, pixNative)
			} else if bg, fg, err = s.hextileTile(tile, body, sub, bg, fg); err != nil {
				if z != nil {
					z.fail()
				}
				return in.off, err
			}
			if z != nil {
				if err := z.end(); err != nil {
					return in.off, err
				}
			}
		}
	}
	return in.off, nil
}

// hextileTile paints one non-raw tile.
func (s *Screen) hextileTile(tile image.Rectangle, in src, sub byte, bg, fg [4]uint8) (_, _ [4]uint8, err error) {
	if sub&hexBackground != 0 {
		if bg, err = s.pixel(in, pixNative); err != nil {
			return bg, fg, err
		}
	}
	s.fill(tile, bg)
	if sub&hexForeground != 0 {
		if fg, err = s.pixel(in, pixNative); err != nil {
			return bg, fg, err
		}
	}
	if sub&hexAnySubrect == 0 {
		return bg, fg, nil
	}
	count, err := in.readByte()
	if err != nil {
		return bg, fg, err
	}
	for i := 0; i < int(count); i++ {
		c := fg
		if sub&hexColoured != 0 {
			if c, err = s.pixel(in, pixNative); err != nil {
				return bg, fg, err
			}
		}
		g, err := in.take(2)
		if err != nil {
			return bg, fg, err
		}
		x, y := int(g[0]>>4), int(g[0]&15)
		w, h := int(g[1]>>4)+1, int(g[1]&15)+1
		sr := image.Rect(x, y, x+w, y+h).Add(tile.Min)
		if !sr.In(tile) {
			return bg, fg, fmt.Errorf("%w: hextile subrectangle %v outside tile %v", ErrMalformed, sr, tile)
		}
		s.fill(sr, c)
	}
	return bg, fg, nil
}
