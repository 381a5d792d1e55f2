package asciicast

import (
	"io"
	"unicode/utf8"
)

// Filter passes a recorded session's output to the analyst's terminal,
// keeping what the terminal needs to draw the session and dropping what
// would reach outside it (docs/replay.md has the list):
//
//   - kept: text (UTF-8), BS HT LF VT FF CR SO SI; CSI cursor movement,
//     erase, insert/delete, scrolling region, tab stops, SGR colours, cursor
//     style, soft reset; the drawing modes (insert, reverse video, origin,
//     autowrap, cursor visible/blinking, alternate screen, synchronized
//     output); ESC charset designation and shifts, save/restore cursor,
//     index/reverse index/next line, tab set, line size, full reset;
//   - dropped: every OSC (window title, clipboard OSC 52, colours, links,
//     notifications), DCS (DECRQSS and other requests), SOS, PM, APC, in full
//     up to their terminator; everything that makes the terminal answer (CSI
//     n, c, x, t, $p, DECID ...); modes that change what the keyboard or
//     mouse send (cursor keys, keypad, mouse and focus reporting, bracketed
//     paste); window operations; printing; 7/8-bit control switches; other
//     C0 controls (BEL, ENQ ...) and DEL; and any sequence not known, too
//     long or malformed.
//
// 8-bit C1 controls (U+0080–U+009F) are read as their ESC forms and, when
// kept, written in 7-bit form; bytes that are not UTF-8 become U+FFFD. State
// is kept between writes, so a sequence split across writes is judged whole.
// Work and memory per byte are bounded.
type Filter struct {
	w     io.Writer
	state uint8
	seq   []byte // the ESC or CSI sequence being collected (7-bit form)
	long  bool   // the sequence outgrew maxSeq: drop it
	carry [utf8.UTFMax]byte
	nc    int
	out   []byte
	alt   bool // the session switched to the alternate screen
	err   error
}

const (
	stGround = iota
	stEsc    // after ESC, collecting intermediates until a final
	stCSI    // after CSI, collecting parameters and intermediates
	stString // inside OSC/DCS/SOS/PM/APC: dropped until the terminator
	stStrEsc // ESC inside a string: "\" ends it, anything else starts a new sequence
)

// maxSeq bounds a kept sequence; longer ones are dropped whole.
const maxSeq = 128

// NewFilter writes the filtered stream to w.
func NewFilter(w io.Writer) *Filter { return &Filter{w: w, seq: make([]byte, 0, maxSeq)} }

// Write filters p. It returns len(p) unless the underlying writer fails.
func (f *Filter) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	f.out = f.out[:0]
	for _, c := range p {
		f.feed(c)
	}
	if len(f.out) > 0 {
		if _, err := f.w.Write(f.out); err != nil {
			f.err = err
			return 0, err
		}
	}
	return len(p), nil
}

var replacement = []byte("\uFFFD")

// feed decodes UTF-8 one byte at a time, so a character split across
// writes is whole when judged.
func (f *Filter) feed(c byte) {
	if c < utf8.RuneSelf {
		if f.nc > 0 { // a character cut short
			f.nc = 0
			f.rune(utf8.RuneError, replacement)
		}
		f.byte7(c)
		return
	}
	f.carry[f.nc] = c
	f.nc++
	if !utf8.FullRune(f.carry[:f.nc]) {
		return
	}
	r, n := utf8.DecodeRune(f.carry[:f.nc])
	if r == utf8.RuneError && n == 1 {
		// Not UTF-8: one replacement for the first byte, the rest again.
		var rest [utf8.UTFMax]byte
		m := copy(rest[:], f.carry[1:f.nc])
		f.nc = 0
		f.rune(utf8.RuneError, replacement)
		for _, b := range rest[:m] {
			f.feed(b)
		}
		return
	}
	f.nc = 0
	f.rune(r, f.carry[:n])
}

// rune handles a non-ASCII character: a C1 control acts as its ESC form.
func (f *Filter) rune(r rune, enc []byte) {
	if r >= 0x80 && r <= 0x9f {
		f.byte7(0x1b)
		f.byte7(byte(r - 0x40))
		return
	}
	switch f.state {
	case stGround:
		f.out = append(f.out, enc...)
	case stString:
		// dropped
	case stStrEsc:
		f.state = stString
	default:
		// Text inside an ESC or CSI sequence: malformed, drop the sequence.
		f.state = stGround
		f.seq = f.seq[:0]
	}
}

// byte7 runs one 7-bit byte through the state machine.
func (f *Filter) byte7(c byte) {
	switch f.state {
	case stString:
		switch c {
		case 0x07: // BEL ends an OSC (xterm); harmless to end the others too
			f.state = stGround
		case 0x18, 0x1a: // CAN, SUB abort
			f.state = stGround
		case 0x1b:
			f.state = stStrEsc
		}
		return
	case stStrEsc:
		if c == '\\' { // ST
			f.state = stGround
			return
		}
		// ESC followed by anything else: the string ended, a new sequence starts.
		f.state = stGround
		f.begin()
		f.byte7(c)
		return
	}
	if c == 0x1b {
		f.begin()
		return
	}
	if c == 0x18 || c == 0x1a { // CAN, SUB cancel a sequence
		f.state = stGround
		f.seq = f.seq[:0]
		return
	}
	if c < 0x20 || c == 0x7f {
		// C0 controls act even inside a sequence (as terminals do).
		if c >= 0x08 && c <= 0x0f {
			f.out = append(f.out, c)
		}
		return
	}
	switch f.state {
	case stGround:
		f.out = append(f.out, c)
	case stEsc:
		f.add(c)
		if c >= 0x20 && c <= 0x2f {
			return // intermediate
		}
		f.escFinal()
	case stCSI:
		f.add(c)
		if c >= 0x40 && c <= 0x7e {
			f.csiFinal()
		}
	}
}

func (f *Filter) begin() {
	f.state = stEsc
	f.seq = append(f.seq[:0], 0x1b)
	f.long = false
}

func (f *Filter) add(c byte) {
	if len(f.seq) < maxSeq {
		f.seq = append(f.seq, c)
	} else {
		f.long = true
	}
}

// escFinal decides an ESC sequence whose final byte was just added.
func (f *Filter) escFinal() {
	s := f.seq[1:]
	f.state = stGround
	if len(s) == 1 {
		switch s[0] {
		case '[':
			f.state = stCSI
			return
		case ']', 'P', 'X', '^', '_': // OSC, DCS, SOS, PM, APC
			f.state = stString
			f.seq = f.seq[:0]
			return
		}
	}
	if !f.long && escKept(s) {
		f.out = append(f.out, f.seq...)
	}
	f.seq = f.seq[:0]
}

// escKept says whether ESC s (intermediates and final) draws the session.
func escKept(s []byte) bool {
	switch len(s) {
	case 1:
		switch s[0] {
		case '7', '8', // save, restore cursor
			'D', 'E', 'M', // index, next line, reverse index
			'H',      // tab set
			'N', 'O', // single shifts
			'n', 'o', '|', '}', '~', // locking shifts
			'c': // full reset
			return true
		}
	case 2:
		switch s[0] {
		case '(', ')', '*', '+', '-', '.', '/': // designate a character set
			return true
		case '#': // line size, screen alignment
			return s[1] == '3' || s[1] == '4' || s[1] == '5' || s[1] == '6' || s[1] == '8'
		}
	case 3:
		// Character sets named with two bytes (ESC ( % 5, ESC ( " >).
		switch s[0] {
		case '(', ')', '*', '+', '-', '.', '/':
			return s[1] == '%' || s[1] == '"' || s[1] == '&'
		}
	}
	return false
}

// csiFinal decides a CSI sequence whose final byte was just added.
func (f *Filter) csiFinal() {
	f.state = stGround
	defer func() { f.seq = f.seq[:0] }()
	if f.long {
		return
	}
	body := f.seq[2 : len(f.seq)-1] // between "ESC [" and the final
	final := f.seq[len(f.seq)-1]
	var prefix byte
	if len(body) > 0 && body[0] >= '<' && body[0] <= '?' {
		prefix, body = body[0], body[1:]
	}
	i := 0
	for i < len(body) && (body[i] >= '0' && body[i] <= '9' || body[i] == ';' || body[i] == ':') {
		i++
	}
	params, inter := body[:i], body[i:]
	for _, c := range inter {
		if c < 0x20 || c > 0x2f {
			return // a parameter byte after an intermediate: malformed
		}
	}
	switch {
	case len(inter) == 1 && prefix == 0:
		if inter[0] == ' ' && final == 'q' || inter[0] == '!' && final == 'p' && len(params) == 0 { // cursor style, soft reset
			f.out = append(f.out, f.seq...)
		}
		return
	case len(inter) > 0:
		return
	case final == 'h' || final == 'l':
		f.modes(prefix, params, final)
		return
	case prefix == '?' && (final == 'J' || final == 'K') && plain(params): // selective erase
		f.out = append(f.out, f.seq...)
		return
	case prefix != 0:
		return
	}
	switch final {
	case '@', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'P', 'S', 'X', 'Z',
		'`', 'a', 'b', 'd', 'e', 'f', 'g', 'm', 'r', 's', 'u':
		f.out = append(f.out, f.seq...)
	case 'T':
		// Scroll down has one parameter; five are xterm's mouse highlight tracking.
		if !containsByte(params, ';') {
			f.out = append(f.out, f.seq...)
		}
	}
}

func plain(params []byte) bool { return !containsByte(params, ':') }

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// modes keeps the set/reset of drawing modes and drops the others; a
// sequence naming several modes is rewritten with the kept ones only.
func (f *Filter) modes(prefix byte, params []byte, final byte) {
	if prefix != 0 && prefix != '?' || containsByte(params, ':') {
		return
	}
	var kept []byte
	for len(params) > 0 {
		p := params
		if i := indexByte(params, ';'); i >= 0 {
			p, params = params[:i], params[i+1:]
		} else {
			params = nil
		}
		n, ok := atoi(p)
		if !ok || !modeKept(prefix, n) {
			continue
		}
		if prefix == '?' && (n == 47 || n == 1047 || n == 1049) {
			f.alt = final == 'h'
		}
		if len(kept) > 0 {
			kept = append(kept, ';')
		}
		kept = append(kept, p...)
	}
	if len(kept) == 0 {
		return
	}
	f.out = append(f.out, 0x1b, '[')
	if prefix != 0 {
		f.out = append(f.out, prefix)
	}
	f.out = append(f.out, kept...)
	f.out = append(f.out, final)
}

func modeKept(prefix byte, n int) bool {
	if prefix == '?' {
		switch n {
		case 5, // reverse video
			6,                    // origin mode
			7,                    // autowrap
			12,                   // blinking cursor
			25,                   // cursor visible
			47, 1047, 1048, 1049, // alternate screen, saved cursor
			2026: // synchronized output
			return true
		}
		return false
	}
	return n == 4 // insert mode
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 5 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Close ends the stream: a rune cut short becomes U+FFFD, a sequence left
// open is dropped, and the terminal is put back as it was for the analyst
// (default colours, cursor shown, main screen, ASCII in G0).
func (f *Filter) Close() error {
	if f.err != nil {
		return f.err
	}
	f.out = f.out[:0]
	if f.nc > 0 && f.state == stGround {
		f.out = append(f.out, "\uFFFD"...)
	}
	f.nc, f.state, f.seq = 0, stGround, f.seq[:0]
	f.out = append(f.out, "\x1b[0m\x1b[?25h\x1b(B\x0f"...)
	if f.alt {
		f.out = append(f.out, "\x1b[?1049l"...)
		f.alt = false
	}
	if _, err := f.w.Write(f.out); err != nil {
		f.err = err
		return err
	}
	return nil
}
