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

// ProbeClientOpening is the probe of protocols whose client opens with a
// handshake that alone identifies them (rlogin, rsh, ...): opening reports
// whether b holds a complete handshake, or could still become one. The
// endpoint that sent it is the client; with the TCP handshake seen, only
// that client is looked at.
func ProbeClientOpening(in *ProbeInput, opening func(b []byte) (complete, possible bool)) ProbeResult {
	var possible [2]bool
	for i := 0; i < 2; i++ {
		if in.Client != Unknown && in.Client != i {
			continue // only the client opens with the handshake
		}
		complete, ok := opening(in.Data[i])
		if complete {
			return ProbeResult{Verdict: Match, Client: i}
		}
		possible[i] = ok && !in.Done[i]
	}
	if !possible[0] && !possible[1] {
		return ProbeResult{Verdict: NoMatch}
	}
	return ProbeResult{Verdict: NeedMore}
}
