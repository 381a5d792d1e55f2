package engine

import (
	"testing"

	"github.com/psmtap/psmtap/capture/decode"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// FuzzPacketPath pushes arbitrary packets through the whole path (decode,
// flows, reassembly, every probe and parser) and checks that it never panics
// (a parser panic would be recovered and counted: that counts as a failure
// here too) and that Flush emits each session once.
func FuzzPacketPath(f *testing.F) {
	// Seeds: a TCP conversation on one 4-tuple with protocol openings in the
	// payloads; the fuzzer mutates flags, sequence numbers and bytes.
	mk := func(fromClient bool, seq uint32, flags uint8, payload string) []byte {
		if fromClient {
			return frame(1, 2, 40000, 22, seq, 0, flags, payload)
		}
		return frame(2, 1, 22, 40000, seq, 0, flags, payload)
	}
	join := func(frames ...[]byte) []byte {
		var b []byte
		for _, fr := range frames {
			b = append(b, byte(len(fr)>>8), byte(len(fr)))
			b = append(b, fr...)
		}
		return b
	}
	f.Add(join(mk(true, 1, decode.FlagSYN, ""), mk(false, 9, decode.FlagSYN|decode.FlagACK, ""),
		mk(false, 10, decode.FlagACK, "SSH-2.0-x\r\n"), mk(true, 2, decode.FlagACK, "SSH-2.0-y\r\n")))
	f.Add(join(mk(true, 1, decode.FlagACK, "\x00alice\x00alice\x00xterm/9600\x00"), mk(false, 5, decode.FlagACK, "\x00")))
	f.Add(join(mk(false, 1, decode.FlagACK, "220 hi\r\n"), mk(true, 7, decode.FlagACK, "USER a\r\n")))
	f.Add(join(mk(true, 1, decode.FlagACK, "\x03\x00\x00\x0b\x06\xe0\x00\x00\x00\x00\x00")))
	f.Add(join(mk(false, 1, decode.FlagACK, "\xff\xfd\x18\xff\xfd\x20"), mk(true, 100, decode.FlagACK, "\xff\xfb\x18")))
	f.Fuzz(func(t *testing.T, in []byte) {
		ids := map[string]bool{}
		e := New(Config{Dissectors: dissectors.All(), All: true, Emit: func(r *record.Record) {
			if ids[r.ID] {
				t.Fatalf("session %s emitted twice", r.ID)
			}
			ids[r.ID] = true
		}})
		ts := int64(1e9)
		for len(in) >= 2 {
			n := int(in[0])<<8 | int(in[1])
			in = in[2:]
			if n > len(in) {
				n = len(in)
			}
			ts += int64(n) * 1e7
			e.Packet(decode.LinkRaw, in[:n], ts, n)
			in = in[n:]
		}
		e.Flush()
		if p := e.Stats().Panics; p != 0 {
			t.Fatalf("%d parser panics", p)
		}
	})
}
