package rlogin

// WindowMagic starts a window-size control message from the client
// (RFC 1282 "Control Information"): 0xff 0xff 's' 's', then rows, columns,
// x pixels and y pixels, 16 bits each, network order.
var WindowMagic = [4]byte{0xff, 0xff, 's', 's'}

// WindowLen is the whole control message.
const WindowLen = 12

// Window is one window-size message.
type Window struct{ Rows, Cols, XPixels, YPixels int }

// ParseWindow reads a window-size message at the start of b. n is 0 and
// more is true when b is a proper prefix of one; n is 0 and more false when
// b does not start with one.
func ParseWindow(b []byte) (w Window, n int, more bool) {
	for i := 0; i < len(WindowMagic); i++ {
		if i >= len(b) {
			return w, 0, true
		}
		if b[i] != WindowMagic[i] {
			return w, 0, false
		}
	}
	if len(b) < WindowLen {
		return w, 0, true
	}
	u := func(i int) int { return int(b[i])<<8 | int(b[i+1]) }
	return Window{Rows: u(4), Cols: u(6), XPixels: u(8), YPixels: u(10)}, WindowLen, false
}

// Server control bytes, sent as TCP urgent data (RFC 1282): a capture sees
// them in line, usually as a segment of their own.
const (
	CtlFlush      = 0x02
	CtlWindowReq  = 0x80
	CtlCookedMode = 0x10
	CtlRawMode    = 0x20
)
