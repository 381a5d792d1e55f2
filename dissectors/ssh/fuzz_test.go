package ssh

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// FuzzProbeAndBanner: the probe and the banner session take any bytes from
// either side without panicking and without holding more than their caps.
func FuzzProbeAndBanner(f *testing.F) {
	f.Add([]byte("SSH-2.0-OpenSSH_9.2p1\r\n"), []byte("SSH-2.0-OpenSSH_9.2p1\r\n"), uint8(0)) // normal
	f.Add([]byte("pre\r\nline\r\nSSH-1.99-x\n"), []byte{}, uint8(1))                          // pre-banner
	f.Add([]byte("SSH-"), []byte("GET / HTTP/1.1\r\n"), uint8(2))                             // mismatch
	f.Fuzz(func(t *testing.T, a, b []byte, flags uint8) {
		in := dissectors.ProbeInput{Data: [2][]byte{a, b}, Client: int(flags%3) - 1, Done: [2]bool{flags&4 != 0, flags&8 != 0}}
		Dissector{}.Probe(&in)
		r := &record.Record{}
		s := newSession(r)
		s.Feed(dissectors.FromServer, a, 0)
		s.Feed(dissectors.FromClient, b, 0)
		s.Feed(dissectors.FromServer, b, 0)
		if len(s.d[0].buf) > maxPacket+16 || len(s.d[1].buf) > maxPacket+16 {
			t.Fatalf("buffer over cap")
		}
		s.Close(r)
	})
}
