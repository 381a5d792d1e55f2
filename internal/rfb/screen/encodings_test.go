package screen

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/psmtap/psmtap/internal/rfb"
)

func u16(v int) []byte { return []byte{byte(v >> 8), byte(v)} }
func u32(v int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

// zsender compresses like a server: one zlib stream, flushed after each rectangle.
type zsender struct {
	buf bytes.Buffer
	w   *zlib.Writer
}

func newZ() *zsender {
	z := &zsender{}
	z.w = zlib.NewWriter(&z.buf)
	return z
}

func (z *zsender) rect(data []byte) []byte {
	z.w.Write(data)
	z.w.Flush()
	out := append([]byte(nil), z.buf.Bytes()...)
	z.buf.Reset()
	return out
}

// compact is Tight's compact length.
func compact(n int) []byte {
	switch {
	case n < 128:
		return []byte{byte(n)}
	case n < 1<<14:
		return []byte{byte(n) | 0x80, byte(n >> 7)}
	}
	return []byte{byte(n) | 0x80, byte(n>>7) | 0x80, byte(n >> 14)}
}

func TestRRE(t *testing.T) {
	s := newScreen(t, 4, 3, pf32)
	apply(t, s, 0, 0, 4, 3, rfb.EncRRE, cat(
		u32(2),    // two subrectangles
		p32(blue), // background
		p32(red),  // first: red at 1,0 size 2x1
		u16(1), u16(0), u16(2), u16(1),
		p32(green), // second: green at 3,1 size 1x2
		u16(3), u16(1), u16(1), u16(2)))
	want(t, s, "brrb", "bbbg", "bbbg")
	apply(t, s, 1, 1, 3, 2, rfb.EncCoRRE, cat(
		u32(1), p32(white), // one subrectangle on white
		p32(red), []byte{2, 1, 1, 1})) // red at 2,1 (relative) 1x1
	want(t, s, "brrb", "bwww", "bwwr")
	// A subrectangle poking out of its rectangle is refused.
	if err := s.Apply(0, 0, 2, 2, rfb.EncCoRRE, cat(u32(1), p32(white), p32(red), []byte{1, 1, 2, 1})); !errors.Is(err, ErrMalformed) {
		t.Fatalf("subrect outside: %v", err)
	}
	// Subrectangles piling up over the same area are refused past 4 times the rectangle.
	pile := cat(u32(5), p32(white))
	for i := 0; i < 5; i++ {
		pile = cat(pile, p32(red), []byte{0, 0, 2, 2})
	}
	if err := s.Apply(0, 0, 2, 2, rfb.EncCoRRE, pile); !errors.Is(err, ErrMalformed) {
		t.Fatalf("piled subrects: %v", err)
	}
	before := s.Painted()
	apply(t, s, 0, 0, 2, 2, rfb.EncCoRRE, cat(u32(1), p32(white), p32(red), []byte{0, 0, 2, 2}))
	if got := s.Painted() - before; got != 12 { // background 4, subrectangle 4, the rectangle 4
		t.Fatalf("painted %d", got)
	}
	// A count larger than the data is refused before any loop.
	if err := s.Apply(0, 0, 2, 2, rfb.EncRRE, cat(u32(1000000), p32(white))); !errors.Is(err, ErrMalformed) {
		t.Fatalf("count past data: %v", err)
	}
}

func TestHextile(t *testing.T) {
	// 20x17: tiles 16x16, 4x16, 16x1, 4x1.
	s := newScreen(t, 20, 17, pf32)
	payload := cat(
		// Tile 0 (16x16): background red, foreground blue, two subrectangles in the foreground.
		[]byte{hexBackground | hexForeground | hexAnySubrect}, p32(red), p32(blue), []byte{2},
		[]byte{0x00, 0x00}, // 1x1 at 0,0
		[]byte{0xf0, 0x0f}, // 1x16 at 15,0
		// Tile 1 (4x16): raw.
		[]byte{hexRaw}, rep(p32(green), 4*16),
		// Tile 2 (16x1): nothing specified: background red carried over.
		[]byte{0},
		// Tile 3 (4x1): coloured subrectangles; foreground blue stays for later.
		[]byte{hexAnySubrect | hexColoured}, []byte{1}, p32(white), []byte{0x20, 0x10}, // 2x1 at 2,0
	)
	apply(t, s, 0, 0, 20, 17, rfb.EncHextile, payload)
	row0 := "brrrrrrrrrrrrrrbgggg"
	rowN := "rrrrrrrrrrrrrrrbgggg"
	want(t, s, row0, rowN)
	if at(s, 15, 15) != blue || at(s, 16, 15) != green || at(s, 0, 16) != red || at(s, 18, 16) != white || at(s, 17, 16) != red {
		t.Fatalf("bottom row wrong: %v %v %v %v %v", at(s, 15, 15), at(s, 16, 15), at(s, 0, 16), at(s, 18, 16), at(s, 17, 16))
	}
	// Foreground carried across rectangles? No: each rectangle starts afresh,
	// but within one it carries: tile 2 uses tile 1's foreground.
	s2 := newScreen(t, 32, 1, pf32)
	apply(t, s2, 0, 0, 32, 1, rfb.EncHextile, cat(
		[]byte{hexBackground | hexForeground | hexAnySubrect}, p32(white), p32(green), []byte{1, 0x00, 0x00},
		[]byte{hexAnySubrect}, []byte{1, 0x10, 0x00}))
	if at(s2, 0, 0) != green || at(s2, 1, 0) != white || at(s2, 17, 0) != green || at(s2, 16, 0) != white {
		t.Fatalf("carried foreground: %v %v %v %v", at(s2, 0, 0), at(s2, 1, 0), at(s2, 17, 0), at(s2, 16, 0))
	}
	// A subrectangle past its tile.
	if err := s2.Apply(0, 0, 4, 1, rfb.EncHextile, []byte{hexAnySubrect, 1, 0x30, 0x10}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("subrect past tile: %v", err)
	}
}

func TestZlibHex(t *testing.T) {
	s := newScreen(t, 32, 2, pf32)
	raw, other := newZ(), newZ()
	rawData := raw.rect(rep(p32(blue), 16*2))
	tileData := other.rect(cat(p32(red), p32(white), []byte{1, 0x00, 0x00}))
	apply(t, s, 0, 0, 32, 2, rfb.EncZlibHex, cat(
		[]byte{hexZlibRaw}, u16(len(rawData)), rawData,
		[]byte{hexZlib | hexBackground | hexForeground | hexAnySubrect}, u16(len(tileData)), tileData))
	if at(s, 0, 0) != blue || at(s, 15, 1) != blue || at(s, 16, 0) != white || at(s, 17, 0) != red || at(s, 16, 1) != red {
		t.Fatalf("zlibhex: %v %v %v %v %v", at(s, 0, 0), at(s, 15, 1), at(s, 16, 0), at(s, 17, 0), at(s, 16, 1))
	}
	// The streams carry on into the next rectangle.
	rawData = raw.rect(rep(p32(green), 2))
	apply(t, s, 0, 0, 2, 1, rfb.EncZlibHex, cat([]byte{hexZlibRaw}, u16(len(rawData)), rawData))
	want(t, s, "gg")
}

func TestZlib(t *testing.T) {
	s := newScreen(t, 3, 2, pf32)
	z := newZ()
	d := z.rect(cat(p32(red), p32(green), p32(blue), p32(white), p32(white), p32(red)))
	apply(t, s, 0, 0, 3, 2, rfb.EncZlib, cat(u32(len(d)), d))
	want(t, s, "rgb", "wwr")
	d = z.rect(p32(blue))
	apply(t, s, 2, 1, 1, 1, rfb.EncZlib, cat(u32(len(d)), d))
	want(t, s, "rgb", "wwb")
}

// c24 is a pf32 CPIXEL: the low three bytes, little-endian (B, G, R).
func c24(c rgb) []byte { return []byte{c[2], c[1], c[0]} }

func TestZRLE(t *testing.T) {
	s := newScreen(t, 70, 66, pf32)
	z := newZ()
	// First rectangle 70x66: tiles 64x64, 6x64, 64x2, 6x2.
	tiles := cat(
		// Tile 0: packed palette of 2 (1 bit), rows of 64 pixels = 8 bytes; pixel 0 of each row is
		// colour 1, the rest colour 0.
		[]byte{2}, c24(red), c24(green), rep(cat([]byte{0x80}, make([]byte, 7)), 64),
		// Tile 1 (6x64): raw CPIXELs, all blue.
		[]byte{0}, rep(c24(blue), 6*64),
		// Tile 2 (64x2): plain RLE: white for 1+100 pixels, then red for 1+26.
		[]byte{128}, c24(white), []byte{100}, c24(red), []byte{26},
		// Tile 3 (6x2): palette RLE of 2: index 1 (green) run of 1+4, then index 0 (blue) single pixels.
		[]byte{130}, c24(blue), c24(green), []byte{0x81, 4}, []byte{0, 0, 0, 0, 0, 0, 0},
	)
	d := z.rect(tiles)
	apply(t, s, 0, 0, 70, 66, rfb.EncZRLE, cat(u32(len(d)), d))
	check := func(x, y int, c rgb) {
		t.Helper()
		if got := at(s, x, y); got != c {
			t.Errorf("%d,%d = %v, want %v", x, y, got, c)
		}
	}
	check(0, 0, green)
	check(1, 0, red)
	check(0, 63, green)
	check(63, 63, red)
	check(64, 0, blue)
	check(69, 63, blue)
	check(0, 64, white)
	check(36, 65, white) // pixel 100 of the tile: 100 = 64+36
	check(37, 65, red)
	check(63, 65, red)
	check(64, 64, green)
	check(68, 64, green) // 5 greens: (0..4, row 0)
	check(69, 64, blue)
	check(64, 65, blue)
}

func TestZRLEMore(t *testing.T) {
	s := newScreen(t, 8, 2, pf32)
	z := newZ()
	// Solid, then a packed palette of 3 (2 bits) and of 5 (4 bits) in the same stream.
	d := z.rect(cat([]byte{1}, c24(white)))
	apply(t, s, 0, 0, 8, 2, rfb.EncZRLE, cat(u32(len(d)), d))
	want(t, s, "wwwwwwww", "wwwwwwww")
	// 3 colours, 2 bits: row "rgbr gbrg" = indices 0 1 2 0 | 1 2 0 1 -> 0b00011000 0b01100001.
	d = z.rect(cat([]byte{3}, c24(red), c24(green), c24(blue), []byte{0x18, 0x61}))
	apply(t, s, 0, 0, 8, 1, rfb.EncZRLE, cat(u32(len(d)), d))
	want(t, s, "rgbrgbrg")
	// 5 colours, 4 bits: r g b w k r g b -> 0x01 0x23 0x40 0x12.
	d = z.rect(cat([]byte{5}, c24(red), c24(green), c24(blue), c24(white), c24(black), []byte{0x01, 0x23, 0x40, 0x12}))
	apply(t, s, 0, 1, 8, 1, rfb.EncZRLE, cat(u32(len(d)), d))
	want(t, s, "rgbrgbrg", "rgbwkrgb")
	// A long plain run: 1 + 255 + 255 + 1 = 512 pixels in a 32x16 tile.
	s, z = newScreen(t, 32, 16, pf32), newZ()
	d = z.rect(cat([]byte{128}, c24(blue), []byte{255, 255, 1}))
	apply(t, s, 0, 0, 32, 16, rfb.EncZRLE, cat(u32(len(d)), d))
	if at(s, 31, 15) != blue || at(s, 0, 0) != blue {
		t.Fatal("long run")
	}
}

func TestZRLEPixelFormats(t *testing.T) {
	// CPIXEL in the high three bytes (red at 24, green 16, blue 8), big-endian: bytes R, G, B.
	pfHigh := rfb.PixelFormat{BitsPerPixel: 32, Depth: 24, BigEndian: true, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 24, GreenShift: 16, BlueShift: 8}
	s := newScreen(t, 2, 1, pfHigh)
	z := newZ()
	d := z.rect(cat([]byte{0}, []byte{255, 0, 0, 0, 0, 255}))
	apply(t, s, 0, 0, 2, 1, rfb.EncZRLE, cat(u32(len(d)), d))
	want(t, s, "rb")
	// 16bpp: CPIXEL is the whole pixel.
	s = newScreen(t, 2, 1, pf16be)
	z = newZ()
	d = z.rect(cat([]byte{0}, []byte{0xf8, 0, 0x07, 0xe0}))
	apply(t, s, 0, 0, 2, 1, rfb.EncZRLE, cat(u32(len(d)), d))
	want(t, s, "rg")
	// Depth 32 does not shorten.
	if c, tp := shortForms(rfb.PixelFormat{BitsPerPixel: 32, Depth: 32, TrueColour: true, RedMax: 255, GreenMax: 255, BlueMax: 255, RedShift: 16, GreenShift: 8}); c != 4 || tp != 4 {
		t.Fatalf("depth 32: cpixel %d tpixel %d", c, tp)
	}
}

func TestZRLEBrokenStream(t *testing.T) {
	s := newScreen(t, 4, 4, pf32)
	z := newZ()
	good := z.rect(cat([]byte{1}, c24(red)))
	apply(t, s, 0, 0, 4, 4, rfb.EncZRLE, cat(u32(len(good)), good))
	// An unused sub-encoding breaks the stream.
	bad := z.rect([]byte{50})
	if err := s.Apply(0, 0, 4, 4, rfb.EncZRLE, cat(u32(len(bad)), bad)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad sub-encoding: %v", err)
	}
	// Later, well-formed rectangles are refused: the picture cannot be trusted.
	next := z.rect(cat([]byte{1}, c24(green)))
	if err := s.Apply(0, 0, 4, 4, rfb.EncZRLE, cat(u32(len(next)), next)); !errors.Is(err, ErrBroken) {
		t.Fatalf("after a failure: %v", err)
	}
	// A gap breaks a healthy stream too.
	s = newScreen(t, 4, 4, pf32)
	z = newZ()
	good = z.rect(cat([]byte{1}, c24(red)))
	apply(t, s, 0, 0, 4, 4, rfb.EncZRLE, cat(u32(len(good)), good))
	s.Gap()
	next = z.rect(cat([]byte{1}, c24(green)))
	if err := s.Apply(0, 0, 4, 4, rfb.EncZRLE, cat(u32(len(next)), next)); !errors.Is(err, ErrBroken) {
		t.Fatalf("after a gap: %v", err)
	}
	// Compressed data past what the tiles need (here a second flush of 600
	// incompressible bytes) is an error, not something to carry to the next rectangle.
	s = newScreen(t, 4, 4, pf32)
	z = newZ()
	noise := make([]byte, 600)
	for i := range noise {
		noise[i] = byte(i*i*7919 + i>>3)
	}
	two := cat(z.rect(cat([]byte{1}, c24(red))), z.rect(noise))
	if err := s.Apply(0, 0, 4, 4, rfb.EncZRLE, cat(u32(len(two)), two)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("unused compressed data: %v", err)
	}
	// Data left over after the tiles is an error.
	s = newScreen(t, 4, 4, pf32)
	z = newZ()
	extra := z.rect(cat([]byte{1}, c24(red), []byte{1, 2, 3}))
	if err := s.Apply(0, 0, 4, 4, rfb.EncZRLE, cat(u32(len(extra)), extra)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("left over: %v", err)
	}
}

// A zlib bomb: megabytes of zeros in a few kilobytes; the decoder reads what
// the rectangle needs and stops.
func TestZlibBomb(t *testing.T) {
	z := newZ()
	bomb := z.rect(make([]byte, 64<<20))
	s := newScreen(t, 4, 4, pf32)
	var before, after runtimeMem
	before.read()
	for _, enc := range []int32{rfb.EncZRLE, rfb.EncZlib} {
		err := s.Apply(0, 0, 4, 4, enc, cat(u32(len(bomb)), bomb))
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s bomb: %v", rfb.EncodingName(enc), err)
		}
	}
	tb := cat([]byte{0x00}, compact(len(bomb)), bomb) // basic, stream 0, copy filter
	if err := s.Apply(0, 0, 4, 4, rfb.EncTight, tb); !errors.Is(err, ErrMalformed) {
		t.Fatalf("tight bomb: %v", err)
	}
	after.read()
	if grew := after.total - before.total; grew > 4<<20 {
		t.Fatalf("decoding bombs allocated %d bytes", grew)
	}
}

// tp is a pf32 TPIXEL: R, G, B.
func tp(c rgb) []byte { return c[:] }

func TestTight(t *testing.T) {
	s := newScreen(t, 8, 4, pf32)
	streams := [4]*zsender{newZ(), newZ(), newZ(), newZ()}
	// Fill.
	apply(t, s, 0, 0, 8, 4, rfb.EncTight, cat([]byte{0x80}, tp(white)))
	want(t, s, "wwwwwwww", "wwwwwwww", "wwwwwwww", "wwwwwwww")
	// Basic, copy filter implied, 3 pixels = 9 bytes < 12: sent uncompressed.
	apply(t, s, 0, 0, 3, 1, rfb.EncTight, cat([]byte{0x00}, tp(red), tp(green), tp(blue)))
	want(t, s, "rgbwwwww")
	// Basic on stream 1 with an explicit copy filter, 8x1 = 24 bytes: compressed.
	d := streams[1].rect(rep(tp(blue), 8))
	apply(t, s, 0, 1, 8, 1, rfb.EncTight, cat([]byte{0x50, filterCopy}, compact(len(d)), d))
	// Palette of 2 on stream 2: rows of 1 bit; 8x2 = 2 bytes < 12, uncompressed.
	apply(t, s, 0, 2, 8, 2, rfb.EncTight, cat([]byte{0x60, filterPalette, 1}, tp(red), tp(green), []byte{0xf0, 0x0f}))
	want(t, s, "rgbwwwww", "bbbbbbbb", "ggggrrrr", "rrrrgggg")
	// Palette of 3 on stream 3: a byte per pixel, 16 bytes: compressed.
	d = streams[3].rect([]byte{0, 1, 2, 0, 1, 2, 0, 1, 2, 2, 2, 2, 1, 1, 1, 1})
	apply(t, s, 0, 2, 8, 2, rfb.EncTight, cat([]byte{0x70, filterPalette, 2}, tp(red), tp(green), tp(blue), compact(len(d)), d))
	want(t, s, "rgbwwwww", "bbbbbbbb", "rgbrgbrg", "bbbbgggg")
	// Stream 1 continues in a second rectangle.
	d = streams[1].rect(rep(tp(green), 8))
	apply(t, s, 0, 0, 8, 1, rfb.EncTight, cat([]byte{0x10}, compact(len(d)), d))
	want(t, s, "gggggggg")
	// Reset stream 1 (bit 1) and start a new zlib stream there.
	streams[1] = newZ()
	d = streams[1].rect(rep(tp(red), 8))
	apply(t, s, 0, 0, 8, 1, rfb.EncTight, cat([]byte{0x12}, compact(len(d)), d))
	want(t, s, "rrrrrrrr")
	// Not allowed in Tight: PNG.
	if err := s.Apply(0, 0, 1, 1, rfb.EncTight, cat([]byte{0xa0}, compact(1), []byte{0})); !errors.Is(err, ErrMalformed) {
		t.Fatalf("png in tight: %v", err)
	}
}

func TestTightGradient(t *testing.T) {
	// Pixels (3x2): row 0: 10 20 30 | row 1: 15 30 50 (the same value in every component).
	want := [][]uint8{{10, 20, 30}, {15, 30, 50}}
	// Residuals: pred = left + above - aboveleft, clamped; row 0 pred = left.
	// row 0: 10-0, 20-10, 30-20 -> 10 10 10
	// row 1: x0 pred = above 10 -> 5; x1 pred 15+20-10=25 -> 5; x2 pred 30+30-20=40 -> 10.
	res := []uint8{10, 10, 10, 5, 5, 10}
	var data []byte
	for _, r := range res {
		data = append(data, r, r, r)
	}
	z := newZ()
	d := z.rect(data)
	s := newScreen(t, 3, 2, pf32)
	apply(t, s, 0, 0, 3, 2, rfb.EncTight, cat([]byte{0x40, filterGradient}, compact(len(d)), d))
	for y := range want {
		for x, v := range want[y] {
			if got := at(s, x, y); got != (rgb{v, v, v}) {
				t.Errorf("%d,%d = %v, want %d", x, y, got, v)
			}
		}
	}
	// Wrap-around: a residual that overflows 255 wraps.
	s = newScreen(t, 2, 1, pf32)
	apply(t, s, 0, 0, 2, 1, rfb.EncTight, cat([]byte{0x40, filterGradient}, []byte{200, 200, 200, 100, 100, 100}))
	if got := at(s, 1, 0); got != (rgb{44, 44, 44}) {
		t.Fatalf("wrap: %v", got)
	}
	// 16bpp: components in 565, residual pixels in the pixel format (big-endian).
	s = newScreen(t, 2, 1, pf16be)
	// pixel 0: red 31 -> f800; pixel 1: red 31 + residual green 63 -> residual 07e0.
	apply(t, s, 0, 0, 2, 1, rfb.EncTight, cat([]byte{0x40, filterGradient}, []byte{0xf8, 0, 0x07, 0xe0}))
	if at(s, 0, 0) != red || at(s, 1, 0) != (rgb{255, 255, 0}) {
		t.Fatalf("16bpp gradient: %v %v", at(s, 0, 0), at(s, 1, 0))
	}
}

func solid(w, h int, c color.Color) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	return img
}

func TestTightJPEGAndPNG(t *testing.T) {
	var j bytes.Buffer
	if err := jpeg.Encode(&j, solid(16, 8, color.RGBA{200, 40, 90, 255}), &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	s := newScreen(t, 32, 8, pf32)
	apply(t, s, 16, 0, 16, 8, rfb.EncTight, cat([]byte{0x90}, compact(j.Len()), j.Bytes()))
	got := at(s, 20, 4)
	near := func(a, b uint8) bool { return a-b < 6 || b-a < 6 }
	if !near(got[0], 200) || !near(got[1], 40) || !near(got[2], 90) {
		t.Fatalf("jpeg pixel %v", got)
	}
	if at(s, 15, 4) != black {
		t.Fatal("jpeg spilled outside its rectangle")
	}
	// Wrong size: refused before decoding.
	if err := s.Apply(0, 0, 8, 8, rfb.EncTight, cat([]byte{0x90}, compact(j.Len()), j.Bytes())); !errors.Is(err, ErrMalformed) {
		t.Fatalf("jpeg of another size: %v", err)
	}
	var p bytes.Buffer
	if err := png.Encode(&p, solid(4, 2, color.RGBA{0, 0, 255, 255})); err != nil {
		t.Fatal(err)
	}
	apply(t, s, 0, 0, 4, 2, rfb.EncTightPNG, cat([]byte{0xa0}, compact(p.Len()), p.Bytes()))
	want(t, s, "bbbb", "bbbb")
	apply(t, s, 0, 0, 2, 2, rfb.EncTightPNG, cat([]byte{0x80}, tp(red)))
	want(t, s, "rrbb", "rrbb")
	if s.fb.Pix[3] != 255 {
		t.Fatal("framebuffer not opaque")
	}
}

func TestTightBrokenAndReset(t *testing.T) {
	s := newScreen(t, 8, 1, pf32)
	z := newZ()
	d := z.rect(rep(tp(red), 8))
	apply(t, s, 0, 0, 8, 1, rfb.EncTight, cat([]byte{0x00}, compact(len(d)), d))
	// Garbage on stream 0 breaks it.
	junk := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if err := s.Apply(0, 0, 8, 1, rfb.EncTight, cat([]byte{0x00}, compact(len(junk)), junk)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("junk: %v", err)
	}
	d = z.rect(rep(tp(green), 8))
	if err := s.Apply(0, 0, 8, 1, rfb.EncTight, cat([]byte{0x00}, compact(len(d)), d)); !errors.Is(err, ErrBroken) {
		t.Fatalf("after junk: %v", err)
	}
	// Other streams and fills still work.
	apply(t, s, 0, 0, 8, 1, rfb.EncTight, cat([]byte{0x80}, tp(blue)))
	// The server resets stream 0: decoding resumes.
	z = newZ()
	d = z.rect(rep(tp(white), 8))
	apply(t, s, 0, 0, 8, 1, rfb.EncTight, cat([]byte{0x01}, compact(len(d)), d))
	want(t, s, "wwwwwwww")
	// A bad palette index in data short enough to travel uncompressed leaves
	// the stream alone; an unknown filter (size unknown) breaks it.
	if err := s.Apply(0, 0, 2, 1, rfb.EncTight, cat([]byte{0x40, filterPalette, 2}, tp(red), tp(green), tp(blue), []byte{0, 7})); !errors.Is(err, ErrMalformed) {
		t.Fatalf("palette index: %v", err)
	}
	d = z.rect(rep(tp(blue), 8))
	apply(t, s, 0, 0, 8, 1, rfb.EncTight, cat([]byte{0x00}, compact(len(d)), d))
	want(t, s, "bbbbbbbb")
	if err := s.Apply(0, 0, 8, 1, rfb.EncTight, []byte{0x40, 9}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("filter 9: %v", err)
	}
	if err := s.Apply(0, 0, 8, 1, rfb.EncTight, cat([]byte{0x00}, compact(len(d)), d)); !errors.Is(err, ErrBroken) {
		t.Fatalf("after an unknown filter: %v", err)
	}
	z = newZ()
	d = z.rect(rep(tp(white), 8))
	apply(t, s, 0, 0, 8, 1, rfb.EncTight, cat([]byte{0x01}, compact(len(d)), d))
	// A rectangle outside the framebuffer also breaks its stream.
	d = z.rect(rep(tp(white), 8))
	if err := s.Apply(1, 0, 8, 1, rfb.EncTight, cat([]byte{0x00}, compact(len(d)), d)); !errors.Is(err, ErrOutside) {
		t.Fatalf("outside: %v", err)
	}
	d = z.rect(rep(tp(red), 8))
	if err := s.Apply(0, 0, 8, 1, rfb.EncTight, cat([]byte{0x00}, compact(len(d)), d)); !errors.Is(err, ErrBroken) {
		t.Fatalf("after outside: %v", err)
	}
}

func TestCursor(t *testing.T) {
	s := newScreen(t, 8, 8, pf32)
	// 3x2 cursor, hot spot 1,1: pixels r g b / w k r; mask rows 101 and 011.
	apply(t, s, 1, 1, 3, 2, rfb.EncCursor, cat(p32(red), p32(green), p32(blue), p32(white), p32(black), p32(red), []byte{0xa0, 0x60}))
	img, hx, hy, ok := s.Cursor()
	if !ok || hx != 1 || hy != 1 || img.Bounds() != image.Rect(0, 0, 3, 2) {
		t.Fatalf("cursor %v %d,%d %v", ok, hx, hy, img.Bounds())
	}
	wantPix := []color.RGBA{{255, 0, 0, 255}, {0, 0, 0, 0}, {0, 0, 255, 255}, {0, 0, 0, 0}, {0, 0, 0, 255}, {255, 0, 0, 255}}
	for i, w := range wantPix {
		if got := img.RGBAAt(i%3, i/3); got != w {
			t.Errorf("cursor pixel %d = %v, want %v", i, got, w)
		}
	}
	// XCursor 2x1: primary white, secondary blue; bitmap 10, mask 11.
	apply(t, s, 0, 0, 2, 1, rfb.EncXCursor, cat([]byte{255, 255, 255, 0, 0, 255}, []byte{0x80}, []byte{0xc0}))
	img, _, _, _ = s.Cursor()
	if img.RGBAAt(0, 0) != (color.RGBA{255, 255, 255, 255}) || img.RGBAAt(1, 0) != (color.RGBA{0, 0, 255, 255}) {
		t.Fatalf("xcursor %v %v", img.RGBAAt(0, 0), img.RGBAAt(1, 0))
	}
	// CursorWithAlpha, raw: premultiplied RGBA, half-transparent red.
	apply(t, s, 0, 0, 1, 1, rfb.EncCursorWithAlpha, cat(u32(0), []byte{128, 0, 0, 128}))
	img, _, _, _ = s.Cursor()
	if img.RGBAAt(0, 0) != (color.RGBA{128, 0, 0, 128}) {
		t.Fatalf("alpha cursor %v", img.RGBAAt(0, 0))
	}
	// VMware classic cursor 2x1: and-mask 0 then all ones; xor red then 0 -> red, clear.
	apply(t, s, 0, 0, 2, 1, encVMwareCursor, cat([]byte{vmwareClassic, 0}, p32(black), []byte{255, 255, 255, 255}, p32(red), p32(black)))
	img, _, _, _ = s.Cursor()
	if img.RGBAAt(0, 0) != (color.RGBA{255, 0, 0, 255}) || img.RGBAAt(1, 0) != (color.RGBA{}) {
		t.Fatalf("vmware cursor %v %v", img.RGBAAt(0, 0), img.RGBAAt(1, 0))
	}
	if n, err := RectLen(encVMwareCursor, 2, 2, pf32, []byte{vmwareAlpha, 0}); err != nil || n != 18 {
		t.Fatalf("vmware alpha cursor length %d %v", n, err)
	}
	// An empty cursor hides it.
	apply(t, s, 0, 0, 0, 0, rfb.EncCursor, nil)
	if _, _, _, ok := s.Cursor(); ok {
		t.Fatal("empty cursor still shown")
	}
	// Over the cap: refused, not allocated.
	big := MaxCursorSide + 1
	if err := s.Apply(0, 0, big, 1, rfb.EncCursor, make([]byte, big*4+(big+7)/8)); !errors.Is(err, ErrTooBig) {
		t.Fatalf("big cursor: %v", err)
	}
	if err := s.Apply(0, 0, 2, 1, rfb.EncCursor, make([]byte, 3)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short cursor: %v", err)
	}
}

func TestPseudo(t *testing.T) {
	s := newScreen(t, 4, 2, pf32)
	apply(t, s, 0, 0, 4, 2, rfb.EncRaw, rep(p32(red), 8))
	s.TakeDirty()
	apply(t, s, 0, 0, 6, 3, rfb.EncDesktopSize, nil)
	if w, h := s.Size(); w != 6 || h != 3 {
		t.Fatalf("size %dx%d", w, h)
	}
	want(t, s, "rrrrkk", "rrrrkk", "kkkkkk")
	if d := s.TakeDirty(); len(d) != 1 || d[0] != image.Rect(0, 0, 6, 3) {
		t.Fatalf("dirty after resize %v", d)
	}
	// ExtendedDesktopSize: reason 1 (client asked), status 0, one screen.
	screen := cat(u32(7), u16(0), u16(0), u16(5), u16(5), u32(0))
	apply(t, s, 1, 0, 5, 5, rfb.EncExtendedDesktopSize, cat([]byte{1, 0, 0, 0}, screen))
	if w, h := s.Size(); w != 5 || h != 5 {
		t.Fatalf("extended size %dx%d", w, h)
	}
	// Status 3 (invalid layout): the size stays.
	apply(t, s, 1, 3, 9, 9, rfb.EncExtendedDesktopSize, cat([]byte{1, 0, 0, 0}, screen))
	if w, h := s.Size(); w != 5 || h != 5 {
		t.Fatalf("refused size %dx%d", w, h)
	}
	if err := s.Apply(0, 0, 10000, 10000, rfb.EncDesktopSize, nil); !errors.Is(err, ErrTooBig) {
		t.Fatalf("huge resize: %v", err)
	}
	apply(t, s, 0, 0, 0, 0, rfb.EncDesktopName, cat(u32(5), []byte("x\x1b[2J")))
	if s.Name() != "x\x1b[2J" {
		t.Fatalf("name %q", s.Name())
	}
	apply(t, s, 3, 4, 0, 0, rfb.EncPointerPos, nil)
	if x, y, ok := s.Pointer(); !ok || x != 3 || y != 4 {
		t.Fatalf("pointer %d,%d %v", x, y, ok)
	}
	apply(t, s, 0, 0, 0, 0, rfb.EncLastRect, nil)
	if n, err := RectLen(rfb.EncH264, 10, 10, pf32, cat(u32(3), u32(0), []byte{1, 2, 3})); err != nil || n != 11 {
		t.Fatalf("h264 length %d %v", n, err)
	}
	if err := s.Apply(0, 0, 1, 1, rfb.EncH264, cat(u32(0), u32(0))); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("h264: %v", err)
	}
}

func TestDirtyBounded(t *testing.T) {
	s := newScreen(t, 512, 512, pf32)
	for i := 0; i < 200; i++ {
		x, y := (i*37)%500, (i*91)%500
		s.markDirty(image.Rect(x, y, x+3, y+3))
	}
	d := s.TakeDirty()
	if len(d) > maxDirty {
		t.Fatalf("%d dirty rectangles", len(d))
	}
	// Every marked area is covered.
	for i := 0; i < 200; i++ {
		x, y := (i*37)%500, (i*91)%500
		r := image.Rect(x, y, x+3, y+3)
		covered := false
		for _, c := range d {
			if r.In(c) {
				covered = true
			}
		}
		if !covered {
			t.Fatalf("%v lost", r)
		}
	}
	// Touching rectangles merge into one.
	s.markDirty(image.Rect(0, 0, 10, 10))
	s.markDirty(image.Rect(10, 0, 20, 10))
	s.markDirty(image.Rect(0, 10, 20, 20))
	if d := s.TakeDirty(); len(d) != 1 || d[0] != image.Rect(0, 0, 20, 20) {
		t.Fatalf("merged %v", d)
	}
}
