package postgresql

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// FuzzParsers: every message-body parser, and the SQL helpers, never panic
// on any bytes.
func FuzzParsers(f *testing.F) {
	f.Add([]byte("\x00s1\x00\x00\x02\x00\x01\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00*\x00\x00\x00\x03bob\x00\x00")) // a Bind
	f.Add([]byte("s1\x00SELECT $1\x00\x00\x01\x00\x00\x00\x17"))                                                        // a Parse with an int4
	f.Add([]byte("SERROR\x00C42P01\x00Mno\x00\x00"))                                                                    // an ErrorResponse
	f.Add([]byte("CREATE FUNCTION f() AS $$ SELECT 1; $$; SELECT E'\\''; /* a /* b */ */ ALTER ROLE x PASSWORD 'y'"))   // SQL
	f.Add([]byte("\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00"))                                                              // AuthenticationSASL
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseHeader(b)
		ParseStartupHeader(b)
		ParseStartupParams(b, func(k, v []byte) {})
		ParseErrorFields(b)
		ParseParameterStatus(b)
		if _, data, err := ParseAuth(b); err == nil {
			ParseSASLMechanisms(data)
		}
		ParseSASLInitial(b)
		ParseQuery(b, true)
		ParseParse(b, false)
		ParseParse(b, true)
		if m, err := ParseBind(b); err == nil {
			for _, p := range m.Params {
				for _, oid := range []uint32{0, oidBool, oidInt2, oidInt4, oidInt8, oidFloat4, oidFloat8, oidUUID, oidTimestamp, oidTimestampTZ, oidDate, oidJSONB, oidText} {
					FormatParam(oid, p)
				}
			}
		}
		for _, oid := range []uint32{oidTimestamp, oidDate, oidFloat8, oidJSONB} {
			FormatParam(oid, Param{Format: 1, Value: b, Len: len(b)})
		}
		ParseExecute(b)
		ParseTarget(b)
		ParseParamDescription(b)
		ParseTag(b)
		SplitStatements(b, func(s []byte) { Operation(s) })
		MaskPasswords(string(b))
		queryText(b, 16)
	})
}

// FuzzSession: a whole connection; each 0x00/0x01 byte pair "\xfe\x00" /
// "\xfe\x01" switches direction, so a seed is a conversation.
func FuzzSession(f *testing.F) {
	conv := func(steps ...step) []byte {
		var out []byte
		for _, s := range steps {
			out = append(out, 0xfe, byte(s.dir))
			out = append(out, s.data...)
		}
		return out
	}
	f.Add(conv(step{c, startupMsg("user", "alice")}, step{s, loginOK()}, step{c, queryMsg("SELECT 1; SELECT 2")},
		step{s, cat(rowDesc("x"), dataRow("1"), complete("SELECT 1"), errorMsg("ERROR", "XX000", "x"), ready('I'))})) // simple query, error
	f.Add(conv(step{c, startupMsg("user", "alice")}, step{s, loginOK()},
		step{c, cat(parseMsg("s", "SELECT $1", oidInt4), bindMsg("", "s", []int{1}, u32(1)), describeMsg('P', ""), executeMsg(""), syncMsg())},
		step{s, cat(msg('1'), msg('2'), rowDesc("x"), dataRow("1"), complete("SELECT 1"), ready('I'))})) // extended
	f.Add(conv(step{c, request(codeSSL)}, step{s, []byte{'N'}}, step{c, startupMsg("user", "a")}, step{s, authMsg(authCleartext)},
		step{c, msg('p', cstr("pw"))}, step{s, errorMsg("FATAL", "28P01", "no")})) // SSL refused, password refused
	f.Add(conv(step{c, startupMsg("user", "a")}, step{s, loginOK()}, step{c, queryMsg("COPY t FROM STDIN")},
		step{s, msg('G', []byte{0}, u16(0))}, step{c, cat(msg('d', []byte("1\n2\n")), msg('c'))}, step{s, cat(complete("COPY 2"), ready('I'))})) // COPY
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, reveal := range []bool{false, true} {
			r := &record.Record{}
			ss := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{RevealCredentials: reveal},
				Events: func(*record.Event) {}})
			dir := c
			start := 0
			for i := 0; i+1 < len(b); i++ {
				if b[i] == 0xfe && b[i+1] <= 1 {
					ss.Feed(dir, b[start:i], int64(i))
					dir = dissectors.Direction(b[i+1])
					start = i + 2
					i++
				}
			}
			if start < len(b) {
				ss.Feed(dir, b[start:], int64(len(b)))
			}
			ss.Snapshot(&record.Record{})
			ss.Close(r)
		}
	})
}
