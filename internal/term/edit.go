// Package term is the terminal pipeline shared by the interactive cleartext
// protocols (Telnet, rlogin): it rebuilds the lines a user typed from the
// client's keystrokes (LineEditor), keeps a minimal model of what the
// server's output showed on screen (Screen), follows login prompts and
// answers to an outcome (Login), and ties them together with a timed
// recording (Terminal).
//
// Everything here is pure over bytes: no I/O, no clock, no logging.
package term

import "unicode/utf8"

// MaxLine bounds one edited line; longer input is cut (anomaly term.line_too_long).
const MaxLine = 4096

// Key markers written into a line for keys that cannot be rebuilt from
// keystrokes alone (history recall, cursor movement).
const (
	MarkUp    = "<up>"
	MarkDown  = "<down>"
	MarkLeft  = "<left>"
	MarkRight = "<right>"
)

// LineEditor rebuilds one line at a time from keystrokes, applying the
// editing keys a cooked tty applies: BS and DEL erase a character, ^U the
// line, ^W a word, ^C drops the line. CR, LF, CR LF and CR NUL end a line.
// Arrow keys are kept as markers (MarkUp...) and flag the line, since what
// they recall is only known from the server's echo; so do TAB (completion)
// and readline's other editing keys (^A ^E ^B ^F ^K ^Y ^T ^D ^R ^P ^N, and
// ESC-letter word moves), which move the cursor or recall text.
type LineEditor struct {
	buf     []byte
	esc     []byte // an escape sequence being read
	inEsc   bool
	lastCR  bool // the previous byte was CR: a following LF or NUL is part of the same Enter
	Marked  bool // the current line holds arrow markers or a TAB (completion)
	Started bool // at least one key of the current line was seen
	Cut     bool // the current line was cut at MaxLine
}

// KeyResult says what one Feed call produced.
type KeyResult uint8

// Results of Key.
const (
	KeyNone      KeyResult = iota
	KeyEnter               // a line ended: Line() holds it until the next key
	KeyInterrupt           // ^C: the line was dropped
)

// Key applies one byte. On KeyEnter the finished line is in Line() until the
// next call to Reset.
func (e *LineEditor) Key(c byte) KeyResult {
	if e.lastCR {
		e.lastCR = false
		if c == '\n' || c == 0 {
			return KeyNone
		}
	}
	if e.inEsc {
		e.escByte(c)
		return KeyNone
	}
	switch c {
	case '\r':
		e.lastCR = true
		return KeyEnter
	case '\n':
		return KeyEnter
	case 0x7f, 0x08:
		e.Started = true
		e.erase()
	case 0x15: // ^U
		e.Started = true
		e.buf = e.buf[:0]
	case 0x17: // ^W
		e.Started = true
		e.eraseWord()
	case 0x03: // ^C
		e.buf = e.buf[:0]
		e.Marked, e.Cut = false, false
		return KeyInterrupt
	case 0x1b:
		e.Started = true
		e.inEsc = true
		e.esc = e.esc[:0]
	case '\t':
		e.Started = true
		e.Marked = true
		e.add('\t')
	case 0x01, 0x02, 0x04, 0x05, 0x06, 0x0b, 0x0e, 0x10, 0x12, 0x14, 0x19:
		// readline: home, back, delete-char, end, forward, kill, next,
		// previous, search, transpose, yank. Only the echo tells the result.
		e.Started = true
		e.Marked = true
	case 0:
	default:
		e.Started = true
		if c >= 0x20 {
			e.add(c)
		}
	}
	return KeyNone
}

func (e *LineEditor) add(c byte) {
	if len(e.buf) >= MaxLine {
		e.Cut = true
		return
	}
	e.buf = append(e.buf, c)
}

func (e *LineEditor) addMark(m string) {
	e.Marked = true
	for i := 0; i < len(m); i++ {
		e.add(m[i])
	}
}

// escByte reads ESC [ ... final, ESC O x and two-byte escapes.
func (e *LineEditor) escByte(c byte) {
	if len(e.esc) < 16 {
		e.esc = append(e.esc, c)
	}
	if len(e.esc) == 1 {
		if c == '[' || c == 'O' {
			return
		}
		e.inEsc = false // ESC x (meta key): a word move or edit in readline
		e.Marked = true
		return
	}
	if c >= 0x40 && c <= 0x7e { // final byte
		e.inEsc = false
		switch c {
		case 'A':
			e.addMark(MarkUp)
		case 'B':
			e.addMark(MarkDown)
		case 'C':
			e.addMark(MarkRight)
		case 'D':
			e.addMark(MarkLeft)
		}
		return
	}
	if len(e.esc) >= 16 {
		e.inEsc = false
	}
}

func (e *LineEditor) erase() {
	if len(e.buf) == 0 {
		return
	}
	_, n := utf8.DecodeLastRune(e.buf)
	e.buf = e.buf[:len(e.buf)-n]
}

func (e *LineEditor) eraseWord() {
	i := len(e.buf)
	for i > 0 && e.buf[i-1] == ' ' {
		i--
	}
	for i > 0 && e.buf[i-1] != ' ' {
		i--
	}
	e.buf = e.buf[:i]
}

// Line is the line being edited (or just ended). Borrowed until the next Key.
func (e *LineEditor) Line() []byte { return e.buf }

// Reset starts a new line.
func (e *LineEditor) Reset() {
	e.buf = e.buf[:0]
	e.Marked, e.Started, e.Cut = false, false, false
}
