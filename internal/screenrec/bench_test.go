package screenrec

import (
	"image"
	"image/color"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// desktop is a synthetic 1080p desktop: a gradient background and a
// terminal window of 8x16 glyph cells drawn from a fixed set of 95 random
// glyphs (text repeats its letters, which PNG exploits as real text does).
type desktop struct {
	img    *image.RGBA
	glyphs [95][16]uint8
	term   image.Rectangle
	rng    *rand.Rand
	col    int
}

func newDesktop() *desktop {
	d := &desktop{img: image.NewRGBA(image.Rect(0, 0, 1920, 1080)), term: image.Rect(200, 100, 200+120*8, 100+50*16), rng: rand.New(rand.NewPCG(7, 8))}
	for y := range 1080 {
		for x := range 1920 {
			d.img.SetRGBA(x, y, color.RGBA{uint8(x / 8), uint8(y / 5), 120, 255})
		}
	}
	for i := range d.glyphs {
		for r := range 16 {
			d.glyphs[i][r] = uint8(d.rng.Uint32()) & 0x7e
		}
	}
	for y := d.term.Min.Y; y < d.term.Max.Y; y++ {
		for x := d.term.Min.X; x < d.term.Max.X; x++ {
			d.img.SetRGBA(x, y, color.RGBA{0, 0, 0, 255})
		}
	}
	return d
}

func (d *desktop) glyph(cx, cy, g int) {
	x0, y0 := d.term.Min.X+cx*8, d.term.Min.Y+cy*16
	for r := range 16 {
		bits := d.glyphs[g][r]
		for c := range 8 {
			v := uint8(0)
			if bits&(1<<c) != 0 {
				v = 220
			}
			d.img.SetRGBA(x0+c, y0+r, color.RGBA{v, v, v, 255})
		}
	}
}

// type adds a character at the bottom line; scroll moves the terminal up a
// line and writes a full new line (output flooding in), as CopyRect would.
func (d *desktop) typeChar() image.Rectangle {
	d.glyph(d.col, 49, d.rng.IntN(95))
	r := image.Rect(d.term.Min.X+d.col*8, d.term.Min.Y+49*16, d.term.Min.X+d.col*8+8, d.term.Min.Y+50*16)
	d.col = (d.col + 1) % 120
	return r
}

func (d *desktop) scroll() image.Rectangle {
	stride := d.img.Stride
	for y := d.term.Min.Y; y < d.term.Max.Y-16; y++ {
		dst := d.img.Pix[y*stride+d.term.Min.X*4 : y*stride+d.term.Max.X*4]
		copy(dst, d.img.Pix[(y+16)*stride+d.term.Min.X*4:])
	}
	for c := range 120 {
		g := d.rng.IntN(95)
		if d.rng.IntN(5) == 0 {
			g = 0
		}
		d.glyph(c, 49, g)
	}
	return d.term
}

// session plays a minute of a 1080p session into w (nil: only draws it):
// 25 updates a second from the server, typing in a 960x800 terminal and
// its output scrolling it a line at a time, scrollsPerSec times a second;
// 0: a 640x360 video instead (noise, changing at every update).
func session(b *testing.B, w *Writer, scrollsPerSec int) {
	d := newDesktop()
	if w != nil {
		w.Frame(at(0), d.img, []image.Rectangle{d.img.Rect})
	}
	every := 25 / max(scrollsPerSec, 1)
	video := image.Rect(1200, 600, 1840, 960)
	for f := 1; f < 60*25; f++ {
		var dirty []image.Rectangle
		if scrollsPerSec == 0 { // a 640x360 video playing: noise, every update
			for y := video.Min.Y; y < video.Max.Y; y++ {
				row := d.img.Pix[d.img.PixOffset(video.Min.X, y):d.img.PixOffset(video.Max.X, y)]
				for i := 0; i < len(row); i += 8 {
					v := d.rng.Uint64()
					copy(row[i:], []byte{byte(v), byte(v >> 8), byte(v >> 16), 255, byte(v >> 24), byte(v >> 32), byte(v >> 40), 255})
				}
			}
			dirty = append(dirty, video)
		} else if f%every == 0 {
			dirty = append(dirty, d.scroll())
		} else {
			dirty = append(dirty, d.typeChar())
		}
		if w != nil {
			w.Frame(at(time.Duration(f)*40*time.Millisecond), d.img, dirty)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}

// BenchmarkBusy1080p: a minute of a busy 1080p session per iteration, with
// the default options (a key frame every 10 s, updates merged to at most
// ten a second). Reports the recording's bytes and the CPU time the
// recording costs (drawing the synthetic screen is measured apart and
// taken off) per minute of session.
func BenchmarkBusy1080p(b *testing.B) {
	for _, scrolls := range []int{1, 5, 0} {
		name := strconv.Itoa(scrolls) + "scrolls-per-s"
		if scrolls == 0 {
			name = "video"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			c0 := cpuTime()
			session(b, nil, scrolls)
			drawing := cpuTime() - c0
			var bytes int64
			var cpu time.Duration
			for b.Loop() {
				c0 := cpuTime()
				w, err := Create(dir, "busy", t0, 1920, 1080, Options{})
				if err != nil {
					b.Fatal(err)
				}
				session(b, w, scrolls)
				rec, err := w.Close()
				if err != nil {
					b.Fatal(err)
				}
				cpu += cpuTime() - c0 - drawing
				bytes += rec.Bytes
				os.Remove(filepath.Join(dir, rec.Path))
			}
			b.ReportMetric(float64(bytes)/float64(b.N)/1e6, "MB/min")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/min")
		})
	}
}
