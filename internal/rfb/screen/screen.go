// Package screen keeps a VNC session's framebuffer: it applies the
// rectangles of FramebufferUpdate messages (RFC 6143 7.6.1, encodings 7.7,
// pseudo-encodings 7.8, and the community RFB specification for Tight,
// TightPNG, Zlib, ZlibHex, the cursor and desktop-size extensions) to an
// RGBA image and says what changed.
//
// The package is pure: no I/O, no clock. Memory is bounded per Screen: the
// framebuffer (at most MaxPixels pixels: 64 MiB), one cursor of at most
// MaxCursorSide on a side (1 MiB), a colour map (at most 256 KiB), and for
// each zlib stream in use (ZRLE, Zlib, ZlibHex's two, Tight's four) a
// decompressor with its 32 KiB window, a 4 KiB read-ahead and one row or
// tile of scratch; compressed input is borrowed from the rectangle, never
// kept. JPEG and PNG pictures are checked to be the rectangle's size
// before they are decoded.
//
// A zlib stream that lost its place (a malformed rectangle, a gap in the
// capture) is refused until the server resets it, so a wrong picture is
// never shown as right.
package screen

import (
	"errors"
	"fmt"
	"image"

	"github.com/psmtap/psmtap/internal/rfb"
)

// Bounds on what one Screen may hold.
const (
	MaxSide       = 16384   // either side of the framebuffer
	MaxPixels     = 1 << 24 // width*height: 64 MiB of RGBA (4096x4096; 7680x2160 fits)
	MaxCursorSide = 512     // either side of a cursor image
	maxDirty      = 64      // rectangles TakeDirty keeps apart before merging the closest
	maxLeftover   = 64      // compressed bytes a zlib stream may carry from one rectangle to the next (a flush marker)
)

var (
	// ErrOutside: a rectangle reaches past the framebuffer.
	ErrOutside = errors.New("screen: rectangle outside the framebuffer")
	// ErrTooBig: a framebuffer or cursor larger than the caps above.
	ErrTooBig = errors.New("screen: size over the cap")
	// ErrBroken: the zlib stream this rectangle continues lost its place
	// earlier; its pictures cannot be trusted until the server resets it.
	ErrBroken = errors.New("screen: compressed stream broken by an earlier error")
)

// Screen is one session's framebuffer and decoder state. Not safe for
// concurrent use.
type Screen struct {
	fb    *image.RGBA
	px    pixels
	cmap  [][4]uint8
	dirty []image.Rectangle

	cursor             *image.RGBA
	hotX, hotY         int
	pointerX, pointerY int
	pointerSeen        bool
	name               string

	zrle, zlib, zlibHexRaw, zlibHex zstream
	tight                           [4]zstream
	grad                            []uint16 // Tight gradient filter: two rows of components, reused
	painted                         int64    // pixels written, for Painted
}

// New makes a framebuffer of w x h pixels (black) for pixel format pf.
func New(w, h int, pf rfb.PixelFormat) (*Screen, error) {
	s := &Screen{}
	if err := s.SetPixelFormat(pf); err != nil {
		return nil, err
	}
	fb, err := newFB(w, h)
	if err != nil {
		return nil, err
	}
	s.fb = fb
	return s, nil
}

func newFB(w, h int) (*image.RGBA, error) {
	if w < 0 || h < 0 || w > MaxSide || h > MaxSide || w*h > MaxPixels {
		return nil, fmt.Errorf("%w: framebuffer %dx%d (at most %d pixels, %d a side)", ErrTooBig, w, h, MaxPixels, MaxSide)
	}
	fb := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 3; i < len(fb.Pix); i += 4 {
		fb.Pix[i] = 255
	}
	return fb, nil
}

// SetPixelFormat switches the format of later rectangles (the client's
// SetPixelFormat). The picture already decoded stays as it is.
func (s *Screen) SetPixelFormat(pf rfb.PixelFormat) error {
	px, err := newPixels(pf, &s.cmap)
	if err != nil {
		return err
	}
	s.px = px
	return nil
}

// SetColourMap applies SetColourMapEntries (RFC 6143 7.6.2): 16-bit
// components for the entries from first on. Entries past 65535 are dropped.
// Pixels already decoded keep their colours (the server repaints after a
// change anyway).
func (s *Screen) SetColourMap(first int, rgb [][3]uint16) {
	if first < 0 || first > 0xffff {
		return
	}
	end := min(first+len(rgb), 1<<16)
	if end > len(s.cmap) {
		grown := make([][4]uint8, end)
		copy(grown, s.cmap)
		for i := len(s.cmap); i < end; i++ {
			grown[i] = [4]uint8{0, 0, 0, 255}
		}
		s.cmap = grown
	}
	for i := first; i < end; i++ {
		c := rgb[i-first]
		s.cmap[i] = [4]uint8{uint8(c[0] >> 8), uint8(c[1] >> 8), uint8(c[2] >> 8), 255}
	}
}

// Image is the current framebuffer. The Screen owns it: read it, do not keep it
// past the next Apply.
func (s *Screen) Image() *image.RGBA { return s.fb }

// Size is the framebuffer's width and height.
func (s *Screen) Size() (w, h int) {
	b := s.fb.Bounds()
	return b.Dx(), b.Dy()
}

// Cursor is the last cursor shape the server sent (Cursor, XCursor or
// CursorWithAlpha pseudo-encodings) with its hot spot; ok is false before
// any, or after the server hid it (an empty cursor).
func (s *Screen) Cursor() (img *image.RGBA, hotX, hotY int, ok bool) {
	if s.cursor == nil {
		return nil, 0, 0, false
	}
	return s.cursor, s.hotX, s.hotY, true
}

// Pointer is the pointer position the server last reported (PointerPos).
func (s *Screen) Pointer() (x, y int, ok bool) { return s.pointerX, s.pointerY, s.pointerSeen }

// Name is the desktop name from the last DesktopName pseudo-rectangle
// (raw bytes from the network: escape before showing), at most 1024 bytes.
func (s *Screen) Name() string { return s.name }

// Painted is how many pixels the Screen has written since New, a measure of
// the work done. A few bytes can ask for a lot of it (a 5-byte Tight fill or
// a 12-byte CopyRect may repaint the whole framebuffer), so a caller that
// must keep up with capture can budget it against the bytes or time.
func (s *Screen) Painted() int64 { return s.painted }

// Gap tells the Screen that server bytes were lost: every zlib stream lost
// its place. Their later rectangles are refused until a reset.
func (s *Screen) Gap() {
	s.zrle.fail()
	s.zlib.fail()
	s.zlibHex.fail()
	s.zlibHexRaw.fail()
	for i := range s.tight {
		s.tight[i].fail()
	}
}

// TakeDirty returns the areas changed since the last call, merged so that at
// most a bounded number remain, and forgets them.
func (s *Screen) TakeDirty() []image.Rectangle {
	d := s.dirty
	s.dirty = nil
	return d
}

func (s *Screen) markDirty(r image.Rectangle) {
	r = r.Intersect(s.fb.Bounds())
	if r.Empty() {
		return
	}
	// Swallow or grow into an overlapping or touching rectangle, repeatedly,
	// so the list stays disjoint-ish and short.
	for i := 0; i < len(s.dirty); {
		d := s.dirty[i]
		if r.In(d) {
			return
		}
		if d.In(r) || touches(d, r) {
			r = r.Union(d)
			s.dirty[i] = s.dirty[len(s.dirty)-1]
			s.dirty = s.dirty[:len(s.dirty)-1]
			i = 0
			continue
		}
		i++
	}
	s.dirty = append(s.dirty, r)
	for len(s.dirty) > maxDirty {
		s.mergeClosest()
	}
}

// touches: overlapping, or sharing a whole edge (their union is their sum).
func touches(a, b image.Rectangle) bool {
	if a.Overlaps(b) {
		return true
	}
	if a.Min.Y == b.Min.Y && a.Max.Y == b.Max.Y && (a.Max.X == b.Min.X || b.Max.X == a.Min.X) {
		return true
	}
	return a.Min.X == b.Min.X && a.Max.X == b.Max.X && (a.Max.Y == b.Min.Y || b.Max.Y == a.Min.Y)
}

// mergeClosest joins the pair whose union wastes the least area.
func (s *Screen) mergeClosest() {
	bi, bj, best := 0, 1, -1
	for i := range s.dirty {
		for j := i + 1; j < len(s.dirty); j++ {
			u := s.dirty[i].Union(s.dirty[j])
			waste := area(u) - area(s.dirty[i]) - area(s.dirty[j])
			if best < 0 || waste < best {
				bi, bj, best = i, j, waste
			}
		}
	}
	s.dirty[bi] = s.dirty[bi].Union(s.dirty[bj])
	s.dirty[bj] = s.dirty[len(s.dirty)-1]
	s.dirty = s.dirty[:len(s.dirty)-1]
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

// Apply decodes one rectangle of a FramebufferUpdate: position, size,
// encoding and exactly the RectLen bytes that followed its header.
// Pseudo-encodings are applied too (cursor, desktop size, name, pointer).
// An error leaves the framebuffer partly updated at worst inside the
// rectangle; for a zlib-based encoding it also breaks that stream.
func (s *Screen) Apply(x, y, w, h int, enc int32, payload []byte) error {
	switch enc {
	case rfb.EncDesktopSize:
		return s.resize(w, h)
	case rfb.EncExtendedDesktopSize:
		if err := exactLen(enc, w, h, payload); err != nil {
			return err
		}
		if y != 0 { // the status: the server refused a client's request; size unchanged
			return nil
		}
		return s.resize(w, h)
	case rfb.EncLastRect, rfb.EncQEMUPointerMotion, rfb.EncQEMUExtendedKey, rfb.EncQEMULEDState:
		return nil
	case rfb.EncPointerPos, encVMwareCursorPos:
		s.pointerX, s.pointerY, s.pointerSeen = x, y, true
		return nil
	case rfb.EncDesktopName:
		if err := exactLen(enc, w, h, payload); err != nil {
			return err
		}
		name := payload[4:]
		if len(name) > 1024 {
			name = name[:1024]
		}
		s.name = string(name)
		return nil
	case rfb.EncCursor, rfb.EncXCursor, rfb.EncCursorWithAlpha, encVMwareCursor:
		return s.applyCursor(x, y, w, h, enc, payload)
	}
	if x < 0 || y < 0 || w < 0 || h < 0 || x+w > s.fb.Rect.Dx() || y+h > s.fb.Rect.Dy() {
		s.lose(enc, payload)
		fb := s.fb.Bounds()
		return fmt.Errorf("%w: %s %dx%d at %d,%d on %dx%d", ErrOutside, rfb.EncodingName(enc), w, h, x, y, fb.Dx(), fb.Dy())
	}
	r := image.Rect(x, y, x+w, y+h)
	var n int
	var err error
	switch enc {
	case rfb.EncRaw:
		n, err = s.raw(r, payload)
	case rfb.EncCopyRect:
		n, err = s.copyRect(r, payload)
	case rfb.EncRRE, rfb.EncCoRRE:
		n, err = s.rre(r, payload, enc == rfb.EncCoRRE)
	case rfb.EncHextile:
		n, err = s.hextile(r, payload, false)
	case rfb.EncZlibHex:
		n, err = s.hextile(r, payload, true)
	case rfb.EncZlib:
		n, err = s.zlibRect(r, payload)
	case rfb.EncZRLE:
		n, err = s.zrleRect(r, payload)
	case rfb.EncTight, rfb.EncTightPNG:
		n, err = s.tightRect(r, payload, enc == rfb.EncTightPNG)
	default:
		return fmt.Errorf("%w: %s", ErrUnsupported, rfb.EncodingName(enc))
	}
	if err == nil && n != len(payload) {
		err = fmt.Errorf("%w: %d bytes left after the rectangle", ErrMalformed, len(payload)-n)
		s.lose(enc, payload)
	}
	if err != nil && enc != rfb.EncTight && enc != rfb.EncTightPNG {
		s.lose(enc, payload) // whatever went wrong, the stream did not end where the server's did
	}
	s.markDirty(r) // even a failed rectangle may have changed pixels
	s.painted += int64(area(r))
	if err != nil {
		return fmt.Errorf("%s %dx%d at %d,%d: %w", rfb.EncodingName(enc), w, h, x, y, err)
	}
	return nil
}

// exactLen checks a pseudo-rectangle's payload against RectLen.
func exactLen(enc int32, w, h int, payload []byte) error {
	n, err := rectLen(enc, w, h, rgbaFormat, payload)
	if err != nil {
		return err
	}
	if n != int64(len(payload)) {
		return fmt.Errorf("%w: %s of %d bytes, want %d", ErrMalformed, rfb.EncodingName(enc), len(payload), n)
	}
	return nil
}

// lose marks the zlib stream a rectangle that was not decoded would have
// advanced as broken.
func (s *Screen) lose(enc int32, payload []byte) {
	switch enc {
	case rfb.EncZRLE:
		s.zrle.fail()
	case rfb.EncZlib:
		s.zlib.fail()
	case rfb.EncZlibHex:
		s.zlibHex.fail()
		s.zlibHexRaw.fail()
	case rfb.EncTight, rfb.EncTightPNG:
		if len(payload) == 0 {
			return
		}
		ctl := payload[0]
		for i := range s.tight {
			if ctl&(1<<i) != 0 {
				s.tight[i].reset()
			}
		}
		if ctl>>4 < tightFill {
			s.tight[(ctl>>4)&3].fail()
		}
	}
}

// resize makes a new framebuffer, keeping what overlaps the old one.
func (s *Screen) resize(w, h int) error {
	old := s.fb
	if old != nil && old.Rect.Dx() == w && old.Rect.Dy() == h {
		return nil
	}
	fb, err := newFB(w, h)
	if err != nil {
		return err
	}
	if old != nil {
		cw, ch := min(w, old.Rect.Dx()), min(h, old.Rect.Dy())
		for y := 0; y < ch; y++ {
			copy(fb.Pix[y*fb.Stride:y*fb.Stride+cw*4], old.Pix[y*old.Stride:y*old.Stride+cw*4])
		}
	}
	s.fb = fb
	s.dirty = s.dirty[:0]
	s.markDirty(fb.Bounds())
	return nil
}

// fill paints r in one colour.
func (s *Screen) fill(r image.Rectangle, c [4]uint8) {
	if r.Empty() {
		return
	}
	s.painted += int64(area(r))
	fb := s.fb
	first := fb.Pix[fb.PixOffset(r.Min.X, r.Min.Y):]
	row := first[:r.Dx()*4]
	for i := 0; i < len(row); i += 4 {
		copy(row[i:i+4], c[:])
	}
	for y := r.Min.Y + 1; y < r.Max.Y; y++ {
		o := fb.PixOffset(r.Min.X, y)
		copy(fb.Pix[o:o+len(row)], row)
	}
}

// pixelsTo converts w*h pixels of kind k (rows packed) into r.
func (s *Screen) pixelsTo(r image.Rectangle, src []byte, k pixKind) {
	w, sz := r.Dx(), s.px.size(k)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := s.fb.PixOffset(r.Min.X, y)
		s.px.row(s.fb.Pix[o:o+w*4], src, w, k)
		src = src[w*sz:]
	}
}

// raw: RFC 6143 7.7.1, w*h pixels left to right, top to bottom.
func (s *Screen) raw(r image.Rectangle, p []byte) (int, error) {
	n := r.Dx() * r.Dy() * s.px.bpp
	if len(p) < n {
		return 0, fmt.Errorf("%w: raw needs %d bytes, have %d", ErrMalformed, n, len(p))
	}
	s.pixelsTo(r, p, pixNative)
	return n, nil
}

// copyRect: RFC 6143 7.7.2, copy from src-x, src-y of the framebuffer itself.
// Source and destination may overlap: rows are copied in the order that
// reads each before it is overwritten.
func (s *Screen) copyRect(r image.Rectangle, p []byte) (int, error) {
	if len(p) < 4 {
		return 0, fmt.Errorf("%w: copyrect needs 4 bytes", ErrMalformed)
	}
	sx, sy := int(p[0])<<8|int(p[1]), int(p[2])<<8|int(p[3])
	if r.Empty() {
		return 4, nil
	}
	src := image.Rect(sx, sy, sx+r.Dx(), sy+r.Dy())
	if !src.In(s.fb.Bounds()) {
		return 4, fmt.Errorf("%w: copyrect source %v", ErrOutside, src)
	}
	fb, n := s.fb, r.Dx()*4
	copyRow := func(dy int) {
		d, o := fb.PixOffset(r.Min.X, r.Min.Y+dy), fb.PixOffset(sx, sy+dy)
		copy(fb.Pix[d:d+n], fb.Pix[o:o+n]) // copy is a memmove: overlap within a row is fine
	}
	if sy < r.Min.Y {
		for dy := r.Dy() - 1; dy >= 0; dy-- {
			copyRow(dy)
		}
	} else {
		for dy := 0; dy < r.Dy(); dy++ {
			copyRow(dy)
		}
	}
	return 4, nil
}
