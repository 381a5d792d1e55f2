package term

import "unicode/utf8"

// MaxOutput caps the screen text kept per session (psm.output_text): the
// first MaxOutput bytes are kept, the rest is dropped and flagged
// (term.output_truncated).
const MaxOutput = 64 << 10

// maxCols bounds one screen line; a longer line wraps.
const maxCols = 1024

// Screen is a minimal VT100 line model of the server's output: it applies
// carriage return, line feed, backspace, tab, erase-in-line (CSI K), cursor
// moves within the line (CSI C, D, G, P, @) and drops every other escape,
// control string (OSC, DCS) and control character. It keeps the text the
// lines showed when they were finished, which is what an auditor searches;
// it is not a full-screen emulator: output of cursor-addressed programs
// (vi, top) comes out as the lines they wrote, not as the final screen.
type Screen struct {
	line    []rune
	col     int
	pending [utf8.UTFMax]byte
	npend   int
	state   uint8
	params  [4]int
	nparam  int
	out     []byte
	scratch []byte
	// Truncated is set once output went past MaxOutput.
	Truncated bool
	// OnLine, when set, is called with each finished line (borrowed).
	OnLine func(line []byte)
}

const (
	stNormal = iota
	stEsc
	stCSI
	stString  // OSC, DCS, PM, APC: until BEL or ESC \
	stStrEsc  // ESC inside a string
	stCharset // ESC ( x
)

// Write feeds server output.
func (s *Screen) Write(b []byte) {
	for len(b) > 0 {
		c := b[0]
		if s.state != stNormal || s.npend == 0 && c < utf8.RuneSelf {
			s.byte1(c)
			b = b[1:]
			continue
		}
		// UTF-8: gather a whole rune, possibly across calls.
		if s.npend == 0 && !utf8.RuneStart(c) {
			b = b[1:]
			continue
		}
		s.pending[s.npend] = c
		s.npend++
		b = b[1:]
		if utf8.FullRune(s.pending[:s.npend]) {
			r, _ := utf8.DecodeRune(s.pending[:s.npend])
			s.npend = 0
			if r != utf8.RuneError {
				s.put(r)
			}
		} else if s.npend == utf8.UTFMax {
			s.npend = 0
		}
	}
}

func (s *Screen) byte1(c byte) {
	switch s.state {
	case stEsc:
		switch c {
		case '[':
			s.state, s.nparam = stCSI, 0
			s.params = [4]int{}
		case ']', 'P', '^', '_':
			s.state = stString
		case '(', ')', '*', '+', '#', '%':
			s.state = stCharset
		default:
			s.state = stNormal
		}
		return
	case stCharset:
		s.state = stNormal
		return
	case stString:
		if c == 0x07 {
			s.state = stNormal
		} else if c == 0x1b {
			s.state = stStrEsc
		}
		return
	case stStrEsc:
		s.state = stNormal // ESC \ ends it; anything else too
		return
	case stCSI:
		switch {
		case c >= '0' && c <= '9':
			if s.nparam == 0 {
				s.nparam = 1
			}
			if s.nparam <= len(s.params) && s.params[s.nparam-1] < 10000 {
				s.params[s.nparam-1] = s.params[s.nparam-1]*10 + int(c-'0')
			}
		case c == ';':
			if s.nparam == 0 {
				s.nparam = 1
			}
			s.nparam++
		case c >= 0x40 && c <= 0x7e:
			s.state = stNormal
			s.csi(c)
		case c < 0x20 && c != 0x1b:
			s.control(c)
		case c == 0x1b:
			s.state = stEsc
		}
		return
	}
	if c < 0x20 || c == 0x7f {
		s.control(c)
		return
	}
	s.put(rune(c))
}

func (s *Screen) param(i, def int) int {
	if i < s.nparam && i < len(s.params) && s.params[i] != 0 {
		return s.params[i]
	}
	return def
}

func (s *Screen) csi(final byte) {
	switch final {
	case 'K':
		switch s.param(0, 0) {
		case 0:
			if s.col < len(s.line) {
				s.line = s.line[:s.col]
			}
		case 1:
			for i := 0; i < s.col && i < len(s.line); i++ {
				s.line[i] = ' '
			}
		case 2:
			s.line = s.line[:0]
		}
	case 'C':
		s.col = min(s.col+s.param(0, 1), maxCols-1)
	case 'D':
		s.col = max(s.col-s.param(0, 1), 0)
	case 'G':
		s.col = min(max(s.param(0, 1)-1, 0), maxCols-1)
	case 'P': // delete characters
		n := s.param(0, 1)
		if s.col < len(s.line) {
			n = min(n, len(s.line)-s.col)
			s.line = append(s.line[:s.col], s.line[s.col+n:]...)
		}
	case '@': // insert blanks
		n := min(s.param(0, 1), maxCols)
		if s.col < len(s.line) {
			for i := 0; i < n && len(s.line) < maxCols; i++ {
				s.line = append(s.line, ' ')
				copy(s.line[s.col+1:], s.line[s.col:])
				s.line[s.col] = ' '
			}
		}
	case 'J':
		if s.param(0, 0) >= 2 { // clear screen: the finished lines stay in the text
			s.line, s.col = s.line[:0], 0
		}
	case 'H', 'f': // cursor position: start a fresh line at that column
		if len(s.line) > 0 {
			s.newline()
		}
		s.col = min(max(s.param(1, 1)-1, 0), maxCols-1)
	}
}

func (s *Screen) control(c byte) {
	switch c {
	case '\r':
		s.col = 0
	case '\n', 0x0b, 0x0c:
		s.newline()
	case 0x08:
		if s.col > 0 {
			s.col--
		}
	case '\t':
		s.col = min((s.col/8+1)*8, maxCols-1)
	case 0x1b:
		s.state = stEsc
	}
}

func (s *Screen) put(r rune) {
	if s.col >= maxCols {
		s.newline()
	}
	for len(s.line) < s.col {
		s.line = append(s.line, ' ')
	}
	if s.col < len(s.line) {
		s.line[s.col] = r
	} else {
		s.line = append(s.line, r)
	}
	s.col++
}

func (s *Screen) newline() {
	b := s.encode()
	if s.OnLine != nil {
		s.OnLine(b)
	}
	s.emit(b)
	s.emit([]byte{'\n'})
	s.line, s.col = s.line[:0], 0
}

// encode writes the current line, right-trimmed, into scratch.
func (s *Screen) encode() []byte {
	n := len(s.line)
	for n > 0 && s.line[n-1] == ' ' {
		n--
	}
	s.scratch = s.scratch[:0]
	for _, r := range s.line[:n] {
		s.scratch = utf8.AppendRune(s.scratch, r)
	}
	return s.scratch
}

func (s *Screen) emit(b []byte) {
	if s.Truncated {
		return
	}
	if len(s.out)+len(b) > MaxOutput {
		b = b[:MaxOutput-len(s.out)]
		s.Truncated = true
	}
	s.out = append(s.out, b...)
}

// Started reports whether anything was written yet.
func (s *Screen) Started() bool { return len(s.out) > 0 || len(s.line) > 0 }

// CurrentLine is the unfinished line (e.g. a prompt and what was echoed
// after it), right-trimmed of blanks only when trim is set. Borrowed.
func (s *Screen) CurrentLine() []byte { return s.encode() }

// Text is everything the screen showed: the finished lines, then the
// unfinished one.
func (s *Screen) Text() string {
	cur := s.encode()
	out := s.out
	if len(cur) > 0 && !s.Truncated && len(out)+len(cur) <= MaxOutput {
		return string(out) + string(cur)
	}
	return string(out)
}
