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
	"strings"
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
type grab struct {
	port     uint16
	sessions *[]*grabbed
}

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
		if p == g.port {
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

// u8, u16 and u32 read big-endian numbers; 0 past the end (the walk then stops).
func (s *stream) u8() int {
	if b, err := s.take(1); err == nil {
		return int(b[0])
	}
	return 0
}

func (s *stream) u16() int {
	if b, err := s.take(2); err == nil {
		return int(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (s *stream) u32() int {
	if b, err := s.take(4); err == nil {
		return int(binary.BigEndian.Uint32(b))
	}
	return 0
}

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

// handshake walks both streams through the RFB handshake (RFC 6143 7.1-7.3,
// and 3.3/3.7 where they differ) in step: security types None (1), VNC authentication (2), and TightVNC's
// Tight security type (16) with its tunnel and authentication lists. It
// leaves both streams at their first normal message and returns ServerInit.
func handshake(s, c *stream) (w, h int, pf rfb.PixelFormat, err error) {
	sv, _ := s.take(12)
	cv, _ := c.take(12)
	if sv == nil || cv == nil || string(sv[:4]) != "RFB " {
		return 0, 0, pf, fmt.Errorf("not RFB: %q %q", sv, cv)
	}
	minor := min(int(sv[10]-'0'), int(cv[10]-'0')) // 003.00x: 3, 7 or 8
	var chosen, auth int
	if minor <= 3 {
		chosen = s.u32() // RFB 3.3: the server names the type
	} else {
		s.take(s.u8()) // the security types offered
		chosen = c.u8()
	}
	auth = chosen
	if chosen == 16 { // Tight: tunnels, then authentication types, each a 16-byte capability
		if n := s.u32(); n > 0 {
			s.take(16 * n)
			c.take(4)
		}
		auth = 1
		if n := s.u32(); n > 0 {
			s.take(16 * n)
			auth = c.u32()
		}
	}
	if auth == 2 {
		s.take(16) // challenge
		c.take(16) // response
	}
	if auth != 1 || minor >= 8 { // before 3.8 None has no SecurityResult
		if res := s.u32(); res != 0 {
			return 0, 0, pf, fmt.Errorf("security result %d", res)
		}
	}
	c.take(1) // ClientInit
	w, h = s.u16(), s.u16()
	pfb, _ := s.take(16)
	if pf, err = rfb.ParsePixelFormat(pfb); err != nil {
		return 0, 0, pf, err
	}
	s.take(s.u32())   // name
	if chosen == 16 { // Tight's interaction capabilities
		ns, nc, ne := s.u16(), s.u16(), s.u16()
		s.take(2 + 16*(ns+nc+ne))
	}
	return w, h, pf, nil
}

// clientFormats walks the client's stream for SetPixelFormat messages.
func clientFormats(c *stream) ([]pfChange, error) {
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
	pf       rfb.PixelFormat
}

// serverReplay walks the server's stream and applies every rectangle.
func serverReplay(t *testing.T, s *stream, w, h int, pf rfb.PixelFormat, pfs []pfChange) (*replay, error) {
	sc, err := screen.New(w, h, pf)
	if err != nil {
		return nil, err
	}
	rp := &replay{sc: sc, rects: map[string]int{}, pf: pf}
	for s.off < len(s.b) {
		ts := s.time()
		for len(pfs) > 0 && pfs[0].ts <= ts {
			pf = pfs[0].pf
			rp.pf = pf
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

// captures: the VNC captures whose last frame must match the screenshot of
// the server's display at the end (pcaps/vnc/NAME-end.png) to at least 99%
// of pixels. tight-jpeg is lossy: its reference is what TigerVNC's viewer
// showed (NAME-viewer.png, within 2 per component: Go's JPEG decoder rounds
// apart from libjpeg-turbo's) and, outside the JPEG picture, the screenshot
// exactly. cursor: the server sent a cursor with a shape (in the others the
// xterm had hidden the pointer: only empty cursors crossed).
var captures = []struct {
	name      string
	ref       string // the reference picture's suffix
	tolerance int
	cursor    bool
	lossy     image.Rectangle // where the picture is JPEG
}{
	{"vnc-vncauth", "end", 0, true, image.Rectangle{}},
	{"vnc-none", "end", 0, true, image.Rectangle{}},
	{"vnc-zrle", "end", 0, false, image.Rectangle{}},
	{"vnc-hextile", "end", 0, false, image.Rectangle{}},
	{"vnc-raw", "end", 0, false, image.Rectangle{}}, // 8 bpp BGR233: within one step of each component
	{"vnc-rre", "end", 0, false, image.Rectangle{}},
	{"vnc-copyrect", "end", 0, true, image.Rectangle{}},
	{"vnc-tight-jpeg", "viewer", 2, true, image.Rect(340, 260, 340+263, 260+159)},
	{"vnc-tightpng", "end", 0, false, image.Rectangle{}},
	{"vnc-rfb33", "end", 0, true, image.Rectangle{}},
	{"vnc-rfb37", "end", 0, false, image.Rectangle{}},
	{"vnc-resize", "end", 0, true, image.Rectangle{}},
}

// noScreen: the VNC captures in which no framebuffer can be seen, and why.
var noScreen = map[string]string{
	"vnc-wrong-password": "security result 1", // authentication failed: no ServerInit
	"vnc-vencrypt":       "security result",   // VeNCrypt: everything after the handshake is TLS
}

func TestCaptures(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	// Every VNC capture is either replayed or known to show no screen.
	files, _ := filepath.Glob(filepath.Join(root, "pcaps", "vnc-*.pcap"))
	known := map[string]bool{}
	for _, c := range captures {
		known[c.name] = true
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pcap")
		if why, ok := noScreen[name]; ok {
			t.Run(name, func(t *testing.T) {
				var sessions []*grabbed
				capturetest.Read(t, f, 0, grab{5900, &sessions})
				if len(sessions) != 1 {
					t.Fatalf("%d sessions", len(sessions))
				}
				_, _, _, err := handshake(newStream(sessions[0].in[dissectors.FromServer], "server"), newStream(sessions[0].in[dissectors.FromClient], "client"))
				if err == nil || !strings.Contains(err.Error(), why) {
					t.Fatalf("handshake: %v, want %q", err, why)
				}
			})
		} else if !known[name] {
			t.Errorf("%s: neither replayed nor listed in noScreen", name)
		}
	}
	for _, c := range captures {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(root, "pcaps", "vnc")
			exact := ""
			if !c.lossy.Empty() {
				exact = filepath.Join(dir, c.name+"-end.png")
			}
			checkCapture(t, filepath.Join(root, "pcaps", c.name+".pcap"), filepath.Join(dir, c.name+"-"+c.ref+".png"), 5900, c.tolerance, c.cursor, exact, c.lossy)
		})
	}
	// SCREEN_CAPTURE=file.pcap:end.png:port:tolerance checks a capture made
	// elsewhere (say, by hand against another server) the same way.
	if spec := os.Getenv("SCREEN_CAPTURE"); spec != "" {
		var pcap, end string
		var port uint16
		var tol int
		parts := strings.Split(spec, ":")
		if len(parts) != 4 {
			t.Fatalf("SCREEN_CAPTURE=%q: want file.pcap:end.png:port:tolerance", spec)
		}
		pcap, end = parts[0], parts[1]
		fmt.Sscan(parts[2], &port)
		fmt.Sscan(parts[3], &tol)
		t.Run(filepath.Base(pcap), func(t *testing.T) { checkCapture(t, pcap, end, port, tol, false, "", image.Rectangle{}) })
	}
}

// checkCapture replays pcap and compares the last frame with the picture in
// endPNG, each colour component within tolerance; with exact, also with that
// picture exactly, leaving out the area lossy.
func checkCapture(t *testing.T, pcap, endPNG string, port uint16, tolerance int, cursor bool, exact string, lossy image.Rectangle) {
	if _, err := os.Stat(pcap); err != nil {
		t.Fatalf("capture missing: %v", err)
	}
	var sessions []*grabbed
	capturetest.Read(t, pcap, 0, grab{port, &sessions})
	if len(sessions) != 1 {
		t.Fatalf("%d VNC sessions, want 1", len(sessions))
	}
	g := sessions[0]
	if g.gap {
		t.Fatal("the capture has a gap")
	}
	srv := newStream(g.in[dissectors.FromServer], "server")
	cli := newStream(g.in[dissectors.FromClient], "client")
	w, h, pf, err := handshake(srv, cli)
	if err != nil {
		t.Fatal(err)
	}
	pfs, err := clientFormats(cli)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := serverReplay(t, srv, w, h, pf, pfs)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rectangles: %v; pixel format changes: %d; final pixel format %v", rp.rects, len(pfs), rp.pf)
	if rp.rects["cursor"]+rp.rects["cursor-with-alpha"]+rp.rects["x-cursor"] > 0 {
		// The last cursor may be xterm's hidden pointer (1x1, clear); some cursor had a shape.
		t.Logf("cursors (size, opaque pixels): %v", rp.cursors)
		shaped := false
		for _, c := range rp.cursors {
			shaped = shaped || c[2] > 0 && c[2] < c[0]*c[1]
		}
		if cursor && !shaped {
			t.Error("no cursor with a shape")
		}
	}
	for _, f := range rp.failures {
		t.Errorf("rectangle failed: %s", f)
	}
	// A pixel format of fewer than 8 bits a component cannot come closer
	// than one of its steps.
	tol := [3]int{tolerance, tolerance, tolerance}
	if rp.pf.TrueColour {
		for i, m := range []uint16{rp.pf.RedMax, rp.pf.GreenMax, rp.pf.BlueMax} {
			if m > 0 && m < 255 {
				tol[i] = max(tol[i], (255+int(m)-1)/int(m))
			}
		}
	}
	got := rp.sc.Image()
	if pct := compare(t, got, endPNG, tol, image.Rectangle{}); pct < 99 {
		t.Errorf("only %.3f%% of the pixels match %s", pct, filepath.Base(endPNG))
		if dir := os.Getenv("SCREEN_DUMP"); dir != "" {
			out, _ := os.Create(filepath.Join(dir, filepath.Base(pcap)+"-replay.png"))
			png.Encode(out, got)
			out.Close()
		}
	}
	if exact != "" {
		if pct := compare(t, got, exact, [3]int{}, lossy); pct < 99 {
			t.Errorf("outside %v only %.3f%% of the pixels match %s exactly", lossy, pct, filepath.Base(exact))
		}
	}
}

// compare counts the pixels of got within tol of the picture in file,
// leaving out the area skip; it returns their share in percent.
func compare(t *testing.T, got *image.RGBA, file string, tol [3]int, skip image.Rectangle) float64 {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds() != want.Bounds() {
		t.Fatalf("framebuffer %v, %s %v", got.Bounds(), filepath.Base(file), want.Bounds())
	}
	same, total := 0, 0
	for y := 0; y < got.Rect.Dy(); y++ {
		for x := 0; x < got.Rect.Dx(); x++ {
			if image.Pt(x, y).In(skip) {
				continue
			}
			total++
			r, g, b, _ := want.At(x, y).RGBA()
			o := got.PixOffset(x, y)
			if near(got.Pix[o], r>>8, tol[0]) && near(got.Pix[o+1], g>>8, tol[1]) && near(got.Pix[o+2], b>>8, tol[2]) {
				same++
			}
		}
	}
	pct := 100 * float64(same) / float64(total)
	t.Logf("%s: %d of %d pixels equal (%.3f%%, tolerance %v, leaving out %v)", filepath.Base(file), same, total, pct, tol, skip)
	return pct
}

func near(a uint8, b uint32, tol int) bool {
	d := int(a) - int(b)
	return d <= tol && -d <= tol
}
