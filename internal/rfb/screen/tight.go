package screen

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
)

// tightRect: the Tight encoding (7) and TightPNG (-260) of the community RFB
// specification. A compression-control byte: its low four bits reset zlib
// streams 0-3; its high four say fill (8), JPEG (9), PNG (10, TightPNG only)
// or basic compression (0-7: bits 4-5 pick the stream, bit 6 says a filter
// id follows).
func (s *Screen) tightRect(r image.Rectangle, p []byte, pngOK bool) (int, error) {
	in := &slice{b: p}
	ctl, err := in.readByte()
	if err != nil {
		return 0, err
	}
	for i := range s.tight {
		if ctl&(1<<i) != 0 {
			s.tight[i].reset()
		}
	}
	switch typ := ctl >> 4; {
	case typ == tightFill:
		c, err := s.pixel(in, s.px.tpix)
		if err != nil {
			return in.off, err
		}
		s.fill(r, c)
		return in.off, nil
	case typ == tightJPEG, typ == tightPNG && pngOK:
		n, err := in.compact()
		if err != nil {
			return in.off, err
		}
		data, err := in.take(n)
		if err != nil {
			return in.off, err
		}
		return in.off, s.image(r, data, typ == tightPNG)
	case typ > tightJPEG:
		return in.off, fmt.Errorf("%w: tight compression type %d", ErrMalformed, typ)
	}
	return s.tightBasic(r, in, ctl, &s.tight[(ctl>>4)&3])
}

func (s *Screen) tightBasic(r image.Rectangle, in *slice, ctl byte, z *zstream) (_ int, err error) {
	if z.broken {
		return in.off, ErrBroken
	}
	// Until the data is known to be short enough to travel uncompressed, an
	// error means the stream lost its place.
	uncompressed := false
	defer func() {
		if err != nil && !uncompressed {
			z.fail()
		}
	}()
	filter := byte(filterCopy)
	if ctl&0x40 != 0 {
		f, err := in.readByte()
		if err != nil {
			return in.off, err
		}
		filter = f
	}
	w, h, k := r.Dx(), r.Dy(), s.px.tpix
	tp := s.px.size(k)
	var pal [256][4]uint8
	npal := 0
	size := w * h * tp
	switch filter {
	case filterCopy:
	case filterGradient:
		if !s.px.pf.TrueColour {
			return in.off, fmt.Errorf("%w: tight gradient filter in colour-map mode", ErrMalformed)
		}
	case filterPalette:
		c, err := in.readByte()
		if err != nil {
			return in.off, err
		}
		npal = int(c) + 1
		for i := 0; i < npal; i++ {
			if pal[i], err = s.pixel(in, k); err != nil {
				return in.off, err
			}
		}
		size = w * h
		if npal == 2 {
			size = (w + 7) / 8 * h
		}
	default:
		return in.off, fmt.Errorf("%w: tight filter %d", ErrMalformed, filter)
	}
	var body src = in
	uncompressed = size < tightMinCompress
	if !uncompressed {
		n, err := in.compact()
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
	if err := s.tightPixels(r, body, filter, pal[:npal], k); err != nil {
		return in.off, err
	}
	if body == z {
		return in.off, z.end()
	}
	return in.off, nil
}

func (s *Screen) tightPixels(r image.Rectangle, body src, filter byte, pal [][4]uint8, k pixKind) (err error) {
	w, tp := r.Dx(), s.px.size(k)
	switch {
	case filter == filterPalette && len(pal) == 2:
		err = s.packed(r, body, pal, 1)
	case filter == filterPalette:
		err = s.indexed(r, body, pal)
	case filter == filterGradient:
		err = s.gradient(r, body, k)
	default:
		for y := r.Min.Y; y < r.Max.Y && err == nil; y++ {
			var b []byte
			if b, err = body.take(w * tp); err == nil {
				s.pixelsTo(image.Rect(r.Min.X, y, r.Max.X, y+1), b, k)
			}
		}
	}
	return err
}

// indexed: one palette index byte per pixel.
func (s *Screen) indexed(r image.Rectangle, in src, pal [][4]uint8) error {
	w := r.Dx()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		b, err := in.take(w)
		if err != nil {
			return err
		}
		o := s.fb.PixOffset(r.Min.X, y)
		dst := s.fb.Pix[o : o+w*4]
		for x, i := range b {
			if int(i) >= len(pal) {
				return fmt.Errorf("%w: palette index %d of %d", ErrMalformed, i, len(pal))
			}
			copy(dst[x*4:x*4+4], pal[i][:])
		}
	}
	return nil
}

// gradient undoes Tight's gradient filter: each colour component was sent
// as the difference from left + above - above-left (clamped to 0..max),
// modulo max+1; neighbours outside the rectangle count as 0.
func (s *Screen) gradient(r image.Rectangle, in src, k pixKind) error {
	w := r.Dx()
	if cap(s.grad) < 6*(w+1) {
		s.grad = make([]uint16, 6*(w+1))
	}
	g := s.grad[:6*(w+1)]
	clear(g)
	// prev and cur hold (w+1) pixels of 3 components; index 0 is the column left of the rectangle.
	prev, cur := g[:3*(w+1)], g[3*(w+1):]
	pf := s.px.pf
	maxes := [3]int{255, 255, 255}
	shifts := [3]uint8{pf.RedShift, pf.GreenShift, pf.BlueShift}
	if k == pixNative {
		maxes = [3]int{int(pf.RedMax), int(pf.GreenMax), int(pf.BlueMax)}
	}
	sz := s.px.size(k)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		b, err := in.take(w * sz)
		if err != nil {
			return err
		}
		o := s.fb.PixOffset(r.Min.X, y)
		dst := s.fb.Pix[o : o+w*4]
		for x := 0; x < w; x++ {
			var diff [3]int
			if k == pixTightRGB {
				diff = [3]int{int(b[x*3]), int(b[x*3+1]), int(b[x*3+2])}
			} else {
				v := s.px.value(b[x*sz:])
				for c := range diff {
					diff[c] = int(v>>shifts[c]) & maxes[c]
				}
			}
			var v uint32
			for c := 0; c < 3; c++ {
				pred := int(cur[x*3+c]) + int(prev[(x+1)*3+c]) - int(prev[x*3+c])
				pred = max(0, min(pred, maxes[c]))
				val := (pred + diff[c]) % (maxes[c] + 1)
				cur[(x+1)*3+c] = uint16(val)
				v |= uint32(val) << shifts[c]
			}
			var px [4]uint8
			if k == pixTightRGB {
				px = [4]uint8{uint8(cur[(x+1)*3]), uint8(cur[(x+1)*3+1]), uint8(cur[(x+1)*3+2]), 255}
			} else {
				px = s.px.rgba(v)
			}
			copy(dst[x*4:x*4+4], px[:])
		}
		prev, cur = cur, prev
	}
	return nil
}

// image draws a JPEG (Tight) or PNG (TightPNG) picture that must be exactly
// the rectangle's size; the size is checked before any pixel is decoded.
func (s *Screen) image(r image.Rectangle, data []byte, isPNG bool) error {
	decodeConfig, decode, kind := jpeg.DecodeConfig, jpeg.Decode, "jpeg"
	if isPNG {
		decodeConfig, decode, kind = png.DecodeConfig, png.Decode, "png"
	}
	cfg, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, kind, err)
	}
	if cfg.Width != r.Dx() || cfg.Height != r.Dy() {
		return fmt.Errorf("%w: %s of %dx%d in a %dx%d rectangle", ErrMalformed, kind, cfg.Width, cfg.Height, r.Dx(), r.Dy())
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, kind, err)
	}
	draw.Draw(s.fb, r, img, img.Bounds().Min, draw.Src)
	if isPNG { // a framebuffer is opaque
		for y := r.Min.Y; y < r.Max.Y; y++ {
			o := s.fb.PixOffset(r.Min.X, y)
			for i := o + 3; i < o+r.Dx()*4; i += 4 {
				s.fb.Pix[i] = 255
			}
		}
	}
	return nil
}
