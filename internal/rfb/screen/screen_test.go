package screen

import (
	"errors"
	"image"
	"testing"

	"github.com/psmtap/psmtap/internal/rfb"
)

// Pixel formats the tests use.
var (
	// TigerVNC's ServerInit: 32bpp depth 24, little-endian, red at bit 16.
	pf32 = rfb.PixelFormat{BitsPerPixel: 32, Depth: 24, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 16, GreenShift: 8, BlueShift: 0}
	// 16bpp RGB565, big-endian.
	pf16be = rfb.PixelFormat{BitsPerPixel: 16, Depth: 16, BigEndian: true, TrueColour: true, RedMax: 31, GreenMax: 63, BlueMax: 31, RedShift: 11, GreenShift: 5, BlueShift: 0}
	// 8bpp BGR233 (what vncviewer's "low colour" mode asks for).
	pf8 = rfb.PixelFormat{BitsPerPixel: 8, Depth: 8, TrueColour: true, RedMax: 7, GreenMax: 7, BlueMax: 3, RedShift: 0, GreenShift: 3, BlueShift: 6}
	// 8bpp colour map.
	pfMap = rfb.PixelFormat{BitsPerPixel: 8, Depth: 8}
)

type rgb [3]uint8

var (
	red   = rgb{255, 0, 0}
	green = rgb{0, 255, 0}
	blue  = rgb{0, 0, 255}
	white = rgb{255, 255, 255}
	black = rgb{0, 0, 0}
)

// p32 is one pf32 pixel on the wire: B, G, R, padding.
func p32(c rgb) []byte { return []byte{c[2], c[1], c[0], 0} }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func rep(b []byte, n int) []byte {
	var out []byte
	for i := 0; i < n; i++ {
		out = append(out, b...)
	}
	return out
}

func newScreen(t testing.TB, w, h int, pf rfb.PixelFormat) *Screen {
	t.Helper()
	s, err := New(w, h, pf)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// at reads one framebuffer pixel.
func at(s *Screen, x, y int) rgb {
	o := s.fb.PixOffset(x, y)
	return rgb{s.fb.Pix[o], s.fb.Pix[o+1], s.fb.Pix[o+2]}
}

// want compares the framebuffer with rows of colours ('r','g','b','w','k' = black).
func want(t *testing.T, s *Screen, rows ...string) {
	t.Helper()
	cols := map[byte]rgb{'r': red, 'g': green, 'b': blue, 'w': white, 'k': black}
	for y, row := range rows {
		for x := 0; x < len(row); x++ {
			if got := at(s, x, y); got != cols[row[x]] {
				t.Errorf("pixel %d,%d = %v, want %c", x, y, got, row[x])
			}
		}
	}
}

// apply checks RectLen against the payload, then applies it.
func apply(t *testing.T, s *Screen, x, y, w, h int, enc int32, payload []byte) {
	t.Helper()
	n, err := RectLen(enc, w, h, s.px.pf, payload)
	if err != nil || n != len(payload) {
		t.Fatalf("RectLen(%s) = %d, %v; payload is %d bytes", rfb.EncodingName(enc), n, err, len(payload))
	}
	// Property: on every prefix RectLen says "need more" or already knows the
	// full length; it never claims a shorter rectangle.
	step := 1 + len(payload)/512
	for k := 0; k < len(payload); k += step {
		m, err := RectLen(enc, w, h, s.px.pf, payload[:k])
		if err != nil && !errors.Is(err, ErrNeedMore) || err == nil && m != len(payload) {
			t.Fatalf("RectLen(%s) on %d of %d bytes = %d, %v", rfb.EncodingName(enc), k, len(payload), m, err)
		}
	}
	// Property: Apply consumes exactly RectLen bytes: one more or one fewer is
	// refused. Checked on a scratch screen for the encodings without stream
	// state (a refusal would break a zlib stream).
	if stateless(enc) {
		scratch := newScreen(t, s.fb.Rect.Dx(), s.fb.Rect.Dy(), s.px.pf)
		scratch.cmap = s.cmap
		if err := scratch.Apply(x, y, w, h, enc, append(append([]byte(nil), payload...), 0)); err == nil {
			t.Fatalf("Apply(%s) took a byte more than RectLen", rfb.EncodingName(enc))
		}
		if len(payload) > 0 {
			if err := scratch.Apply(x, y, w, h, enc, payload[:len(payload)-1]); err == nil {
				t.Fatalf("Apply(%s) took a byte less than RectLen", rfb.EncodingName(enc))
			}
		}
	}
	if err := s.Apply(x, y, w, h, enc, payload); err != nil {
		t.Fatalf("Apply(%s): %v", rfb.EncodingName(enc), err)
	}
}

func TestRaw(t *testing.T) {
	s := newScreen(t, 4, 2, pf32)
	apply(t, s, 1, 0, 2, 2, rfb.EncRaw, cat(p32(red), p32(green), p32(blue), p32(white)))
	want(t, s, "krgk", "kbwk")
	if d := s.TakeDirty(); len(d) != 1 || d[0] != image.Rect(1, 0, 3, 2) {
		t.Fatalf("dirty %v", d)
	}
	if d := s.TakeDirty(); len(d) != 0 {
		t.Fatalf("dirty again %v", d)
	}
}

func TestRawPixelFormats(t *testing.T) {
	for _, tc := range []struct {
		name string
		pf   rfb.PixelFormat
		px   []byte // red, green, blue, white
	}{
		{"32 little-endian", pf32, cat(p32(red), p32(green), p32(blue), p32(white))},
		{"32 big-endian", rfb.PixelFormat{BitsPerPixel: 32, Depth: 24, BigEndian: true, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 16, GreenShift: 8},
			[]byte{0, 255, 0, 0, 0, 0, 255, 0, 0, 0, 0, 255, 0, 255, 255, 255}},
		{"32 red low, 10 bits each", rfb.PixelFormat{BitsPerPixel: 32, Depth: 30, TrueColour: true, RedMax: 1023, GreenMax: 1023, BlueMax: 1023, RedShift: 0, GreenShift: 10, BlueShift: 20},
			[]byte{0xff, 0x03, 0, 0, 0, 0xfc, 0x0f, 0, 0, 0, 0xf0, 0x3f, 0xff, 0xff, 0xff, 0x3f}},
		// RGB565 big-endian: red f800, green 07e0, blue 001f.
		{"16 big-endian 565", pf16be, []byte{0xf8, 0, 0x07, 0xe0, 0, 0x1f, 0xff, 0xff}},
		{"16 little-endian 565", rfb.PixelFormat{BitsPerPixel: 16, Depth: 16, TrueColour: true, RedMax: 31, GreenMax: 63, BlueMax: 31, RedShift: 11, GreenShift: 5},
			[]byte{0, 0xf8, 0xe0, 0x07, 0x1f, 0, 0xff, 0xff}},
		// BGR233: red 07, green 38, blue c0.
		{"8 bgr233", pf8, []byte{0x07, 0x38, 0xc0, 0xff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScreen(t, 4, 1, tc.pf)
			apply(t, s, 0, 0, 4, 1, rfb.EncRaw, tc.px)
			want(t, s, "rgbw")
		})
	}
}

func TestColourMap(t *testing.T) {
	s := newScreen(t, 4, 1, pfMap)
	s.SetColourMap(10, [][3]uint16{{0xffff, 0, 0}, {0, 0xffff, 0}, {0, 0, 0xff00}})
	// Index 200 was never set: black.
	apply(t, s, 0, 0, 4, 1, rfb.EncRaw, []byte{10, 11, 12, 200})
	want(t, s, "rgbk")
}

func TestCopyRect(t *testing.T) {
	s := newScreen(t, 4, 4, pf32)
	// Row 0: r g b w, rows 1-3 black.
	apply(t, s, 0, 0, 4, 1, rfb.EncRaw, cat(p32(red), p32(green), p32(blue), p32(white)))
	// Copy 3x1 from 0,0 to 1,0: overlapping to the right on the same row.
	apply(t, s, 1, 0, 3, 1, rfb.EncCopyRect, []byte{0, 0, 0, 0})
	want(t, s, "rrgb")
	// Overlapping downwards: rows 0-1 to rows 1-2; the destination shows the
	// source as it was before the copy.
	apply(t, s, 0, 1, 4, 1, rfb.EncRaw, rep(p32(white), 4))
	apply(t, s, 0, 1, 4, 2, rfb.EncCopyRect, []byte{0, 0, 0, 0})
	want(t, s, "rrgb", "rrgb", "wwww", "kkkk")
	// Upwards and to the left: 3x3 at 1,1 to 0,0.
	apply(t, s, 0, 0, 3, 3, rfb.EncCopyRect, []byte{0, 1, 0, 1})
	want(t, s, "rgbb", "wwwb", "kkkw", "kkkk")
	if err := s.Apply(0, 0, 2, 2, rfb.EncCopyRect, []byte{0, 3, 0, 3}); !errors.Is(err, ErrOutside) {
		t.Fatalf("source outside: %v", err)
	}
}

func TestOutside(t *testing.T) {
	s := newScreen(t, 4, 4, pf32)
	for _, r := range [][4]int{{3, 0, 2, 1}, {0, 4, 1, 1}, {-1, 0, 1, 1}, {0, 0, 5, 1}} {
		err := s.Apply(r[0], r[1], r[2], r[3], rfb.EncRaw, make([]byte, r[2]*r[3]*4))
		if !errors.Is(err, ErrOutside) {
			t.Errorf("%v: %v", r, err)
		}
	}
	if _, err := New(5000, 5000, pf32); !errors.Is(err, ErrTooBig) {
		t.Fatalf("5000x5000: %v", err)
	}
	if _, err := New(7680, 2160, pf32); err != nil {
		t.Fatalf("7680x2160: %v", err)
	}
	if err := s.Apply(0, 0, 2, 2, rfb.EncRaw, make([]byte, 15)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short raw: %v", err)
	}
	if err := s.Apply(0, 0, 1, 1, rfb.EncRaw, make([]byte, 5)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("long raw: %v", err)
	}
	if err := s.Apply(0, 0, 1, 1, rfb.EncJPEG, nil); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("jpeg: %v", err)
	}
	if _, err := RectLen(rfb.EncJPEG, 1, 1, pf32, nil); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("RectLen jpeg: %v", err)
	}
}

func stateless(enc int32) bool {
	switch enc {
	case rfb.EncRaw, rfb.EncCopyRect, rfb.EncRRE, rfb.EncCoRRE, rfb.EncHextile, rfb.EncCursor, rfb.EncXCursor,
		rfb.EncCursorWithAlpha, rfb.EncDesktopName, rfb.EncExtendedDesktopSize:
		return true
	}
	return false
}
