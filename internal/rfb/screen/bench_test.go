package screen

import (
	"bytes"
	"compress/zlib"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"testing"

	"github.com/psmtap/psmtap/internal/rfb"
)

// desktop draws a 1920x1080 test picture that looks like a desktop to a
// compressor: a flat background, two windows of "text" (two colours in
// small random strokes), and a smooth gradient standing for a photo.
func desktop() *image.RGBA {
	const w, h = 1920, 1080
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rnd := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := [4]uint8{40, 70, 110, 255} // background
			switch {
			case x >= 100 && x < 1000 && y >= 100 && y < 900, x >= 1100 && x < 1800 && y >= 50 && y < 600:
				c = [4]uint8{250, 250, 250, 255}
				if (y/16)%2 == 0 && rnd.IntN(4) == 0 {
					c = [4]uint8{20, 20, 20, 255}
				}
			case x >= 1100 && x < 1800 && y >= 650 && y < 1050:
				c = [4]uint8{uint8(x / 8), uint8(y / 5), uint8((x + y) / 12), 255}
			}
			copy(img.Pix[img.PixOffset(x, y):], c[:])
		}
	}
	return img
}

// rawOf encodes img in pf32.
func rawOf(img *image.RGBA, r image.Rectangle) []byte {
	var b []byte
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			o := img.PixOffset(x, y)
			b = append(b, img.Pix[o+2], img.Pix[o+1], img.Pix[o], 0)
		}
	}
	return b
}

// zrleTiles encodes img as ZRLE tiles (before compression) the simple way a
// server might: solid, packed palette up to 16 colours, else raw.
func zrleTiles(img *image.RGBA) []byte {
	var out []byte
	b := img.Bounds()
	for ty := 0; ty < b.Dy(); ty += 64 {
		for tx := 0; tx < b.Dx(); tx += 64 {
			t := image.Rect(tx, ty, min(tx+64, b.Dx()), min(ty+64, b.Dy()))
			index := map[[3]uint8]int{}
			var pal [][3]uint8
			for y := t.Min.Y; y < t.Max.Y; y++ {
				for x := t.Min.X; x < t.Max.X; x++ {
					o := img.PixOffset(x, y)
					c := [3]uint8{img.Pix[o], img.Pix[o+1], img.Pix[o+2]}
					if _, ok := index[c]; !ok && len(pal) <= 16 {
						index[c] = len(pal)
						pal = append(pal, c)
					}
				}
			}
			switch {
			case len(pal) == 1:
				out = append(out, 1, pal[0][2], pal[0][1], pal[0][0])
			case len(pal) <= 16:
				out = append(out, byte(len(pal)))
				for _, c := range pal {
					out = append(out, c[2], c[1], c[0])
				}
				bits := 4
				if len(pal) == 2 {
					bits = 1
				} else if len(pal) <= 4 {
					bits = 2
				}
				for y := t.Min.Y; y < t.Max.Y; y++ {
					row := make([]byte, (t.Dx()*bits+7)/8)
					for x := t.Min.X; x < t.Max.X; x++ {
						o := img.PixOffset(x, y)
						i := index[[3]uint8{img.Pix[o], img.Pix[o+1], img.Pix[o+2]}]
						bit := (x - t.Min.X) * bits
						row[bit/8] |= byte(i) << (8 - bits - bit%8)
					}
					out = append(out, row...)
				}
			default:
				out = append(out, 0)
				for y := t.Min.Y; y < t.Max.Y; y++ {
					for x := t.Min.X; x < t.Max.X; x++ {
						o := img.PixOffset(x, y)
						out = append(out, img.Pix[o+2], img.Pix[o+1], img.Pix[o])
					}
				}
			}
		}
	}
	return out
}

func compress(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, 6)
	w.Write(b)
	w.Flush()
	return buf.Bytes()
}

const fullHD = 1920 * 1080 * 4 // bytes of the RGBA picture a full update produces

func BenchmarkRaw1080p(b *testing.B) {
	img := desktop()
	payload := rawOf(img, img.Bounds())
	s := newScreen(b, 1920, 1080, pf32)
	b.SetBytes(fullHD)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Apply(0, 0, 1920, 1080, rfb.EncRaw, payload); err != nil {
			b.Fatal(err)
		}
		s.TakeDirty()
	}
}

func BenchmarkZRLE1080p(b *testing.B) {
	img := desktop()
	d := compress(zrleTiles(img))
	payload := cat(u32(len(d)), d)
	s := newScreen(b, 1920, 1080, pf32)
	b.SetBytes(fullHD)
	b.ReportMetric(float64(len(payload)), "wire-bytes")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.zrle.reset() // each round is the first rectangle of a new stream
		if err := s.Apply(0, 0, 1920, 1080, rfb.EncZRLE, payload); err != nil {
			b.Fatal(err)
		}
		s.TakeDirty()
	}
}

// BenchmarkTight1080p: basic compression with the copy filter, in bands of
// 64 rows, each on stream 0 with a reset (what a server does for big areas).
func BenchmarkTight1080p(b *testing.B) {
	img := desktop()
	type band struct {
		y, h    int
		payload []byte
	}
	var bands []band
	total := 0
	for y := 0; y < 1080; y += 64 {
		h := min(64, 1080-y)
		var px []byte
		for yy := y; yy < y+h; yy++ {
			for x := 0; x < 1920; x++ {
				o := img.PixOffset(x, yy)
				px = append(px, img.Pix[o], img.Pix[o+1], img.Pix[o+2])
			}
		}
		d := compress(px)
		p := cat([]byte{0x01}, compact(len(d)), d)
		bands = append(bands, band{y, h, p})
		total += len(p)
	}
	s := newScreen(b, 1920, 1080, pf32)
	b.SetBytes(fullHD)
	b.ReportMetric(float64(total), "wire-bytes")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, bd := range bands {
			if err := s.Apply(0, bd.y, 1920, bd.h, rfb.EncTight, bd.payload); err != nil {
				b.Fatal(err)
			}
		}
		s.TakeDirty()
	}
}

func BenchmarkTightJPEG1080p(b *testing.B) {
	img := desktop()
	var j bytes.Buffer
	if err := jpeg.Encode(&j, img, &jpeg.Options{Quality: 80}); err != nil {
		b.Fatal(err)
	}
	payload := cat([]byte{0x90}, compact(j.Len()), j.Bytes())
	s := newScreen(b, 1920, 1080, pf32)
	b.SetBytes(fullHD)
	b.ReportMetric(float64(len(payload)), "wire-bytes")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Apply(0, 0, 1920, 1080, rfb.EncTight, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// The full update decodes to the right picture (so the benchmarks time real work).
func TestBenchPictures(t *testing.T) {
	img := desktop()
	s := newScreen(t, 1920, 1080, pf32)
	d := compress(zrleTiles(img))
	apply(t, s, 0, 0, 1920, 1080, rfb.EncZRLE, cat(u32(len(d)), d))
	if !bytes.Equal(s.fb.Pix, img.Pix) {
		t.Fatal("ZRLE picture differs")
	}
}
