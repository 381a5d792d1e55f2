package screen

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/psmtap/psmtap/internal/rfb"
)

// fuzzFormats are the pixel formats the targets pick from with one byte.
var fuzzFormats = []rfb.PixelFormat{pf32, pf16be, pf8, pfMap,
	{BitsPerPixel: 32, Depth: 24, BigEndian: true, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 24, GreenShift: 16, BlueShift: 8},
	{BitsPerPixel: 32, Depth: 30, TrueColour: true, RedMax: 1023, GreenMax: 1023, BlueMax: 1023, RedShift: 0, GreenShift: 10, BlueShift: 20}}

var fuzzEncodings = []int32{rfb.EncRaw, rfb.EncCopyRect, rfb.EncRRE, rfb.EncCoRRE, rfb.EncHextile, rfb.EncZlib,
	rfb.EncTight, rfb.EncZlibHex, rfb.EncZRLE, rfb.EncJPEG, rfb.EncH264, rfb.EncTightPNG, rfb.EncDesktopSize,
	rfb.EncLastRect, rfb.EncPointerPos, rfb.EncCursor, rfb.EncXCursor, rfb.EncCursorWithAlpha,
	rfb.EncDesktopName, rfb.EncExtendedDesktopSize, rfb.EncQEMULEDState, encVMwareCursor, encVMwareCursorPos, 12345}

func fuzzScreen(t *testing.T, pfSel byte) *Screen {
	s := newScreen(t, 64, 48, fuzzFormats[int(pfSel)%len(fuzzFormats)])
	s.SetColourMap(0, [][3]uint16{{0xffff, 0, 0}, {0, 0xffff, 0}})
	return s
}

// FuzzRectLen: never panics, never claims fewer bytes than it read, and the
// answer depends only on the bytes it claims.
func FuzzRectLen(f *testing.F) {
	f.Add(byte(0), uint16(2), uint16(2), byte(0), []byte{})                                    // raw: no data needed
	f.Add(byte(2), uint16(4), uint16(4), byte(0), cat(u32(1), rep([]byte{1}, 16)))             // RRE, one subrectangle
	f.Add(byte(4), uint16(20), uint16(17), byte(1), []byte{hexRaw, hexBackground, 1, 2, 0, 0}) // hextile tiles
	f.Add(byte(6), uint16(9), uint16(9), byte(0), []byte{0x40, 1, 1, 1, 2, 3, 4, 5, 6})        // tight palette
	f.Add(byte(6), uint16(9), uint16(9), byte(0), []byte{0x90, 0x81, 0x01})                    // tight jpeg, 2-byte compact length
	f.Add(byte(17), uint16(3), uint16(1), byte(0), cat(u32(0), make([]byte, 12)))              // cursor with alpha, raw
	f.Add(byte(19), uint16(3), uint16(1), byte(0), []byte{2, 0, 0, 0})                         // extended desktop size, 2 screens
	f.Fuzz(func(t *testing.T, encSel byte, w, h uint16, pfSel byte, data []byte) {
		enc := fuzzEncodings[int(encSel)%len(fuzzEncodings)]
		pf := fuzzFormats[int(pfSel)%len(fuzzFormats)]
		n, err := RectLen(enc, int(w), int(h), pf, data)
		if err != nil {
			if !errors.Is(err, ErrNeedMore) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("negative length %d", n)
		}
		if n <= len(data) {
			if m, err := RectLen(enc, int(w), int(h), pf, data[:n]); err != nil || m != n {
				t.Fatalf("RectLen on its own %d bytes = %d, %v", n, m, err)
			}
		}
	})
}

// applyFuzz runs RectLen then Apply the way the dissector will.
func applyFuzz(t *testing.T, s *Screen, x, y, w, h int, enc int32, data []byte) {
	n, err := RectLen(enc, w, h, s.px.pf, data)
	if err != nil || n > len(data) {
		// Apply must still cope with whatever it is given.
		_ = s.Apply(x, y, w, h, enc, data)
		return
	}
	_ = s.Apply(x, y, w, h, enc, data[:n])
	b := s.fb.Bounds()
	if len(s.fb.Pix) != b.Dx()*b.Dy()*4 {
		t.Fatal("framebuffer damaged")
	}
	if len(s.dirty) > maxDirty {
		t.Fatalf("%d dirty rectangles", len(s.dirty))
	}
}

// FuzzBasic: Raw, CopyRect, RRE, CoRRE, Hextile and ZlibHex.
func FuzzBasic(f *testing.F) {
	f.Add(byte(0), byte(0), byte(1), byte(1), byte(2), byte(2), cat(p32(red), p32(green), p32(blue), p32(white)))                                                      // raw 2x2
	f.Add(byte(1), byte(0), byte(0), byte(0), byte(8), byte(8), []byte{0, 1, 0, 1})                                                                                    // copyrect, overlapping
	f.Add(byte(2), byte(0), byte(0), byte(0), byte(4), byte(3), cat(u32(1), p32(blue), p32(red), u16(1), u16(0), u16(2), u16(1)))                                      // RRE
	f.Add(byte(3), byte(0), byte(1), byte(1), byte(3), byte(2), cat(u32(1), p32(white), p32(red), []byte{2, 1, 1, 1}))                                                 // CoRRE
	f.Add(byte(4), byte(0), byte(0), byte(0), byte(20), byte(17), cat([]byte{hexBackground | hexForeground | hexAnySubrect}, p32(red), p32(blue), []byte{1, 0, 0x11})) // hextile
	f.Add(byte(1), byte('Y'), byte(0), byte(0), byte(0), byte(8), []byte("0000"))                                                                                      // found by fuzzing: a 0x8 CopyRect indexed past the framebuffer
	f.Add(byte(5), byte(0), byte(0), byte(0), byte(16), byte(1), cat([]byte{hexZlibRaw}, u16(5), []byte{0x78, 1, 2, 3, 4}))                                            // ZlibHex, a compressed raw tile
	f.Fuzz(func(t *testing.T, encSel, pfSel, x, y, w, h byte, data []byte) {
		enc := []int32{rfb.EncRaw, rfb.EncCopyRect, rfb.EncRRE, rfb.EncCoRRE, rfb.EncHextile, rfb.EncZlibHex}[int(encSel)%6]
		s := fuzzScreen(t, pfSel)
		applyFuzz(t, s, int(x), int(y), int(w), int(h), enc, data)
	})
}

// stored wraps b in deflate stored blocks (RFC 1951 3.2.4), behind a zlib
// header when it starts a stream: what a compressor writes at level 0 and
// flushes, built without one (a real compressor is too slow for fuzzing).
func stored(b []byte, first bool) []byte {
	var out []byte
	if first {
		out = append(out, 0x78, 0x01)
	}
	for {
		n := min(len(b), 0xffff)
		out = append(out, 0, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
		out = append(out, b[:n]...)
		b = b[n:]
		if len(b) == 0 {
			return out
		}
	}
}

func zlibOf(b []byte) []byte { return stored(b, true) }

// FuzzZRLE: the fuzzer writes the decompressed tile data (wrapped in zlib
// here, so it reaches the tile parser) for two rectangles of one stream; the raw
// payload is also tried as is.
func FuzzZRLE(f *testing.F) {
	f.Add(byte(0), byte(70), byte(3), cat([]byte{2}, c24(red), c24(green), rep([]byte{0x80}, 24), []byte{0}, rep(c24(blue), 18)), []byte{1, 1, 2, 3}) // packed palette, raw
	f.Add(byte(0), byte(8), byte(2), cat([]byte{128}, c24(white), []byte{255, 255, 1}), cat([]byte{130}, c24(blue), c24(green), []byte{0x81, 4}))     // runs
	f.Add(byte(1), byte(4), byte(1), cat([]byte{0}, []byte{0xf8, 0, 0x07, 0xe0, 0, 0x1f, 0xff, 0xff}), []byte{5})                                     // 16bpp raw
	f.Fuzz(func(t *testing.T, pfSel, w, h byte, tiles1, tiles2 []byte) {
		s := fuzzScreen(t, pfSel)
		for i, tiles := range [][]byte{tiles1, tiles2} {
			d := stored(tiles, i == 0)
			applyFuzz(t, s, 0, 0, int(w)%65, int(h)%49, rfb.EncZRLE, cat(u32(len(d)), d))
		}
		applyFuzz(t, fuzzScreen(t, pfSel), 0, 0, int(w)%65, int(h)%49, rfb.EncZRLE, tiles1)
		d := zlibOf(tiles2)
		applyFuzz(t, fuzzScreen(t, pfSel), 0, 0, int(w)%65, int(h)%49, rfb.EncZlib, cat(u32(len(d)), d))
	})
}

// FuzzTight: a rectangle as the fuzzer wrote it, then one whose header is
// the fuzzer's and whose data is compressed here.
func FuzzTight(f *testing.F) {
	f.Add(byte(0), byte(8), byte(2), []byte{0x80, 1, 2, 3}, []byte{})                                      // fill
	f.Add(byte(0), byte(8), byte(2), []byte{0x60, filterPalette, 1, 1, 2, 3, 4, 5, 6}, []byte{0xf0, 0x0f}) // 2-colour palette
	f.Add(byte(0), byte(8), byte(2), []byte{0x70, filterPalette, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9}, rep([]byte{0, 1, 2, 0}, 4))
	f.Add(byte(0), byte(3), byte(2), []byte{0x41, filterGradient}, rep([]byte{10, 10, 10, 5, 5, 5}, 3)) // gradient
	f.Add(byte(1), byte(3), byte(2), []byte{0x42, filterGradient}, rep([]byte{0xf8, 0, 0x07, 0xe0}, 3)) // 16bpp gradient
	f.Fuzz(func(t *testing.T, pfSel, w, h byte, head, body []byte) {
		s := fuzzScreen(t, pfSel)
		W, H := int(w)%65, int(h)%49
		applyFuzz(t, s, 0, 0, W, H, rfb.EncTight, cat(head, body))
		if len(head) > 12 {
			head = head[:12]
		}
		z := zlibOf(body)
		if len(head) > 0 {
			head = append([]byte{head[0] | 0x0f}, head[1:]...) // reset every stream: a fresh zlib header follows
		}
		applyFuzz(t, s, 0, 0, W, H, rfb.EncTight, cat(head, compact(len(z)), z))
		applyFuzz(t, s, 0, 0, W, H, rfb.EncTight, cat(head, compact(len(z)), z))
	})
}

// FuzzTightPNG: fill, JPEG and PNG pictures.
func FuzzTightPNG(f *testing.F) {
	var j, p bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 4, 2))
	img.Set(1, 1, color.RGBA{255, 0, 0, 255})
	jpeg.Encode(&j, img, nil)
	png.Encode(&p, img)
	f.Add(byte(4), byte(2), cat([]byte{0xa0}, compact(p.Len()), p.Bytes())) // png
	f.Add(byte(4), byte(2), cat([]byte{0x90}, compact(j.Len()), j.Bytes())) // jpeg
	f.Add(byte(4), byte(2), []byte{0x80, 1, 2, 3})                          // fill
	f.Fuzz(func(t *testing.T, w, h byte, data []byte) {
		s := fuzzScreen(t, 0)
		applyFuzz(t, s, 0, 0, int(w)%65, int(h)%49, rfb.EncTightPNG, data)
	})
}

// FuzzCursor: the cursor pseudo-encodings.
func FuzzCursor(f *testing.F) {
	f.Add(byte(0), byte(0), byte(3), byte(2), cat(rep(p32(red), 6), []byte{0xa0, 0x60}))    // cursor 3x2
	f.Add(byte(1), byte(0), byte(2), byte(1), []byte{255, 255, 255, 0, 0, 255, 0x80, 0xc0}) // xcursor
	f.Add(byte(2), byte(0), byte(1), byte(1), cat(u32(0), []byte{128, 0, 0, 128}))          // alpha cursor
	f.Add(byte(2), byte(0), byte(1), byte(1), cat(u32(16), u32(4), []byte{1, 2, 3, 4}))     // alpha cursor in ZRLE: refused
	f.Add(byte(3), byte(0), byte(1), byte(1), cat([]byte{0, 0}, p32(black), p32(red)))      // vmware classic cursor
	f.Fuzz(func(t *testing.T, encSel, pfSel, w, h byte, data []byte) {
		enc := []int32{rfb.EncCursor, rfb.EncXCursor, rfb.EncCursorWithAlpha, encVMwareCursor}[int(encSel)%4]
		s := fuzzScreen(t, pfSel)
		applyFuzz(t, s, 1, 1, int(w), int(h), enc, data)
		if img, _, _, ok := s.Cursor(); ok && (img.Bounds().Dx() != int(w) || img.Bounds().Dy() != int(h)) {
			t.Fatalf("cursor %v for %dx%d", img.Bounds(), w, h)
		}
	})
}
