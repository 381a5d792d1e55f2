package sensor

import (
	"bytes"
	"io"
	"unicode/utf8"
)

// SafeTerm passes a session's output to a real terminal (psmtap watch)
// keeping what draws the session and dropping what could act on the
// viewer's terminal or machine: control strings (OSC: titles, clipboard,
// hyperlinks; DCS; APC, PM, SOS), requests the terminal answers (device
// status and attributes, window reports, mode queries), mouse and focus
// reporting, bracketed paste, resets, and C1 controls. What passes: text,
// CR LF BS TAB BEL, CSI cursor moves, erases, inserts and deletes,
// scrolling regions, SGR, and a few DEC private modes (cursor keys,
// autowrap, cursor visibility, the alternate screen).
//
// (internal/asciicast gets a filter of the same purpose for replay; this
// one is the live view's own until the two are merged.)
type SafeTerm struct {
	w     io.Writer
	state uint8
	seq   []byte // the CSI being read
	str   int    // bytes of the control string being skipped
	rune  []byte // an unfinished UTF-8 sequence
	alt   bool   // the alternate screen is on (left on Close)
	out   []byte
}

// NewSafeTerm writes filtered output to w.
func NewSafeTerm(w io.Writer) *SafeTerm { return &SafeTerm{w: w} }

const (
	tsNormal = iota
	tsEsc
	tsCSI
	tsCSISkip // a CSI too long to judge: dropped to its final byte
	tsString  // OSC, DCS, APC, PM, SOS: dropped until BEL or ST
	tsStrEsc
	tsCharset // ESC ( ) * + : one designator byte follows
)

const maxCSI = 64

// Write filters p; it always consumes all of p.
func (t *SafeTerm) Write(p []byte) (int, error) {
	t.out = t.out[:0]
	for _, c := range p {
		t.byte1(c)
	}
	if len(t.out) == 0 {
		return len(p), nil
	}
	_, err := t.w.Write(t.out)
	return len(p), err
}

// Close leaves the viewer's terminal as it found it: attributes reset,
// cursor shown, the main screen back.
func (t *SafeTerm) Close() error {
	s := "\x1b[0m\x1b[?25h"
	if t.alt {
		s += "\x1b[?1049l"
	}
	_, err := io.WriteString(t.w, s)
	return err
}

func (t *SafeTerm) byte1(c byte) {
	switch t.state {
	case tsEsc:
		t.state = tsNormal
		switch c {
		case '[':
			t.state, t.seq = tsCSI, t.seq[:0]
		case ']', 'P', '_', '^', 'X':
			t.state, t.str = tsString, 0
		case '(', ')', '*', '+':
			t.state = tsCharset
			t.seq = append(t.seq[:0], c)
		case '7', '8', 'M', 'D', 'E', '=', '>':
			// save/restore cursor, reverse index, index, next line, keypad modes
			t.out = append(t.out, 0x1b, c)
		}
		// anything else (RIS, DECID, ...) is dropped
	case tsCharset:
		t.state = tsNormal
		if c == '0' || c == 'A' || c == 'B' {
			t.out = append(t.out, 0x1b, t.seq[0], c)
		}
	case tsCSI:
		switch {
		case c >= 0x40 && c <= 0x7e:
			t.state = tsNormal
			t.csi(c)
		case c >= 0x20 && c <= 0x3f:
			if len(t.seq) >= maxCSI {
				t.state = tsCSISkip
			} else {
				t.seq = append(t.seq, c)
			}
		case c == 0x1b:
			t.state = tsEsc
		default:
			t.state = tsNormal // a broken sequence: dropped
		}
	case tsCSISkip:
		if c >= 0x40 && c <= 0x7e {
			t.state = tsNormal
		}
	case tsString:
		t.str++
		switch {
		case c == 0x07:
			t.state = tsNormal
		case c == 0x1b:
			t.state = tsStrEsc
		case t.str > 1<<16:
			t.state = tsNormal // never terminated: stop swallowing output
		}
	case tsStrEsc:
		t.state = tsString
		if c == '\\' {
			t.state = tsNormal
		}
	default:
		t.normal(c)
	}
}

func (t *SafeTerm) normal(c byte) {
	if len(t.rune) > 0 || c >= utf8.RuneSelf {
		t.rune = append(t.rune, c)
		if !utf8.FullRune(t.rune) && len(t.rune) < utf8.UTFMax {
			return
		}
		r, n := utf8.DecodeRune(t.rune)
		rest := append([]byte(nil), t.rune[n:]...)
		switch {
		case r == utf8.RuneError && n <= 1:
			t.out = append(t.out, "\uFFFD"...)
		case r >= 0x80 && r < 0xa0:
			// C1 controls (a second CSI, OSC...): dropped
		default:
			t.out = append(t.out, t.rune[:n]...)
		}
		t.rune = t.rune[:0]
		for _, b := range rest {
			t.normal(b)
		}
		return
	}
	switch {
	case c == 0x1b:
		t.state = tsEsc
	case c == '\r' || c == '\n' || c == '\b' || c == '\t' || c == 0x07:
		t.out = append(t.out, c)
	case c < 0x20 || c == 0x7f:
		// other controls: dropped
	default:
		t.out = append(t.out, c)
	}
}

// privateModes are the DEC private modes a session may set on the viewer's
// terminal: cursor keys, autowrap, blinking and visible cursor, the
// alternate screen (which Close leaves).
var privateModes = map[string]bool{"1": true, "7": true, "12": true, "25": true, "47": true, "1047": true, "1048": true, "1049": true}

// csi passes a control sequence that draws, and drops the rest.
func (t *SafeTerm) csi(final byte) {
	params := t.seq
	private := len(params) > 0 && params[0] == '?'
	if private {
		params = params[1:]
	}
	for _, b := range params {
		if !(b >= '0' && b <= '9' || b == ';' || b == ':') {
			return // other prefixes (>, <, =) and intermediates: queries and settings
		}
	}
	switch final {
	case 'h', 'l':
		for _, m := range bytes.Split(params, []byte{';'}) {
			if private && !privateModes[string(m)] || !private && string(m) != "4" {
				return // mouse, focus and paste reporting, and the rest
			}
		}
		if private {
			for _, m := range bytes.Split(params, []byte{';'}) {
				switch string(m) {
				case "47", "1047", "1049":
					t.alt = final == 'h'
				}
			}
		}
	case 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'f', 'J', 'K', 'L', 'M', 'P', '@', 'X', 'S', 'T',
		'd', 'e', 'a', '`', 'm', 'r', 's', 'u':
		if private {
			return
		}
	default:
		return // n (status report), c (attributes), t (window), x, q, p, y, ...
	}
	t.out = append(t.out, 0x1b, '[')
	t.out = append(t.out, t.seq...)
	t.out = append(t.out, final)
}
