package screen_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/capturetest"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/rfb"
	"github.com/psmtap/psmtap/internal/rfb/screen"
)

// The capture tests replay the server stream of each real VNC capture
// (pcaps/vnc-*.pcap, TigerVNC's Xvnc and real viewers) through a Screen and
// compare the last frame with the screenshot of the server's display taken
// at the end (pcaps/vnc/NAME-end.png). The RFB walker here is test-only: just
// enough of RFC 6143 to find the rectangles.

// grab is a test dissector that keeps both byte streams of a VNC connection.
type grab struct{ sessions *[]*grabbed }

type chunk struct {
	ts   int64
	data []byte
}

type grabbed struct {
	in  [2][]chunk // by direction
	gap bool
}

func (g grab) Name() string    { return "rfb-grab" }
func (g grab) Ports() []uint16 { return []uint16{5900} }
func (g grab) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	for i, p := range in.Port {
		if p == 5900 {
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: 1 - i}
		}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
}
func (g grab) NewSession(*dissectors.Context) dissectors.Session {
	s := &grabbed{}
	*g.sessions = append(*g.sessions, s)
	return s
}
func (s *grabbed) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	s.in[dir] = append(s.in[dir], chunk{ts, append([]byte(nil), data...)})
	return dissectors.Continue
}
func (s *grabbed) Gap(dissectors.Direction, int, int64) { s.gap = true }
func (s *grabbed) Close(*record.Record)                 {}

// stream is one direction's bytes with the packet time of each offset.
type stream struct {
	b    []byte
	at   []int   // offsets where chunks begin
	ts   []int64 // their times
	off  int
	name string
}

func newStream(cs []chunk, name string) *stream {
	s := &stream{name: name}
	for _, c := range cs {
		s.at = append(s.at, len(s.b))
		s.ts = append(s.ts, c.ts)
		s.b = append(s.b, c.data...)
	}
	return s
}

var errEnd = errors.New("end of stream")

func (s *stream) take(n int) ([]byte, error) {
	if n < 0 || len(s.b)-s.off < n {
		return nil, errEnd
	}
	b := s.b[s.off : s.off+n]
	s.off += n
	return b, nil
}

func (s *stream) u8() int  { b, _ := s.take(1); return int(b[0]) }
func (s *stream) u16() int { b, _ := s.take(2); return int(binary.BigEndian.Uint16(b)) }
func (s *stream) u32() int { b, _ := s.take(4); return int(binary.BigEndian.Uint32(b)) }

// time is the packet time of the byte at the current offset.
func (s *stream) time() int64 {
	i := sort.Search(len(s.at), func(i int) bool { return s.at[i] > s.off }) - 1
	if i < 0 {
		return 0
	}
	return s.ts[i]
}

type pfChange struct {
	ts int64
	pf rfb.PixelFormat
}

// clientFormats walks the client's stream for SetPixelFormat messages.
func clientFormats(c *stream, secType int) ([]pfChange, error) {
	c.take(12) // ProtocolVersion
	c.take(1)  // the security type chosen (3.8)
	if secType == 2 {
		c.take(16) // VNC authentication response
	}
	c.take(1) // ClientInit
	var out []pfChange
	for c.off < len(c.b) {
		ts := c.time()
		b, err := c.take(1)
		if err != nil {
			return out, nil
		}
		switch b[0] {
		case 0: // SetPixelFormat
			m, err := c.take(19)
			if err != nil {
				return out, nil
			}
			pf, err := rfb.ParsePixelFormat(m[3:])
			if err != nil {
				return nil, err
			}
			out = append(out, pfChange{ts, pf})
		case 2: // SetEncodings
			c.take(1)
			n := c.u16()
			c.take(4 * n)
		case 3: // FramebufferUpdateRequest
			c.take(9)
		case 4: // KeyEvent
			c.take(7)
		case 5: // PointerEvent
			c.take(5)
		case 6: // ClientCutText; a negative length is the Extended Clipboard form
			c.take(3)
			n := int32(c.u32())
			if n < 0 {
				n = -n
			}
			c.take(int(n))
		case 150: // EnableContinuousUpdates
			c.take(9)
		case 248: // ClientFence
			c.take(7)
			c.take(c.u8())
		case 251: // SetDesktopSize
			c.take(5)
			n := c.u8()
			c.take(1 + 16*n)
		case 255: // QEMU client message: ExtendedKeyEvent
			c.take(11)
		default:
			return nil, fmt.Errorf("client message %d at %d", b[0], c.off-1)
		}
	}
	return out, nil
}

type replay struct {
	sc       *screen.Screen
	rects    map[string]int
	failures []string
	cursors  [][3]int // width, height, opaque pixels of each cursor shape
}

// serverReplay walks the server's stream and applies every rectangle.
func serverReplay(t *testing.T, s *stream, pfs []pfChange) (*replay, error) {
	if v, _ := s.take(12); string(v[:4]) != "RFB " {
		return nil, fmt.Errorf("not RFB: %q", v)
	}
	n := s.u8()
	types, _ := s.take(n)
	secType := int(types[0])
	if secType == 2 {
		s.take(16) // challenge
	}
	if res := s.u32(); res != 0 {
		return nil, fmt.Errorf("security result %d", res)
	}
	w, h := s.u16(), s.u16()
	pfb, _ := s.take(16)
	pf, err := rfb.ParsePixelFormat(pfb)
	if err != nil {
		return nil, err
	}
	s.take(s.u32()) // name
	sc, err := screen.New(w, h, pf)
	if err != nil {
		return nil, err
	}
	rp := &replay{sc: sc, rects: map[string]int{}}
	for s.off < len(s.b) {
		ts := s.time()
		for len(pfs) > 0 && pfs[0].ts <= ts {
			pf = pfs[0].pf
			if err := sc.SetPixelFormat(pf); err != nil {
				return nil, err
			}
			pfs = pfs[1:]
		}
		typ, err := s.take(1)
		if err != nil {
			break
		}
		switch typ[0] {
		case 0: // FramebufferUpdate
			s.take(1)
			count := s.u16()
			for i := 0; i < count; i++ {
				hd, err := s.take(12)
				if err != nil {
					return rp, nil // the capture ends inside the update
				}
				x, y := int(binary.BigEndian.Uint16(hd)), int(binary.BigEndian.Uint16(hd[2:]))
				rw, rh := int(binary.BigEndian.Uint16(hd[4:])), int(binary.BigEndian.Uint16(hd[6:]))
				enc := int32(binary.BigEndian.Uint32(hd[8:]))
				n, err := screen.RectLen(enc, rw, rh, pf, s.b[s.off:])
				if err != nil {
					return nil, fmt.Errorf("RectLen %s at %d: %w", rfb.EncodingName(enc), s.off, err)
				}
				payload, err := s.take(n)
				if err != nil {
					return rp, nil
				}
				rp.rects[rfb.EncodingName(enc)]++
				if err := sc.Apply(x, y, rw, rh, enc, payload); err != nil {
					rp.failures = append(rp.failures, err.Error())
				}
				if enc == rfb.EncCursor || enc == rfb.EncXCursor || enc == rfb.EncCursorWithAlpha {
					if img, _, _, ok := sc.Cursor(); ok {
						opaque := 0
						for i := 3; i < len(img.Pix); i += 4 {
							if img.Pix[i] == 255 {
								opaque++
							}
						}
						rp.cursors = append(rp.cursors, [3]int{img.Rect.Dx(), img.Rect.Dy(), opaque})
					}
				}
				if enc == rfb.EncLastRect {
					break
				}
			}
		case 1: // SetColourMapEntries
			s.take(1)
			first, n := s.u16(), s.u16()
			b, _ := s.take(6 * n)
			rgb := make([][3]uint16, n)
			for i := range rgb {
				for c := 0; c < 3; c++ {
					rgb[i][c] = binary.BigEndian.Uint16(b[6*i+2*c:])
				}
			}
			sc.SetColourMap(first, rgb)
		case 2: // Bell
		case 3: // ServerCutText (negative length: Extended Clipboard)
			s.take(3)
			n := int32(s.u32())
			if n < 0 {
				n = -n
			}
			s.take(int(n))
		case 150: // EndOfContinuousUpdates
		case 248: // ServerFence
			s.take(7)
			s.take(s.u8())
		default:
			return nil, fmt.Errorf("server message %d at %d", typ[0], s.off-1)
		}
	}
	return rp, nil
}

// captures: the VNC captures whose end screenshot the replay must match,
// and the colour tolerance per component (JPEG captures are lossy).
var captures = []struct {
	name      string
	tolerance int
}{
	{"vnc-vncauth", 0},
}

func TestCaptures(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	for _, c := range captures {
		t.Run(c.name, func(t *testing.T) {
			pcap := filepath.Join(root, "pcaps", c.name+".pcap")
			if _, err := os.Stat(pcap); err != nil {
				t.Fatalf("capture missing: %v", err)
			}
			var sessions []*grabbed
			capturetest.Read(t, pcap, 0, grab{&sessions})
			if len(sessions) != 1 {
				t.Fatalf("%d VNC sessions, want 1", len(sessions))
			}
			g := sessions[0]
			if g.gap {
				t.Fatal("the capture has a gap")
			}
			srv := newStream(g.in[dissectors.FromServer], "server")
			cli := newStream(g.in[dissectors.FromClient], "client")
			secType := 0
			if len(srv.b) > 13 {
				secType = int(srv.b[13])
			}
			pfs, err := clientFormats(cli, secType)
			if err != nil {
				t.Fatal(err)
			}
			rp, err := serverReplay(t, srv, pfs)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("rectangles: %v; pixel format changes: %d", rp.rects, len(pfs))
			if rp.rects["cursor"]+rp.rects["cursor-with-alpha"]+rp.rects["x-cursor"] > 0 {
				// The last cursor may be xterm's hidden pointer (1x1, clear); some cursor had a shape.
				t.Logf("cursors (size, opaque pixels): %v", rp.cursors)
				shaped := false
				for _, c := range rp.cursors {
					shaped = shaped || c[2] > 0 && c[2] < c[0]*c[1]
				}
				if !shaped {
					t.Error("no cursor with a shape")
				}
			}
			for _, f := range rp.failures {
				t.Errorf("rectangle failed: %s", f)
			}
			f, err := os.Open(filepath.Join(root, "pcaps", "vnc", c.name+"-end.png"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			end, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			got := rp.sc.Image()
			if got.Bounds() != end.Bounds() {
				t.Fatalf("framebuffer %v, screenshot %v", got.Bounds(), end.Bounds())
			}
			same, total := 0, 0
			var firstDiff image.Point
			for y := 0; y < got.Rect.Dy(); y++ {
				for x := 0; x < got.Rect.Dx(); x++ {
					total++
					r, g, b, _ := end.At(x, y).RGBA()
					o := got.PixOffset(x, y)
					if near(got.Pix[o], r>>8, c.tolerance) && near(got.Pix[o+1], g>>8, c.tolerance) && near(got.Pix[o+2], b>>8, c.tolerance) {
						same++
					} else if total-same == 1 {
						firstDiff = image.Pt(x, y)
					}
				}
			}
			pct := 100 * float64(same) / float64(total)
			t.Logf("%d of %d pixels equal (%.3f%%, tolerance %d)", same, total, pct, c.tolerance)
			if pct < 99 {
				t.Errorf("only %.3f%% of the pixels match the end screenshot (first difference at %v)", pct, firstDiff)
				if dir := os.Getenv("SCREEN_DUMP"); dir != "" {
					out, _ := os.Create(filepath.Join(dir, c.name+"-replay.png"))
					png.Encode(out, got)
					out.Close()
				}
			}
		})
	}
}

func near(a uint8, b uint32, tol int) bool {
	d := int(a) - int(b)
	return d <= tol && -d <= tol
}
