package screenrec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"sort"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Bounds of the reader: a file is refused past them.
const (
	maxLine     = 256 << 20 // one event, whatever the screen (a noisy 8K key frame fits)
	maxPlain    = 8 << 30   // the whole recording, decompressed
	maxTimeline = 1 << 20   // keys, clicks, marks and size changes
	maxPictures = 4 << 20   // key frames and change events
	maxPatches  = 4096      // rectangles in one change event
	maxSeconds  = 1 << 31   // event times (about 68 years)
	// maxWindow bounds the decompressor's memory: the writer uses 1 MiB,
	// the zstd tool 8 MiB at its usual levels.
	maxWindow = 8 << 20
)

// Mark is a point on the time line with a text: keys typed, or why the
// picture may be wrong from there.
type Mark struct {
	T    time.Duration
	Text string
}

// Click is a press of pointer buttons.
type Click struct {
	T       time.Duration
	X, Y    int
	Buttons uint8
}

// Size is a screen size from T on.
type Size struct {
	T             time.Duration
	Width, Height int
}

// picture is where a picture event is in the file.
type picture struct {
	t    time.Duration
	line int
	code byte // 'k' key frame, 'd' changes, 's' resize (black screen)
}

// Recording is an opened screen recording: its header, its time line and
// an index of its pictures; FrameAt reads the pictures from the file.
type Recording struct {
	Header     Header
	Keys       []Mark
	Clicks     []Click
	Incomplete []Mark // the first is where the picture stops being trustworthy
	Sizes      []Size // the header's size at 0, then every change
	path       string
	pictures   []picture
	end        time.Duration
}

// End is the time of the last event.
func (r *Recording) End() time.Duration { return r.end }

// headerStart is how every screen recording begins (decompressed).
const headerStart = `{"version":1,"format":"psmtap-screen"`

// IsFile says whether the file (plain or zstd-compressed) is a screen
// recording, by its first bytes, for tools that take either kind.
func IsFile(path string) (bool, error) {
	s, err := openStream(path)
	if err != nil {
		return false, err
	}
	defer s.Close()
	head, _ := s.br.Peek(len(headerStart))
	return string(head) == headerStart, nil
}

var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// stream reads a recording's lines, decompressing by content, with every
// bound applied.
type stream struct {
	f     *os.File
	dec   *zstd.Decoder
	br    *bufio.Reader
	plain int64
	line  int
	buf   []byte
	limit int // the longest line allowed now (lineLimit)
}

// lineLimit bounds an event's line for a w x h screen: pictures of all of
// it in the largest PNG there is for it (8-bit RGBA, filter bytes, stored
// deflate blocks), in base64, with room for the JSON around. A line longer
// than that is not one the writer makes, and is refused before it is held.
func lineLimit(w, h int) int {
	if !validSize(w, h) {
		return 64 << 10
	}
	raw := (w*4 + 1) * h
	png := raw + raw/65535*5 + 1024
	return min(png/3*4+maxPatches*160+64<<10, maxLine)
}

func openStream(path string) (*stream, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s := &stream{f: f, limit: 64 << 10}
	br := bufio.NewReaderSize(f, 64<<10)
	var src io.Reader = br
	if magic, _ := br.Peek(4); bytes.Equal(magic, zstdMagic) {
		s.dec, err = zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxWindow))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("screenrec: %w", err)
		}
		src = s.dec
	}
	s.br = bufio.NewReaderSize(src, 64<<10)
	return s, nil
}

func (s *stream) Close() {
	if s.dec != nil {
		s.dec.Close()
	}
	s.f.Close()
}

// next returns the next line (without its newline; valid until the next
// call), io.EOF at the end.
func (s *stream) next() ([]byte, error) {
	s.buf = s.buf[:0]
	for {
		chunk, err := s.br.ReadSlice('\n')
		s.plain += int64(len(chunk))
		if s.plain > maxPlain {
			return nil, errors.New("screenrec: recording too large")
		}
		if len(s.buf)+len(chunk) > s.limit {
			return nil, fmt.Errorf("screenrec: line %d too long", s.line+1)
		}
		s.buf = append(s.buf, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(s.buf) > 0 {
			err = nil
		}
		if err != nil {
			if err != io.EOF {
				err = fmt.Errorf("screenrec: %w", err)
			}
			return nil, err
		}
		s.line++
		return bytes.TrimSuffix(s.buf, []byte{'\n'}), nil
	}
}

// event is a line split into its three parts.
type event struct {
	t    time.Duration
	code byte
	data json.RawMessage
}

func parseEvent(line []byte, n int) (event, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(line, &parts); err != nil || len(parts) != 3 {
		return event{}, fmt.Errorf("screenrec: line %d: not an event", n)
	}
	var secs float64
	var code string
	if json.Unmarshal(parts[0], &secs) != nil || json.Unmarshal(parts[1], &code) != nil || len(code) != 1 {
		return event{}, fmt.Errorf("screenrec: line %d: bad event", n)
	}
	if !(secs >= 0 && secs < maxSeconds) || math.IsNaN(secs) {
		return event{}, fmt.Errorf("screenrec: line %d: bad time", n)
	}
	return event{t: time.Duration(math.Round(secs*1e6)) * time.Microsecond, code: code[0], data: parts[2]}, nil
}

type keyFrame struct {
	PNG []byte `json:"png"`
}

// patch is an entry of a change event: a picture at x, y, or (no
// picture) a copy of the w x h rectangle at sx, sy to x, y.
type patch struct {
	X   int    `json:"x"`
	Y   int    `json:"y"`
	PNG []byte `json:"png"`
	W   int    `json:"w"`
	H   int    `json:"h"`
	SX  int    `json:"sx"`
	SY  int    `json:"sy"`
}

// copyOK says whether a copy entry stays inside a w x h screen.
func (p patch) copyOK(w, h int) bool {
	in := func(x, y int) bool { return x >= 0 && y >= 0 && x <= w-p.W && y <= h-p.H }
	return p.W > 0 && p.H > 0 && p.W <= w && p.H <= h && in(p.X, p.Y) && in(p.SX, p.SY)
}

type click struct {
	X, Y    int
	Buttons uint8
}

type size struct {
	Width  int `json:"width"`
	Height int `json:"height"`
}

// pngSize reads a PNG's dimensions without decoding its pixels.
func pngSize(b []byte) (int, int, error) {
	c, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return 0, 0, err
	}
	return c.Width, c.Height, nil
}

// Open reads a recording's header and time line and indexes its pictures,
// checking every event: a malformed or oversized file is refused with an
// error saying where.
func Open(path string) (*Recording, error) {
	s, err := openStream(path)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	line, err := s.next()
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("screenrec: empty file")
		}
		return nil, err
	}
	r := &Recording{path: path}
	if err := json.Unmarshal(line, &r.Header); err != nil || r.Header.Version != Version || r.Header.Format != Format {
		return nil, errors.New("screenrec: not a psmtap screen recording (header)")
	}
	w, h := r.Header.Width, r.Header.Height
	if w < 0 || h < 0 || w > math.MaxUint16 || h > math.MaxUint16 {
		return nil, errors.New("screenrec: bad screen size in the header")
	}
	r.Sizes = append(r.Sizes, Size{Width: w, Height: h})
	s.limit = lineLimit(w, h)
	var last time.Duration
	for {
		line, err := s.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		e, err := parseEvent(line, s.line)
		if err != nil {
			return nil, err
		}
		if e.t < last {
			return nil, fmt.Errorf("screenrec: line %d: time goes back", s.line)
		}
		last = e.t
		if len(r.pictures) >= maxPictures || len(r.Keys)+len(r.Clicks)+len(r.Incomplete)+len(r.Sizes) >= maxTimeline {
			return nil, fmt.Errorf("screenrec: line %d: too many events", s.line)
		}
		bad := func(what string) error { return fmt.Errorf("screenrec: line %d: bad %s", s.line, what) }
		switch e.code {
		case 'k':
			var k keyFrame
			if json.Unmarshal(e.data, &k) != nil {
				return nil, bad("key frame")
			}
			pw, ph, err := pngSize(k.PNG)
			if err != nil || pw != w || ph != h || !validSize(w, h) {
				return nil, bad("key frame (not a PNG of the screen's size)")
			}
			r.pictures = append(r.pictures, picture{t: e.t, line: s.line, code: 'k'})
		case 'd':
			var ps []patch
			if json.Unmarshal(e.data, &ps) != nil || len(ps) > maxPatches {
				return nil, bad("change event")
			}
			for _, p := range ps {
				if p.PNG == nil {
					if !p.copyOK(w, h) {
						return nil, bad("copy (outside the screen)")
					}
					continue
				}
				pw, ph, err := pngSize(p.PNG)
				if err != nil || p.X < 0 || p.Y < 0 || pw <= 0 || ph <= 0 || p.X > w-pw || p.Y > h-ph {
					return nil, bad("change (not a PNG inside the screen)")
				}
			}
			r.pictures = append(r.pictures, picture{t: e.t, line: s.line, code: 'd'})
		case 's':
			var z size
			if json.Unmarshal(e.data, &z) != nil || z.Width < 0 || z.Height < 0 || z.Width > math.MaxUint16 || z.Height > math.MaxUint16 {
				return nil, bad("size")
			}
			w, h = z.Width, z.Height
			s.limit = lineLimit(w, h)
			r.Sizes = append(r.Sizes, Size{T: e.t, Width: w, Height: h})
			r.pictures = append(r.pictures, picture{t: e.t, line: s.line, code: 's'})
		case 'i', 'x':
			var text string
			if json.Unmarshal(e.data, &text) != nil || len(text) > maxText*2 {
				return nil, bad("text")
			}
			if e.code == 'i' {
				r.Keys = append(r.Keys, Mark{e.t, text})
			} else {
				r.Incomplete = append(r.Incomplete, Mark{e.t, text})
			}
		case 'c':
			var c click
			if json.Unmarshal(e.data, &c) != nil {
				return nil, bad("click")
			}
			r.Clicks = append(r.Clicks, Click{e.t, c.X, c.Y, c.Buttons})
		default:
			// an event of a later version: skipped, as asciicast players do
		}
		r.end = e.t
	}
	return r, nil
}

// ErrNoPicture: the screen has no size (or one beyond the bounds) at that time.
var ErrNoPicture = errors.New("screenrec: no picture at that time")

// FrameAt returns the screen as it was at t (from the start): the last key
// frame (or size change) at or before t, with the changes after it applied.
// Before the first picture the screen is black.
func (r *Recording) FrameAt(t time.Duration) (*image.RGBA, error) {
	// the pictures that count: from the last key frame or resize at or before t
	n := sort.Search(len(r.pictures), func(i int) bool { return r.pictures[i].t > t })
	from := -1
	for i := n - 1; i >= 0; i-- {
		if r.pictures[i].code != 'd' {
			from = i
			break
		}
	}
	size := r.Sizes[0]
	for _, z := range r.Sizes {
		if z.T <= t {
			size = z
		}
	}
	if !validSize(size.Width, size.Height) {
		return nil, ErrNoPicture
	}
	img := image.NewRGBA(image.Rect(0, 0, size.Width, size.Height))
	opaque(img, img.Rect)
	if from < 0 {
		return img, nil
	}
	want := make(map[int]byte, n-from)
	for _, p := range r.pictures[from:n] {
		want[p.line] = p.code
	}
	s, err := openStream(r.path)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	for _, z := range r.Sizes { // lines as long as Open allowed
		s.limit = max(s.limit, lineLimit(z.Width, z.Height))
	}
	last := r.pictures[n-1].line
	for s.line < last {
		line, err := s.next()
		if err != nil {
			if err == io.EOF {
				err = errors.New("screenrec: the file changed since it was opened")
			}
			return nil, err
		}
		code, ok := want[s.line]
		if !ok || code == 's' {
			continue
		}
		e, err := parseEvent(line, s.line)
		if err != nil || e.code != code {
			return nil, errors.New("screenrec: the file changed since it was opened")
		}
		if code == 'k' {
			var k keyFrame
			if json.Unmarshal(e.data, &k) != nil {
				return nil, errors.New("screenrec: bad key frame")
			}
			if err := paste(img, k.PNG, 0, 0); err != nil {
				return nil, fmt.Errorf("screenrec: line %d: %w", s.line, err)
			}
			continue
		}
		var ps []patch
		if json.Unmarshal(e.data, &ps) != nil {
			return nil, errors.New("screenrec: bad change event")
		}
		for _, p := range ps {
			if p.PNG == nil {
				if !p.copyOK(img.Rect.Dx(), img.Rect.Dy()) {
					return nil, errors.New("screenrec: the file changed since it was opened")
				}
				// draw.Draw copies overlapping parts of one image as if through a buffer
				draw.Draw(img, image.Rect(p.X, p.Y, p.X+p.W, p.Y+p.H), img, image.Pt(p.SX, p.SY), draw.Src)
				continue
			}
			if err := paste(img, p.PNG, p.X, p.Y); err != nil {
				return nil, fmt.Errorf("screenrec: line %d: %w", s.line, err)
			}
		}
	}
	return img, nil
}

// paste decodes a PNG and draws it at x, y; it must fit inside img (checked
// before its pixels are decoded).
func paste(img *image.RGBA, b []byte, x, y int) error {
	pw, ph, err := pngSize(b)
	if err != nil {
		return err
	}
	if pw <= 0 || ph <= 0 || x < 0 || y < 0 || x > img.Rect.Dx()-pw || y > img.Rect.Dy()-ph {
		return errors.New("picture outside the screen")
	}
	at := image.Rect(x, y, x+pw, y+ph)
	src, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return err
	}
	draw.Draw(img, at, src, src.Bounds().Min, draw.Src)
	return nil
}
