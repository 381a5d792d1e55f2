package rdp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// Errors of the pure parsers.
var (
	ErrTruncated = errors.New("rdp: truncated")
	ErrMalformed = errors.New("rdp: malformed")
)

// maxTPKT is the largest TPKT (RFC 1006 §6: a 16-bit length).
const maxTPKT = 65535

// CutTPKT frames one TPKT (RFC 1006 §6: version 3, reserved, 16-bit length
// covering the header). n is 0 when b holds only part of it.
func CutTPKT(b []byte) (pdu []byte, n int, err error) {
	if len(b) < 4 {
		return nil, 0, nil
	}
	if b[0] != 3 {
		return nil, 0, ErrMalformed
	}
	l := int(binary.BigEndian.Uint16(b[2:4]))
	if l < 7 {
		return nil, 0, ErrMalformed
	}
	if len(b) < l {
		return nil, 0, nil
	}
	return b[:l], l, nil
}

// Protocol flags of RDP_NEG_REQ / RDP_NEG_RSP (MS-RDPBCGR 2.2.1.1.1).
var protocolNames = []struct {
	bit  uint32
	name string
}{
	{0x01, "ssl"}, {0x02, "hybrid"}, {0x04, "rdstls"}, {0x08, "hybrid_ex"}, {0x10, "rdsaad"},
}

// ProtocolList names the bits of requestedProtocols; 0 is Standard RDP Security.
func ProtocolList(p uint32) []string {
	if p == 0 {
		return []string{"rdp"}
	}
	var out []string
	for _, n := range protocolNames {
		if p&n.bit != 0 {
			out = append(out, n.name)
			p &^= n.bit
		}
	}
	if p != 0 {
		out = append(out, fmt.Sprintf("0x%x", p))
	}
	return out
}

// ProtocolName names a selectedProtocol value (2.2.1.2.1).
func ProtocolName(p uint32) string {
	if p == 0 {
		return "rdp"
	}
	for _, n := range protocolNames {
		if p == n.bit {
			return n.name
		}
	}
	return fmt.Sprintf("0x%x", p)
}

// flagNames turns a bit set into names from table, unknown bits as hex.
func flagNames(v uint32, table []flagName) []string {
	var out []string
	for _, f := range table {
		if v&f.bit != 0 {
			out = append(out, f.name)
			v &^= f.bit
		}
	}
	if v != 0 {
		out = append(out, fmt.Sprintf("0x%x", v))
	}
	return out
}

type flagName struct {
	bit  uint32
	name string
}

// RDP_NEG_REQ flags (2.2.1.1.1).
var negReqFlags = []flagName{
	{0x01, "restricted_admin_mode_required"}, {0x02, "redirected_authentication_mode_required"},
	{0x08, "correlation_info_present"},
}

// RDP_NEG_RSP flags (2.2.1.2.1).
var negRspFlags = []flagName{
	{0x01, "extended_client_data_supported"}, {0x02, "dynvc_gfx_protocol_supported"},
	{0x04, "negrsp_flag_reserved"}, {0x08, "restricted_admin_mode_supported"},
	{0x10, "redirected_authentication_mode_supported"},
}

// RDP_NEG_FAILURE codes (2.2.1.2.2).
var failureCodes = map[uint32]string{
	1: "ssl_required_by_server", 2: "ssl_not_allowed_by_server", 3: "ssl_cert_not_on_server",
	4: "inconsistent_flags", 5: "hybrid_required_by_server", 6: "ssl_with_user_auth_required_by_server",
}

// FailureName names an RDP_NEG_FAILURE code.
func FailureName(code uint32) string {
	if n, ok := failureCodes[code]; ok {
		return n
	}
	return fmt.Sprintf("failure_0x%x", code)
}

// maxCookie bounds the cookie / routing token line (2.2.1.1: terminated by CR LF).
const maxCookie = 512

// ConnectionRequest is a Client X.224 Connection Request PDU (2.2.1.1).
type ConnectionRequest struct {
	Cookie       string // mstshash= value (the claimed user name)
	RoutingToken string // any other "Cookie: " line, e.g. msts=<ip>.<port>.<reserved>
	HasNegReq    bool
	NegFlags     uint8
	Requested    uint32 // requestedProtocols
	Correlation  []byte // RDP_NEG_CORRELATION_INFO correlationId (2.2.1.1.2), 16 bytes
}

// ParseConnectionRequest reads a whole TPKT holding an X.224 CR TPDU.
func ParseConnectionRequest(tpkt []byte) (*ConnectionRequest, error) {
	v, err := x224Variable(tpkt, tpduConnectionRequest)
	if err != nil {
		return nil, err
	}
	cr := &ConnectionRequest{}
	if bytes.HasPrefix(v, []byte("Cookie: ")) {
		end := bytes.Index(v, []byte("\r\n"))
		if end < 0 || end > maxCookie {
			return cr, ErrMalformed
		}
		line := string(v[len("Cookie: "):end])
		if u, ok := cutPrefix(line, "mstshash="); ok {
			cr.Cookie = u
		} else {
			cr.RoutingToken = line
		}
		v = v[end+2:]
	}
	if len(v) >= 8 && v[0] == typeNegReq {
		if binary.LittleEndian.Uint16(v[2:4]) != 8 {
			return cr, ErrMalformed
		}
		cr.HasNegReq = true
		cr.NegFlags = v[1]
		cr.Requested = binary.LittleEndian.Uint32(v[4:8])
		v = v[8:]
		// RDP_NEG_CORRELATION_INFO: type 6, flags 0, length 36, 16-byte id, 16 reserved.
		if len(v) >= 36 && v[0] == 6 && binary.LittleEndian.Uint16(v[2:4]) == 36 {
			cr.Correlation = append([]byte(nil), v[4:20]...)
			v = v[36:]
		}
	}
	if len(v) != 0 {
		return cr, ErrMalformed
	}
	return cr, nil
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

// ConnectionConfirm is a Server X.224 Connection Confirm PDU (2.2.1.2).
type ConnectionConfirm struct {
	HasNeg      bool
	Failure     bool
	Flags       uint8
	Selected    uint32 // RDP_NEG_RSP selectedProtocol
	FailureCode uint32 // RDP_NEG_FAILURE failureCode
}

// ParseConnectionConfirm reads a whole TPKT holding an X.224 CC TPDU.
func ParseConnectionConfirm(tpkt []byte) (*ConnectionConfirm, error) {
	v, err := x224Variable(tpkt, tpduConnectionConfirm)
	if err != nil {
		return nil, err
	}
	cc := &ConnectionConfirm{}
	if len(v) == 0 {
		return cc, nil
	}
	if len(v) < 8 || binary.LittleEndian.Uint16(v[2:4]) != 8 {
		return cc, ErrMalformed
	}
	switch v[0] {
	case typeNegRsp:
		cc.HasNeg, cc.Flags, cc.Selected = true, v[1], binary.LittleEndian.Uint32(v[4:8])
	case typeNegFailure:
		cc.HasNeg, cc.Failure, cc.Flags, cc.FailureCode = true, true, v[1], binary.LittleEndian.Uint32(v[4:8])
	default:
		return cc, ErrMalformed
	}
	return cc, nil
}

// x224Variable checks a TPKT + X.224 CR/CC header (X.224 §13.3: LI, code,
// DST-REF, SRC-REF, class) and returns the variable part.
func x224Variable(tpkt []byte, code byte) ([]byte, error) {
	if len(tpkt) < 11 {
		return nil, ErrTruncated
	}
	li := int(tpkt[4])
	if li+5 != len(tpkt) || tpkt[5]&0xF0 != code {
		return nil, ErrMalformed
	}
	return tpkt[11:], nil
}

// X224Data returns the user data of an X.224 Data TPDU (LI 2, code 0xF0, EOT).
func X224Data(tpkt []byte) ([]byte, bool) {
	if len(tpkt) < 7 || tpkt[4] != 2 || tpkt[5] != 0xF0 {
		return nil, false
	}
	return tpkt[7:], true
}

// ---------------------------------------------------------------- BER (T.125 MCS)

// berTag reads an identifier and a definite length (X.690 §8.1), returning
// the content and what follows it.
func berTag(b []byte) (tag uint32, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, ErrTruncated
	}
	tag = uint32(b[0])
	i := 1
	if b[0]&0x1f == 0x1f { // high tag number form
		for n := 0; ; n++ {
			if i >= len(b) || n > 3 {
				return 0, nil, nil, ErrMalformed
			}
			tag = tag<<8 | uint32(b[i])
			i++
			if b[i-1]&0x80 == 0 {
				break
			}
		}
	}
	if i >= len(b) {
		return 0, nil, nil, ErrTruncated
	}
	l := int(b[i])
	i++
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 {
			return 0, nil, nil, ErrMalformed // indefinite or absurd lengths
		}
		if i+n > len(b) {
			return 0, nil, nil, ErrTruncated
		}
		l = 0
		for _, c := range b[i : i+n] {
			l = l<<8 | int(c)
		}
		i += n
	}
	if l > len(b)-i {
		return 0, nil, nil, ErrTruncated
	}
	return tag, b[i : i+l], b[i+l:], nil
}

// BER tags used by MCS (T.125 §7, and the APPLICATION tags of its PDUs).
const (
	berBoolean      = 0x01
	berInteger      = 0x02
	berOctetString  = 0x04
	berEnumerated   = 0x0a
	berSequence     = 0x30
	mcsConnectInit  = 0x7f65 // [APPLICATION 101] Connect-Initial
	mcsConnectReply = 0x7f66 // [APPLICATION 102] Connect-Response
)

// ParseConnectInitial reads an MCS Connect-Initial (T.125 §11.1,
// MS-RDPBCGR 2.2.1.3.1) and returns its userData (the GCC Conference
// Create Request).
func ParseConnectInitial(b []byte) ([]byte, error) {
	tag, body, _, err := berTag(b)
	if err != nil {
		return nil, err
	}
	if tag != mcsConnectInit {
		return nil, ErrMalformed
	}
	// callingDomainSelector, calledDomainSelector, upwardFlag, three DomainParameters, userData.
	want := []uint32{berOctetString, berOctetString, berBoolean, berSequence, berSequence, berSequence, berOctetString}
	var c []byte
	for _, w := range want {
		tag, c, body, err = berTag(body)
		if err != nil {
			return nil, err
		}
		if tag != w {
			return nil, ErrMalformed
		}
	}
	return c, nil
}

// MCS Connect-Response results (T.125 §7 Result).
var mcsResults = []string{
	"rt-successful", "rt-domain-merging", "rt-domain-not-hierarchical", "rt-no-such-channel",
	"rt-no-such-domain", "rt-no-such-user", "rt-not-admitted", "rt-other-user-id",
	"rt-parameters-unacceptable", "rt-token-not-available", "rt-token-not-possessed",
	"rt-too-many-channels", "rt-too-many-tokens", "rt-too-many-users", "rt-unspecified-failure",
	"rt-user-rejected",
}

// MCSResultName names a Connect-Response result.
func MCSResultName(r int) string {
	if r >= 0 && r < len(mcsResults) {
		return mcsResults[r]
	}
	return fmt.Sprintf("rt-%d", r)
}

// ParseConnectResponse reads an MCS Connect-Response (T.125 §11.2,
// MS-RDPBCGR 2.2.1.4): its result and userData (the GCC Conference Create
// Response).
func ParseConnectResponse(b []byte) (result int, userData []byte, err error) {
	tag, body, _, err := berTag(b)
	if err != nil {
		return 0, nil, err
	}
	if tag != mcsConnectReply {
		return 0, nil, ErrMalformed
	}
	want := []uint32{berEnumerated, berInteger, berSequence, berOctetString}
	var c []byte
	for i, w := range want {
		tag, c, body, err = berTag(body)
		if err != nil {
			return 0, nil, err
		}
		if tag != w {
			return 0, nil, ErrMalformed
		}
		if i == 0 {
			if len(c) != 1 {
				return 0, nil, ErrMalformed
			}
			result = int(c[0])
		}
	}
	return result, c, nil
}

// ---------------------------------------------------------------- PER (T.124 GCC)

// t124Identifier is the object identifier key of ConnectData (T.124 §8.7:
// {itu-t recommendation t 124 version(0) 1}, PER-encoded with its choice and length).
var t124Identifier = []byte{0x00, 0x05, 0x00, 0x14, 0x7c, 0x00, 0x01}

// perLength reads a PER length determinant (X.691 §10.9): one byte below
// 0x80, two bytes 10xxxxxx xxxxxxxx below 16384.
func perLength(b []byte) (int, []byte, error) {
	if len(b) < 1 {
		return 0, nil, ErrTruncated
	}
	if b[0]&0x80 == 0 {
		return int(b[0]), b[1:], nil
	}
	if b[0]&0xc0 == 0xc0 {
		return 0, nil, ErrMalformed // fragmented form: never used by GCC here
	}
	if len(b) < 2 {
		return 0, nil, ErrTruncated
	}
	return int(b[0]&0x3f)<<8 | int(b[1]), b[2:], nil
}

// GCCUserData finds the data blocks in a GCC Conference Create Request or
// Response (T.124 ConnectData / ConnectGCCPDU, MS-RDPBCGR 2.2.1.3.1 and
// 2.2.1.4.1): after the T.124 key and the connect PDU's length, the
// conference fields, then the H.221 non-standard key ("Duca" from the
// client, "McDn" from the server) and the PER-length of the blocks.
func GCCUserData(b []byte, key string) ([]byte, error) {
	if !bytes.HasPrefix(b, t124Identifier) {
		return nil, ErrMalformed
	}
	_, rest, err := perLength(b[len(t124Identifier):])
	if err != nil {
		return nil, err
	}
	// The conference fields before the key are a few bytes (name, optional
	// flags, result, node id, tag); search them instead of decoding each.
	win := rest[:min(len(rest), 32)]
	i := bytes.Index(win, []byte(key))
	if i < 0 {
		return nil, ErrMalformed
	}
	n, data, err := perLength(rest[i+len(key):])
	if err != nil {
		return nil, err
	}
	if n > len(data) {
		return data, ErrTruncated
	}
	return data[:n], nil
}

// Block is one TS_UD_HEADER-framed data block (2.2.1.3.1.1).
type Block struct {
	Type uint16
	Data []byte // after the 4-byte header
}

// Blocks splits user data blocks; a block whose length overruns is an error.
func Blocks(b []byte) ([]Block, error) {
	var out []Block
	for len(b) >= 4 && len(out) < 32 {
		t := binary.LittleEndian.Uint16(b[0:2])
		l := int(binary.LittleEndian.Uint16(b[2:4]))
		if l < 4 || l > len(b) {
			return out, ErrMalformed
		}
		out = append(out, Block{Type: t, Data: b[4:l]})
		b = b[l:]
	}
	if len(b) != 0 {
		return out, ErrMalformed
	}
	return out, nil
}

// Data block types (2.2.1.3.1.1.1, 2.2.1.4.1.1).
const (
	csCore     = 0xC001
	csSecurity = 0xC002
	csNet      = 0xC003
	csCluster  = 0xC004
	scCore     = 0x0C01
	scSecurity = 0x0C02
	scNet      = 0x0C03
)

// utf16z decodes a NUL-terminated UTF-16LE field.
func utf16z(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// ClientCore is TS_UD_CS_CORE (2.2.1.3.2); optional trailing fields are
// zero when the client left them out (Has* say which were present).
type ClientCore struct {
	Version              uint32
	DesktopWidth         uint16
	DesktopHeight        uint16
	ColorDepth           uint16
	KeyboardLayout       uint32
	ClientBuild          uint32
	ClientName           string
	KeyboardType         uint32
	KeyboardSubType      uint32
	HasPostBeta2         bool
	PostBeta2ColorDepth  uint16
	ClientProductID      uint16
	HasHighColor         bool
	HighColorDepth       uint16
	SupportedColorDepths uint16
	HasEarlyCaps         bool
	EarlyCapabilityFlags uint16
	DigProductID         string
	HasConnectionType    bool
	ConnectionType       uint8
	ServerSelected       uint32
	HasServerSelected    bool
}

// ParseClientCore reads the block data after its header.
func ParseClientCore(d []byte) (*ClientCore, error) {
	if len(d) < 128 { // up to and including imeFileName
		return nil, ErrTruncated
	}
	le16 := func(o int) uint16 { return binary.LittleEndian.Uint16(d[o:]) }
	le32 := func(o int) uint32 { return binary.LittleEndian.Uint32(d[o:]) }
	c := &ClientCore{
		Version: le32(0), DesktopWidth: le16(4), DesktopHeight: le16(6), ColorDepth: le16(8),
		KeyboardLayout: le32(12), ClientBuild: le32(16), ClientName: utf16z(d[20:52]),
		KeyboardType: le32(52), KeyboardSubType: le32(56),
	}
	if len(d) >= 132 {
		c.HasPostBeta2, c.PostBeta2ColorDepth, c.ClientProductID = true, le16(128), le16(130)
	}
	if len(d) >= 140 {
		c.HasHighColor, c.HighColorDepth = true, le16(136)
	}
	if len(d) >= 142 {
		c.SupportedColorDepths = le16(138)
	}
	if len(d) >= 142 {
		c.HasEarlyCaps, c.EarlyCapabilityFlags = true, le16(140)
	}
	if len(d) >= 206 {
		c.DigProductID = utf16z(d[142:206])
	}
	if len(d) >= 207 {
		c.HasConnectionType, c.ConnectionType = true, d[206]
	}
	if len(d) >= 212 {
		c.HasServerSelected, c.ServerSelected = true, le32(208)
	}
	return c, nil
}

// ColorDepthBits is the colour depth the client asks for, in bits per
// pixel: 32 when it wants a 32 bpp session, else highColorDepth, else the
// postBeta2 or legacy colorDepth code (2.2.1.3.2).
func (c *ClientCore) ColorDepthBits() int {
	if c.HasEarlyCaps && c.EarlyCapabilityFlags&0x0002 != 0 {
		return 32
	}
	if c.HasHighColor && c.HighColorDepth != 0 {
		return int(c.HighColorDepth)
	}
	code := c.ColorDepth
	if c.HasPostBeta2 {
		code = c.PostBeta2ColorDepth
	}
	switch code {
	case 0xCA00:
		return 4
	case 0xCA01:
		return 8
	case 0xCA02:
		return 15
	case 0xCA03:
		return 16
	case 0xCA04:
		return 24
	}
	return 0
}

// earlyCapabilityFlags (2.2.1.3.2).
var earlyCaps = []flagName{
	{0x0001, "support_errinfo_pdu"}, {0x0002, "want_32bpp_session"}, {0x0004, "support_statusinfo_pdu"},
	{0x0008, "strong_asymmetric_keys"}, {0x0020, "valid_connection_type"},
	{0x0040, "support_monitor_layout_pdu"}, {0x0080, "support_netchar_autodetect"},
	{0x0100, "support_dynvc_gfx_protocol"}, {0x0200, "support_dynamic_time_zone"},
	{0x0400, "support_heartbeat_pdu"}, {0x0800, "support_skip_channeljoin"},
}

var connectionTypes = map[uint8]string{
	1: "modem", 2: "broadband_low", 3: "satellite", 4: "broadband_high", 5: "wan", 6: "lan", 7: "autodetect",
}

// Encryption methods (2.2.1.3.3, 2.2.1.4.3).
var encryptionMethods = []flagName{
	{0x01, "40bit"}, {0x02, "128bit"}, {0x08, "56bit"}, {0x10, "fips"},
}

// EncryptionMethodName names the server's single encryptionMethod.
func EncryptionMethodName(m uint32) string {
	if m == 0 {
		return "none"
	}
	n := flagNames(m, encryptionMethods)
	if len(n) == 1 {
		return n[0]
	}
	return fmt.Sprintf("0x%x", m)
}

// EncryptionLevelName names encryptionLevel (2.2.1.4.3).
func EncryptionLevelName(l uint32) string {
	switch l {
	case 0:
		return "none"
	case 1:
		return "low"
	case 2:
		return "client_compatible"
	case 3:
		return "high"
	case 4:
		return "fips"
	}
	return fmt.Sprintf("0x%x", l)
}

// Channel is one CHANNEL_DEF (2.2.1.3.4.1).
type Channel struct {
	Name    string
	Options uint32
}

// Channel option flags (2.2.1.3.4.1).
var channelOptions = []flagName{
	{0x80000000, "initialized"}, {0x40000000, "encrypt_rdp"}, {0x20000000, "encrypt_sc"},
	{0x10000000, "encrypt_cs"}, {0x08000000, "pri_high"}, {0x04000000, "pri_med"},
	{0x02000000, "pri_low"}, {0x00800000, "compress_rdp"}, {0x00400000, "compress"},
	{0x00200000, "show_protocol"}, {0x00100000, "remote_control_persistent"},
}

// maxChannels is the protocol's limit (2.2.1.3.4: at most 31 channels).
const maxChannels = 31

// ParseClientNetwork reads TS_UD_CS_NET (2.2.1.3.4).
func ParseClientNetwork(d []byte) ([]Channel, error) {
	if len(d) < 4 {
		return nil, ErrTruncated
	}
	n := int(binary.LittleEndian.Uint32(d))
	d = d[4:]
	if n > maxChannels {
		return nil, ErrMalformed
	}
	var out []Channel
	for i := 0; i < n; i++ {
		if len(d) < 12 {
			return out, ErrTruncated
		}
		name := d[:8]
		if j := bytes.IndexByte(name, 0); j >= 0 {
			name = name[:j]
		}
		out = append(out, Channel{Name: string(name), Options: binary.LittleEndian.Uint32(d[8:12])})
		d = d[12:]
	}
	return out, nil
}

// Cluster flags (2.2.1.3.5).
var clusterFlags = []flagName{
	{0x01, "redirection_supported"}, {0x02, "redirected_sessionid_field_valid"},
	{0x40, "redirected_smartcard"},
}

// ServerSecurity is TS_UD_SC_SEC1 (2.2.1.4.3) and what its certificate says.
type ServerSecurity struct {
	EncryptionMethod uint32
	EncryptionLevel  uint32
	CertType         string // "proprietary" or "x509"
	CertPermanent    bool
	CertCount        int
	Certs            [][]byte // X.509 chain blobs (borrowed)
}

// ParseServerSecurity reads TS_UD_SC_SEC1 and the certificate header
// (2.2.1.4.3.1: dwVersion, then a proprietary certificate or an X.509
// chain of numCertBlobs length-prefixed blobs).
func ParseServerSecurity(d []byte) (*ServerSecurity, error) {
	if len(d) < 8 {
		return nil, ErrTruncated
	}
	s := &ServerSecurity{EncryptionMethod: binary.LittleEndian.Uint32(d), EncryptionLevel: binary.LittleEndian.Uint32(d[4:])}
	d = d[8:]
	if len(d) < 8 {
		return s, nil // no encryption: no random, no certificate
	}
	rl := int(binary.LittleEndian.Uint32(d))
	cl := int(binary.LittleEndian.Uint32(d[4:]))
	d = d[8:]
	if rl < 0 || cl < 0 || rl > len(d) || cl > len(d)-rl {
		return s, ErrMalformed
	}
	cert := d[rl : rl+cl]
	if len(cert) < 4 {
		return s, nil
	}
	ver := binary.LittleEndian.Uint32(cert)
	// t (the top bit): 0 = permanently issued, 1 = temporarily issued (2.2.1.4.3.1).
	s.CertPermanent = ver&0x80000000 == 0
	switch ver & 0x7fffffff {
	case 1:
		s.CertType, s.CertCount = "proprietary", 1
	case 2:
		s.CertType = "x509"
		if len(cert) < 8 {
			return s, ErrTruncated
		}
		n := int(binary.LittleEndian.Uint32(cert[4:]))
		c := cert[8:]
		for i := 0; i < n && i < 16; i++ {
			if len(c) < 4 {
				return s, ErrTruncated
			}
			l := int(binary.LittleEndian.Uint32(c))
			if l < 0 || l > len(c)-4 {
				return s, ErrMalformed
			}
			s.Certs = append(s.Certs, c[4:4+l])
			c = c[4+l:]
		}
		s.CertCount = len(s.Certs)
	default:
		return s, ErrMalformed
	}
	return s, nil
}
