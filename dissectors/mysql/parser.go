package mysql

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Capability flags (Protocol::CapabilityFlags).
const (
	capLongPassword     = 1 << 0 // CLIENT_LONG_PASSWORD; MariaDB calls it CLIENT_MYSQL
	capConnectWithDB    = 1 << 3
	capCompress         = 1 << 5
	capLocalFiles       = 1 << 7
	capProtocol41       = 1 << 9
	capInteractive      = 1 << 10
	capSSL              = 1 << 11
	capTransactions     = 1 << 13
	capSecureConnection = 1 << 15
	capMultiStatements  = 1 << 16
	capMultiResults     = 1 << 17
	capPSMultiResults   = 1 << 18
	capPluginAuth       = 1 << 19
	capConnectAttrs     = 1 << 20
	capPluginAuthLenenc = 1 << 21
	capExpiredPasswords = 1 << 22
	capSessionTrack     = 1 << 23
	capDeprecateEOF     = 1 << 24
	capOptionalMetadata = 1 << 25
	capZstd             = 1 << 26
	capQueryAttributes  = 1 << 27
	capSSLVerify        = 1 << 30
)

// MariaDB's extended capabilities (the last 4 bytes of the reserved area of
// the greeting and of the handshake response, when CLIENT_MYSQL is clear),
// shifted down by 32.
const (
	mariaProgress      = 1 << 0
	mariaCacheMetadata = 1 << 4
)

// capNames are the capabilities mysql.capabilities lists when both sides set them.
var capNames = []struct {
	bit  uint32
	name string
}{
	{capSSL, "ssl"}, {capCompress, "compress"}, {capZstd, "zstd_compression"}, {capLocalFiles, "local_files"},
	{capMultiStatements, "multi_statements"}, {capMultiResults, "multi_results"}, {capPSMultiResults, "ps_multi_results"},
	{capConnectWithDB, "connect_with_db"}, {capPluginAuth, "plugin_auth"}, {capConnectAttrs, "connect_attrs"},
	{capDeprecateEOF, "deprecate_eof"}, {capSessionTrack, "session_track"}, {capQueryAttributes, "query_attributes"},
	{capExpiredPasswords, "can_handle_expired_passwords"}, {capInteractive, "interactive"},
	{capOptionalMetadata, "optional_resultset_metadata"}, {capSSLVerify, "ssl_verify_server_cert"},
}

// CapabilityNames names the capabilities of note in caps.
func CapabilityNames(caps uint32) []string {
	var out []string
	for _, c := range capNames {
		if caps&c.bit != 0 {
			out = append(out, c.name)
		}
	}
	return out
}

// Commands (Text Protocol and Prepared Statements command bytes).
const (
	comSleep            = 0x00
	comQuit             = 0x01
	comInitDB           = 0x02
	comQuery            = 0x03
	comFieldList        = 0x04
	comCreateDB         = 0x05
	comDropDB           = 0x06
	comRefresh          = 0x07
	comShutdown         = 0x08
	comStatistics       = 0x09
	comProcessInfo      = 0x0a
	comConnect          = 0x0b
	comProcessKill      = 0x0c
	comDebug            = 0x0d
	comPing             = 0x0e
	comChangeUser       = 0x11
	comBinlogDump       = 0x12
	comTableDump        = 0x13
	comRegisterSlave    = 0x15
	comStmtPrepare      = 0x16
	comStmtExecute      = 0x17
	comStmtSendLongData = 0x18
	comStmtClose        = 0x19
	comStmtReset        = 0x1a
	comSetOption        = 0x1b
	comStmtFetch        = 0x1c
	comDaemon           = 0x1d
	comBinlogDumpGTID   = 0x1e
	comResetConnection  = 0x1f
	comStmtBulkExecute  = 0xfa // MariaDB
)

// Server status flags (SERVER_STATUS_*) of OK and EOF packets.
const (
	statusCursorExists = 0x0040
	statusMoreResults  = 0x0008
)

// Packet headers of server replies.
const (
	hdrOK     = 0x00
	hdrInfile = 0xfb
	hdrEOF    = 0xfe
	hdrErr    = 0xff
)

// maxFrame is the payload length that says "more of this packet follows"
// (Protocol::Packet: a payload of 2^24-1 bytes continues in the next one).
const maxFrame = 0xffffff

// Errors of the parsers.
var (
	ErrShort     = errors.New("mysql: packet too short")
	ErrMalformed = errors.New("mysql: malformed packet")
)

// reader walks a payload; every read past the end sets bad and returns zero values.
type reader struct {
	b   []byte
	off int
	bad bool
}

func (r *reader) left() int { return len(r.b) - r.off }

func (r *reader) u8() byte {
	if r.off+1 > len(r.b) {
		r.bad = true
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) u16() uint16 {
	if r.off+2 > len(r.b) {
		r.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint16(r.b[r.off:])
	r.off += 2
	return v
}

func (r *reader) u24() uint32 {
	if r.off+3 > len(r.b) {
		r.bad = true
		return 0
	}
	v := uint32(r.b[r.off]) | uint32(r.b[r.off+1])<<8 | uint32(r.b[r.off+2])<<16
	r.off += 3
	return v
}

func (r *reader) u32() uint32 {
	if r.off+4 > len(r.b) {
		r.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b[r.off:])
	r.off += 4
	return v
}

func (r *reader) u64() uint64 {
	if r.off+8 > len(r.b) {
		r.bad = true
		return 0
	}
	v := binary.LittleEndian.Uint64(r.b[r.off:])
	r.off += 8
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || r.off+n > len(r.b) {
		r.bad = true
		r.off = len(r.b)
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// nulString reads a string<NUL>; without a NUL it takes the rest and sets bad.
func (r *reader) nulString() []byte {
	for i := r.off; i < len(r.b); i++ {
		if r.b[i] == 0 {
			v := r.b[r.off:i]
			r.off = i + 1
			return v
		}
	}
	r.bad = true
	v := r.b[r.off:]
	r.off = len(r.b)
	return v
}

// lenenc reads a length-encoded integer (Protocol::LengthEncodedInteger).
// null is true for 0xFB (a NULL in a text row).
func (r *reader) lenenc() (v uint64, null bool) {
	c := r.u8()
	switch {
	case c < 0xfb:
		return uint64(c), false
	case c == 0xfb:
		return 0, true
	case c == 0xfc:
		return uint64(r.u16()), false
	case c == 0xfd:
		return uint64(r.u24()), false
	case c == 0xfe:
		return r.u64(), false
	}
	r.bad = true // 0xFF is no integer
	return 0, false
}

// lenencString reads a string<lenenc>.
func (r *reader) lenencString() []byte {
	n, _ := r.lenenc()
	if n > uint64(r.left()) {
		r.bad = true
		r.off = len(r.b)
		return nil
	}
	return r.bytes(int(n))
}

// Greeting is the server's Initial Handshake Packet, protocol version 10
// (Protocol::HandshakeV10).
type Greeting struct {
	Version      string
	ConnectionID uint32
	Capabilities uint32
	MariaCaps    uint32 // MariaDB extended capabilities (0 when CLIENT_MYSQL is set)
	Charset      byte
	Status       uint16
	AuthPlugin   string
}

// MariaDB reports whether the server is MariaDB (its version string says so;
// MariaDB 10.x prefixes "5.5.5-" for old clients).
func (g *Greeting) MariaDB() bool { return strings.Contains(strings.ToLower(g.Version), "mariadb") }

// ParseGreeting reads an Initial Handshake v10 payload.
func ParseGreeting(p []byte) (*Greeting, error) {
	r := &reader{b: p}
	if r.u8() != 10 {
		return nil, ErrMalformed
	}
	g := &Greeting{}
	v := r.nulString()
	if r.bad || len(v) == 0 || len(v) > 128 || !printableASCII(v) {
		return nil, ErrMalformed
	}
	g.Version = string(v)
	g.ConnectionID = r.u32()
	r.bytes(8) // auth-plugin-data-part-1: the scramble, never kept
	if r.u8() != 0 {
		return nil, ErrMalformed // filler
	}
	g.Capabilities = uint32(r.u16())
	if r.bad {
		return nil, ErrShort
	}
	if r.left() == 0 {
		return g, nil // an old server stops here
	}
	g.Charset = r.u8()
	g.Status = r.u16()
	g.Capabilities |= uint32(r.u16()) << 16
	authLen := int(r.u8())
	reserved := r.bytes(10)
	if r.bad {
		return nil, ErrShort
	}
	if g.Capabilities&capLongPassword == 0 {
		g.MariaCaps = binary.LittleEndian.Uint32(reserved[6:])
	}
	if g.Capabilities&capSecureConnection != 0 {
		r.bytes(max(13, authLen-8)) // auth-plugin-data-part-2
	}
	if g.Capabilities&capPluginAuth != 0 && r.left() > 0 {
		name := r.nulString()
		g.AuthPlugin = printable(name, 64)
	}
	return g, nil
}

// HandshakeResponse is the client's reply to the greeting
// (Protocol::HandshakeResponse41 and HandshakeResponse320), or an
// SSLRequest (the first 32 bytes of one, CLIENT_SSL set).
type HandshakeResponse struct {
	Capabilities uint32
	MariaCaps    uint32
	SSLRequest   bool
	User         string
	Database     string
	AuthPlugin   string
	AuthLen      int // length of the auth response; its bytes are never kept
	Attrs        map[string]string
}

// maxAttrs bounds the connection attributes kept.
const maxAttrs = 32

// ParseHandshakeResponse reads a handshake response payload.
func ParseHandshakeResponse(p []byte) (*HandshakeResponse, []byte, error) {
	r := &reader{b: p}
	h := &HandshakeResponse{}
	if len(p) < 4 {
		return nil, nil, ErrShort
	}
	if binary.LittleEndian.Uint16(p)&capProtocol41 == 0 {
		// HandshakeResponse320: caps(2) max-packet(3) user<NUL> auth.
		h.Capabilities = uint32(r.u16())
		r.u24()
		h.User = printable(r.nulString(), 128)
		if r.bad {
			return nil, nil, ErrMalformed
		}
		return h, nil, nil
	}
	h.Capabilities = r.u32()
	r.u32() // max packet size
	r.u8()  // character set
	filler := r.bytes(23)
	if r.bad {
		return nil, nil, ErrShort
	}
	if h.Capabilities&capLongPassword == 0 {
		h.MariaCaps = binary.LittleEndian.Uint32(filler[19:])
	}
	if r.left() == 0 {
		h.SSLRequest = h.Capabilities&capSSL != 0
		if !h.SSLRequest {
			return nil, nil, ErrShort
		}
		return h, nil, nil
	}
	h.User = printable(r.nulString(), 128)
	var auth []byte
	switch {
	case h.Capabilities&capPluginAuthLenenc != 0:
		auth = r.lenencString()
	case h.Capabilities&capSecureConnection != 0:
		auth = r.bytes(int(r.u8()))
	default:
		auth = r.nulString()
	}
	h.AuthLen = len(auth)
	if r.bad {
		return h, auth, ErrMalformed
	}
	if h.Capabilities&capConnectWithDB != 0 && r.left() > 0 {
		h.Database = printable(r.nulString(), 128)
	}
	if h.Capabilities&capPluginAuth != 0 && r.left() > 0 {
		h.AuthPlugin = printable(r.nulString(), 64)
	}
	if h.Capabilities&capConnectAttrs != 0 && r.left() > 0 {
		n, _ := r.lenenc()
		if n > uint64(r.left()) {
			return h, auth, ErrMalformed
		}
		ar := &reader{b: r.bytes(int(n))}
		for ar.left() > 0 && !ar.bad {
			k := ar.lenencString()
			v := ar.lenencString()
			if ar.bad {
				return h, auth, ErrMalformed
			}
			if len(h.Attrs) < maxAttrs {
				if h.Attrs == nil {
					h.Attrs = map[string]string{}
				}
				h.Attrs[printable(k, 64)] = printable(v, 256)
			}
		}
	}
	if r.bad {
		return h, auth, ErrMalformed
	}
	return h, auth, nil
}

// ChangeUser is COM_CHANGE_USER's payload after the command byte.
type ChangeUser struct {
	User, Database, AuthPlugin string
}

// ParseChangeUser reads COM_CHANGE_USER (the command byte included).
func ParseChangeUser(p []byte, caps uint32) (*ChangeUser, []byte, error) {
	r := &reader{b: p}
	if r.u8() != comChangeUser {
		return nil, nil, ErrMalformed
	}
	c := &ChangeUser{User: printable(r.nulString(), 128)}
	var auth []byte
	if caps&capSecureConnection != 0 {
		auth = r.bytes(int(r.u8()))
	} else {
		auth = r.nulString()
	}
	c.Database = printable(r.nulString(), 128)
	if r.bad {
		return c, auth, ErrMalformed
	}
	if r.left() >= 2 {
		r.u16() // character set
		if caps&capPluginAuth != 0 && r.left() > 0 {
			c.AuthPlugin = printable(r.nulString(), 64)
		}
	}
	return c, auth, nil
}

// OK is an OK packet (Protocol::OK_Packet), also the 0xFE-headed one that
// ends a result set with CLIENT_DEPRECATE_EOF.
type OK struct {
	AffectedRows uint64
	LastInsertID uint64
	Status       uint16
	Warnings     uint16
	Info         string
}

// ParseOK reads an OK packet (header 0x00 or 0xFE).
func ParseOK(p []byte, caps uint32) (*OK, error) {
	r := &reader{b: p}
	r.u8()
	ok := &OK{}
	ok.AffectedRows, _ = r.lenenc()
	ok.LastInsertID, _ = r.lenenc()
	if caps&(capProtocol41|capTransactions) != 0 {
		ok.Status = r.u16()
		if caps&capProtocol41 != 0 {
			ok.Warnings = r.u16()
		}
	}
	if r.bad {
		return nil, ErrMalformed
	}
	if r.left() > 0 {
		if caps&capSessionTrack != 0 {
			ok.Info = printable(r.lenencString(), 200)
		} else {
			ok.Info = printable(r.bytes(r.left()), 200)
		}
	}
	return ok, nil
}

// EOF is an EOF packet (Protocol::EOF_Packet): warnings and status.
type EOF struct {
	Warnings uint16
	Status   uint16
}

// ParseEOF reads an EOF packet of fewer than 9 bytes.
func ParseEOF(p []byte) (*EOF, error) {
	if len(p) < 1 || p[0] != hdrEOF || len(p) >= 9 {
		return nil, ErrMalformed
	}
	e := &EOF{}
	if len(p) >= 5 {
		e.Warnings = binary.LittleEndian.Uint16(p[1:])
		e.Status = binary.LittleEndian.Uint16(p[3:])
	}
	return e, nil
}

// Err is an ERR packet (Protocol::ERR_Packet).
type Err struct {
	Code     uint16
	SQLState string
	Message  string
	Progress bool // MariaDB progress report (code 0xFFFF), not an error
}

// ParseErr reads an ERR packet.
func ParseErr(p []byte) (*Err, error) {
	r := &reader{b: p}
	if r.u8() != hdrErr {
		return nil, ErrMalformed
	}
	e := &Err{Code: r.u16()}
	if r.bad {
		return nil, ErrShort
	}
	if e.Code == 0xffff {
		e.Progress = true
		return e, nil
	}
	if r.left() >= 6 && r.b[r.off] == '#' {
		r.u8()
		e.SQLState = printable(r.bytes(5), 5)
	}
	e.Message = printable(r.bytes(r.left()), 512)
	return e, nil
}

// PrepareOK is COM_STMT_PREPARE_OK.
type PrepareOK struct {
	StatementID uint32
	Columns     uint16
	Params      uint16
	Warnings    uint16
}

// ParsePrepareOK reads COM_STMT_PREPARE_OK.
func ParsePrepareOK(p []byte) (*PrepareOK, error) {
	r := &reader{b: p}
	if r.u8() != hdrOK {
		return nil, ErrMalformed
	}
	o := &PrepareOK{StatementID: r.u32(), Columns: r.u16(), Params: r.u16()}
	if r.bad {
		return nil, ErrShort
	}
	if r.left() >= 3 {
		r.u8()
		o.Warnings = r.u16()
	}
	return o, nil
}

// ColumnCount reads the first packet of a result set: the column count, and
// whether column definitions follow (MariaDB's cache-metadata flag after the
// count; MySQL's optional-metadata flag before it).
func ColumnCount(p []byte, caps uint32, mariaCaps uint32) (n uint64, metadata bool, err error) {
	r := &reader{b: p}
	metadata = true
	if caps&capOptionalMetadata != 0 {
		metadata = r.u8() != 0
	}
	n, null := r.lenenc()
	if r.bad || null || n == 0 || n > 4096 {
		return 0, false, ErrMalformed
	}
	if mariaCaps&mariaCacheMetadata != 0 && r.left() > 0 {
		metadata = r.u8() != 0
	}
	return n, metadata, nil
}

// Execute is COM_STMT_EXECUTE: the statement, its flags and the parameter
// values as text (bounded).
type Execute struct {
	StatementID uint32
	Flags       byte
	Params      []string
	Types       []uint16 // the types the values were read with (new or remembered)
	NewTypes    bool
}

// Caps on decoded parameters.
const (
	maxParams     = 64
	maxParamBytes = 256
)

// ParseExecute reads COM_STMT_EXECUTE. nParams is the statement's parameter
// count from its PREPARE_OK (-1 when the prepare was not seen: then only a
// payload that carries types can be decoded); types are the ones bound by an
// earlier execution of the statement (used when no new types are sent).
// longData marks parameters sent with COM_STMT_SEND_LONG_DATA.
func ParseExecute(p []byte, nParams int, types []uint16, longData uint64) (*Execute, error) {
	r := &reader{b: p}
	if r.u8() != comStmtExecute {
		return nil, ErrMalformed
	}
	e := &Execute{StatementID: r.u32(), Flags: r.u8()}
	r.u32() // iteration count, always 1
	if r.bad {
		return nil, ErrShort
	}
	if nParams < 0 {
		return e, nil
	}
	if nParams == 0 || r.left() == 0 {
		return e, nil
	}
	bitmap := r.bytes((nParams + 7) / 8)
	bound := r.u8()
	if r.bad {
		return e, ErrShort
	}
	if bound == 1 {
		e.NewTypes = true
		e.Types = make([]uint16, nParams)
		for i := range e.Types {
			e.Types[i] = r.u16()
		}
		if r.bad {
			return e, ErrShort
		}
	} else {
		e.Types = types
	}
	if len(e.Types) != nParams {
		return e, nil // values without types cannot be read
	}
	for i := 0; i < nParams; i++ {
		var v string
		switch {
		case bitmap[i/8]&(1<<(i%8)) != 0:
			v = "NULL"
		case i < 64 && longData&(1<<i) != 0:
			v = "<long data>"
		default:
			var ok bool
			v, ok = binaryValue(r, e.Types[i])
			if !ok {
				// The payload was cut (a capped packet) or the type is unknown.
				if i < maxParams {
					e.Params = append(e.Params, "<truncated>")
				}
				return e, nil
			}
		}
		if i < maxParams {
			e.Params = append(e.Params, v)
		}
	}
	return e, nil
}

// Field types (Protocol::ColumnType) of the binary protocol.
const (
	typeDecimal    = 0x00
	typeTiny       = 0x01
	typeShort      = 0x02
	typeLong       = 0x03
	typeFloat      = 0x04
	typeDouble     = 0x05
	typeNull       = 0x06
	typeTimestamp  = 0x07
	typeLongLong   = 0x08
	typeInt24      = 0x09
	typeDate       = 0x0a
	typeTime       = 0x0b
	typeDateTime   = 0x0c
	typeYear       = 0x0d
	typeVarchar    = 0x0f
	typeBit        = 0x10
	typeJSON       = 0xf5
	typeNewDecimal = 0xf6
	typeEnum       = 0xf7
	typeSet        = 0xf8
	typeTinyBlob   = 0xf9
	typeMediumBlob = 0xfa
	typeLongBlob   = 0xfb
	typeBlob       = 0xfc
	typeVarString  = 0xfd
	typeString     = 0xfe
	typeGeometry   = 0xff
)

// binaryValue reads one value of the binary protocol (Binary Protocol
// Value) as text. typ is the parameter type word: the type byte, and 0x80
// in the high byte for unsigned.
func binaryValue(r *reader, typ uint16) (string, bool) {
	unsigned := typ&0x8000 != 0
	switch typ & 0xff {
	case typeNull:
		return "NULL", true
	case typeTiny:
		v := r.u8()
		if unsigned {
			return strconv.FormatUint(uint64(v), 10), !r.bad
		}
		return strconv.FormatInt(int64(int8(v)), 10), !r.bad
	case typeShort, typeYear:
		v := r.u16()
		if unsigned || typ&0xff == typeYear {
			return strconv.FormatUint(uint64(v), 10), !r.bad
		}
		return strconv.FormatInt(int64(int16(v)), 10), !r.bad
	case typeLong, typeInt24:
		v := r.u32()
		if unsigned {
			return strconv.FormatUint(uint64(v), 10), !r.bad
		}
		return strconv.FormatInt(int64(int32(v)), 10), !r.bad
	case typeLongLong:
		v := r.u64()
		if unsigned {
			return strconv.FormatUint(v, 10), !r.bad
		}
		return strconv.FormatInt(int64(v), 10), !r.bad
	case typeFloat:
		v := math.Float32frombits(r.u32())
		return strconv.FormatFloat(float64(v), 'g', -1, 32), !r.bad
	case typeDouble:
		v := math.Float64frombits(r.u64())
		return strconv.FormatFloat(v, 'g', -1, 64), !r.bad
	case typeDate, typeDateTime, typeTimestamp:
		n := int(r.u8())
		b := r.bytes(n)
		if r.bad || (n != 0 && n != 4 && n != 7 && n != 11) {
			return "", false
		}
		return dateTime(b, typ&0xff == typeDate), true
	case typeTime:
		n := int(r.u8())
		b := r.bytes(n)
		if r.bad || (n != 0 && n != 8 && n != 12) {
			return "", false
		}
		return timeValue(b), true
	case typeDecimal, typeNewDecimal, typeVarchar, typeBit, typeJSON, typeEnum, typeSet, typeTinyBlob,
		typeMediumBlob, typeLongBlob, typeBlob, typeVarString, typeString, typeGeometry:
		b := r.lenencString()
		if r.bad {
			return "", false
		}
		return paramText(b), true
	}
	return "", false
}

// paramText shows a string or blob parameter: as text when it is UTF-8
// without control bytes, else as hex; cut at maxParamBytes with "...".
func paramText(b []byte) string {
	cut := len(b) > maxParamBytes
	if cut {
		b = b[:maxParamBytes]
	}
	var s string
	if textual(b, cut) {
		s = string(b)
	} else {
		s = "0x" + hex.EncodeToString(b[:min(len(b), maxParamBytes/2)])
		cut = cut || len(b) > maxParamBytes/2
	}
	if cut {
		s += "..."
	}
	return s
}

func textual(b []byte, cut bool) bool {
	for i := 0; i < len(b); {
		c, n := utf8.DecodeRune(b[i:])
		if c == utf8.RuneError && n <= 1 {
			// A rune cut by the bound is fine.
			return cut && len(b)-i < utf8.UTFMax
		}
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return false
		}
		i += n
	}
	return true
}

func dateTime(b []byte, dateOnly bool) string {
	var y, mo, d, h, mi, s, us int
	if len(b) >= 4 {
		y, mo, d = int(binary.LittleEndian.Uint16(b)), int(b[2]), int(b[3])
	}
	if len(b) >= 7 {
		h, mi, s = int(b[4]), int(b[5]), int(b[6])
	}
	if len(b) >= 11 {
		us = int(binary.LittleEndian.Uint32(b[7:]))
	}
	out := pad(y, 4) + "-" + pad(mo, 2) + "-" + pad(d, 2)
	if dateOnly {
		return out
	}
	out += " " + pad(h, 2) + ":" + pad(mi, 2) + ":" + pad(s, 2)
	if us != 0 {
		out += "." + pad(us, 6)
	}
	return out
}

func timeValue(b []byte) string {
	var neg bool
	var days, h, mi, s, us int
	if len(b) >= 8 {
		neg = b[0] == 1
		days = int(binary.LittleEndian.Uint32(b[1:]))
		h, mi, s = int(b[5]), int(b[6]), int(b[7])
	}
	if len(b) >= 12 {
		us = int(binary.LittleEndian.Uint32(b[8:]))
	}
	out := pad(days*24+h, 2) + ":" + pad(mi, 2) + ":" + pad(s, 2)
	if us != 0 {
		out += "." + pad(us, 6)
	}
	if neg {
		out = "-" + out
	}
	return out
}

func pad(v, n int) string {
	s := strconv.Itoa(v)
	for len(s) < n {
		s = "0" + s
	}
	return s
}

// printable copies b, bounded to n bytes, with control bytes replaced, so
// that what a peer sends cannot forge lines in a log.
func printable(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			c = ' '
		}
		out[i] = c
	}
	return strings.ToValidUTF8(string(out), "?")
}

func printableASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// SplitStatements cuts a multi-statement query at the semicolons that end
// statements: not inside quotes (”, "", “), comments (-- , #, /* */) or
// escapes. Empty statements are dropped; at most limit are returned, the
// last one holding the rest.
func SplitStatements(q string, limit int) []string {
	var out []string
	start := 0
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '\'', '"', '`':
			for i++; i < len(q) && q[i] != c; i++ {
				if q[i] == '\\' && c != '`' {
					i++
				}
			}
		case '#':
			i = skipLine(q, i)
		case '-':
			if i+2 < len(q) && q[i+1] == '-' && (q[i+2] == ' ' || q[i+2] == '\t' || q[i+2] == '\n') {
				i = skipLine(q, i)
			}
		case '/':
			if i+1 < len(q) && q[i+1] == '*' {
				if j := strings.Index(q[i+2:], "*/"); j >= 0 {
					i += j + 3
				} else {
					i = len(q)
				}
			}
		case ';':
			if len(out) == limit-1 {
				break
			}
			if s := strings.TrimSpace(q[start:i]); s != "" {
				out = append(out, s)
			}
			start = i + 1
		}
	}
	if start < len(q) {
		if s := strings.TrimSpace(q[start:]); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func skipLine(q string, i int) int {
	if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
		return i + j
	}
	return len(q)
}

// Operation is a statement's first keyword in upper case, after blanks,
// comments and opening parentheses ("" when it has none).
func Operation(q string) string {
	i := 0
	for i < len(q) {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '(':
			i++
		case c == '#' || c == '-' && strings.HasPrefix(q[i:], "-- "):
			i = skipLine(q, i)
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			// MySQL's executable comments /*! ... */ hold a statement: read into them.
			if strings.HasPrefix(q[i:], "/*!") || strings.HasPrefix(q[i:], "/*M!") {
				i += 3
				if q[i-1] == 'M' || q[i-1] == '!' && i < len(q) && q[i] == '!' {
					i++
				}
				for i < len(q) && q[i] >= '0' && q[i] <= '9' {
					i++
				}
				continue
			}
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return ""
			}
			i += j + 4
		default:
			j := i
			for j < len(q) && (q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z' || q[j] == '_') {
				j++
			}
			if j == i || j-i > 32 {
				return ""
			}
			return strings.ToUpper(q[i:j])
		}
	}
	return ""
}

// MaskPasswords hides the passwords a statement carries in clear: the
// string after IDENTIFIED BY / IDENTIFIED WITH <plugin> BY|AS (CREATE USER,
// ALTER USER, GRANT), inside PASSWORD('...') and after SET PASSWORD ... =.
func MaskPasswords(q string) string {
	upper := strings.ToUpper(q)
	if !strings.Contains(upper, "IDENTIFIED") && !strings.Contains(upper, "PASSWORD") {
		return q
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c != '\'' && c != '"' {
			continue
		}
		// the end of this literal
		j := i + 1
		for j < len(q) && q[j] != c {
			if q[j] == '\\' {
				j++
			}
			j++
		}
		if passwordContext(upper[:i]) {
			b.WriteString(q[last : i+1])
			b.WriteString(Mask)
			last = min(j, len(q))
		}
		i = j
	}
	if last == 0 {
		return q
	}
	b.WriteString(q[last:])
	return b.String()
}

// passwordContext: the words before a string literal say it is a password.
func passwordContext(before string) bool {
	s := strings.TrimRight(before, " \t\r\n")
	switch {
	case strings.HasSuffix(s, "PASSWORD("), strings.HasSuffix(s, "OLD_PASSWORD("):
		return true
	case strings.HasSuffix(s, "="):
		// SET PASSWORD [FOR user] = '...' (a statement of its own, not a column named password)
		t := strings.TrimLeft(s, " \t\r\n")
		return strings.HasPrefix(t, "SET PASSWORD") && !strings.Contains(t, ";")
	}
	fields := strings.Fields(s)
	n := len(fields)
	if n >= 2 && (fields[n-1] == "BY" || fields[n-1] == "AS") {
		if fields[n-2] == "IDENTIFIED" {
			return true
		}
		if n >= 4 && fields[n-3] == "WITH" && fields[n-4] == "IDENTIFIED" {
			return true
		}
		// IDENTIFIED VIA|WITH plugin USING|AS 'x' is a hash, not clear text.
	}
	if n >= 1 && fields[n-1] == "USING" && n >= 3 && (fields[n-3] == "VIA" || fields[n-3] == "WITH") {
		return false
	}
	return false
}

// Mask replaces a password.
const Mask = "****"
