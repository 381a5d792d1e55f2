// Package screenrec writes and reads screen recordings: what a remote
// desktop session (VNC) showed, as key frames and changed rectangles, with
// the keys typed, the clicks and the moments the picture stopped being
// trustworthy on one time line. A browser can play it (the web console
// does) and psmtap replay --export png takes one frame out of it.
//
// The file is newline-delimited JSON, zstd-compressed, in the spirit of
// asciicast v2 (docs/recordings.md has the format):
//
//	{"version":1,"format":"psmtap-screen","width":1920,"height":1080,"timestamp":1764460800}
//	[0.000000,"k",{"png":"iVBORw0..."}]                      whole screen (key frame)
//	[0.100000,"d",[{"x":10,"y":20,"png":"iVBORw0..."}]]      changed rectangles
//	[1.250000,"i","ls -l\n"]                                 typed text, key names
//	[1.300000,"c",{"x":100,"y":200,"buttons":1}]             pointer buttons pressed
//	[2.000000,"s",{"width":1280,"height":800}]               new screen size (black until the next key frame)
//	[3.000000,"x","missing packets"]                         incomplete: the picture may be wrong from here
//
// Times are seconds from the session start. Pictures are PNG, base64 in
// JSON. The writer streams to disk: it holds one copy of the screen, never
// the recording.
package screenrec

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/psmtap/psmtap/internal/record"
)

// Format is the value of psm.recording.format for screen recordings, and
// the header's "format".
const (
	Format  = "psmtap-screen"
	Version = 1
	// Ext ends the file name of a screen recording.
	Ext = ".screen.zst"
)

// Bounds on a screen: RFB sizes are 16-bit, but a 65535x65535 frame
// buffer is 16 GiB. Beyond these the writer records no pictures and the
// reader refuses the file.
const (
	MaxSide   = 16384
	MaxPixels = 8192 * 4352 // a little over 8K UHD
)

// Defaults for the zero Options.
const (
	DefaultMaxBytes      = 256 << 20
	DefaultKeyFrameEvery = 10 * time.Second
	DefaultMinFrameGap   = 100 * time.Millisecond
)

// maxText bounds one key or incomplete event's text.
const maxText = 4096

// timelineSlack is what keys, clicks and marks may still add once the
// pictures stopped at MaxBytes.
const timelineSlack = 1 << 20

// Options tune a recording; zero values take the defaults.
type Options struct {
	// MaxBytes caps the file (compressed); past it no more pictures are
	// written (Truncated), only the time line, up to 1 MiB more.
	// Default 256 MiB.
	MaxBytes int64
	// KeyFrameEvery is how often a whole screen is written, so that a
	// player can seek without reading from the start. Default 10 s.
	KeyFrameEvery time.Duration
	// MinFrameGap: frames closer than this are merged into one (their
	// changed rectangles united); it grows to four times what the last
	// picture took to encode, and to its size at 512 KiB a second (at most
	// 1 s), so that a screen changing everywhere (a video) costs at most
	// about a fifth of a core and a 1080p picture of text about 1 s.
	// Default 100 ms.
	MinFrameGap time.Duration
}

func (o *Options) defaults() {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.KeyFrameEvery <= 0 {
		o.KeyFrameEvery = DefaultKeyFrameEvery
	}
	if o.MinFrameGap <= 0 {
		o.MinFrameGap = DefaultMinFrameGap
	}
}

// Header is the first line of a recording.
type Header struct {
	Version   int    `json:"version"`
	Format    string `json:"format"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Timestamp int64  `json:"timestamp,omitempty"` // session start, Unix seconds
}

// Writer streams one recording to a temporary file in its directory;
// Close moves it into place. It is not safe for concurrent use: one
// goroutine (the session's screen worker) owns it.
type Writer struct {
	opt       Options
	dir, name string
	tmp       string
	f         *os.File
	count     countWriter
	zw        *zstd.Encoder
	bw        *bufio.Writer
	sum       hash.Hash
	err       error
	closed    bool
	start     int64 // packet time of the start (ns)

	width     int
	height    int
	shadow    *image.RGBA // the screen as last given (opaque)
	shown     *image.RGBA // the screen as a player shows it after the events written
	pending   []image.Rectangle
	pendingTS int64
	hasPend   bool
	needKey   bool
	lastKey   int64
	lastOut   int64           // time of the last picture written
	lastTS    int64           // last event time written (ns from start): kept monotonic
	slow      time.Duration   // four times the last picture's encoding time (capped)
	fixedGap  bool            // tests: MinFrameGap as given, whatever the machine's speed
	nPictures int             // key frames and change events written
	nTimeline int             // other events written
	reasons   map[string]bool // incomplete reasons written
	truncated bool
	tooBig    bool // the screen is over the bounds: no pictures

	line []byte
	png  png.Encoder
	pbuf pngBuffer
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// pngBuffer is the PNG encoder's reusable buffer (png.EncoderBufferPool).
type pngBuffer struct{ b *png.EncoderBuffer }

func (p *pngBuffer) Get() *png.EncoderBuffer  { return p.b }
func (p *pngBuffer) Put(b *png.EncoderBuffer) { p.b = b }

var encoders = sync.Pool{New: func() any {
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
	return e
}}

// Create starts a recording of a width x height screen; the session began
// at start. The file is dir/name + Ext once closed.
func Create(dir, name string, start time.Time, width, height int, opt Options) (*Writer, error) {
	opt.defaults()
	if name == "" || !filepath.IsLocal(name) || filepath.Base(name) != name {
		return nil, fmt.Errorf("screenrec: bad recording name %q", name)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("screenrec: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("screenrec: %w", err)
	}
	w := &Writer{opt: opt, dir: dir, name: name, tmp: f.Name(), f: f, sum: sha256.New(), needKey: true,
		start: start.UnixNano()}
	w.count.w = io.MultiWriter(f, w.sum)
	w.zw = encoders.Get().(*zstd.Encoder)
	w.zw.Reset(&w.count)
	w.bw = bufio.NewWriterSize(w.zw, 64<<10)
	w.png = png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &w.pbuf}
	w.setSize(width, height)
	h, _ := json.Marshal(Header{Version: Version, Format: Format, Width: max(width, 0), Height: max(height, 0), Timestamp: start.Unix()})
	w.write(append(h, '\n'))
	if w.tooBig && width > 0 && height > 0 {
		w.Incomplete(start.UnixNano(), "screen size "+strconv.Itoa(width)+"x"+strconv.Itoa(height)+" is beyond what is recorded")
	}
	return w, nil
}

func validSize(width, height int) bool {
	return width > 0 && height > 0 && width <= MaxSide && height <= MaxSide && width*height <= MaxPixels
}

func (w *Writer) setSize(width, height int) {
	w.pending, w.hasPend = w.pending[:0], false
	w.needKey = true
	w.width, w.height = width, height
	if !validSize(width, height) {
		w.shadow, w.tooBig = nil, true
		return
	}
	w.tooBig = false
	if w.shadow != nil && w.shadow.Rect.Dx() == width && w.shadow.Rect.Dy() == height {
		clear(w.shadow.Pix)
	} else {
		w.shadow = image.NewRGBA(image.Rect(0, 0, width, height))
		w.shown = image.NewRGBA(w.shadow.Rect)
	}
	opaque(w.shadow, w.shadow.Rect)
	copy(w.shown.Pix, w.shadow.Pix)
}

// Truncated reports whether pictures stopped at MaxBytes (the caller notes
// recording.truncated).
func (w *Writer) Truncated() bool { return w.truncated }

// Err is the first write error (the recording is then lost).
func (w *Writer) Err() error { return w.err }

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.bw.Write(b); err != nil {
		w.err = fmt.Errorf("screenrec: %w", err)
	}
}

// rel is the event time in ns from the start, never before the last one.
func (w *Writer) rel(ts int64) int64 {
	d := max(ts-w.start, 0, w.lastTS)
	w.lastTS = d
	return d
}

func (w *Writer) begin(ts int64, code byte) {
	if code == 'k' || code == 'd' {
		w.nPictures++
	} else {
		w.nTimeline++
	}
	w.line = append(w.line[:0], '[')
	w.line = strconv.AppendFloat(w.line, float64(w.rel(ts))/1e9, 'f', 6, 64)
	w.line = append(w.line, ',', '"', code, '"', ',')
}

func (w *Writer) end() {
	w.line = append(w.line, ']', '\n')
	w.write(w.line)
}

// full says whether the file reached MaxBytes; pictures stop there.
func (w *Writer) full() bool {
	if !w.truncated && (w.count.n+int64(w.bw.Buffered()) >= w.opt.MaxBytes || w.nPictures >= maxPictures-1) {
		w.truncated = true
		w.pending, w.hasPend = w.pending[:0], false
		w.begin(w.lastTS+w.start, 'x')
		w.line = appendString(w.line, "recording truncated: the file reached its size limit")
		w.end()
	}
	return w.truncated
}

// timelineFull: after truncation, the time line gets a little more room.
func (w *Writer) timelineFull() bool {
	return w.closed || w.err != nil || w.nTimeline >= maxTimeline-8 || // what the reader takes, with room for the marks
		w.truncated && w.count.n+int64(w.bw.Buffered()) >= w.opt.MaxBytes+timelineSlack
}

// Frame records the screen img at packet time ts, where dirty are the
// rectangles changed since the previous frame. img is read only during the
// call and must have the recording's size (Create, Resize); a frame of
// another size is taken whole as a key frame after an implicit resize.
func (w *Writer) Frame(ts int64, img *image.RGBA, dirty []image.Rectangle) {
	if w.closed || w.err != nil || img == nil || w.truncated {
		return
	}
	b := img.Rect
	if b.Dx() != w.width || b.Dy() != w.height {
		w.Resize(ts, b.Dx(), b.Dy())
	}
	if w.tooBig {
		return
	}
	if w.needKey {
		dirty = []image.Rectangle{b} // a key frame is due: take all of it
	}
	screen := w.shadow.Rect
	for _, r := range dirty {
		r = r.Sub(b.Min).Intersect(screen)
		if r.Empty() {
			continue
		}
		copyRect(w.shadow, img, r, b.Min)
		w.pending = append(w.pending, r)
	}
	if len(w.pending) == 0 && !w.needKey {
		return
	}
	if !w.hasPend {
		w.hasPend = true
	}
	w.pendingTS = ts
	rel := max(ts-w.start, w.lastTS)
	if w.needKey || rel-w.lastOut >= int64(max(w.opt.MinFrameGap, w.slow)) {
		w.flush()
	}
}

// flush writes what is pending: a key frame when one is due, else the
// changed rectangles.
func (w *Writer) flush() {
	if !w.hasPend || w.tooBig || w.full() {
		return
	}
	ts := w.pendingTS
	rel := max(ts-w.start, w.lastTS)
	rects := merge(w.pending)
	area := 0
	for _, r := range rects {
		area += r.Dx() * r.Dy()
	}
	screen := w.shadow.Rect
	began := time.Now()
	if w.needKey || rel-w.lastKey >= int64(w.opt.KeyFrameEvery) || area*2 >= screen.Dx()*screen.Dy() {
		w.begin(ts, 'k')
		w.line = append(w.line, `{"png":`...)
		w.line = w.appendPNG(w.line, w.shadow)
		w.line = append(w.line, '}')
		w.end()
		copy(w.shown.Pix, w.shadow.Pix)
		w.needKey, w.lastKey = false, rel
	} else if len(rects) > 0 {
		w.changes(ts, rects)
	}
	if !w.fixedGap {
		// Space the next picture out by what this one cost: four times its
		// encoding time, and its size at gapRate.
		w.slow = min(max(4*time.Since(began), time.Duration(len(w.line))*time.Second/gapRate), maxSlow)
	}
	w.lastOut = rel
	w.pending, w.hasPend = w.pending[:0], false
	if cap(w.line) > 1<<20 {
		w.line = nil // a key frame's buffer is not kept for the session's life
	}
}

// changes writes a "d" event: for each rectangle, what really changed
// against what a player shows, as a copy of a scrolled part (a terminal
// scrolling: cheap to say, costly as a picture) and PNG patches.
func (w *Writer) changes(ts int64, rects []image.Rectangle) {
	w.begin(ts, 'd')
	w.line = append(w.line, '[')
	n := 0
	sep := func() {
		if n > 0 {
			w.line = append(w.line, ',')
		}
		n++
	}
	for _, r := range rects {
		r = changed(w.shadow, w.shown, r)
		if r.Empty() {
			continue
		}
		if r.Dy() >= minScroll && r.Dx() >= minScroll {
			if band, dy := scrolled(w.shadow, w.shown, r); dy != 0 {
				sep()
				w.line = appendInts(w.line, `{"x":`, band.Min.X, `,"y":`, band.Min.Y, `,"w":`, band.Dx(), `,"h":`, band.Dy(),
					`,"sx":`, band.Min.X, `,"sy":`, band.Min.Y+dy, `}`)
				moveRows(w.shown, band, dy)
				r = changed(w.shadow, w.shown, r)
				if r.Empty() {
					continue
				}
			}
		}
		sep()
		w.line = appendInts(w.line, `{"x":`, r.Min.X, `,"y":`, r.Min.Y, `,"png":`)
		w.line = w.appendPNG(w.line, w.shadow.SubImage(r))
		w.line = append(w.line, '}')
		copyRect(w.shown, w.shadow, r, image.Point{})
	}
	if n == 0 {
		w.line = w.line[:0] // nothing changed after all: no event
		w.nPictures--
		return
	}
	w.line = append(w.line, ']')
	w.end()
}

// appendInts appends literal strings and numbers in turn.
func appendInts(dst []byte, parts ...any) []byte {
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			dst = append(dst, v...)
		case int:
			dst = strconv.AppendInt(dst, int64(v), 10)
		}
	}
	return dst
}

// changed is the part of r where a and b differ (its bounding box).
func changed(a, b *image.RGBA, r image.Rectangle) image.Rectangle {
	row := func(y, x0, x1 int) ([]byte, []byte) {
		i, j := a.PixOffset(x0, y), a.PixOffset(x1, y)
		return a.Pix[i:j], b.Pix[i:j]
	}
	y0, y1 := r.Min.Y, r.Max.Y
	for y0 < y1 {
		if p, q := row(y0, r.Min.X, r.Max.X); !bytes.Equal(p, q) {
			break
		}
		y0++
	}
	for y1 > y0 {
		if p, q := row(y1-1, r.Min.X, r.Max.X); !bytes.Equal(p, q) {
			break
		}
		y1--
	}
	if y0 == y1 {
		return image.Rectangle{}
	}
	x0, x1 := r.Max.X, r.Min.X
	for y := y0; y < y1; y++ {
		p, q := row(y, r.Min.X, r.Max.X)
		for x := 0; x < (x0-r.Min.X)*4; x += 4 {
			if [4]byte(p[x:]) != [4]byte(q[x:]) {
				x0 = r.Min.X + x/4
				break
			}
		}
		for x := len(p) - 4; x >= (x1-r.Min.X)*4; x -= 4 {
			if [4]byte(p[x:]) != [4]byte(q[x:]) {
				x1 = r.Min.X + x/4 + 1
				break
			}
		}
	}
	return image.Rect(x0, y0, x1, y1)
}

// minScroll: smaller changes are not worth looking for a scroll in.
const minScroll = 32

var rowSeed = maphash.MakeSeed()

// scrolled looks for r's content moved up or down since was: the shift dy
// (now's row y is was's row y+dy) that most rows agree on, and the band
// of r it holds for. dy 0: no scroll.
func scrolled(now, was *image.RGBA, r image.Rectangle) (image.Rectangle, int) {
	h := r.Dy()
	rowHash := func(img *image.RGBA, y int) uint64 {
		return maphash.Bytes(rowSeed, img.Pix[img.PixOffset(r.Min.X, y):img.PixOffset(r.Max.X, y)])
	}
	// rows of was by content; a content seen twice (blank lines) says nothing
	where := make(map[uint64]int, h)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		k := rowHash(was, y)
		if _, dup := where[k]; dup {
			where[k] = -1
		} else {
			where[k] = y
		}
	}
	votes := map[int]int{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		if from, ok := where[rowHash(now, y)]; ok && from >= 0 && from != y {
			votes[from-y]++
		}
	}
	dy, best := 0, 0
	for d, v := range votes {
		if v > best || v == best && abs(d) < abs(dy) {
			dy, best = d, v
		}
	}
	if best < h/4 || best < 8 {
		return image.Rectangle{}, 0
	}
	band := r
	if dy > 0 {
		band.Max.Y -= dy
	} else {
		band.Min.Y -= dy
	}
	return band, dy
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// moveRows copies, inside img, the rows of band shifted by dy into band
// (as a player does with the copy entry).
func moveRows(img *image.RGBA, band image.Rectangle, dy int) {
	n := band.Dx() * 4
	cp := func(y int) {
		d := img.PixOffset(band.Min.X, y)
		s := img.PixOffset(band.Min.X, y+dy)
		copy(img.Pix[d:d+n], img.Pix[s:s+n])
	}
	if dy > 0 {
		for y := band.Min.Y; y < band.Max.Y; y++ {
			cp(y)
		}
	} else {
		for y := band.Max.Y - 1; y >= band.Min.Y; y-- {
			cp(y)
		}
	}
}

var pngBuf = sync.Pool{New: func() any { return new(byteBuf) }}

type byteBuf struct{ b []byte }

func (b *byteBuf) Write(p []byte) (int, error) { b.b = append(b.b, p...); return len(p), nil }

// appendPNG appends img as a JSON string of base64 PNG.
func (w *Writer) appendPNG(dst []byte, img image.Image) []byte {
	buf := pngBuf.Get().(*byteBuf)
	defer pngBuf.Put(buf)
	buf.b = buf.b[:0]
	if err := w.png.Encode(buf, img); err != nil {
		w.err = fmt.Errorf("screenrec: png: %w", err)
		return append(dst, '"', '"')
	}
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, buf.b)
	if cap(buf.b) > 16<<20 {
		buf.b = nil
	}
	return append(dst, '"')
}

// copyRect copies r (screen coordinates) of src (whose origin is at off)
// into dst and makes it opaque: the frame buffer's fourth byte is padding.
func copyRect(dst, src *image.RGBA, r image.Rectangle, off image.Point) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		d := dst.Pix[dst.PixOffset(r.Min.X, y):dst.PixOffset(r.Max.X, y)]
		s := src.Pix[src.PixOffset(r.Min.X+off.X, y+off.Y):]
		copy(d, s[:len(d)])
		for i := 3; i < len(d); i += 4 {
			d[i] = 0xff
		}
	}
}

func opaque(img *image.RGBA, r image.Rectangle) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		d := img.Pix[img.PixOffset(r.Min.X, y):img.PixOffset(r.Max.X, y)]
		for i := 3; i < len(d); i += 4 {
			d[i] = 0xff
		}
	}
}

// maxSlow caps how far slow encoding (or large pictures) spaces the
// pictures out.
const maxSlow = time.Second

// gapRate: a picture of n bytes is followed by at least n/gapRate seconds
// without one (a busy 1080p terminal, 700 kB pictures, went from 4.5
// pictures and 138 MB a minute to about one a second).
const gapRate = 512 << 10

// maxRects: more changed rectangles than this are sent as their bounding box.
const maxRects = 64

// merge unites overlapping or touching rectangles; too many become their
// bounding box.
func merge(rs []image.Rectangle) []image.Rectangle {
	out := make([]image.Rectangle, 0, len(rs))
	for _, r := range rs {
		out = append(out, r)
		// absorb every rectangle r touches, until none does
		for again := true; again; {
			again = false
			last := out[len(out)-1]
			for i := 0; i < len(out)-1; i++ {
				if touches(out[i], last) {
					last = last.Union(out[i])
					out[i] = out[len(out)-2]
					out = out[:len(out)-1]
					out[len(out)-1] = last
					again = true
					break
				}
			}
		}
	}
	if len(out) > maxRects {
		u := out[0]
		for _, r := range out[1:] {
			u = u.Union(r)
		}
		out = append(out[:0], u)
	}
	return out
}

func touches(a, b image.Rectangle) bool {
	return a.Min.X <= b.Max.X && b.Min.X <= a.Max.X && a.Min.Y <= b.Max.Y && b.Min.Y <= a.Max.Y
}

// Resize records a new screen size; the picture is black until the next
// frame, which is a key frame.
func (w *Writer) Resize(ts int64, width, height int) {
	if w.timelineFull() {
		return
	}
	w.flush()
	w.setSize(width, height)
	w.begin(ts, 's')
	w.line = append(w.line, `{"width":`...)
	w.line = strconv.AppendInt(w.line, int64(max(width, 0)), 10)
	w.line = append(w.line, `,"height":`...)
	w.line = strconv.AppendInt(w.line, int64(max(height, 0)), 10)
	w.line = append(w.line, '}')
	w.end()
	if w.tooBig {
		w.Incomplete(ts, "screen size "+strconv.Itoa(width)+"x"+strconv.Itoa(height)+" is beyond what is recorded")
	}
}

// Key records typed text or key names on the time line.
func (w *Writer) Key(ts int64, text string) { w.text(ts, 'i', text) }

// Incomplete marks that from ts on the picture may be wrong (missing
// packets, an encoding not decoded, a queue that overflowed). A reason
// already given is not repeated; at most maxReasons are written.
func (w *Writer) Incomplete(ts int64, reason string) {
	if len(reason) > maxText {
		reason = reason[:maxText]
	}
	if w.reasons[reason] || len(w.reasons) >= maxReasons {
		return
	}
	if w.reasons == nil {
		w.reasons = map[string]bool{}
	}
	w.reasons[reason] = true
	w.text(ts, 'x', reason)
}

// maxReasons bounds the different incomplete marks of a recording.
const maxReasons = 64

func (w *Writer) text(ts int64, code byte, s string) {
	if s == "" || w.timelineFull() {
		return
	}
	w.flush()
	if len(s) > maxText {
		s = s[:maxText]
	}
	w.begin(ts, code)
	w.line = appendString(w.line, s)
	w.end()
}

// Click records pointer buttons pressed at x, y (the RFB button mask).
func (w *Writer) Click(ts int64, x, y int, buttons uint8) {
	if w.timelineFull() {
		return
	}
	w.flush()
	w.begin(ts, 'c')
	w.line = append(w.line, `{"x":`...)
	w.line = strconv.AppendInt(w.line, int64(x), 10)
	w.line = append(w.line, `,"y":`...)
	w.line = strconv.AppendInt(w.line, int64(y), 10)
	w.line = append(w.line, `,"buttons":`...)
	w.line = strconv.AppendInt(w.line, int64(buttons), 10)
	w.line = append(w.line, '}')
	w.end()
}

// appendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // invalid bytes become U+FFFD
	}
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// Close writes what is pending, finishes the file and moves it into place
// as dir/name + Ext. The digest and size are those of the file as written.
func (w *Writer) Close() (*record.Recording, error) {
	if w.closed {
		return nil, errors.New("screenrec: closed twice")
	}
	w.flush()
	w.closed = true
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = err
		}
	}
	if err := w.zw.Close(); err != nil && w.err == nil {
		w.err = err
	}
	w.release()
	if err := w.f.Close(); err != nil && w.err == nil {
		w.err = err
	}
	if w.err != nil {
		os.Remove(w.tmp)
		return nil, fmt.Errorf("screenrec: %w", w.err)
	}
	rel := w.name + Ext
	if err := os.Rename(w.tmp, filepath.Join(w.dir, rel)); err != nil {
		os.Remove(w.tmp)
		return nil, fmt.Errorf("screenrec: %w", err)
	}
	return &record.Recording{Format: Format, Path: rel, SHA256: hex.EncodeToString(w.sum.Sum(nil)), Bytes: w.count.n}, nil
}

// release gives back what the writer holds in memory.
func (w *Writer) release() {
	if w.zw != nil {
		w.zw.Reset(io.Discard)
		encoders.Put(w.zw)
		w.zw = nil
	}
	w.shadow, w.shown, w.pending, w.line, w.pbuf.b = nil, nil, nil, nil, nil
}

// Abort drops the recording: the temporary file is removed.
func (w *Writer) Abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.release()
	w.f.Close()
	os.Remove(w.tmp)
}
