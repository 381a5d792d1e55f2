package screen

import (
	"fmt"
	"image"

	"github.com/psmtap/psmtap/internal/rfb"
)

// applyCursor: the Cursor (-239, RFC 6143 7.8.1), XCursor (-240),
// CursorWithAlpha (-314) and VMware cursor (0x574D5664) pseudo-encodings.
// The rectangle's position is the hot spot; an empty rectangle hides the
// cursor.
func (s *Screen) applyCursor(x, y, w, h int, enc int32, p []byte) error {
	if err := exactCursorLen(enc, w, h, s.px.pf, p); err != nil {
		if enc == rfb.EncCursorWithAlpha && len(p) >= 4 {
			s.lose(int32(uint32(p[0])<<24|uint32(p[1])<<16|uint32(p[2])<<8|uint32(p[3])), p[4:])
		}
		return err
	}
	if w == 0 || h == 0 {
		s.cursor = nil
		return nil
	}
	if w > MaxCursorSide || h > MaxCursorSide {
		return fmt.Errorf("%w: cursor %dx%d", ErrTooBig, w, h)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	maskRow := (w + 7) / 8
	visible := func(mask []byte, cx, cy int) bool { return mask[cy*maskRow+cx/8]&(0x80>>(cx%8)) != 0 }
	switch enc {
	case rfb.EncCursor:
		n := w * h * s.px.bpp
		pix, mask := p[:n], p[n:]
		for cy := 0; cy < h; cy++ {
			s.px.row(img.Pix[cy*img.Stride:], pix[cy*w*s.px.bpp:], w, pixNative)
			for cx := 0; cx < w; cx++ {
				if !visible(mask, cx, cy) {
					copy(img.Pix[cy*img.Stride+cx*4:], []byte{0, 0, 0, 0})
				}
			}
		}
	case rfb.EncXCursor:
		fore, back := [4]uint8{p[0], p[1], p[2], 255}, [4]uint8{p[3], p[4], p[5], 255}
		bitmap, mask := p[6:6+maskRow*h], p[6+maskRow*h:]
		for cy := 0; cy < h; cy++ {
			for cx := 0; cx < w; cx++ {
				c := back
				if visible(bitmap, cx, cy) {
					c = fore
				}
				if !visible(mask, cx, cy) {
					c = [4]uint8{}
				}
				copy(img.Pix[cy*img.Stride+cx*4:], c[:])
			}
		}
	case encVMwareCursor:
		if p[0] != vmwareClassic {
			// The alpha type's byte order is not written down where we could check it.
			return fmt.Errorf("%w: vmware alpha cursor", ErrUnsupported)
		}
		// Screen AND and-mask XOR xor-mask: an and-pixel of zero shows the
		// xor colour; all ones with a zero xor is transparent; all ones with
		// a colour inverts the screen, drawn here in that colour.
		n := w * h * s.px.bpp
		and, xor := p[2:2+n], p[2+n:]
		for i := 0; i < w*h; i++ {
			a := s.px.value(and[i*s.px.bpp:])
			x := s.px.value(xor[i*s.px.bpp:])
			c := s.px.rgba(x)
			if a != 0 && x == 0 {
				c = [4]uint8{}
			}
			copy(img.Pix[i*4:], c[:])
		}
	case rfb.EncCursorWithAlpha:
		// Only raw pixels inside: R, G, B, A bytes, colours premultiplied by
		// alpha (the community specification), which is image.RGBA's own layout.
		if inner := int32(uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])); inner != rfb.EncRaw {
			s.lose(inner, p[4:])
			return fmt.Errorf("%w: cursor-with-alpha in %s", ErrUnsupported, rfb.EncodingName(inner))
		}
		copy(img.Pix, p[4:])
	}
	s.cursor, s.hotX, s.hotY = img, x, y
	return nil
}

func exactCursorLen(enc int32, w, h int, pf rfb.PixelFormat, p []byte) error {
	n, err := rectLen(enc, w, h, pf, p)
	if err != nil {
		return err
	}
	if n != int64(len(p)) {
		return fmt.Errorf("%w: %s of %d bytes, want %d", ErrMalformed, rfb.EncodingName(enc), len(p), n)
	}
	return nil
}
