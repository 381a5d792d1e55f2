package dissectors

// Helpers shared by the protocol probes.

// Other returns the other endpoint index.
func Other(i int) int { return 1 - i }

// HasPrefixFold reports whether b starts with the ASCII string p, ignoring case.
// When b is shorter than p it compares what there is and reports short=true.
func HasPrefixFold(b []byte, p string) (match, short bool) {
	n := len(p)
	if len(b) < n {
		n = len(b)
	}
	for i := 0; i < n; i++ {
		c := b[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		q := p[i]
		if 'a' <= q && q <= 'z' {
			q -= 'a' - 'A'
		}
		if c != q {
			return false, false
		}
	}
	return true, len(b) < len(p)
}

// LineEnd returns the index of the first '\n' in b, or -1.
func LineEnd(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i
		}
	}
	return -1
}
