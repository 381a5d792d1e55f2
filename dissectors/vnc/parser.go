package vnc

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/psmtap/psmtap/internal/rfb"
)

// Pure functions over RFB bytes (RFC 6143 and the community extensions of
// the rfbproto document). Nothing here does I/O or keeps its input.

// VersionLen is the size of a ProtocolVersion message (RFC 6143 7.1.1).
const VersionLen = 12

// Version is a ProtocolVersion "RFB xxx.yyy\n".
type Version struct{ Major, Minor int }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// Effective is the protocol the version speaks: 3 (3.3 and anything before
// 3.7, including the 3.5 and 3.6 RFC 6143 7.1.1 says to treat as 3.3), 7 or
// 8 (3.8 and later: Apple's 3.889, RealVNC's 4.x and 5.x speak 3.8's
// handshake).
func (v Version) Effective() int {
	switch {
	case v.Major > 3, v.Major == 3 && v.Minor >= 8:
		return 8
	case v.Major == 3 && v.Minor == 7:
		return 7
	}
	return 3
}

// ParseVersion reads a ProtocolVersion; ok is false when b is not one.
func ParseVersion(b []byte) (v Version, ok bool) {
	if len(b) < VersionLen || VersionPrefix(b) != prefixComplete {
		return Version{}, false
	}
	return Version{Major: digits3(b[4:7]), Minor: digits3(b[8:11])}, true
}

func digits3(b []byte) int { return int(b[0]-'0')*100 + int(b[1]-'0')*10 + int(b[2]-'0') }

// Prefix verdicts of VersionPrefix.
const (
	prefixNo       = iota // not a ProtocolVersion
	prefixShort           // could still become one
	prefixComplete        // the 12 bytes are one
)

// VersionPrefix says whether b starts as a ProtocolVersion would.
func VersionPrefix(b []byte) int {
	const pat = "RFB ddd.ddd\n"
	n := min(len(b), VersionLen)
	for i := 0; i < n; i++ {
		c, p := b[i], pat[i]
		if p == 'd' {
			if c < '0' || c > '9' {
				return prefixNo
			}
		} else if c != p {
			return prefixNo
		}
	}
	if n < VersionLen {
		return prefixShort
	}
	return prefixComplete
}

// Security types (RFC 6143 7.2 and the IANA RFB registry; UltraVNC's and
// Apple's in use outside it).
const (
	SecInvalid  = 0
	SecNone     = 1
	SecVNCAuth  = 2
	SecRA2      = 5
	SecRA2ne    = 6
	SecTight    = 16
	SecUltra    = 17
	SecTLS      = 18
	SecVeNCrypt = 19
	SecSASL     = 20
	SecMD5      = 21
	SecXVP      = 22
	SecARD      = 30
	SecMSLogon2 = 113
)

var secNames = map[uint32]string{
	SecInvalid: "invalid", SecNone: "none", SecVNCAuth: "vnc-auth", SecRA2: "ra2", SecRA2ne: "ra2ne",
	13: "ra2-256", SecTight: "tight", SecUltra: "ultra", SecTLS: "tls", SecVeNCrypt: "vencrypt",
	SecSASL: "sasl", SecMD5: "md5", SecXVP: "xvp", 23: "secure-tunnel", 24: "integrated-ssh",
	SecARD: "apple-ard", SecMSLogon2: "ultravnc-mslogon-ii", 0xfffffffa: "ultravnc-mslogon",
}

// SecurityName names a security type for records ("vnc-auth"), or "type-<n>".
func SecurityName(t uint32) string {
	if n, ok := secNames[t]; ok {
		return n
	}
	if t >= 31 && t <= 35 {
		return fmt.Sprintf("apple-%d", t)
	}
	return fmt.Sprintf("type-%d", t)
}

// VeNCrypt subtypes (rfbproto, VeNCrypt).
const (
	VeNone      = 1
	VeVNCAuth   = 2
	VePlain     = 256
	VeTLSNone   = 257
	VeTLSVnc    = 258
	VeTLSPlain  = 259
	VeX509None  = 260
	VeX509Vnc   = 261
	VeX509Plain = 262
	VeTLSSASL   = 263
	VeX509SASL  = 264
)

var veNames = map[uint32]string{
	VeNone: "none", VeVNCAuth: "vnc-auth", VePlain: "plain", VeTLSNone: "tls-none", VeTLSVnc: "tls-vnc",
	VeTLSPlain: "tls-plain", VeX509None: "x509-none", VeX509Vnc: "x509-vnc", VeX509Plain: "x509-plain",
	VeTLSSASL: "tls-sasl", VeX509SASL: "x509-sasl",
}

// VeNCryptName names a VeNCrypt subtype, or "subtype-<n>".
func VeNCryptName(t uint32) string {
	if n, ok := veNames[t]; ok {
		return n
	}
	return fmt.Sprintf("subtype-%d", t)
}

// VeNCryptTLS says whether the subtype wraps the rest of the stream in TLS.
func VeNCryptTLS(t uint32) bool { return t >= VeTLSNone && t <= VeX509SASL }

// Capability is one entry of a Tight capability list (rfbproto, Tight
// security type): a code, a vendor and an 8-byte signature.
type Capability struct {
	Code      uint32
	Vendor    string
	Signature string
}

// CapabilityLen is the size of one Tight capability.
const CapabilityLen = 16

// Name names a capability by its signature ("vncauth", "notunnel").
func (c Capability) Name() string {
	s := strings.ToLower(strings.TrimRight(c.Signature, "_ \x00"))
	if s == "" || !printable(s) {
		return fmt.Sprintf("code-%d", c.Code)
	}
	return s
}

// ParseCapabilities reads n Tight capabilities from b.
func ParseCapabilities(b []byte, n int) []Capability {
	out := make([]Capability, 0, n)
	for i := 0; i < n && len(b) >= CapabilityLen; i++ {
		out = append(out, Capability{Code: binary.BigEndian.Uint32(b), Vendor: string(b[4:8]), Signature: string(b[8:16])})
		b = b[CapabilityLen:]
	}
	return out
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Text makes network text safe to keep: at most max bytes, valid UTF-8,
// control characters other than tab and newline written as \xNN.
func Text(b []byte, max int) (string, bool) {
	cut := len(b) > max
	if cut {
		b = b[:max]
		// Do not split a rune at the cut.
		for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
			if b[i]&0xc0 != 0x80 {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&sb, "\\x%02x", b[0])
		case r < 0x20 && r != '\t' && r != '\n', r == 0x7f, r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&sb, "\\x%02x", r)
		default:
			sb.WriteRune(r)
		}
		b = b[n:]
	}
	return sb.String(), cut
}

// Latin1 turns ISO 8859-1 bytes (RFC 6143 7.5.6: cut text is Latin-1) into
// UTF-8.
func Latin1(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		out = utf8.AppendRune(out, rune(c))
	}
	return out
}

// Client message types (RFC 6143 7.5 and rfbproto extensions).
const (
	CSetPixelFormat           = 0
	CSetEncodings             = 2
	CFramebufferUpdateRequest = 3
	CKeyEvent                 = 4
	CPointerEvent             = 5
	CClientCutText            = 6
	CEnableContinuousUpdates  = 150
	CClientFence              = 248
	CXVP                      = 250
	CSetDesktopSize           = 251
	CQEMU                     = 255
)

// Server message types (RFC 6143 7.6 and extensions).
const (
	SFramebufferUpdate      = 0
	SSetColourMapEntries    = 1
	SBell                   = 2
	SServerCutText          = 3
	SEndOfContinuousUpdates = 150
	SServerFence            = 248
	SXVP                    = 250
	SQEMU                   = 255
)

// Message-length errors.
var (
	ErrNeedMore    = errors.New("vnc: need more bytes")
	ErrUnknownType = errors.New("vnc: unknown message type")
	ErrMalformed   = errors.New("vnc: malformed message")
)

// MaxCutText bounds a cut-text message (a clipboard): larger ones are taken
// as a loss of sync rather than buffered.
const MaxCutText = 16 << 20

// ClientMessageLen is the size of the client message at the start of b.
func ClientMessageLen(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, ErrNeedMore
	}
	fixed := func(n int) (int, error) { return n, nil }
	switch b[0] {
	case CSetPixelFormat:
		return fixed(4 + rfb.PixelFormatLen)
	case CSetEncodings:
		if len(b) < 4 {
			return 0, ErrNeedMore
		}
		return 4 + 4*int(binary.BigEndian.Uint16(b[2:])), nil
	case CFramebufferUpdateRequest:
		return fixed(10)
	case CKeyEvent:
		return fixed(8)
	case CPointerEvent:
		return fixed(6)
	case CClientCutText:
		return cutTextLen(b)
	case CEnableContinuousUpdates:
		return fixed(10)
	case CClientFence:
		return fenceLen(b)
	case CXVP:
		return fixed(4)
	case CSetDesktopSize:
		if len(b) < 8 {
			return 0, ErrNeedMore
		}
		return 8 + 16*int(b[6]), nil
	case CQEMU:
		if len(b) < 2 {
			return 0, ErrNeedMore
		}
		switch b[1] {
		case 0: // extended key event
			return 12, nil
		case 1: // audio: enable, disable, set format
			if len(b) < 4 {
				return 0, ErrNeedMore
			}
			switch binary.BigEndian.Uint16(b[2:]) {
			case 0, 1:
				return 4, nil
			case 2:
				return 10, nil
			}
		}
		return 0, ErrMalformed
	}
	return 0, ErrUnknownType
}

// ServerMessageLen is the size of the server message at the start of b,
// for every message but FramebufferUpdate (framed rectangle by rectangle).
func ServerMessageLen(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, ErrNeedMore
	}
	switch b[0] {
	case SSetColourMapEntries:
		if len(b) < 6 {
			return 0, ErrNeedMore
		}
		return 6 + 6*int(binary.BigEndian.Uint16(b[4:])), nil
	case SBell, SEndOfContinuousUpdates:
		return 1, nil
	case SServerCutText:
		return cutTextLen(b)
	case SServerFence:
		return fenceLen(b)
	case SXVP:
		return 4, nil
	case SQEMU:
		if len(b) < 4 {
			return 0, ErrNeedMore
		}
		if b[1] != 1 { // audio is the only server subtype
			return 0, ErrMalformed
		}
		switch binary.BigEndian.Uint16(b[2:]) {
		case 0, 1:
			return 4, nil
		case 2:
			if len(b) < 8 {
				return 0, ErrNeedMore
			}
			n := binary.BigEndian.Uint32(b[4:])
			if n > MaxCutText {
				return 0, ErrMalformed
			}
			return 8 + int(n), nil
		}
		return 0, ErrMalformed
	}
	return 0, ErrUnknownType
}

// cutTextLen: type, 3 padding, S32 length (negative: the extended
// clipboard's flags and payload of -length bytes), text.
func cutTextLen(b []byte) (int, error) {
	if len(b) < 8 {
		return 0, ErrNeedMore
	}
	n := int64(int32(binary.BigEndian.Uint32(b[4:])))
	if n < 0 {
		n = -n
	}
	if n > MaxCutText {
		return 0, ErrMalformed
	}
	return 8 + int(n), nil
}

// fenceLen: type, 3 padding, U32 flags, U8 length (at most 64), payload.
func fenceLen(b []byte) (int, error) {
	if len(b) < 9 {
		return 0, ErrNeedMore
	}
	if b[8] > 64 {
		return 0, ErrMalformed
	}
	return 9 + int(b[8]), nil
}

// Extended clipboard (rfbproto, ExtendedClipboard pseudo-encoding): flags
// carry the formats (low 16 bits) and one action (top byte).
const (
	clipText    = 1 << 0
	clipCaps    = 1 << 24
	clipProvide = 1 << 28
)

// ClipboardText is what a cut-text message carried: Text is UTF-8 (at most
// max bytes, from a longer Length when Truncated); Content is false when
// the message carried no clipboard content (an extended-clipboard
// capability, request, peek or notify).
type ClipboardText struct {
	Content   bool
	Extended  bool
	Length    int
	Text      []byte
	Truncated bool
}

// ParseCutText reads a whole ClientCutText / ServerCutText message.
func ParseCutText(msg []byte, max int) (ClipboardText, error) {
	if len(msg) < 8 {
		return ClipboardText{}, ErrNeedMore
	}
	n := int32(binary.BigEndian.Uint32(msg[4:]))
	body := msg[8:]
	if n >= 0 {
		t := Latin1(body[:min(len(body), max)])
		return ClipboardText{Content: true, Length: len(body), Text: t, Truncated: len(body) > max}, nil
	}
	c := ClipboardText{Extended: true}
	if len(body) < 4 {
		return c, ErrMalformed
	}
	flags := binary.BigEndian.Uint32(body)
	if flags&clipProvide == 0 || flags&clipCaps != 0 {
		return c, nil
	}
	c.Content = true
	if flags&clipText == 0 {
		return c, nil // another format (RTF, HTML...): no text to show
	}
	// Provide: a zlib stream of (U32 size, data) per format, text first.
	zr, err := zlib.NewReader(bytes.NewReader(body[4:]))
	if err != nil {
		return c, ErrMalformed
	}
	defer zr.Close()
	var hdr [4]byte
	if _, err := io.ReadFull(zr, hdr[:]); err != nil {
		return c, ErrMalformed
	}
	size := int(binary.BigEndian.Uint32(hdr[:]))
	if size < 0 || size > MaxCutText {
		return c, ErrMalformed
	}
	t, err := io.ReadAll(io.LimitReader(zr, int64(min(size, max))))
	if err != nil {
		return c, ErrMalformed
	}
	// The text is NUL-terminated, with CRLF line ends.
	c.Length = size
	if size > 0 { // less its terminating NUL
		c.Length = size - 1
		if len(t) == size && t[len(t)-1] == 0 {
			t = t[:len(t)-1]
		}
	}
	c.Text = bytes.ReplaceAll(t, []byte("\r\n"), []byte("\n"))
	c.Truncated = size > max
	return c, nil
}

// Rect is a FramebufferUpdate rectangle header (RFC 6143 7.6.1).
type Rect struct {
	X, Y, W, H int
	Enc        int32
}

// RectHeaderLen is the size of a rectangle header.
const RectHeaderLen = 12

// ParseRect reads a rectangle header.
func ParseRect(b []byte) Rect {
	return Rect{X: int(binary.BigEndian.Uint16(b)), Y: int(binary.BigEndian.Uint16(b[2:])),
		W: int(binary.BigEndian.Uint16(b[4:])), H: int(binary.BigEndian.Uint16(b[6:])),
		Enc: int32(binary.BigEndian.Uint32(b[8:]))}
}

// ServerInit is RFC 6143 7.3.2's message: size, pixel format, name.
type ServerInit struct {
	Width, Height int
	PixelFormat   rfb.PixelFormat
	PFErr         error
	Name          []byte // borrowed from the input
}

// MaxNameLen bounds the desktop name in ServerInit: longer is malformed.
const MaxNameLen = 1 << 20

// ParseServerInit reads a ServerInit; n is its length.
func ParseServerInit(b []byte) (si ServerInit, n int, err error) {
	if len(b) < 24 {
		return si, 0, ErrNeedMore
	}
	l := binary.BigEndian.Uint32(b[20:])
	if l > MaxNameLen {
		return si, 0, ErrMalformed
	}
	if len(b) < 24+int(l) {
		return si, 0, ErrNeedMore
	}
	si.Width, si.Height = int(binary.BigEndian.Uint16(b)), int(binary.BigEndian.Uint16(b[2:]))
	si.PixelFormat, si.PFErr = rfb.ParsePixelFormat(b[4:20])
	si.Name = b[24 : 24+l]
	return si, 24 + int(l), nil
}

// ClientResync says whether b, the client's bytes right after a gap,
// begins at a message boundary: every whole message in it is of a known
// type and keeps its padding and flags as viewers write them, and what
// is left is the start of one. Viewers write their messages whole, so the
// first segment after a lost one usually starts a message; one that
// passes this check by chance must also be a run of such messages.
func ClientResync(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for len(b) > 0 {
		n, err := ClientMessageLen(b)
		if errors.Is(err, ErrNeedMore) {
			return true // the start of a message, whole as far as it goes
		}
		if err != nil || !plausibleClient(b[:min(n, len(b))]) {
			return false
		}
		if n > len(b) {
			return true
		}
		b = b[n:]
	}
	return true
}

// plausibleClient checks the fixed fields of the start of a client
// message (as much of m as there is).
func plausibleClient(m []byte) bool {
	zero := func(from, to int) bool {
		for i := from; i < min(to, len(m)); i++ {
			if m[i] != 0 {
				return false
			}
		}
		return true
	}
	flag := func(i int) bool { return len(m) <= i || m[i] <= 1 }
	switch m[0] {
	case CSetPixelFormat:
		return zero(1, 4) && zero(17, 20)
	case CSetEncodings:
		return zero(1, 2)
	case CFramebufferUpdateRequest:
		return flag(1)
	case CKeyEvent:
		return flag(1) && zero(2, 4)
	case CPointerEvent:
		return true
	case CClientCutText:
		return zero(1, 4)
	case CQEMU:
		return len(m) < 2 || m[1] == 0 && zero(2, 3) && flag(3) // an extended key event
	}
	return false // rarer messages are no proof of a boundary
}
