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

// FuzzKexInit: any payload parses or errs; kept lists stay within caps.
func FuzzKexInit(f *testing.F) {
	f.Add(kexinit("curve25519-sha256", "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", "none")) // well-formed
	f.Add([]byte{msgKexInit, 1, 2, 3})                                                        // truncated cookie
	f.Add(append([]byte{msgKexInit}, make([]byte, 16+4)...))                                  // empty first list, then nothing
	f.Fuzz(func(t *testing.T, p []byte) {
		k, err := ParseKexInit(p)
		if err != nil {
			return
		}
		for _, l := range k.Lists {
			if len(l) > maxNameList {
				t.Fatalf("list of %d bytes kept", len(l))
			}
		}
		Negotiate(k.Lists[listKex], k.Lists[listHostKey])
	})
}

// FuzzKexReply: host keys from arbitrary KEX replies and SSH-1 public keys.
func FuzzKexReply(f *testing.F) {
	blob := append(str("ssh-ed25519"), str(string(make([]byte, 32)))...)
	f.Add(append([]byte{msgKexDHReply}, str(string(blob))...))           // ECDH reply
	f.Add([]byte{msgKexDHGexReply, 0xff, 0xff, 0xff, 0xff, 's'})         // length past the end
	f.Add(append(make([]byte, 12), 0, 8, 3, 0, 16, 0xc0, 0xff, 0, 0, 0)) // SSH-1 key, cut
	f.Fuzz(func(t *testing.T, p []byte) {
		ParseKexReply(p)
		ParsePublicKey1(p)
	})
}

// FuzzPacketFraming: cleartext framing of SSH-2 and SSH-1 never reads past
// the input and consumes a positive amount when it frames.
func FuzzPacketFraming(f *testing.F) {
	f.Add(packet(msgNewKeys))
	f.Add([]byte{0, 0, 0, 12, 10})
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 2, 1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, n, err := cutPacket(b); err == nil && n > 0 && (n > len(b) || len(p) > n) {
			t.Fatalf("framed %d of %d", n, len(b))
		}
		if _, d, n, err := cutPacket1(b); err == nil && n > 0 && (n > len(b) || len(d) > n) {
			t.Fatalf("framed SSH-1 %d of %d", n, len(b))
		}
	})
}

// FuzzSessionStream: banners then arbitrary bytes as the binary packet
// stream, split at a fuzzed point, both directions.
func FuzzSessionStream(f *testing.F) {
	f.Add(packet(kexinit("curve25519-sha256", "ssh-ed25519", "aes128-ctr", "hmac-sha2-256", "none")...), uint16(7))
	f.Add(append(packet(msgNewKeys), 1, 2, 3), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		r := &record.Record{}
		s := newSession(r)
		listen(s)
		s.Feed(dissectors.FromClient, []byte("SSH-2.0-a\r\n"), 1)
		s.Feed(dissectors.FromServer, []byte("SSH-1.99-b\r\n"), 1)
		c := int(cut) % (len(b) + 1)
		s.Feed(dissectors.FromClient, b[:c], 2)
		s.Feed(dissectors.FromServer, b, 3)
		s.Feed(dissectors.FromClient, b[c:], 4)
		s.Gap(dissectors.FromClient, 10, 5)
		s.Snapshot(&record.Record{})
		s.Feed(dissectors.FromClient, b, 6)
		s.Close(r)
	})
}

// FuzzAuthEvents: whatever the sizes and times of the encrypted records, the
// login events that are not "unknown" are the attempts the record counts.
func FuzzAuthEvents(f *testing.F) {
	f.Add([]byte{1, 44, 0, 60, 1, 52, 0, 92, 1, 52, 0, 92, 1, 28, 0, 44, 1, 255}) // none, a failure, a success
	f.Add([]byte{1, 44, 0, 92, 1, 52, 0, 92, 1, 52})                              // same-size requests, the end open
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &record.Record{State: record.StateClosed}
		s := newSession(r)
		evs := listen(s)
		handshake(t, s)
		ts := int64(10)
		for i := 0; i+1 < len(b); i += 2 {
			ts += int64(b[i]>>1) * 10e6
			s.Feed(dissectors.Direction(b[i]&1), make([]byte, int(b[i+1])*8), ts)
		}
		s.Close(r)
		n := 0
		for _, ev := range *evs {
			if ev.Action == record.ActionLogin && ev.Outcome != record.OutcomeUnknown {
				n++
			}
		}
		if want := 0; r.Login != nil && n != r.Login.Attempts || r.Login == nil && n != want {
			t.Fatalf("%d login events, record %+v", n, r.Login)
		}
	})
}
