package rdp

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// FuzzX224: the Connection Request / Confirm parsers and the TPKT framer.
func FuzzX224(f *testing.F) {
	f.Add([]byte(crCookie))  // cookie + RDP_NEG_REQ
	f.Add([]byte(crToken))   // routing token + correlation info
	f.Add([]byte(ccFailure)) // RDP_NEG_FAILURE
	f.Add([]byte(s7CR))      // S7comm COTP: TSAP parameters
	f.Fuzz(func(t *testing.T, b []byte) {
		CutTPKT(b)
		ParseConnectionRequest(b)
		ParseConnectionConfirm(b)
	})
}

// FuzzMCS: the BER (T.125) and PER (T.124) decoding and the data blocks.
func FuzzMCS(f *testing.F) {
	ci := fixture(f, "freerdp-mcs-connect-initial.bin")[7:]
	cr := fixture(f, "xrdp-mcs-connect-response.bin")[7:]
	f.Add(ci)                                                     // FreeRDP's Connect-Initial
	f.Add(cr)                                                     // xrdp's Connect-Response with a proprietary certificate
	f.Add([]byte{0x7f, 0x65, 0x83, 0xff, 0xff})                   // long-form length past the end
	f.Add([]byte{0x7f, 0x66, 0x05, 0x0a, 0x01, 0x0e, 0x02, 0x00}) // a failed response, cut
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, key := range []string{"Duca", "McDn"} {
			GCCUserData(b, key)
		}
		if ud, err := ParseConnectInitial(b); err == nil {
			if d, err := GCCUserData(ud, "Duca"); err == nil {
				blocks, _ := Blocks(d)
				for _, bl := range blocks {
					(&Client{}).block(bl, &Fields{})
				}
			}
		}
		if _, ud, err := ParseConnectResponse(b); err == nil {
			if d, err := GCCUserData(ud, "McDn"); err == nil {
				blocks, _ := Blocks(d)
				for _, bl := range blocks {
					ParseServerSecurity(bl.Data)
				}
			}
		}
		ParseClientCore(b)
		ParseClientNetwork(b)
		ParseServerSecurity(b)
	})
}

// FuzzSession: a negotiation, then arbitrary bytes from both sides, split
// at a fuzzed point; buffers stay within the cap.
func FuzzSession(f *testing.F) {
	f.Add([]byte(crCookie), []byte(ccNegRsp), uint16(5))                              // TLS selected, then nothing
	f.Add([]byte(crCookie+"\x16\x03\x01\x00\x01\x01"), []byte(ccFailure), uint16(40)) // failure, client sends TLS anyway
	f.Add(fixture(f, "freerdp-mcs-connect-initial.bin"), fixture(f, "xrdp-mcs-connect-response.bin"), uint16(100))
	// Found by this target: after a negotiation, an empty TLS record split over two
	// Feeds hung dissectors/tls (testdata/fuzz/FuzzSession/tls-empty-record-split).
	f.Add([]byte("\x030\x00,0000000000000000000000000000000000000000\x16\x030\x00\x000"), []byte("\x030\x00\x0e00000000000"), uint16(48))
	f.Fuzz(func(t *testing.T, c, s []byte, cut uint16) {
		r := &record.Record{}
		ss := newSession(r)
		events := 0
		ss.ctx = &dissectors.Context{Events: func(*record.Event) { events++ }}
		k := int(cut) % (len(c) + 1)
		ss.Feed(dissectors.FromClient, c[:k], 0)
		ss.Feed(dissectors.FromServer, s, 0)
		ss.Feed(dissectors.FromClient, c[k:], 0)
		if len(ss.buf[0]) > maxTPKT || len(ss.buf[1]) > maxTPKT {
			t.Fatal("buffer over cap")
		}
		ss.Snapshot(&record.Record{})
		ss.Close(r)
		if events > 1 {
			t.Fatalf("%d security events", events)
		}
		u := &udpSession{}
		u.Feed(dissectors.FromClient, c, 0)
		u.Feed(dissectors.FromServer, s, 0)
		u.Close(r)
	})
}
