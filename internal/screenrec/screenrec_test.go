package screenrec

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)

func at(d time.Duration) int64 { return t0.Add(d).UnixNano() }

// scribble changes a few rectangles of img (solid colours and noise, as
// windows and text do) and returns them.
func scribble(rng *rand.Rand, img *image.RGBA, n int) []image.Rectangle {
	var dirty []image.Rectangle
	b := img.Rect
	for range n {
		x, y := rng.IntN(b.Dx()), rng.IntN(b.Dy())
		r := image.Rect(x, y, x+1+rng.IntN(b.Dx()/3), y+1+rng.IntN(b.Dy()/3)).Intersect(b)
		if rng.IntN(2) == 0 {
			draw.Draw(img, r, image.NewUniform(color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}), image.Point{}, draw.Src)
		} else {
			for yy := r.Min.Y; yy < r.Max.Y; yy++ {
				for xx := r.Min.X; xx < r.Max.X; xx++ {
					img.SetRGBA(xx, yy, color.RGBA{uint8(rng.IntN(256)), uint8(xx), uint8(yy), 255})
				}
			}
		}
		dirty = append(dirty, r)
	}
	return dirty
}

func clone(img *image.RGBA) *image.RGBA {
	c := image.NewRGBA(img.Rect)
	copy(c.Pix, img.Pix)
	return c
}

func samePixels(t *testing.T, what string, got, want *image.RGBA) {
	t.Helper()
	if got.Rect != want.Rect {
		t.Fatalf("%s: size %v, want %v", what, got.Rect, want.Rect)
	}
	if !bytes.Equal(got.Pix, want.Pix) {
		diff := 0
		for i := range got.Pix {
			if got.Pix[i] != want.Pix[i] {
				diff++
			}
		}
		t.Fatalf("%s: %d bytes of %d differ", what, diff, len(got.Pix))
	}
}

func mustClose(t *testing.T, w *Writer, dir string) *Recording {
	t.Helper()
	rec, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if rec.Format != Format || !strings.HasSuffix(rec.Path, Ext) || len(rec.SHA256) != 64 {
		t.Fatalf("record: %+v", rec)
	}
	st, err := os.Stat(filepath.Join(dir, rec.Path))
	if err != nil || st.Size() != rec.Bytes {
		t.Fatalf("file: %v %v, record says %d bytes", st, err, rec.Bytes)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*.tmp")); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	r, err := Open(filepath.Join(dir, rec.Path))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRoundTrip: 10 s of a changing 320x200 screen, a frame every 50 ms,
// merged two by two (MinFrameGap 100 ms), a key frame every 2 s: the
// picture at each frame's time is the one after the last frame written.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, "vnc-rt", t0, 320, 200, Options{KeyFrameEvery: 2 * time.Second, MinFrameGap: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	w.fixedGap = true // the expected pictures below follow MinFrameGap exactly
	rng := rand.New(rand.NewPCG(1, 2))
	img := black(320, 200)
	var shots []*image.RGBA
	written := make([]int, 200) // the frame whose picture is shown at frame i's time
	lastOut := -100
	for i := range 200 {
		d := scribble(rng, img, 1+rng.IntN(4))
		if i == 0 {
			d = []image.Rectangle{img.Rect}
		}
		w.Frame(at(time.Duration(i)*50*time.Millisecond), img, d)
		shots = append(shots, clone(img))
		written[i] = written[max(i-1, 0)]
		if i*50-lastOut >= 100 || i%37 == 5 { // the gap, or a key flushes it
			written[i], lastOut = i, i*50
		}
		if i%37 == 5 {
			w.Key(at(time.Duration(i)*50*time.Millisecond+time.Millisecond), "ls -l\n")
			w.Click(at(time.Duration(i)*50*time.Millisecond+2*time.Millisecond), i, i/2, 1)
		}
	}
	r := mustClose(t, w, dir)
	if r.Header.Width != 320 || r.Header.Height != 200 || r.Header.Timestamp != t0.Unix() {
		t.Fatalf("header %+v", r.Header)
	}
	keys := 0
	for _, p := range r.pictures {
		if p.code == 'k' {
			keys++
		}
	}
	if keys < 5 || keys > 7 {
		t.Errorf("%d key frames in 10 s, want one every 2 s", keys)
	}
	if len(r.Keys) != 6 || r.Keys[0].Text != "ls -l\n" || r.Keys[0].T != 5*50*time.Millisecond+time.Millisecond {
		t.Errorf("keys %+v", r.Keys)
	}
	if len(r.Clicks) != 6 || r.Clicks[1] != (Click{T: 42*50*time.Millisecond + 2*time.Millisecond, X: 42, Y: 21, Buttons: 1}) {
		t.Errorf("clicks %+v", r.Clicks)
	}
	if r.End() != 199*50*time.Millisecond {
		t.Errorf("end %v", r.End())
	}
	for _, i := range []int{0, 1, 2, 3, 39, 40, 41, 77, 100, 150, 198, 199} {
		want := shots[written[i]]
		if i == 199 {
			want = shots[i] // Close writes what waits
		}
		got, err := r.FrameAt(time.Duration(i) * 50 * time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		samePixels(t, "frame "+itoa(i), got, want)
	}
	end, _ := r.FrameAt(time.Hour)
	samePixels(t, "after the end", end, shots[199])
}

func itoa(i int) string { return strconv.Itoa(i) }

func black(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.Black, image.Point{}, draw.Src)
	return img
}

// TestResize: a size change shows a black screen of the new size until the
// next frame, which is a key frame; before it, the old size.
func TestResize(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, "vnc-resize", t0, 100, 80, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	a := black(100, 80)
	w.Frame(at(0), a, scribble(rng, a, 3))
	w.Resize(at(time.Second), 60, 40)
	b := black(60, 40)
	scribble(rng, b, 3)
	w.Frame(at(2*time.Second), b, []image.Rectangle{image.Rect(0, 0, 10, 10)}) // after a resize all of it counts
	c := black(30, 20)
	scribble(rng, c, 2)
	w.Frame(at(3*time.Second), c, nil) // another size without Resize: taken whole
	r := mustClose(t, w, dir)
	if len(r.Sizes) != 3 || r.Sizes[1] != (Size{time.Second, 60, 40}) || r.Sizes[2] != (Size{3 * time.Second, 30, 20}) {
		t.Fatalf("sizes %+v", r.Sizes)
	}
	got, _ := r.FrameAt(500 * time.Millisecond)
	samePixels(t, "before", got, a)
	got, _ = r.FrameAt(1500 * time.Millisecond)
	samePixels(t, "between", got, black(60, 40))
	got, _ = r.FrameAt(2 * time.Second)
	samePixels(t, "after", got, b)
	got, _ = r.FrameAt(3 * time.Second)
	samePixels(t, "implicit", got, c)
}

// TestIncompleteAndText: marks keep their order and times; text from the
// network is kept as valid UTF-8, bounded.
func TestIncompleteAndText(t *testing.T) {
	dir := t.TempDir()
	w, _ := Create(dir, "vnc-inc", t0, 16, 16, Options{})
	img := black(16, 16)
	w.Frame(at(0), img, []image.Rectangle{img.Rect})
	w.Key(at(time.Second), "a\xffb<script>")
	w.Incomplete(at(2*time.Second), "missing packets")
	w.Incomplete(at(3*time.Second), "unknown encoding 99")
	w.Key(at(4*time.Second), strings.Repeat("x", 10000))
	w.Key(at(5*time.Second), "") // nothing
	r := mustClose(t, w, dir)
	if len(r.Incomplete) != 2 || r.Incomplete[0] != (Mark{2 * time.Second, "missing packets"}) || r.Incomplete[1].T != 3*time.Second {
		t.Errorf("incomplete %+v", r.Incomplete)
	}
	if len(r.Keys) != 2 || r.Keys[0].Text != "a\uFFFDb<script>" || len(r.Keys[1].Text) != maxText {
		t.Errorf("keys %q", r.Keys)
	}
	if r.End() != 4*time.Second {
		t.Errorf("end %v", r.End())
	}
}

// TestMaxBytes: noise fills the cap; pictures stop, the file stays near the
// cap, says where it stopped, and still takes keys.
func TestMaxBytes(t *testing.T) {
	dir := t.TempDir()
	const limit = 300 << 10
	w, _ := Create(dir, "vnc-max", t0, 200, 200, Options{MaxBytes: limit, MinFrameGap: time.Millisecond})
	rng := rand.New(rand.NewPCG(5, 6))
	img := black(200, 200)
	for i := range 100 {
		for j := range img.Pix {
			img.Pix[j] = byte(rng.Uint32())
		}
		w.Frame(at(time.Duration(i)*10*time.Millisecond), img, []image.Rectangle{img.Rect})
	}
	if !w.Truncated() {
		t.Fatal("not truncated")
	}
	w.Key(at(2*time.Second), "still here")
	r := mustClose(t, w, dir)
	st, _ := os.Stat(r.path)
	// past the cap: at most what the encoder held plus one frame (160 kB of noise)
	if st.Size() > limit+(400<<10) {
		t.Errorf("file %d bytes for a cap of %d", st.Size(), limit)
	}
	if len(r.Incomplete) != 1 || !strings.Contains(r.Incomplete[0].Text, "truncated") {
		t.Errorf("incomplete %+v", r.Incomplete)
	}
	if len(r.Keys) != 1 || r.Keys[0].T != 2*time.Second {
		t.Errorf("keys %+v", r.Keys)
	}
	if _, err := r.FrameAt(r.End()); err != nil {
		t.Error(err)
	}
}

// TestAbort leaves nothing; a name with a path in it is refused.
func TestAbort(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, "vnc-abort", t0, 16, 16, Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := black(16, 16)
	w.Frame(at(0), img, []image.Rectangle{img.Rect})
	w.Abort()
	w.Abort()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left %v", left)
	}
	for _, name := range []string{"", "../x", "a/b", "/abs"} {
		if _, err := Create(dir, name, t0, 16, 16, Options{}); err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
}

// TestTooBig: a screen beyond the bounds gets no pictures and an
// incomplete mark, not gigabytes of memory.
func TestTooBig(t *testing.T) {
	dir := t.TempDir()
	w, _ := Create(dir, "vnc-big", t0, 16, 16, Options{})
	w.Resize(at(time.Second), 65535, 65535)
	w.Frame(at(2*time.Second), black(16, 16), nil) // back to a sane size
	r := mustClose(t, w, dir)
	if len(r.Incomplete) != 1 || !strings.Contains(r.Incomplete[0].Text, "65535x65535") {
		t.Errorf("incomplete %+v", r.Incomplete)
	}
	if _, err := r.FrameAt(1500 * time.Millisecond); err != ErrNoPicture {
		t.Errorf("frame in the big screen: %v", err)
	}
	if img, err := r.FrameAt(2 * time.Second); err != nil || img.Rect.Dx() != 16 {
		t.Errorf("after: %v", err)
	}
}

// TestScroll: a terminal scrolling is written as a copy of the rows that
// moved plus the new line, and plays back pixel for pixel (down as well as
// up, the copy overlapping itself).
func TestScroll(t *testing.T) {
	dir := t.TempDir()
	w, _ := Create(dir, "vnc-scroll", t0, 1920, 1080, Options{MinFrameGap: time.Nanosecond, KeyFrameEvery: time.Hour})
	d := newDesktop()
	for range 50 {
		d.scroll() // a full terminal
	}
	w.Frame(at(0), d.img, nil)
	var shots []*image.RGBA
	for i := 1; i <= 12; i++ {
		var r image.Rectangle
		switch {
		case i == 6: // scroll back down: the terminal's rows move down by three lines
			r = d.term
			st := d.img.Stride
			for y := d.term.Max.Y - 1; y >= d.term.Min.Y+48; y-- {
				copy(d.img.Pix[y*st+d.term.Min.X*4:y*st+d.term.Max.X*4], d.img.Pix[(y-48)*st+d.term.Min.X*4:])
			}
			for c := range 120 {
				for l := range 3 {
					d.glyph(c, l, (c+l)%95)
				}
			}
		case i%2 == 0:
			r = d.scroll()
		default:
			r = d.typeChar()
		}
		w.Frame(at(time.Duration(i)*time.Second), d.img, []image.Rectangle{r})
		shots = append(shots, clone(d.img))
	}
	rec := mustClose(t, w, dir)
	for i, want := range shots {
		got, err := rec.FrameAt(time.Duration(i+1) * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		samePixels(t, "frame "+itoa(i+1), got, want)
	}
	st, _ := os.Stat(rec.path)
	// a key frame (about 350 kB of noisy text) and small changes; six
	// scrolls as pictures would add about 1.4 MB
	if st.Size() > 600<<10 {
		t.Errorf("%d bytes: scrolls written as pictures?", st.Size())
	}
	t.Logf("%d bytes", st.Size())
}

// TestSlowPicturesSpacedOut: a part of the screen changing everywhere at
// every update (a video) is written less often than MinFrameGap allows:
// four times its encoding time apart.
func TestSlowPicturesSpacedOut(t *testing.T) {
	dir := t.TempDir()
	w, _ := Create(dir, "vnc-video", t0, 800, 600, Options{MinFrameGap: time.Millisecond})
	img := black(800, 600)
	video := image.Rect(100, 100, 740, 460)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 100 { // a second at 100 updates a second
		for y := video.Min.Y; y < video.Max.Y; y++ {
			row := img.Pix[img.PixOffset(video.Min.X, y):img.PixOffset(video.Max.X, y)]
			for j := range row {
				row[j] = byte(rng.Uint32())
			}
		}
		w.Frame(at(time.Duration(i)*10*time.Millisecond), img, []image.Rectangle{video})
	}
	r := mustClose(t, w, dir)
	if len(r.pictures) > 40 {
		t.Errorf("%d pictures of 100 updates: not spaced out", len(r.pictures))
	}
	t.Logf("%d pictures", len(r.pictures))
}

// TestIncompleteOnce: the dissector may say the same thing at every update;
// each reason is written once, and a flood of reasons is bounded.
func TestIncompleteOnce(t *testing.T) {
	dir := t.TempDir()
	w, _ := Create(dir, "vnc-once", t0, 16, 16, Options{})
	for i := range 1000 {
		w.Incomplete(at(time.Duration(i)*time.Millisecond), "unknown encoding 99")
		w.Incomplete(at(time.Duration(i)*time.Millisecond), "reason "+itoa(i))
	}
	r := mustClose(t, w, dir)
	if len(r.Incomplete) != maxReasons || r.Incomplete[0].Text != "unknown encoding 99" || r.Incomplete[1].Text != "reason 0" {
		t.Errorf("%d marks: %v", len(r.Incomplete), r.Incomplete[:3])
	}
}

// TestGapGrowsWithPictureSize: a 640x480 screen of noise changing every
// 20 ms for 5 s: each picture is about 1.2 MB, so the next one waits its
// size at gapRate (capped at 1 s): about one picture a second, not the 50
// that MinFrameGap alone allows (a busy 1080p terminal's pictures are
// 700 kB: 4.5 pictures and 138 MB a minute before).
func TestGapGrowsWithPictureSize(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, "vnc-gap", t0, 640, 480, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	img := black(640, 480)
	for i := range 250 {
		for j := range img.Pix {
			img.Pix[j] = byte(rng.Uint32())
		}
		w.Frame(at(time.Duration(i)*20*time.Millisecond), img, []image.Rectangle{img.Rect})
	}
	r := mustClose(t, w, dir)
	if n := len(r.pictures); n < 4 || n > 8 {
		t.Errorf("%d pictures in 5 s of a noisy screen, want about 5", n)
	}
}
