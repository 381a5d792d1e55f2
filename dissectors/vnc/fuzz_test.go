package vnc

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// encodeConv packs a conversation for FuzzSession: each chunk is a header
// byte (bit 7: the server sent it; low bits: its length, at most 126) and
// its bytes.
func encodeConv(conv []msg) []byte {
	var out []byte
	for _, m := range conv {
		for b := m.b; len(b) > 0; {
			n := min(len(b), 126)
			out = append(out, byte(m.dir)<<7|byte(n))
			out = append(out, b[:n]...)
			b = b[n:]
		}
	}
	return out
}

// FuzzSession: any conversation never panics, keeps its buffers within
// bounds, and publishes no more logins than the record counts.
func FuzzSession(f *testing.F) {
	f.Add(encodeConv(vncAuth38())) // 3.8 VNC authentication, then keys, pointer, clipboard, updates
	f.Add(encodeConv([]msg{        // 3.3 None
		srv(str("RFB 003.003\n")), cli(str("RFB 003.003\n")), srv(be32(SecNone)), cli([]byte{1}),
		srv(serverInit(64, 48, "x")), srv([]byte{SFramebufferUpdate, 0}, be16(1), rectHdr(0, 0, 1, 1, 0), pf32[:4])}))
	f.Add(encodeConv([]msg{ // VeNCrypt Plain
		srv(str("RFB 003.008\n")), cli(str("RFB 003.008\n")), srv([]byte{1, SecVeNCrypt}), cli([]byte{SecVeNCrypt}),
		srv([]byte{0, 2}), cli([]byte{0, 2}), srv([]byte{0, 1}, be32(VePlain)), cli(be32(VePlain)),
		cli(be32(1), be32(1), str("ab")), srv(be32(0))}))
	f.Add(encodeConv([]msg{ // Tight, then its interaction capabilities
		srv(str("RFB 003.008\n")), cli(str("RFB 003.008\n")), srv([]byte{1, SecTight}), cli([]byte{SecTight}),
		srv(be32(0)), srv(be32(0)), srv(be32(0)), cli([]byte{1}), srv(serverInit(8, 8, "t")), srv(be16(0), be16(0), be16(0), be16(0))}))
	f.Add(encodeConv([]msg{ // extended clipboard both ways
		srv(str("RFB 003.008\n")), cli(str("RFB 003.008\n")), srv([]byte{1, SecNone}), cli([]byte{SecNone}), srv(be32(0)),
		cli([]byte{0}), srv(serverInit(8, 8, "c")), cli(extCut(CClientCutText, "hi")), srv(extCut(SServerCutText, "yo"))}))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := &record.Record{}
		logins := 0
		ctx := &dissectors.Context{Record: r, Options: &dissectors.Options{},
			Events: func(ev *record.Event) {
				if ev.Action == record.ActionLogin {
					logins++
				}
			}}
		s := newSession(ctx)
		for i := 0; i < len(in); {
			dir, n := dissectors.Direction(in[i]>>7), int(in[i]&0x7f)
			i++
			if n == 126 { // bytes lost
				s.Gap(dir, 10, int64(i))
				continue
			}
			if n == 127 || i+n > len(in) {
				n = len(in) - i
			}
			s.Feed(dir, in[i:i+n], int64(i))
			i += n
			if len(s.pend[0]) > maxPendingClient || len(s.pend[1]) > maxPendingServer {
				t.Fatalf("pending %d %d", len(s.pend[0]), len(s.pend[1]))
			}
		}
		var snap record.Record
		s.Snapshot(&snap)
		s.Close(r)
		attempts := 0
		if r.Login != nil {
			attempts = r.Login.Attempts
		}
		if logins != attempts {
			t.Fatalf("%d login events, %d attempts", logins, attempts)
		}
		if len(r.Commands) > maxCommands {
			t.Fatalf("%d commands", len(r.Commands))
		}
	})
}

// FuzzClientResync: any bytes after a gap are judged without a crash or a
// hang; what passes walks to its end by message lengths.
func FuzzClientResync(f *testing.F) {
	f.Add(typeKeys("ab\n"))
	f.Add([]byte{CPointerEvent, 1, 0, 10, 0, 20, CQEMU, 0, 0, 1, 0, 0, 0, 0x61})
	f.Add([]byte{0, 0, 0xff, 0x0d})
	f.Fuzz(func(t *testing.T, in []byte) {
		if ClientResync(in) && len(in) > 0 {
			if _, err := ClientMessageLen(in); err != nil && err != ErrNeedMore {
				t.Fatalf("accepted a bad first message: %v", err)
			}
		}
	})
}

// FuzzCutText: any cut-text message parses within its bounds.
func FuzzCutText(f *testing.F) {
	f.Add(cutText(CClientCutText, "hello"))                                   // Latin-1 text
	f.Add(extCut(SServerCutText, "zlib text\r\n"))                            // extended clipboard provide
	f.Add([]byte{3, 0, 0, 0, 0xff, 0xff, 0xff, 0xf8, 1, 0, 0, 1, 0, 0, 4, 0}) // extended caps
	f.Fuzz(func(t *testing.T, in []byte) {
		c, _ := ParseCutText(in, 64)
		if len(c.Text) > 64*4 {
			t.Fatalf("text of %d bytes", len(c.Text))
		}
	})
}

// FuzzProbe: the probe never panics on any pair of openings.
func FuzzProbe(f *testing.F) {
	f.Add([]byte("RFB 003.008\n"), []byte("RFB 003.008\n"), uint8(0)) // both versions
	f.Add([]byte(""), []byte("RFB 003.0"), uint8(5))                  // a cut version
	f.Fuzz(func(t *testing.T, a, b []byte, flags uint8) { dissectors.FuzzProbe(Dissector{}, a, b, flags) })
}
