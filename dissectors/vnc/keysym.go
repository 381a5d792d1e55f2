package vnc

import (
	"strings"
	"unicode"
)

// KeyEvent carries X11 keysyms (RFC 6143 7.5.4; X Window System Protocol,
// appendix A). X clients send the keysym a key makes with Shift applied
// ("A", "!"), so Shift needs no tracking for text; Control, Alt, Meta and
// Super do, to name chords such as <Ctrl-c>.

// Keysyms this package names.
const (
	ksBackSpace   = 0xff08
	ksTab         = 0xff09
	ksReturn      = 0xff0d
	ksEscape      = 0xff1b
	ksDelete      = 0xffff
	ksKPEnter     = 0xff8d
	ksISOLeftTab  = 0xfe20
	ksShiftL      = 0xffe1
	ksShiftR      = 0xffe2
	ksControlL    = 0xffe3
	ksControlR    = 0xffe4
	ksMetaL       = 0xffe7
	ksMetaR       = 0xffe8
	ksAltL        = 0xffe9
	ksAltR        = 0xffea
	ksSuperL      = 0xffeb
	ksSuperR      = 0xffec
	ksF1          = 0xffbe
	ksF35         = 0xffe0
	ksUnicodeBase = 0x01000000
)

var keyNames = map[uint32]string{
	ksBackSpace: "BackSpace", ksTab: "Tab", ksReturn: "Return", ksEscape: "Escape", ksDelete: "Delete",
	ksKPEnter: "KP_Enter", ksISOLeftTab: "Tab", 0xff50: "Home", 0xff51: "Left", 0xff52: "Up", 0xff53: "Right",
	0xff54: "Down", 0xff55: "PageUp", 0xff56: "PageDown", 0xff57: "End", 0xff58: "Begin", 0xff63: "Insert",
	0xff61: "Print", 0xff13: "Pause", 0xff14: "Scroll_Lock", 0xff15: "Sys_Req", 0xff6b: "Break",
	0xff67: "Menu", 0xff6a: "Help", 0xff7f: "Num_Lock", 0xffe5: "Caps_Lock", 0xff0b: "Clear", 0xff0a: "Linefeed",
	0xff95: "KP_Home", 0xff96: "KP_Left", 0xff97: "KP_Up", 0xff98: "KP_Right", 0xff99: "KP_Down",
	0xff9a: "KP_PageUp", 0xff9b: "KP_PageDown", 0xff9c: "KP_End", 0xff9e: "KP_Insert", 0xff9f: "KP_Delete",
}

// Keypad keys that type a character.
var keypadChars = map[uint32]rune{
	0xff80: ' ', 0xff89: '\t', 0xffaa: '*', 0xffab: '+', 0xffac: ',', 0xffad: '-', 0xffae: '.', 0xffaf: '/',
	0xffbd: '=',
}

func isModifier(ks uint32) bool {
	return ks >= ksShiftL && ks <= 0xffee || ks == 0xfe03 || ks == 0xff7e // ...Hyper_R, ISO_Level3_Shift, Mode_switch
}

// KeysymRune is the character a keysym types, or -1.
func KeysymRune(ks uint32) rune {
	switch {
	case ks >= 0x20 && ks <= 0x7e, ks >= 0xa0 && ks <= 0xff:
		return rune(ks) // Latin-1: keysym = code point
	case ks >= ksUnicodeBase+0xa0 && ks <= ksUnicodeBase+0x10ffff:
		r := rune(ks - ksUnicodeBase)
		if unicode.IsPrint(r) {
			return r
		}
	case ks >= 0xffb0 && ks <= 0xffb9:
		return rune('0' + ks - 0xffb0) // KP_0..KP_9
	}
	if r, ok := keypadChars[ks]; ok {
		return r
	}
	return -1
}

// KeysymName names a non-character key ("Return", "F5", "Up"), or "" for
// one this package does not know.
func KeysymName(ks uint32) string {
	if n, ok := keyNames[ks]; ok {
		return n
	}
	if ks >= ksF1 && ks <= ksF35 {
		return "F" + itoa(int(ks-ksF1)+1)
	}
	if ks >= 0xfe50 && ks <= 0xfe8f {
		return "" // dead keys: the next key gives the character
	}
	return ""
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// Typing bounds.
const (
	maxLineTokens = 4096     // keys in one line before Return
	maxTranscript = 64 << 10 // bytes of vnc.keys.text
	maxCommands   = 10000
)

// typist turns key events into text: a transcript of every key, and the
// lines typed up to a Return with BackSpace applied.
type typist struct {
	ctrl, alt, meta, super, shift int8 // keys held (left and right)
	line                          []string
	transcript                    strings.Builder
	transcriptCut                 bool
	presses                       int
}

// key handles one KeyEvent. It returns the text the key typed (a
// character or a <Name> marker, "" for modifiers and key releases) and the
// line a Return ended, with ended true then.
func (t *typist) key(down bool, ks uint32) (typed, line string, ended bool) {
	if isModifier(ks) {
		d := int8(-1)
		if down {
			d = 1
		}
		switch ks {
		case ksControlL, ksControlR:
			t.ctrl = clampHeld(t.ctrl + d)
		case ksAltL, ksAltR:
			t.alt = clampHeld(t.alt + d)
		case ksMetaL, ksMetaR:
			t.meta = clampHeld(t.meta + d)
		case ksSuperL, ksSuperR:
			t.super = clampHeld(t.super + d)
		case ksShiftL, ksShiftR:
			t.shift = clampHeld(t.shift + d)
		}
		return "", "", false
	}
	if !down {
		return "", "", false
	}
	t.presses++
	chord := t.chord()
	r := KeysymRune(ks)
	switch {
	case r >= 0 && chord == "":
		typed = string(r)
		t.push(typed)
	case r >= 0:
		if r < 0x80 && unicode.IsUpper(r) && t.shift == 0 {
			r = unicode.ToLower(r) // Ctrl+C with Caps Lock: still Ctrl-c
		}
		typed = "<" + chord + string(r) + ">"
		switch typed {
		case "<Ctrl-c>", "<Ctrl-u>":
			// As at a terminal: Ctrl-C abandons the line, Ctrl-U erases it
			// (the transcript keeps the key).
			t.line = t.line[:0]
		default:
			t.push(typed)
		}
	case (ks == ksReturn || ks == ksKPEnter) && chord == "":
		line, ended = strings.Join(t.line, ""), true
		t.line = t.line[:0]
		t.write("\n")
		return "<Return>", line, true
	case ks == ksBackSpace && chord == "":
		if len(t.line) > 0 {
			t.line = t.line[:len(t.line)-1]
		}
		typed = "<BackSpace>"
	default:
		name := KeysymName(ks)
		if name == "" {
			return "", "", false
		}
		if t.shift > 0 && ks != ksISOLeftTab {
			chord = "Shift-" + chord
		} else if ks == ksISOLeftTab {
			chord += "Shift-"
		}
		typed = "<" + chord + name + ">"
		t.push(typed)
	}
	t.write(typed)
	return typed, "", false
}

func clampHeld(n int8) int8 { return max(0, min(n, 2)) }

// chord is the "Ctrl-Alt-" prefix of the modifiers held.
func (t *typist) chord() string {
	var p string
	if t.ctrl > 0 {
		p += "Ctrl-"
	}
	if t.alt > 0 {
		p += "Alt-"
	}
	if t.meta > 0 {
		p += "Meta-"
	}
	if t.super > 0 {
		p += "Super-"
	}
	return p
}

func (t *typist) push(tok string) {
	if len(t.line) < maxLineTokens {
		t.line = append(t.line, tok)
	}
}

func (t *typist) write(s string) {
	if t.transcript.Len()+len(s) > maxTranscript {
		t.transcriptCut = true
		return
	}
	t.transcript.WriteString(s)
}

// gapMark stands in a line and the transcript for keys the capture lost.
const gapMark = "<gap>"

// gap notes that keys may have been lost here: once per hole in the line
// being typed and the transcript. It returns what to show on a time line.
func (t *typist) gap() string {
	if n := len(t.line); n > 0 && t.line[n-1] == gapMark {
		return ""
	}
	t.push(gapMark)
	t.write(gapMark)
	return gapMark
}

// pending is the line typed since the last Return.
func (t *typist) pending() string { return strings.Join(t.line, "") }
