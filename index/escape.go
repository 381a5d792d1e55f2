package index

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape makes text fit to print on a terminal: control characters (C0, DEL
// and C1, so no escape sequence reaches the terminal), other characters that
// are not printable (bidirectional overrides, zero-width and format
// characters, unassigned code points) and bytes that are not UTF-8 are
// written as Go escapes (\x1b, \u202e); a backslash is doubled so that an
// escape in the output always means an escape. Everything shown to a person
// that may have come from the network goes through it.
func Escape(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || r == '\\' || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Cut shortens s to at most n runes, the last one an ellipsis, never in the
// middle of a character.
func Cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
