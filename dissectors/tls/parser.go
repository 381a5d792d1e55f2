// Package tls reads the cleartext part of a TLS handshake (RFC 5246 for
// TLS 1.2 and older, RFC 8446 for TLS 1.3): the ClientHello (version, SNI,
// ALPN, cipher suites, extensions, groups, signature algorithms) with its
// JA3 and JA4 fingerprints, the ServerHello with JA3S and the chosen version
// and cipher, and the server certificate when it crosses in clear (TLS 1.2
// and older).
//
// It is a library for the session dissectors that carry TLS (RDP after its
// X.224 negotiation, later others), not a registered top-level dissector:
// TLS on its own is not a privileged session.
//
// Fingerprints: JA3 and JA3S (salesforce/ja3, BSD-3-Clause) and JA4, the TLS
// client fingerprint (FoxIO JA4, BSD-3-Clause). The other JA4+ methods (JA4S,
// JA4X, ...) are under the FoxIO License 1.1 and deliberately absent.
//
// parser.go holds pure functions over bytes; stream.go follows the two
// directions of one connection.
package tls

import (
	"encoding/binary"
	"errors"
)

// Record content types (RFC 8446 §5.1).
const (
	recChangeCipherSpec = 20
	recAlert            = 21
	recHandshake        = 22
	recApplicationData  = 23
)

// Handshake message types (RFC 8446 §4, RFC 5246 §7.4).
const (
	hsClientHello     = 1
	hsServerHello     = 2
	hsCertificate     = 11
	hsServerHelloDone = 14
)

// Extension types (IANA TLS ExtensionType registry).
const (
	extServerName          = 0
	extSupportedGroups     = 10
	extECPointFormats      = 11
	extSignatureAlgorithms = 13
	extALPN                = 16
	extSupportedVersions   = 43
)

// Caps on what one message may hold before it is given up.
const (
	maxRecord     = 16384 + 2048 // TLSCiphertext limit (RFC 8446 §5.2)
	maxHandshake  = 64 << 10     // one handshake message (certificate chains are the big ones)
	maxListItems  = 512          // ciphers, extensions, groups... kept per hello
	maxNameLength = 255          // SNI host name, ALPN protocol
)

// Errors.
var (
	ErrTruncated = errors.New("tls: truncated")
	ErrMalformed = errors.New("tls: malformed")
)

// RecordHeader is the 5-byte TLSPlaintext header (RFC 8446 §5.1).
type RecordHeader struct {
	Type    uint8
	Version uint16
	Length  int
}

// ParseRecordHeader reads a record header; ok is false when b holds fewer
// than 5 bytes. err is set when the bytes cannot be a TLS record.
func ParseRecordHeader(b []byte) (h RecordHeader, ok bool, err error) {
	if len(b) < 5 {
		return h, false, nil
	}
	h = RecordHeader{Type: b[0], Version: binary.BigEndian.Uint16(b[1:3]), Length: int(binary.BigEndian.Uint16(b[3:5]))}
	if h.Type < recChangeCipherSpec || h.Type > 24 || b[1] != 3 && h.Version != 0xfeff && h.Version != 0xfefd || h.Length > maxRecord {
		return h, true, ErrMalformed
	}
	return h, true, nil
}

// LooksLikeTLS reports whether b starts like a TLS handshake record.
func LooksLikeTLS(b []byte) bool {
	return len(b) >= 3 && b[0] == recHandshake && b[1] == 3 && b[2] <= 4
}

// reader is a bounds-checked cursor.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) u8() uint8 {
	if len(r.b) < 1 {
		r.bad = true
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) u16() uint16 {
	if len(r.b) < 2 {
		r.bad = true
		return 0
	}
	v := binary.BigEndian.Uint16(r.b)
	r.b = r.b[2:]
	return v
}

func (r *reader) u24() int {
	if len(r.b) < 3 {
		r.bad = true
		return 0
	}
	v := int(r.b[0])<<16 | int(r.b[1])<<8 | int(r.b[2])
	r.b = r.b[3:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad = true
		r.b = nil
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) vec8() []byte  { return r.bytes(int(r.u8())) }
func (r *reader) vec16() []byte { return r.bytes(int(r.u16())) }
func (r *reader) vec24() []byte { return r.bytes(r.u24()) }

// u16s splits a vector of 16-bit values, up to maxListItems of them.
func u16s(b []byte) []uint16 {
	n := min(len(b)/2, maxListItems)
	if n == 0 {
		return nil
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = binary.BigEndian.Uint16(b[2*i:])
	}
	return out
}

// IsGREASE reports a GREASE value (RFC 8701): 0x0A0A, 0x1A1A, ... 0xFAFA.
func IsGREASE(v uint16) bool { return v&0x0f0f == 0x0a0a && v>>8 == v&0xff }

// Extension is one hello extension, its data borrowed from the message.
type Extension struct {
	Type uint16
	Data []byte
}

// ClientHello is what a ClientHello says (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2).
type ClientHello struct {
	Version           uint16 // legacy_version
	SessionIDLength   int
	CipherSuites      []uint16
	Compression       []uint8
	Extensions        []uint16 // types, in order
	ServerName        string
	ALPN              []string
	SupportedGroups   []uint16
	ECPointFormats    []uint8
	SignatureAlgs     []uint16
	SupportedVersions []uint16
}

// ParseClientHello reads a ClientHello body (after the 4-byte handshake header).
func ParseClientHello(body []byte) (*ClientHello, error) {
	r := &reader{b: body}
	h := &ClientHello{Version: r.u16()}
	r.bytes(32) // random
	sid := r.vec8()
	h.SessionIDLength = len(sid)
	cs := r.vec16()
	comp := r.vec8()
	if r.bad || len(cs)%2 != 0 || len(sid) > 32 {
		return nil, ErrMalformed
	}
	h.CipherSuites = u16s(cs)
	h.Compression = append([]uint8(nil), comp[:min(len(comp), maxListItems)]...)
	if len(r.b) == 0 {
		return h, nil // no extensions (SSL 3.0 style)
	}
	exts := r.vec16()
	if r.bad {
		return nil, ErrMalformed
	}
	return h, eachExtension(exts, &h.Extensions, h.extension)
}

// eachExtension walks an extensions block (RFC 8446 §4.2), noting each type in
// types (capped) and handing its data to fn.
func eachExtension(exts []byte, types *[]uint16, fn func(typ uint16, data []byte) error) error {
	er := &reader{b: exts}
	for len(er.b) > 0 {
		typ := er.u16()
		data := er.vec16()
		if er.bad {
			return ErrMalformed
		}
		if len(*types) < maxListItems {
			*types = append(*types, typ)
		}
		if err := fn(typ, data); err != nil {
			return err
		}
	}
	return nil
}

func (h *ClientHello) extension(typ uint16, data []byte) error {
	d := &reader{b: data}
	switch typ {
	case extServerName: // RFC 6066 §3
		list := &reader{b: d.vec16()}
		for len(list.b) > 0 && !list.bad {
			kind := list.u8()
			name := list.vec16()
			if kind == 0 && h.ServerName == "" && len(name) <= maxNameLength {
				h.ServerName = string(name)
			}
		}
		d.bad = d.bad || list.bad
	case extALPN: // RFC 7301 §3.1
		list := &reader{b: d.vec16()}
		for len(list.b) > 0 && !list.bad {
			p := list.vec8()
			if !list.bad && len(h.ALPN) < maxListItems {
				h.ALPN = append(h.ALPN, string(p))
			}
		}
		d.bad = d.bad || list.bad
	case extSupportedGroups: // RFC 8446 §4.2.7
		h.SupportedGroups = u16s(d.vec16())
	case extECPointFormats: // RFC 8422 §5.1.2
		h.ECPointFormats = append([]uint8(nil), d.vec8()...)
	case extSignatureAlgorithms: // RFC 8446 §4.2.3
		h.SignatureAlgs = u16s(d.vec16())
	case extSupportedVersions: // RFC 8446 §4.2.1
		h.SupportedVersions = u16s(d.vec8())
	}
	if d.bad {
		return ErrMalformed
	}
	return nil
}

// HighestVersion is the highest non-GREASE version the client offers:
// supported_versions when present, else legacy_version.
func (h *ClientHello) HighestVersion() uint16 {
	var best uint16
	for _, v := range h.SupportedVersions {
		if !IsGREASE(v) && v > best {
			best = v
		}
	}
	if best == 0 {
		best = h.Version
	}
	return best
}

// ServerHello is what a ServerHello says (RFC 8446 §4.1.3).
type ServerHello struct {
	Version           uint16 // legacy_version
	CipherSuite       uint16
	Compression       uint8
	Extensions        []uint16
	SelectedVersion   uint16 // supported_versions, TLS 1.3
	ALPN              string
	HelloRetryRequest bool
}

// helloRetryRandom marks a HelloRetryRequest (RFC 8446 §4.1.3).
var helloRetryRandom = [32]byte{
	0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
	0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
}

// ParseServerHello reads a ServerHello body.
func ParseServerHello(body []byte) (*ServerHello, error) {
	r := &reader{b: body}
	h := &ServerHello{Version: r.u16()}
	random := r.bytes(32)
	sid := r.vec8()
	h.CipherSuite = r.u16()
	h.Compression = r.u8()
	if r.bad || len(sid) > 32 {
		return nil, ErrMalformed
	}
	h.HelloRetryRequest = [32]byte(random) == helloRetryRandom
	if len(r.b) == 0 {
		return h, nil
	}
	exts := r.vec16()
	if r.bad {
		return nil, ErrMalformed
	}
	return h, eachExtension(exts, &h.Extensions, func(typ uint16, data []byte) error {
		d := &reader{b: data}
		switch typ {
		case extSupportedVersions:
			h.SelectedVersion = d.u16()
		case extALPN:
			list := &reader{b: d.vec16()}
			if p := list.vec8(); !list.bad && len(p) <= maxNameLength {
				h.ALPN = string(p)
			}
		}
		return nil
	})
}

// Version is the version the server chose.
func (h *ServerHello) ChosenVersion() uint16 {
	if h.SelectedVersion != 0 {
		return h.SelectedVersion
	}
	return h.Version
}

// ParseCertificateList returns the DER certificates of a TLS 1.2 Certificate
// message body (RFC 5246 §7.4.2), borrowed from body.
func ParseCertificateList(body []byte) ([][]byte, error) {
	r := &reader{b: body}
	list := &reader{b: r.vec24()}
	if r.bad {
		return nil, ErrMalformed
	}
	var out [][]byte
	for len(list.b) > 0 {
		c := list.vec24()
		if list.bad {
			return out, ErrMalformed
		}
		if len(out) < 16 {
			out = append(out, c)
		}
	}
	return out, nil
}

// VersionName is the ECS tls.version of a protocol version ("1.2"), and its
// tls.version_protocol ("tls", "ssl", "dtls").
func VersionName(v uint16) (version, protocol string) {
	switch v {
	case 0x0300:
		return "3.0", "ssl"
	case 0x0301:
		return "1.0", "tls"
	case 0x0302:
		return "1.1", "tls"
	case 0x0303:
		return "1.2", "tls"
	case 0x0304:
		return "1.3", "tls"
	case 0x0200, 0x0002:
		return "2.0", "ssl"
	case 0xfeff:
		return "1.0", "dtls"
	case 0xfefd:
		return "1.2", "dtls"
	case 0xfefc:
		return "1.3", "dtls"
	}
	return "", ""
}
