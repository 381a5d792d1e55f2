package rdp

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
)

const U = dissectors.Unknown

// X.224 Connection Request with a cookie and RDP_NEG_REQ (MS-RDPBCGR 4.1.1):
// TPKT 03 00 00 2c (44 bytes) | LI 27 CR e0 | dst 00 00 | src 00 00 | class 00 |
// "Cookie: mstshash=eltons\r\n" | RDP_NEG_REQ 01 00 08 00 03 00 00 00
const crCookie = "\x03\x00\x00\x2c\x27\xe0\x00\x00\x00\x00\x00Cookie: mstshash=eltons\r\n\x01\x00\x08\x00\x03\x00\x00\x00"

// Connection Confirm with RDP_NEG_RSP selecting HYBRID (2.2.1.2.1).
const ccNegRsp = "\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x02\x1f\x08\x00\x02\x00\x00\x00"

// An S7comm COTP Connection Request: same TPKT/X.224 shape, TSAP parameters.
const s7CR = "\x03\x00\x00\x16\x11\xe0\x00\x00\x00\x01\x00\xc0\x01\x0a\xc1\x02\x01\x00\xc2\x02\x01\x02"

func TestProbe(t *testing.T) {
	cases := []dissectors.ProbeCase{
		{Name: "request with cookie", A: crCookie, Client: U, Want: dissectors.Match, WantClient: 0},
		{Name: "request from endpoint 1", B: crCookie, Client: U, Want: dissectors.Match, WantClient: 1},
		{Name: "request split", A: crCookie[:20], Client: U, Want: dissectors.NeedMore},
		{Name: "bare request (no cookie, no neg)", A: "\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00", Client: U, Want: dissectors.Match, WantClient: 0},
		{Name: "neg req only", A: "\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x08\x00\x0b\x00\x00\x00", Client: U, Want: dissectors.Match, WantClient: 0},
		{Name: "S7comm is not RDP", A: s7CR, Client: 0, Want: dissectors.NoMatch},
		{Name: "lone confirm, half duplex", B: ccNegRsp, DoneA: true, Client: U, Want: dissectors.Match, WantClient: 0},
		{Name: "lone confirm, client may still speak", B: ccNegRsp, Client: U, Want: dissectors.NeedMore},
		{Name: "bad LI", A: "\x03\x00\x00\x0b\x07\xe0\x00\x00\x00\x00\x00", Client: 0, Want: dissectors.NoMatch},
		{Name: "TLS on 3389", A: "\x16\x03\x01\x00\xa5\x01", B: "\x16\x03\x03", Client: 0, Want: dissectors.NoMatch},
	}
	for _, c := range cases {
		if got, ok := dissectors.RunProbe(Dissector{}, c, [2]uint16{40000, 3389}); !ok {
			t.Errorf("%s: got %+v", c.Name, got)
		}
	}
}

func FuzzProbe(f *testing.F) {
	f.Add([]byte(crCookie), []byte(ccNegRsp), uint8(0))
	f.Add([]byte(s7CR), []byte{}, uint8(12))
	f.Fuzz(func(t *testing.T, a, b []byte, flags uint8) { dissectors.FuzzProbe(Dissector{}, a, b, flags) })
}
