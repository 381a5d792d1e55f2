// Package proxy recognises the handshakes of the proxies that carry
// privileged sessions inside one TCP connection: SOCKS 4 and 4a (the
// SOCKS 4 protocol note and its 4A extension), SOCKS 5 (RFC 1928, with
// RFC 1929 user name / password authentication) and HTTP CONNECT
// (RFC 9110 §9.3.6). When the client's request and the proxy's acceptance
// are both seen, the engine takes the handshake off the stream and detects
// the session that follows (SSH through ssh -o ProxyCommand or ssh -D, Telnet
// through a SOCKS wrapper, jump hosts, corporate HTTP proxies).
//
// The session record then says psm.proxy.type and psm.proxy.target (the
// host and port the client asked for); the destination stays the proxy, the
// only address the capture shows. A refused request carries no session and
// is not claimed.
package proxy

import (
	"bytes"
	"net/netip"
	"strconv"
)

// Proxy types (psm.proxy.type).
const (
	TypeSOCKS4  = "socks4"
	TypeSOCKS4a = "socks4a"
	TypeSOCKS5  = "socks5"
	TypeHTTP    = "http_connect"
)

// state of one side's handshake.
type state uint8

const (
	needMore state = iota
	complete
	invalid
)

// Request is what the client asked the proxy for.
type Request struct {
	Type string
	Host string // an address or a domain name
	Port uint16
	User string // SOCKS 4 user id or SOCKS 5 user name (never a password)
	Len  int    // bytes of the client's handshake
}

// Target is "host:port" ("[v6]:port" for an IPv6 address).
func (r *Request) Target() string {
	if a, err := netip.ParseAddr(r.Host); err == nil && a.Is6() {
		return "[" + r.Host + "]:" + strconv.Itoa(int(r.Port))
	}
	return r.Host + ":" + strconv.Itoa(int(r.Port))
}

// Limits: real handshakes are far shorter; longer is not a handshake we trust.
const (
	maxField   = 255  // SOCKS 4 user id or host name
	maxHeaders = 4096 // HTTP request or response head
)

// ParseClient parses the client's side of a handshake. The SOCKS 5 client
// sends its user name and password only when the proxy chose method 2; the
// method the proxy chose is passed in (-1 when not seen yet).
func ParseClient(b []byte, method int) (Request, state) {
	if len(b) == 0 {
		return Request{}, needMore
	}
	switch b[0] {
	case 4:
		return socks4Request(b)
	case 5:
		return socks5Request(b, method)
	case 'C', 'c':
		return connectRequest(b)
	}
	return Request{}, invalid
}

// socks4Request: VN=4 CD=1 DSTPORT(2) DSTIP(4) USERID NUL, and for 4A (DSTIP
// 0.0.0.x, x != 0) the host name NUL after it.
func socks4Request(b []byte) (Request, state) {
	if len(b) >= 2 && b[1] != 1 {
		return Request{}, invalid // BIND (2) or garbage: no session inside
	}
	if len(b) < 9 {
		return Request{}, needMore
	}
	r := Request{Type: TypeSOCKS4, Port: uint16(b[2])<<8 | uint16(b[3])}
	ip := b[4:8]
	user, n, st := nulString(b[8:])
	if st != complete {
		return Request{}, st
	}
	r.User, r.Len = user, 8+n
	if ip[0] == 0 && ip[1] == 0 && ip[2] == 0 && ip[3] != 0 {
		host, m, st := nulString(b[r.Len:])
		if st != complete {
			return Request{}, st
		}
		if !hostName(host) {
			return Request{}, invalid
		}
		r.Type, r.Host, r.Len = TypeSOCKS4a, host, r.Len+m
	} else {
		r.Host = netip.AddrFrom4([4]byte(ip)).String()
	}
	if r.Port == 0 {
		return Request{}, invalid
	}
	return r, complete
}

// nulString reads printable bytes up to a NUL; n counts the NUL.
func nulString(b []byte) (s string, n int, st state) {
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), i + 1, complete
		}
		if i >= maxField || c < 0x20 || c > 0x7e {
			return "", 0, invalid
		}
	}
	return "", 0, needMore
}

// socks5Request: the greeting VER NMETHODS METHODS (RFC 1928 §3), the
// user name / password sub-negotiation when method 2 was chosen (RFC 1929
// §2), then VER CMD=1 RSV=0 ATYP DST.ADDR DST.PORT (RFC 1928 §4).
func socks5Request(b []byte, method int) (Request, state) {
	if len(b) < 2 {
		return Request{}, needMore
	}
	nm := int(b[1])
	if nm == 0 {
		return Request{}, invalid
	}
	if len(b) < 2+nm {
		return Request{}, needMore
	}
	for _, m := range b[2 : 2+nm] {
		if m > 0x09 && m < 0x80 || m == 0xff {
			return Request{}, invalid // unassigned method codes: not a greeting
		}
	}
	r := Request{Type: TypeSOCKS5}
	off := 2 + nm
	if off == len(b) {
		return Request{}, needMore
	}
	if b[off] == 1 {
		// RFC 1929 VER=1 ULEN UNAME PLEN PASSWD: only when method 2 was
		// chosen, or, before the proxy's answer, when offered.
		if method != 2 && (method >= 0 || bytes.IndexByte(b[2:2+nm], 2) < 0) {
			return Request{}, invalid
		}
		if len(b) < off+2 {
			return Request{}, needMore
		}
		ul := int(b[off+1])
		if len(b) < off+2+ul+1 {
			return Request{}, needMore
		}
		r.User = printable(b[off+2 : off+2+ul])
		pl := int(b[off+2+ul])
		off += 2 + ul + 1 + pl // the password is skipped, never kept
		if len(b) <= off {
			return Request{}, needMore
		}
	} else if method == 2 {
		return Request{}, invalid
	}
	b = b[off:]
	if b[0] != 5 {
		return Request{}, invalid
	}
	if len(b) >= 2 && b[1] != 1 || len(b) >= 3 && b[2] != 0 {
		return Request{}, invalid // BIND, UDP ASSOCIATE: no session inside
	}
	if len(b) < 5 {
		return Request{}, needMore
	}
	var alen, hdr int
	switch b[3] {
	case 1:
		alen, hdr = 4, 4
	case 4:
		alen, hdr = 16, 4
	case 3:
		alen, hdr = int(b[4]), 5
		if alen == 0 {
			return Request{}, invalid
		}
	default:
		return Request{}, invalid
	}
	if len(b) < hdr+alen+2 {
		return Request{}, needMore
	}
	a := b[hdr : hdr+alen]
	switch b[3] {
	case 1:
		r.Host = netip.AddrFrom4([4]byte(a)).String()
	case 4:
		r.Host = netip.AddrFrom16([16]byte(a)).String()
	default:
		if !hostName(string(a)) {
			return Request{}, invalid
		}
		r.Host = string(a)
	}
	r.Port = uint16(b[hdr+alen])<<8 | uint16(b[hdr+alen+1])
	r.Len = off + hdr + alen + 2
	if r.Port == 0 {
		return Request{}, invalid
	}
	return r, complete
}

// connectRequest: "CONNECT host:port HTTP/1.x" CRLF, headers, CRLF.
func connectRequest(b []byte) (Request, state) {
	const m = "CONNECT "
	n := min(len(b), len(m))
	if !bytes.EqualFold(b[:n], []byte(m[:n])) {
		return Request{}, invalid
	}
	end, st := headEnd(b)
	if st != complete {
		return Request{}, st
	}
	line := b[:bytes.IndexByte(b, '\n')]
	line = bytes.TrimRight(line, "\r")
	parts := bytes.Fields(line)
	if len(parts) != 3 || !bytes.HasPrefix(parts[2], []byte("HTTP/1.")) {
		return Request{}, invalid
	}
	host, port, ok := splitHostPort(string(parts[1]))
	if !ok {
		return Request{}, invalid
	}
	r := Request{Type: TypeHTTP, Host: host, Port: port, Len: end}
	return r, complete
}

// headEnd finds the blank line that ends an HTTP head; every byte before it
// must be text.
func headEnd(b []byte) (int, state) {
	for i, c := range b {
		if i >= maxHeaders {
			return 0, invalid
		}
		if c < 0x20 && c != '\r' && c != '\n' && c != '\t' || c == 0x7f {
			return 0, invalid
		}
		if c == '\n' && i >= 1 {
			if b[i-1] == '\n' {
				return i + 1, complete
			}
			if i >= 2 && b[i-1] == '\r' && b[i-2] == '\n' {
				return i + 1, complete
			}
		}
	}
	return 0, needMore
}

// splitHostPort splits "host:port" and "[v6]:port" (RFC 9110 §9.3.6:
// authority-form); the port is required.
func splitHostPort(s string) (string, uint16, bool) {
	i := bytesLastIndex(s, ':')
	if i <= 0 {
		return "", 0, false
	}
	host, ps := s[:i], s[i+1:]
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return "", 0, false
	}
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		a, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !a.Is6() {
			return "", 0, false
		}
		return a.String(), uint16(p), true
	}
	if !hostName(host) {
		return "", 0, false
	}
	return host, uint16(p), true
}

func bytesLastIndex(s string, c byte) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// hostName accepts a DNS name or an address literal: letters, digits, '-',
// '.', '_' (and ':' for IPv6), at most 255 bytes.
func hostName(s string) bool {
	if s == "" || len(s) > maxField {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		}
	}
	return string(out)
}

// Reply is the proxy's side of a handshake.
type Reply struct {
	OK     bool // the proxy accepted (connected to the target)
	Method int  // SOCKS 5: the authentication method chosen, -1 before
	Len    int  // bytes of the proxy's handshake
}

// ParseReply parses the proxy's side for a request of type typ (the
// client's request decides what the answer looks like). A refusal is
// complete with OK false.
func ParseReply(b []byte, typ string) (Reply, state) {
	r := Reply{Method: -1}
	switch typ {
	case TypeSOCKS4, TypeSOCKS4a:
		// VN=0 CD DSTPORT DSTIP; CD 90 granted, 91-93 refused.
		if len(b) >= 1 && b[0] != 0 || len(b) >= 2 && (b[1] < 90 || b[1] > 93) {
			return r, invalid
		}
		if len(b) < 8 {
			return r, needMore
		}
		r.OK, r.Len = b[1] == 90, 8
		return r, complete
	case TypeSOCKS5:
		return socks5Reply(b)
	case TypeHTTP:
		const m = "HTTP/1."
		n := min(len(b), len(m))
		if string(b[:n]) != m[:n] {
			return r, invalid
		}
		end, st := headEnd(b)
		if st != complete {
			return r, st
		}
		line := b[:bytes.IndexByte(b, '\n')]
		parts := bytes.Fields(line)
		if len(parts) < 2 || len(parts[1]) != 3 {
			return r, invalid
		}
		r.OK, r.Len = parts[1][0] == '2', end
		return r, complete
	}
	return r, invalid
}

// socks5Reply: method selection VER METHOD (§3), the RFC 1929 status VER=1
// STATUS when method 2 was chosen, then VER REP RSV ATYP BND.ADDR BND.PORT
// (§6).
func socks5Reply(b []byte) (Reply, state) {
	r := Reply{Method: -1}
	if len(b) >= 1 && b[0] != 5 {
		return r, invalid
	}
	if len(b) < 2 {
		return r, needMore
	}
	r.Method = int(b[1])
	if r.Method == 0xff {
		r.Len = 2
		return r, complete // no acceptable method: refused
	}
	off := 2
	if r.Method == 2 {
		if len(b) < 4 {
			return r, needMore
		}
		if b[2] != 1 {
			return r, invalid
		}
		if b[3] != 0 {
			r.Len = 4
			return r, complete // authentication failed
		}
		off = 4
	}
	b = b[off:]
	if len(b) >= 1 && b[0] != 5 || len(b) >= 2 && b[1] > 8 || len(b) >= 3 && b[2] != 0 {
		return r, invalid
	}
	if len(b) < 5 {
		return r, needMore
	}
	var n int
	switch b[3] {
	case 1:
		n = 4 + 4 + 2
	case 4:
		n = 4 + 16 + 2
	case 3:
		n = 5 + int(b[4]) + 2
	default:
		return r, invalid
	}
	if len(b) < n {
		return r, needMore
	}
	r.OK, r.Len = b[1] == 0, off+n
	return r, complete
}
