package mysql

import (
	"encoding/hex"
	"strings"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// unhex reads annotated hex: everything after '#' on a line is a comment.
func unhex(s string) []byte {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		b.WriteString(strings.Join(strings.Fields(line), ""))
	}
	out, err := hex.DecodeString(b.String())
	if err != nil {
		panic(err)
	}
	return out
}

// pkt frames a payload with its 4-byte header.
func pkt(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func lenencStr(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// The greeting MariaDB 10.11.19 sent in pcaps/mysql-prepared.pcap (scramble as captured).
var mariaGreeting = unhex(`
0a                                   # protocol version 10
352e352e352d31302e31312e31392d4d6172696144422d302b64656231327531 00  # 5.5.5-10.11.19-MariaDB-0+deb12u1
03000000                             # connection id 3
477434453d427340 00                  # scramble part 1, filler
feff                                 # capabilities (low)
08 0200                              # charset, status
ff81                                 # capabilities (high)
15                                   # auth data length 21
000000000000 1d000000                # reserved; MariaDB extended capabilities
22284358 6f475555 2a70757e 00        # scramble part 2
6d7973716c5f6e61746976655f70617373776f726400  # mysql_native_password
`)

// handshakeResponse builds a HandshakeResponse41.
func handshakeResponse(caps uint32, user, db, plugin string, attrs ...string) []byte {
	b := []byte{byte(caps), byte(caps >> 8), byte(caps >> 16), byte(caps >> 24), 0, 0, 0, 1, 45}
	b = append(b, make([]byte, 23)...)
	b = append(b, user...)
	b = append(b, 0, 20)
	b = append(b, []byte("01234567890123456789")...) // a scramble-sized auth response
	if caps&capConnectWithDB != 0 {
		b = append(append(b, db...), 0)
	}
	if caps&capPluginAuth != 0 {
		b = append(append(b, plugin...), 0)
	}
	if caps&capConnectAttrs != 0 {
		var a []byte
		for _, s := range attrs {
			a = append(a, lenencStr(s)...)
		}
		b = append(b, byte(len(a)))
		b = append(b, a...)
	}
	return b
}

const testCaps = capLongPassword | capConnectWithDB | capProtocol41 | capTransactions | capSecureConnection |
	capMultiStatements | capMultiResults | capPluginAuth | capConnectAttrs | capLocalFiles

var (
	okPacket  = unhex(`00 00 00 0200 0000`)
	eofPacket = unhex(`fe 0000 0200`)
)

func okAffected(n byte, status uint16) []byte {
	return []byte{0, n, 0, byte(status), byte(status >> 8), 0, 0}
}

func errPacket(code uint16, state, msg string) []byte {
	return append([]byte{0xff, byte(code), byte(code >> 8), '#'}, state+msg...)
}

func colDef(name string) []byte {
	return cat(lenencStr("def"), lenencStr("shop"), lenencStr("t"), lenencStr("t"), lenencStr(name), lenencStr(name),
		unhex(`0c 2100 f0000000 fd 0000 00 0000`))
}

func textRow(vals ...string) []byte {
	var b []byte
	for _, v := range vals {
		b = append(b, lenencStr(v)...)
	}
	return b
}

// harness is a session with a record and the events it published.
type harness struct {
	s   *session
	rec *record.Record
	evs []*record.Event
}

func newHarness(reveal bool) *harness {
	h := &harness{rec: &record.Record{}}
	ctx := &dissectors.Context{Record: h.rec, Options: &dissectors.Options{RevealCredentials: reveal}}
	ctx.Events = func(ev *record.Event) { h.evs = append(h.evs, ev) }
	h.s = newSession(ctx)
	return h
}

func (h *harness) srv(b []byte, ts int64) dissectors.Status {
	return h.s.Feed(dissectors.FromServer, b, ts)
}
func (h *harness) cli(b []byte, ts int64) dissectors.Status {
	return h.s.Feed(dissectors.FromClient, b, ts)
}

// login runs greeting, handshake response and OK.
func (h *harness) login(caps uint32) {
	h.srv(pkt(0, mariaGreeting), 1)
	h.cli(pkt(1, handshakeResponse(caps, "alice", "shop", "mysql_native_password", "_client_name", "libmariadb", "program_name", "mysql")), 2)
	h.srv(pkt(2, okPacket), 3)
}

func (h *harness) queries() []*record.Event {
	var out []*record.Event
	for _, ev := range h.evs {
		if ev.Action == record.ActionQuery {
			out = append(out, ev)
		}
	}
	return out
}

func (h *harness) close() *record.Record {
	h.s.Close(h.rec)
	return h.rec
}
