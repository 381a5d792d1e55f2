// Package ssh recognises and parses the SSH protocol (RFC 4250-4254).
//
// Detection follows RFC 4253 §4.2: each side starts with an identification
// line "SSH-protoversion-softwareversion SP comments CR LF"; the server (only)
// may send other lines first. Lines are at most 255 bytes.
package ssh

import "bytes"

// maxLine is RFC 4253 §4.2's limit on the identification line, CR LF included.
const maxLine = 255

// maxPreBanner bounds the lines a server may send before its identification.
const maxPreBanner = 4096

// bannerState classifies the first bytes one endpoint sent.
type bannerState uint8

const (
	bannerNeedMore bannerState = iota
	bannerFound                // an "SSH-x.y-" line, at the start or after pre-banner lines
	bannerNotSSH
)

// scanBanner looks for the identification line. allowPre permits lines before
// it (the server side). It returns where the line starts and ends (after LF).
func scanBanner(b []byte, allowPre bool) (st bannerState, start, end int, pre bool) {
	off := 0
	for off < len(b) {
		line := b[off:]
		if ok, short := hasSSHPrefix(line); ok {
			if short {
				return bannerNeedMore, off, 0, off > 0
			}
			i := bytes.IndexByte(line, '\n')
			if i < 0 {
				if len(line) > maxLine*4 {
					return bannerNotSSH, 0, 0, false
				}
				return bannerNeedMore, off, 0, off > 0
			}
			return bannerFound, off, off + i + 1, off > 0
		}
		if !allowPre {
			return bannerNotSSH, 0, 0, false
		}
		if !printableLine(line) {
			return bannerNotSSH, 0, 0, false
		}
		i := bytes.IndexByte(line, '\n')
		if i < 0 {
			if off+len(line) > maxPreBanner {
				return bannerNotSSH, 0, 0, false
			}
			return bannerNeedMore, 0, 0, off > 0
		}
		off += i + 1
		if off > maxPreBanner {
			return bannerNotSSH, 0, 0, false
		}
	}
	return bannerNeedMore, 0, 0, off > 0
}

// hasSSHPrefix checks "SSH-" followed by a version digit and a dot.
func hasSSHPrefix(b []byte) (match, short bool) {
	const p = "SSH-"
	for i := 0; i < len(p); i++ {
		if i >= len(b) {
			return true, true
		}
		if b[i] != p[i] {
			return false, false
		}
	}
	if len(b) < 6 {
		if len(b) == 5 && (b[4] < '0' || b[4] > '9') {
			return false, false
		}
		return true, true
	}
	return b[4] >= '0' && b[4] <= '9' && b[5] == '.', false
}

// Banner is a parsed identification line (RFC 4253 §4.2).
type Banner struct {
	Line     string // without CR LF
	Proto    string // "2.0", "1.99", "1.5"
	Software string
	Comments string
}

// ParseBanner splits an identification line (CR LF optional).
func ParseBanner(line []byte) Banner {
	line = bytes.TrimRight(line, "\r\n")
	// Some implementations pad the line with NULs (seen in Suricata's
	// bug-4903 captures); they are not part of the identification.
	line = bytes.TrimRight(line, "\x00 ")
	b := Banner{Line: string(line)}
	rest := line[4:] // after "SSH-"
	i := bytes.IndexByte(rest, '-')
	if i < 0 {
		b.Proto = string(rest)
		return b
	}
	b.Proto = string(rest[:i])
	sw := rest[i+1:]
	if j := bytes.IndexByte(sw, ' '); j >= 0 {
		b.Comments = string(sw[j+1:])
		sw = sw[:j]
	}
	b.Software = string(sw)
	return b
}

// Version returns 2 for "2.0" and "1.99" (a server that speaks both, RFC 4253
// §5.1), 1 for other "1.x", 0 when unknown.
func (b Banner) Version() int {
	switch {
	case b.Proto == "2.0" || b.Proto == "1.99":
		return 2
	case len(b.Proto) >= 2 && b.Proto[0] == '1' && b.Proto[1] == '.':
		return 1
	}
	return 0
}

// printableLine reports whether the line up to its LF (or the end) is text:
// pre-banner lines are human-readable messages, so a control byte means this
// is some other protocol (HTTP bodies, TLS, ...).
func printableLine(b []byte) bool {
	for _, c := range b {
		if c == '\n' {
			return true
		}
		if c < 0x20 && c != '\t' && c != '\r' || c == 0x7f {
			return false
		}
	}
	return true
}
