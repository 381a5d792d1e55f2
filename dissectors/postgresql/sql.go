package postgresql

import (
	"bytes"
	"strings"
)

// SplitStatements cuts a Simple Query string into its statements, as the
// server does: at semicolons outside quotes ('...', E'...', "..."), dollar
// quotes ($tag$...$tag$) and comments (-- and nested /* */). Pieces with
// nothing but blanks and comments are dropped; each statement is returned
// trimmed, without its semicolon. f is called once per statement, in order,
// with a slice of q.
func SplitStatements(q []byte, f func(stmt []byte)) {
	start := 0
	emit := func(end int) {
		s := bytes.TrimSpace(q[start:end])
		if len(s) > 0 && !onlyComments(s) {
			f(s)
		}
	}
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ';':
			emit(i)
			i++
			start = i
		case c == '\'':
			// E'...' allows backslash escapes; a standard string only ''.
			esc := i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i < 2 || !isIdent(q[i-2]))
			i = skipQuoted(q, i+1, '\'', esc)
		case c == '"':
			i = skipQuoted(q, i+1, '"', false)
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			i = skipBlockComment(q, i)
		case c == '$' && (i == 0 || !isIdent(q[i-1])):
			if tag, ok := dollarTag(q[i:]); ok {
				end := bytes.Index(q[i+len(tag):], tag)
				if end < 0 {
					i = len(q)
				} else {
					i += 2*len(tag) + end
				}
			} else {
				i++
			}
		default:
			i++
		}
	}
	emit(len(q))
}

func isIdent(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// skipQuoted returns the index after the closing quote (a doubled quote is
// part of the string).
func skipQuoted(q []byte, i int, quote byte, backslash bool) int {
	for i < len(q) {
		switch q[i] {
		case '\\':
			if backslash {
				i += 2
				continue
			}
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(q)
}

func skipBlockComment(q []byte, i int) int {
	depth := 0
	for i < len(q) {
		if q[i] == '/' && i+1 < len(q) && q[i+1] == '*' {
			depth++
			i += 2
			continue
		}
		if q[i] == '*' && i+1 < len(q) && q[i+1] == '/' {
			depth--
			i += 2
			if depth == 0 {
				return i
			}
			continue
		}
		i++
	}
	return len(q)
}

// dollarTag reads "$tag$" or "$$" at the start of b.
func dollarTag(b []byte) ([]byte, bool) {
	for j := 1; j < len(b) && j < 64; j++ {
		if b[j] == '$' {
			return b[:j+1], true
		}
		if !isIdent(b[j]) || (j == 1 && b[j] >= '0' && b[j] <= '9') {
			return nil, false
		}
	}
	return nil, false
}

// skipBlanks skips white space and comments.
func skipBlanks(s []byte) []byte {
	for len(s) > 0 {
		switch {
		case s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' || s[0] == '\f':
			s = s[1:]
		case len(s) > 1 && s[0] == '-' && s[1] == '-':
			i := bytes.IndexByte(s, '\n')
			if i < 0 {
				return nil
			}
			s = s[i+1:]
		case len(s) > 1 && s[0] == '/' && s[1] == '*':
			s = s[skipBlockComment(s, 0):]
		default:
			return s
		}
	}
	return s
}

func onlyComments(s []byte) bool { return len(skipBlanks(s)) == 0 }

// Operation is a statement's first keyword, upper case (db.operation.name):
// SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, GRANT, COPY, WITH... Empty
// when the statement does not start with a word.
func Operation(stmt []byte) string {
	s := skipBlanks(stmt)
	for len(s) > 0 && s[0] == '(' { // (SELECT ...) UNION ...
		s = skipBlanks(s[1:])
	}
	n := 0
	for n < len(s) && n < 32 && (s[n] >= 'a' && s[n] <= 'z' || s[n] >= 'A' && s[n] <= 'Z' || s[n] == '_') {
		n++
	}
	if n == 0 {
		return ""
	}
	return strings.ToUpper(string(s[:n]))
}

// MaskPasswords hides the literal after a PASSWORD keyword (CREATE ROLE /
// ALTER ROLE / ALTER USER ... PASSWORD '...'), so that a password set in SQL
// is masked like every other one. It returns s itself when there is none,
// and whether it masked anything.
func MaskPasswords(s string) (string, bool) {
	lower := strings.ToLower(s)
	if !strings.Contains(lower, "password") {
		return s, false
	}
	var b strings.Builder
	masked := false
	last := 0
	for i := 0; ; {
		j := strings.Index(lower[i:], "password")
		if j < 0 {
			break
		}
		k := i + j + len("password")
		if i+j > 0 && isIdent(lower[i+j-1]) || k < len(s) && isIdent(s[k]) {
			i = k
			continue
		}
		p := k
		for p < len(s) && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r') {
			p++
		}
		lit := p // where the literal starts, its E prefix included
		if p < len(s) && (s[p] == 'E' || s[p] == 'e') && p+1 < len(s) && s[p+1] == '\'' {
			p++
		}
		if p >= len(s) || s[p] != '\'' && s[p] != '$' {
			i = k
			continue
		}
		var end int
		if s[p] == '\'' {
			end = skipQuoted([]byte(s), p+1, '\'', p > 0 && (s[p-1] == 'E' || s[p-1] == 'e'))
		} else {
			tag, ok := dollarTag([]byte(s[p:]))
			if !ok {
				i = k
				continue
			}
			e := strings.Index(s[p+len(tag):], string(tag))
			if e < 0 {
				end = len(s)
			} else {
				end = p + 2*len(tag) + e
			}
		}
		b.WriteString(s[last:lit])
		b.WriteString("'" + Mask + "'")
		last, i, masked = end, end, true
	}
	if !masked {
		return s, false
	}
	b.WriteString(s[last:])
	return b.String(), true
}

// Mask replaces a password.
const Mask = "****"

// queryText bounds a statement to n bytes (not splitting a UTF-8
// sequence); control bytes other than tab and line ends become '?'.
func queryText(b []byte, n int) string {
	cut := len(b) > n
	if cut {
		b = b[:n]
		for k := 0; k < 3 && len(b) > 0 && b[len(b)-1]&0xC0 == 0x80; k++ {
			b = b[:len(b)-1]
		}
		if len(b) > 0 && b[len(b)-1] >= 0xC0 {
			b = b[:len(b)-1]
		}
	}
	clean := true
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			clean = false
			break
		}
	}
	s := string(b)
	if !clean {
		out := []byte(s)
		for i, c := range out {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				out[i] = '?'
			}
		}
		s = string(out)
	}
	if cut {
		s += "..."
	}
	return s
}
