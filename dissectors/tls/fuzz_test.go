package tls

import "testing"

// FuzzHandshake: any bytes from either side, split at a fuzzed point, never
// panic, never hold more than the caps, and give fields or not.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte(miniHello), []byte{}, uint16(7))                                                                                    // minimal ClientHello with SNI, split inside the header
	f.Add([]byte("\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\xff\xff"), []byte("\x16\x03\x03\x00\x04\x0b\x7f\xff\xff"), uint16(3)) // lengths that overrun
	f.Add([]byte("\x16\x03\x03\x00\x05\x01\x00\x00\x40"), []byte("\x14\x03\x03\x00\x01\x01\x17\x03\x03\x00\x01"), uint16(0))         // hello cut, then CCS and app data
	// Found by this target: an empty record whose header arrives across two
	// Feeds looped for ever (testdata/fuzz/FuzzHandshake/zero-length-record-split).
	f.Add([]byte("\x16\x03\x06\x00\x00\x03a.\x03"), []byte{}, uint16(104))
	f.Fuzz(func(t *testing.T, c, s []byte, cut uint16) {
		st := &Stream{}
		k := int(cut) % (len(c) + 1)
		st.Feed(SideClient, c[:k])
		st.Feed(SideServer, s)
		st.Feed(SideClient, c[k:])
		for _, h := range st.h {
			if len(h.rec) > maxRecord+5 || len(h.hs) > maxHandshake+4 {
				t.Fatalf("buffers %d %d", len(h.rec), len(h.hs))
			}
		}
		st.Fields()
	})
}

// FuzzHellos: the message parsers on their own.
func FuzzHellos(f *testing.F) {
	f.Add([]byte(miniHello[9:]))                                         // ClientHello body
	f.Add([]byte("\x03\x03"))                                            // cut after the version
	f.Add(append(append([]byte("\x03\x03"), make([]byte, 32)...), 0x20)) // session id longer than what follows
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := ParseClientHello(b); err == nil && h != nil {
			JA3(h)
			JA4(h, false)
		}
		if h, err := ParseServerHello(b); err == nil && h != nil {
			JA3S(h)
		}
		ParseCertificateList(b)
	})
}
