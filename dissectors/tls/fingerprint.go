package tls

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// JA3 returns the JA3 string and its MD5 (salesforce/ja3): the decimal
// legacy_version, cipher suites, extension types, supported groups and EC
// point formats, GREASE values left out, '-' within a list, ',' between.
func JA3(h *ClientHello) (str, hash string) {
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(h.Version)))
	b.WriteByte(',')
	joinDec(&b, h.CipherSuites)
	b.WriteByte(',')
	joinDec(&b, h.Extensions)
	b.WriteByte(',')
	joinDec(&b, h.SupportedGroups)
	b.WriteByte(',')
	for i, f := range h.ECPointFormats {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(strconv.Itoa(int(f)))
	}
	str = b.String()
	sum := md5.Sum([]byte(str))
	return str, hex.EncodeToString(sum[:])
}

// JA3S returns the JA3S string and its MD5: the ServerHello's decimal
// legacy_version, cipher suite and extension types.
func JA3S(h *ServerHello) (str, hash string) {
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(h.Version)))
	b.WriteByte(',')
	b.WriteString(strconv.Itoa(int(h.CipherSuite)))
	b.WriteByte(',')
	joinDec(&b, h.Extensions)
	str = b.String()
	sum := md5.Sum([]byte(str))
	return str, hex.EncodeToString(sum[:])
}

func joinDec(b *strings.Builder, vs []uint16) {
	first := true
	for _, v := range vs {
		if IsGREASE(v) {
			continue
		}
		if !first {
			b.WriteByte('-')
		}
		first = false
		b.WriteString(strconv.Itoa(int(v)))
	}
}

// ja4Version is JA4's two-character version code.
func ja4Version(v uint16) string {
	switch v {
	case 0x0304:
		return "13"
	case 0x0303:
		return "12"
	case 0x0302:
		return "11"
	case 0x0301:
		return "10"
	case 0x0300:
		return "s3"
	case 0x0200, 0x0002:
		return "s2"
	case 0xfeff:
		return "d1"
	case 0xfefd:
		return "d2"
	case 0xfefc:
		return "d3"
	}
	return "00"
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// JA4 returns the JA4 TLS client fingerprint (FoxIO JA4, the BSD-licensed
// client method only) and its unhashed form (JA4_r):
//
//	a: transport (t TCP, q QUIC), version, d/i (SNI present or not), two-digit
//	   counts of ciphers and extensions (GREASE excluded), ALPN's first and
//	   last characters;
//	b: SHA-256 (first 12 hex) of the sorted cipher suites, 4-digit hex, comma-joined;
//	c: SHA-256 (first 12 hex) of the sorted extensions without SNI and ALPN,
//	   then '_' and the signature algorithms in their order.
func JA4(h *ClientHello, quic bool) (fp, raw string) {
	ciphers := make([]string, 0, len(h.CipherSuites))
	for _, c := range h.CipherSuites {
		if !IsGREASE(c) {
			ciphers = append(ciphers, fmt.Sprintf("%04x", c))
		}
	}
	var exts []string
	nExt := 0
	for _, e := range h.Extensions {
		if IsGREASE(e) {
			continue
		}
		nExt++
		if e == extServerName || e == extALPN {
			continue
		}
		exts = append(exts, fmt.Sprintf("%04x", e))
	}
	var sigs []string
	for _, s := range h.SignatureAlgs {
		if !IsGREASE(s) {
			sigs = append(sigs, fmt.Sprintf("%04x", s))
		}
	}
	var a strings.Builder
	if quic {
		a.WriteByte('q')
	} else {
		a.WriteByte('t')
	}
	a.WriteString(ja4Version(h.HighestVersion()))
	if h.ServerName != "" {
		a.WriteByte('d')
	} else {
		a.WriteByte('i')
	}
	fmt.Fprintf(&a, "%02d%02d", min(len(ciphers), 99), min(nExt, 99))
	alpn := "00"
	if len(h.ALPN) > 0 && h.ALPN[0] != "" {
		p := h.ALPN[0]
		f, l := p[0], p[len(p)-1]
		if isAlnum(f) && isAlnum(l) {
			alpn = string([]byte{f, l})
		} else {
			x := hex.EncodeToString([]byte(p))
			alpn = string([]byte{x[0], x[len(x)-1]})
		}
	}
	a.WriteString(alpn)
	slices.Sort(ciphers)
	slices.Sort(exts)
	bRaw := strings.Join(ciphers, ",")
	cRaw := strings.Join(exts, ",")
	if len(sigs) > 0 {
		cRaw += "_" + strings.Join(sigs, ",")
	}
	hash12 := func(s string, empty bool) string {
		if empty {
			return "000000000000"
		}
		sum := sha256.Sum256([]byte(s))
		return hex.EncodeToString(sum[:6])
	}
	fp = a.String() + "_" + hash12(bRaw, len(ciphers) == 0) + "_" + hash12(cRaw, len(exts) == 0)
	raw = a.String() + "_" + bRaw + "_" + cRaw
	return fp, raw
}
