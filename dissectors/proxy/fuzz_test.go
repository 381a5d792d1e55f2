package proxy

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
)

// FuzzProbe: the probe and Unwrap never panic, and what Unwrap says a
// handshake took is within what each side sent.
func FuzzProbe(f *testing.F) {
	f.Add([]byte("\x05\x01\x00\x05\x01\x00\x03\x07psm-srv\x00\x16"), []byte("\x05\x00\x05\x00\x00\x01\xc0\x00\x02\x14\xa8\x9e"), uint8(0))                                         // SOCKS5, a name
	f.Add([]byte("\x05\x02\x00\x02\x01\x05alice\x06secret\x05\x01\x00\x01\xc0\x00\x02\x14\x00\x16"), []byte("\x05\x02\x01\x00\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00"), uint8(1)) // RFC 1929
	f.Add([]byte("\x05\x01\x00\x05\x01\x00\x03\x00"), []byte("\x05\x00\x05\x00\x00\x03\xff"), uint8(2))                                                                            // empty name, long bound name
	f.Add([]byte("\x04\x01\x00\x17\xc0\x00\x02\x14anonymous\x00"), []byte("\x00\x5a\xb0\xd0\xc0\x00\x02\x14"), uint8(0))                                                           // SOCKS4
	f.Add([]byte("\x04\x01\x00\x16\x00\x00\x00\x01\x00psm-srv\x00"), []byte("\x00\x5a\x00\x00\x00\x00\x00\x00"), uint8(4))                                                         // SOCKS4a
	f.Add([]byte("CONNECT psm-srv:22 HTTP/1.0\r\n\r\n"), []byte("HTTP/1.0 200 Connection established\r\n\r\n"), uint8(0))                                                          // HTTP CONNECT
	f.Add([]byte("CONNECT [::1]:99999 HTTP/1.1\n\n"), []byte("HTTP/1.1 2\n\n"), uint8(8))                                                                                          // bad port, short status
	f.Fuzz(func(t *testing.T, a, b []byte, flags uint8) {
		dissectors.FuzzProbe(Dissector{}, a, b, flags)
		in := dissectors.ProbeInput{Data: [2][]byte{a, b}, Client: int(flags%3) - 1, Done: [2]bool{flags&4 != 0, flags&8 != 0}}
		if (Dissector{}).Probe(&in).Verdict != dissectors.Match {
			return
		}
		u := Dissector{}.Unwrap(&in)
		if u.Consumed[0] > len(a) || u.Consumed[1] > len(b) || u.Consumed[0] < 0 || u.Consumed[1] < 0 || u.Proxy.Type == "" {
			t.Fatalf("unwrap %+v of %d/%d bytes", u, len(a), len(b))
		}
	})
}
