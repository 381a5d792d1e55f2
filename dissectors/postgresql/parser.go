package postgresql

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// Protocol codes of the untyped first messages (55.7 "Message Formats":
// StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).
const (
	codeProtocol3 = 3 << 16 // 196608: protocol version 3.0
	codeSSL       = 80877103
	codeGSSENC    = 80877104
	codeCancel    = 80877102
)

// Message types (55.7). Frontend and backend reuse letters with other
// meanings, so each side has its own switch.
const (
	// backend
	msgAuth            = 'R'
	msgKeyData         = 'K'
	msgParameterStatus = 'S'
	msgReady           = 'Z'
	msgRowDescription  = 'T'
	msgDataRow         = 'D'
	msgCommandComplete = 'C'
	msgError           = 'E'
	msgNotice          = 'N'
	msgEmptyQuery      = 'I'
	msgParseComplete   = '1'
	msgBindComplete    = '2'
	msgCloseComplete   = '3'
	msgNoData          = 'n'
	msgPortalSuspended = 's'
	msgParamDesc       = 't'
	msgCopyIn          = 'G'
	msgCopyOut         = 'H'
	msgCopyBoth        = 'W'
	msgNegotiate       = 'v'
	msgFunctionResult  = 'V'
	msgNotification    = 'A'
	// frontend
	msgQuery     = 'Q'
	msgParse     = 'P'
	msgBind      = 'B'
	msgDescribe  = 'D'
	msgExecute   = 'E'
	msgClose     = 'C'
	msgSync      = 'S'
	msgFlush     = 'H'
	msgTerminate = 'X'
	msgPassword  = 'p' // PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse
	msgFunction  = 'F'
	// both
	msgCopyData = 'd'
	msgCopyDone = 'c'
	msgCopyFail = 'f'
)

// Authentication request codes (55.7, AuthenticationXXX messages).
const (
	authOk        = 0
	authKerberos  = 2
	authCleartext = 3
	authMD5       = 5
	authGSS       = 7
	authGSSCont   = 8
	authSSPI      = 9
	authSASL      = 10
	authSASLCont  = 11
	authSASLFinal = 12
)

// maxLength is the largest message length accepted as framing: the server
// itself refuses messages over 1 GB; anything larger means the stream is not
// (or no longer) PostgreSQL.
const maxLength = 1 << 30

var (
	errShort  = errors.New("postgresql: message truncated")
	errLength = errors.New("postgresql: impossible message length")
)

// ParseHeader reads a typed message header: type byte and Int32 length (the
// length counts itself, not the type). ok is false when b is shorter than 5.
func ParseHeader(b []byte) (typ byte, length int, ok bool, err error) {
	if len(b) < 5 {
		return 0, 0, false, nil
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if n < 4 || n > maxLength {
		return b[0], 0, true, errLength
	}
	return b[0], int(n), true, nil
}

// ParseStartupHeader reads the untyped first message's length and code
// (StartupMessage protocol version, or a request code).
func ParseStartupHeader(b []byte) (length int, code uint32, ok bool, err error) {
	if len(b) < 8 {
		return 0, 0, false, nil
	}
	n := binary.BigEndian.Uint32(b[0:4])
	code = binary.BigEndian.Uint32(b[4:8])
	// A StartupMessage is at most 10000 bytes (the server's own limit); the
	// requests are exactly 8 (16 for CancelRequest).
	if n < 8 || n > 10000 {
		return 0, code, true, errLength
	}
	return int(n), code, true, nil
}

// cstring splits a NUL-terminated string off b.
func cstring(b []byte) (s []byte, rest []byte, ok bool) {
	for i, c := range b {
		if c == 0 {
			return b[:i], b[i+1:], true
		}
	}
	return nil, nil, false
}

// ParseStartupParams reads the name/value pairs of a StartupMessage body
// (after the protocol version), ended by an empty name.
func ParseStartupParams(b []byte, f func(name, value []byte)) error {
	for len(b) > 0 {
		name, rest, ok := cstring(b)
		if !ok {
			return errShort
		}
		if len(name) == 0 {
			return nil
		}
		value, rest2, ok := cstring(rest)
		if !ok {
			return errShort
		}
		f(name, value)
		b = rest2
	}
	return errShort
}

// ErrorFields are the fields of an ErrorResponse or NoticeResponse (55.8
// "Error and Notice Message Fields") psmtap keeps.
type ErrorFields struct {
	Severity string // V (non-localized) when present, else S
	Code     string // C: SQLSTATE
	Message  string // M
}

// ParseErrorFields reads an ErrorResponse/NoticeResponse body.
func ParseErrorFields(b []byte) (ErrorFields, error) {
	var e ErrorFields
	for len(b) > 0 {
		t := b[0]
		if t == 0 {
			return e, nil
		}
		v, rest, ok := cstring(b[1:])
		if !ok {
			return e, errShort
		}
		switch t {
		case 'S':
			if e.Severity == "" {
				e.Severity = printable(v, 16)
			}
		case 'V':
			e.Severity = printable(v, 16)
		case 'C':
			e.Code = printable(v, 5)
		case 'M':
			e.Message = printable(v, maxErrorText)
		}
		b = rest
	}
	return e, errShort
}

// ParseParameterStatus reads a ParameterStatus body: name and value.
func ParseParameterStatus(b []byte) (name, value []byte, err error) {
	name, rest, ok := cstring(b)
	if !ok {
		return nil, nil, errShort
	}
	value, _, ok = cstring(rest)
	if !ok {
		return nil, nil, errShort
	}
	return name, value, nil
}

// ParseAuth reads an Authentication message: its code and what follows it
// (the MD5 salt, the SASL mechanism list...).
func ParseAuth(b []byte) (code uint32, data []byte, err error) {
	if len(b) < 4 {
		return 0, nil, errShort
	}
	return binary.BigEndian.Uint32(b), b[4:], nil
}

// ParseSASLMechanisms reads AuthenticationSASL's mechanism names.
func ParseSASLMechanisms(b []byte) []string {
	var out []string
	for len(b) > 0 && len(out) < 8 {
		m, rest, ok := cstring(b)
		if !ok || len(m) == 0 {
			break
		}
		out = append(out, printable(m, 32))
		b = rest
	}
	return out
}

// ParseSASLInitial reads the mechanism a SASLInitialResponse chose.
func ParseSASLInitial(b []byte) (mechanism string, err error) {
	m, _, ok := cstring(b)
	if !ok {
		return "", errShort
	}
	return printable(m, 32), nil
}

// ParseQuery reads a Query body: the query string. A cut message (head only)
// has no NUL: what there is is the text.
func ParseQuery(b []byte, cut bool) []byte {
	if s, _, ok := cstring(b); ok {
		return s
	}
	if cut {
		return b
	}
	return b
}

// Parse is a Parse message (55.7): prepared statement name, query text, and
// the parameter type OIDs it names (0: unspecified).
type Parse struct {
	Name  []byte
	Query []byte
	OIDs  []uint32
}

// maxParams bounds the parameters psmtap keeps of one statement.
const maxParams = 64

// ParseParse reads a Parse body. A cut message keeps the query's head.
func ParseParse(b []byte, cut bool) (Parse, error) {
	var p Parse
	name, rest, ok := cstring(b)
	if !ok {
		return p, errShort
	}
	p.Name = name
	q, rest, ok := cstring(rest)
	if !ok {
		if cut {
			p.Query = rest
			return p, nil
		}
		return p, errShort
	}
	p.Query = q
	if len(rest) < 2 {
		return p, errShort
	}
	n := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) < 4*n {
		return p, errShort
	}
	for i := 0; i < n && i < maxParams; i++ {
		p.OIDs = append(p.OIDs, binary.BigEndian.Uint32(rest[4*i:]))
	}
	return p, nil
}

// Param is one bound parameter value.
type Param struct {
	Format int16  // 0 text, 1 binary
	Null   bool   // length -1
	Value  []byte // at most maxParamBytes of it
	Len    int    // its full length
}

// maxParamBytes bounds what is kept of one parameter value.
const maxParamBytes = 128

// Bind is a Bind message (55.7): portal, statement, parameter values.
type Bind struct {
	Portal    []byte
	Statement []byte
	Params    []Param // at most maxParams
	Count     int     // parameters in the message
}

// ParseBind reads a Bind body; the values in the result point into b.
func ParseBind(b []byte) (Bind, error) {
	var m Bind
	portal, rest, ok := cstring(b)
	if !ok {
		return m, errShort
	}
	stmt, rest, ok := cstring(rest)
	if !ok {
		return m, errShort
	}
	m.Portal, m.Statement = portal, stmt
	if len(rest) < 2 {
		return m, errShort
	}
	nf := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) < 2*nf {
		return m, errShort
	}
	formats := rest[:2*nf]
	rest = rest[2*nf:]
	if len(rest) < 2 {
		return m, errShort
	}
	np := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	m.Count = np
	for i := 0; i < np; i++ {
		if len(rest) < 4 {
			return m, errShort
		}
		l := int32(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		p := Param{}
		switch {
		case nf == 1:
			p.Format = int16(binary.BigEndian.Uint16(formats))
		case nf > i:
			p.Format = int16(binary.BigEndian.Uint16(formats[2*i:]))
		}
		if l < 0 {
			p.Null = true
		} else {
			if int(l) > len(rest) {
				return m, errShort
			}
			p.Len = int(l)
			p.Value = rest[:min(int(l), maxParamBytes)]
			rest = rest[l:]
		}
		if i < maxParams {
			m.Params = append(m.Params, p)
		}
	}
	return m, nil
}

// ParseExecute reads an Execute body: portal and row limit.
func ParseExecute(b []byte) (portal []byte, maxRows uint32, err error) {
	portal, rest, ok := cstring(b)
	if !ok || len(rest) < 4 {
		return nil, 0, errShort
	}
	return portal, binary.BigEndian.Uint32(rest), nil
}

// ParseTarget reads a Describe or Close body: 'S' (statement) or 'P'
// (portal), and the name.
func ParseTarget(b []byte) (kind byte, name []byte, err error) {
	if len(b) < 2 {
		return 0, nil, errShort
	}
	name, _, ok := cstring(b[1:])
	if !ok || (b[0] != 'S' && b[0] != 'P') {
		return 0, nil, errShort
	}
	return b[0], name, nil
}

// ParseParamDescription reads a ParameterDescription body: the OIDs.
func ParseParamDescription(b []byte) ([]uint32, error) {
	if len(b) < 2 {
		return nil, errShort
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b) < 2+4*n {
		return nil, errShort
	}
	out := make([]uint32, 0, min(n, maxParams))
	for i := 0; i < n && i < maxParams; i++ {
		out = append(out, binary.BigEndian.Uint32(b[2+4*i:]))
	}
	return out, nil
}

// ParseTag reads a CommandComplete tag (55.7): the command, and the row
// count it ends with, -1 when it has none. "INSERT oid rows" ends with the
// rows; "SELECT 10", "UPDATE 3", "DELETE 0", "COPY 7", "FETCH 5", "MERGE 2",
// "MOVE 1".
func ParseTag(tag []byte) (command string, rows int64) {
	s := string(tag)
	rows = -1
	i := strings.LastIndexByte(s, ' ')
	if i < 0 {
		return s, -1
	}
	n, err := strconv.ParseInt(s[i+1:], 10, 64)
	if err != nil || n < 0 {
		return s, -1
	}
	cmd := s[:i]
	if strings.HasPrefix(cmd, "INSERT ") {
		cmd = "INSERT"
	}
	switch cmd {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "COPY", "FETCH", "MOVE":
		return cmd, n
	}
	return s, -1
}

// Type OIDs of the builtin types whose binary form psmtap decodes
// (pg_type.dat of PostgreSQL's catalog).
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidFloat4      = 700
	oidFloat8      = 701
	oidUnknown     = 705
	oidBpchar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTimestamp   = 1114
	oidTimestampTZ = 1184
	oidUUID        = 2950
	oidJSONB       = 3802
)

// pgEpoch is 2000-01-01 00:00:00 UTC, the origin of binary dates and
// timestamps.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// maxParamText bounds one parameter as shown.
const maxParamText = 128

// FormatParam shows a bound value as text: text-format values as they are,
// binary ones decoded for the common types (oid, when known), else in hex.
// Values are bounded; a cut one ends in "...".
func FormatParam(oid uint32, p Param) string {
	if p.Null {
		return "NULL"
	}
	cut := p.Len > len(p.Value)
	if p.Format == 0 {
		return bounded(printable(p.Value, maxParamText), cut)
	}
	v := p.Value
	switch oid {
	case oidBool:
		if len(v) == 1 && !cut {
			if v[0] != 0 {
				return "true"
			}
			return "false"
		}
	case oidInt2:
		if len(v) == 2 && !cut {
			return strconv.Itoa(int(int16(binary.BigEndian.Uint16(v))))
		}
	case oidInt4:
		if len(v) == 4 && !cut {
			return strconv.Itoa(int(int32(binary.BigEndian.Uint32(v))))
		}
	case oidOID:
		if len(v) == 4 && !cut {
			return strconv.FormatUint(uint64(binary.BigEndian.Uint32(v)), 10)
		}
	case oidInt8:
		if len(v) == 8 && !cut {
			return strconv.FormatInt(int64(binary.BigEndian.Uint64(v)), 10)
		}
	case oidFloat4:
		if len(v) == 4 && !cut {
			return formatFloat(float64(math.Float32frombits(binary.BigEndian.Uint32(v))), 32)
		}
	case oidFloat8:
		if len(v) == 8 && !cut {
			return formatFloat(math.Float64frombits(binary.BigEndian.Uint64(v)), 64)
		}
	case oidText, oidVarchar, oidBpchar, oidName, oidChar, oidJSON, oidUnknown:
		return bounded(printable(v, maxParamText), cut)
	case oidJSONB:
		if len(v) > 0 && v[0] == 1 { // version byte, then the text
			return bounded(printable(v[1:], maxParamText), cut)
		}
	case oidUUID:
		if len(v) == 16 && !cut {
			h := hex.EncodeToString(v)
			return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
		}
	case oidTimestamp, oidTimestampTZ:
		if len(v) == 8 && !cut {
			s := formatTimestamp(int64(binary.BigEndian.Uint64(v)))
			if oid == oidTimestampTZ && s[0] != '-' && s[0] != 'i' {
				s += "+00"
			}
			return s
		}
	case oidDate:
		if len(v) == 4 && !cut {
			d := int32(binary.BigEndian.Uint32(v))
			switch d {
			case math.MaxInt32:
				return "infinity"
			case math.MinInt32:
				return "-infinity"
			}
			return pgEpoch.AddDate(0, 0, int(d)).Format("2006-01-02")
		}
	}
	// bytea and everything else: hex, PostgreSQL's bytea_output style.
	return bounded(`\x`+hex.EncodeToString(v[:min(len(v), maxParamText/2-1)]), cut || len(v) > maxParamText/2-1)
}

// formatFloat writes a float as PostgreSQL's output does: shortest exact
// digits, an exponent only for very large or small magnitudes.
func formatFloat(f float64, bits int) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	if a := math.Abs(f); a == 0 || a >= 1e-4 && a < 1e15 {
		return strconv.FormatFloat(f, 'f', -1, bits)
	}
	return strconv.FormatFloat(f, 'g', -1, bits)
}

// formatTimestamp shows microseconds since 2000-01-01 as PostgreSQL's
// ISO output does: "2026-11-26 11:00:00.25".
func formatTimestamp(us int64) string {
	switch us {
	case math.MaxInt64:
		return "infinity"
	case math.MinInt64:
		return "-infinity"
	}
	// time.Duration covers about 292 years: step in days.
	days := us / 86400e6
	rem := us % 86400e6
	if rem < 0 {
		days--
		rem += 86400e6
	}
	t := pgEpoch.AddDate(0, 0, int(days)).Add(time.Duration(rem) * time.Microsecond)
	s := t.Format("2006-01-02 15:04:05.999999")
	if t.Year() <= 0 {
		return strconv.FormatInt(us, 10) // BC dates: the raw value rather than a wrong one
	}
	return s
}

func bounded(s string, cut bool) string {
	if cut {
		return s + "..."
	}
	return s
}

// printable bounds b to n bytes (not splitting a UTF-8 sequence) and
// replaces control bytes, so that what a client or server sent cannot forge
// lines in a log.
func printable(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		for k := 0; k < 3 && len(b) > 0 && b[len(b)-1]&0xC0 == 0x80; k++ {
			b = b[:len(b)-1]
		}
		if len(b) > 0 && b[len(b)-1] >= 0xC0 {
			b = b[:len(b)-1]
		}
	}
	clean := true
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return string(b)
	}
	out := []byte(string(b))
	for i, c := range out {
		if c < 0x20 || c == 0x7f {
			if c == '\n' || c == '\t' || c == '\r' {
				out[i] = ' '
			} else {
				out[i] = '?'
			}
		}
	}
	return string(out)
}
