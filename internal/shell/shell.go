// Package shell reads a command line the way a POSIX shell splits it into
// words (POSIX.1-2017 XCU 2.2 quoting, 2.3 token recognition), so that rules
// can match what a command does rather than how it was spelled: quotes,
// backslashes, doubled slashes and extra blanks do not hide "/etc/shadow".
//
// It does not expand anything (variables, globs, command substitution stay
// as written) and it never runs anything.
package shell

import (
	"path"
	"strings"
)

// MaxWords bounds the words kept of one line.
const MaxWords = 256

// operators are the control and redirection operators, longest first.
var operators = []string{"&&", "||", ";;", ">>", "<<", "<&", ">&", "<>", ">|", ";", "&", "|", "(", ")", "<", ">"}

// Words splits line into words and operators. Quotes are removed as the
// shell removes them; $(...) and `...` are kept whole within their word. An
// unterminated quote ends the line (the shell would ask for more).
func Words(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	emit := func() {
		if inWord && len(words) < MaxWords {
			words = append(words, cur.String())
		}
		cur.Reset()
		inWord = false
	}
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			emit()
			i++
		case c == '#' && !inWord:
			i = len(line) // a comment runs to the end of the line
		case c == '\\':
			inWord = true
			if i+1 < len(line) {
				if line[i+1] != '\n' {
					cur.WriteByte(line[i+1])
				}
				i += 2
			} else {
				i++
			}
		case c == '\'':
			inWord = true
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				cur.WriteString(line[i+1:])
				i = len(line)
			} else {
				cur.WriteString(line[i+1 : i+1+end])
				i += end + 2
			}
		case c == '"':
			inWord = true
			i++
			for i < len(line) && line[i] != '"' {
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte("$`\"\\\n", line[i+1]) >= 0 {
					if line[i+1] != '\n' {
						cur.WriteByte(line[i+1])
					}
					i += 2
					continue
				}
				cur.WriteByte(line[i])
				i++
			}
			i++ // the closing quote
		case c == '$' && i+1 < len(line) && line[i+1] == '(' || c == '`':
			inWord = true
			n := substitution(line[i:])
			cur.WriteString(line[i : i+n])
			i += n
		default:
			if op := operatorAt(line[i:]); op != "" {
				// A redirection's file descriptor ("2>") stays with the operator.
				emit()
				if len(words) < MaxWords {
					words = append(words, op)
				}
				i += len(op)
				continue
			}
			inWord = true
			cur.WriteByte(c)
			i++
		}
	}
	emit()
	return words
}

func operatorAt(s string) string {
	for _, op := range operators {
		if strings.HasPrefix(s, op) {
			return op
		}
	}
	return ""
}

// substitution returns the length of the $(...) or `...` at the start of s
// (all of s when it does not end).
func substitution(s string) int {
	if s[0] == '`' {
		if end := strings.IndexByte(s[1:], '`'); end >= 0 {
			return end + 2
		}
		return len(s)
	}
	depth := 0
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// IsOperator reports whether a word is a control or redirection operator.
func IsOperator(w string) bool {
	for _, op := range operators {
		if w == op {
			return true
		}
	}
	return false
}

// Normalize turns words into one canonical line: single blanks, and words
// that are paths cleaned ("/etc//shadow", "/etc/./shadow" -> "/etc/shadow").
func Normalize(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if strings.Contains(w, "/") && !strings.Contains(w, "://") && !strings.ContainsAny(w, "$`") {
			c := path.Clean(w)
			if strings.HasSuffix(w, "/") && c != "/" {
				c += "/"
			}
			w = c
		}
		out[i] = w
	}
	return strings.Join(out, " ")
}

// Programs returns the program of each simple command in words: the first
// word after the start or a control operator (; & && || | ( ), skipping
// variable assignments (FOO=bar cmd) — as a base name ("/bin/cat" -> "cat").
func Programs(words []string) []string {
	var out []string
	start := true
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch w {
		case ";", "&", "&&", "||", "|", "(", ")", ";;":
			start = true
			continue
		case "<", ">", ">>", "<<", "<&", ">&", "<>", ">|":
			i++ // the redirection's target
			continue
		}
		if !start {
			continue
		}
		if eq := strings.IndexByte(w, '='); eq > 0 && !strings.ContainsAny(w[:eq], "/ ") {
			continue // an assignment before the command
		}
		out = append(out, path.Base(w))
		start = false
	}
	return out
}
