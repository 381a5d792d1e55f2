package mysql

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
)

// FuzzParsers: every packet parser on any payload, without a panic.
func FuzzParsers(f *testing.F) {
	f.Add(mariaGreeting)                                                                             // MariaDB 10.11 greeting, as captured
	f.Add(handshakeResponse(testCaps, "alice", "shop", "x", "_os", "Linux"))                         // a handshake response with attributes
	f.Add(errPacket(1146, "42S02", "no table"))                                                      // ERR
	f.Add(unhex(`00 fc e803 05 0a00 0100`))                                                          // OK with a 2-byte lenenc
	f.Add(unhex(`17 01000000 00 01000000 00 01 0300 fd00 0a000000 0161`))                            // COM_STMT_EXECUTE with two values
	f.Add(unhex(`17 01000000 00 01000000 00 01 0c00 0b e807 05 06 07 08 09`))                        // a cut datetime
	f.Add(unhex(`11 616c69636500 14 3031323334353637383930313233343536373839 73686f7000 2100 7800`)) // COM_CHANGE_USER
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseGreeting(b)
		ParseHandshakeResponse(b)
		ParseChangeUser(b, testCaps)
		ParseOK(b, testCaps|capSessionTrack)
		ParseEOF(b)
		ParseErr(b)
		ParsePrepareOK(b)
		ColumnCount(b, capOptionalMetadata, mariaCacheMetadata)
		for _, n := range []int{-1, 0, 1, 3, 70} {
			ParseExecute(b, n, nil, 0)
			ParseExecute(b, n, []uint16{typeLongLong, typeString, typeTime}, 2)
		}
		s := string(b)
		SplitStatements(s, 8)
		Operation(s)
		MaskPasswords(s)
	})
}

// FuzzSession: a whole session from two byte streams, cut into segments,
// with compression and TLS possible, without a panic.
func FuzzSession(f *testing.F) {
	login := cat(pkt(0, mariaGreeting))
	resp := pkt(1, handshakeResponse(testCaps, "alice", "shop", "mysql_native_password"))
	f.Add(login, resp, byte(7))                                                                                       // greeting and a login
	f.Add(cat(login, pkt(2, okPacket), pkt(1, []byte{1}), pkt(2, colDef("a")), pkt(3, eofPacket), pkt(4, eofPacket)), // a result set
		cat(resp, pkt(0, []byte("\x03SELECT a; SELECT b"))), byte(3))
	f.Add(cat(login, pkt(2, okPacket), compress(0, pkt(1, okPacket))), // compressed after the login
		cat(pkt(1, handshakeResponse(testCaps|capCompress, "a", "", "")), compress(0, pkt(0, []byte("\x03DO 1")))), byte(5))
	f.Add(cat(login, pkt(2, unhex(`00 05000000 0100 0100 00 0000`))), // prepare and execute
		cat(resp, pkt(0, []byte("\x16SELECT ?")), pkt(0, unhex(`17 ffffffff 00 01000000 00 01 0300 01000000`))), byte(11))
	f.Fuzz(func(t *testing.T, srv, cli []byte, cut byte) {
		h := newHarness(false)
		step := int(cut%16) + 1
		for len(srv) > 0 || len(cli) > 0 {
			if len(srv) > 0 {
				n := min(step, len(srv))
				h.srv(srv[:n], 1)
				srv = srv[n:]
			}
			if len(cli) > 0 {
				n := min(step, len(cli))
				if cut%7 == 0 {
					h.s.Gap(dissectors.FromClient, 10, 2)
				}
				h.cli(cli[:n], 2)
				cli = cli[n:]
			}
		}
		r := h.close()
		if r.Commands != nil && len(r.Commands) > maxCommands {
			t.Fatal("commands over the cap")
		}
	})
}
