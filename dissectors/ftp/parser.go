package ftp

import (
	"bytes"
	"net/netip"
	"strconv"
)

// MaxLine caps one command or reply line (RFC 959 sets no limit; real ones
// are under 1 KiB). A longer line is cut (anomaly ftp.line_too_long).
const MaxLine = 8192

// ParseCommand splits a command line (without CR LF) into its verb, in
// upper case, and its argument (RFC 959 section 5.3). ok is false when the
// verb is not 3-4 letters (possibly prefixed by X, as XPWD).
func ParseCommand(line []byte) (verb string, arg []byte, ok bool) {
	line = bytes.TrimRight(line, "\r\n")
	v := line
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		v, arg = line[:i], line[i+1:]
	}
	if len(v) < 3 || len(v) > 4 {
		return "", nil, false
	}
	var up [4]byte
	for i, c := range v {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < 'A' || c > 'Z' {
			return "", nil, false
		}
		up[i] = c
	}
	return knownVerb(up[:len(v)]), arg, true
}

// verbs interned, so that common commands cost no allocation.
var verbs = map[string]string{}

func init() {
	for _, v := range []string{"USER", "PASS", "ACCT", "CWD", "CDUP", "SMNT", "QUIT", "REIN", "PORT", "PASV",
		"TYPE", "STRU", "MODE", "RETR", "STOR", "STOU", "APPE", "ALLO", "REST", "RNFR", "RNTO", "ABOR", "DELE",
		"RMD", "MKD", "PWD", "LIST", "NLST", "SITE", "SYST", "STAT", "HELP", "NOOP", "FEAT", "OPTS", "AUTH",
		"PBSZ", "PROT", "EPRT", "EPSV", "SIZE", "MDTM", "MLST", "MLSD", "HOST", "LANG", "XPWD", "XCWD", "XMKD",
		"XRMD", "CCC", "ADAT", "MIC", "CONF", "ENC"} {
		verbs[v] = v
	}
}

func knownVerb(b []byte) string {
	if v, ok := verbs[string(b)]; ok {
		return v
	}
	return string(b)
}

// ParseReplyLine reads one reply line (RFC 959 section 4.2): code is the
// three-digit code; more is true for "ddd-" (a multi-line reply continues);
// ok is false when the line does not start with a code (inside a multi-line
// reply such lines are text).
func ParseReplyLine(line []byte) (code int, more, ok bool) {
	if len(line) < 3 {
		return 0, false, false
	}
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	if line[0] < '1' || line[0] > '5' {
		return 0, false, false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, true
	}
	switch line[3] {
	case '-':
		return code, true, true
	case ' ', '\r', '\n':
		return code, false, true
	}
	return 0, false, false
}

// ParseHostPort reads "h1,h2,h3,h4,p1,p2" (RFC 959 PORT argument and
// 227 reply).
func ParseHostPort(b []byte) (netip.AddrPort, bool) {
	var n [6]int
	k := 0
	have := false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			if n[k] = n[k]*10 + int(c-'0'); n[k] > 255 {
				return netip.AddrPort{}, false
			}
			have = true
		case c == ',' && have && k < 5:
			k++
			have = false
		case c == ' ' && !have:
		default:
			return netip.AddrPort{}, false
		}
	}
	if k != 5 || !have {
		return netip.AddrPort{}, false
	}
	a := netip.AddrFrom4([4]byte{byte(n[0]), byte(n[1]), byte(n[2]), byte(n[3])})
	return netip.AddrPortFrom(a, uint16(n[4]<<8|n[5])), true
}

// Parse227 finds the address in a "227 Entering Passive Mode (h1,...,p2)."
// reply text; the parentheses are customary, not required.
func Parse227(text []byte) (netip.AddrPort, bool) {
	if i := bytes.IndexByte(text, '('); i >= 0 {
		if j := bytes.IndexByte(text[i:], ')'); j > 0 {
			return ParseHostPort(text[i+1 : i+j])
		}
	}
	// No parentheses: the first run of digits and commas.
	for i := 0; i < len(text); i++ {
		if text[i] >= '0' && text[i] <= '9' {
			j := i
			for j < len(text) && (text[j] >= '0' && text[j] <= '9' || text[j] == ',') {
				j++
			}
			if ap, ok := ParseHostPort(text[i:j]); ok {
				return ap, true
			}
			i = j
		}
	}
	return netip.AddrPort{}, false
}

// Parse229 reads the port of "229 Entering Extended Passive Mode (|||6446|)"
// (RFC 2428 section 3): the delimiter is the first character after "(".
func Parse229(text []byte) (uint16, bool) {
	i := bytes.IndexByte(text, '(')
	if i < 0 || len(text) < i+6 {
		return 0, false
	}
	f := text[i+1:]
	d := f[0]
	if d < 33 || d > 126 || f[1] != d || f[2] != d {
		return 0, false
	}
	f = f[3:]
	j := bytes.IndexByte(f, d)
	if j <= 0 {
		return 0, false
	}
	p, err := strconv.ParseUint(string(f[:j]), 10, 16)
	if err != nil || p == 0 {
		return 0, false
	}
	return uint16(p), true
}

// ParseEPRT reads "|1|132.235.1.2|6275|" or "|2|1080::8:800:200C:417A|5282|"
// (RFC 2428 section 2).
func ParseEPRT(arg []byte) (netip.AddrPort, bool) {
	if len(arg) < 7 {
		return netip.AddrPort{}, false
	}
	d := arg[0]
	parts := bytes.Split(arg[1:], []byte{d})
	if len(parts) != 4 || len(parts[3]) != 0 {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(string(parts[1]))
	if err != nil || (string(parts[0]) == "1") != a.Is4() {
		return netip.AddrPort{}, false
	}
	p, err := strconv.ParseUint(string(parts[2]), 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, uint16(p)), true
}

// lines splits a stream into lines ending in LF, with a cap; it keeps the
// unfinished line across Feed calls.
type lines struct {
	buf []byte
	cut bool // the current line went past MaxLine
	Cut bool // any line did
}

// next returns the next complete line (without CR LF) from data, and the
// rest. A borrowed slice; nil when data ended without LF.
func (l *lines) next(data []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(data, '\n')
	if i < 0 {
		room := MaxLine - len(l.buf)
		if len(data) > room {
			data = data[:max(room, 0)]
			l.cut, l.Cut = true, true
		}
		l.buf = append(l.buf, data...)
		return nil, nil, false
	}
	rest = data[i+1:]
	part := data[:i]
	if len(l.buf) == 0 && !l.cut {
		if len(part) > MaxLine {
			part = part[:MaxLine]
			l.Cut = true
		}
		line = part
	} else {
		room := MaxLine - len(l.buf)
		if len(part) > room {
			part = part[:max(room, 0)]
			l.Cut = true
		}
		l.buf = append(l.buf, part...)
		line = l.buf
		l.buf = l.buf[:0]
		l.cut = false
	}
	return bytes.TrimRight(line, "\r"), rest, true
}
