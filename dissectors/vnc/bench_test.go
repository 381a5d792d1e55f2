package vnc

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/rfb"
)

// BenchmarkFeed is the packet path of a busy session: a framebuffer update
// of sixteen 64x64 raw rectangles (256 KiB) in 1448-byte segments, and a
// key press and release from the client, per iteration. No recording.
func BenchmarkFeed(b *testing.B) {
	var upd []byte
	upd = append(upd, SFramebufferUpdate, 0, 0, 16)
	for i := 0; i < 16; i++ {
		upd = append(upd, rectHdr(uint16(i*64), 0, 64, 64, rfb.EncRaw)...)
		upd = append(upd, make([]byte, 64*64*4)...)
	}
	keys := typeKeys("a")
	r := &record.Record{}
	s := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{}})
	for _, m := range vncAuth38()[:9] {
		s.Feed(dissectors.Direction(m.dir), m.b, 1)
	}
	b.SetBytes(int64(len(upd) + len(keys)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for p := upd; len(p) > 0; {
			n := min(len(p), 1448)
			s.Feed(dissectors.FromServer, p[:n], int64(i))
			p = p[n:]
		}
		s.Feed(dissectors.FromClient, keys, int64(i))
	}
	b.StopTimer()
	if s.st[1] != stMessages || s.updates != b.N {
		b.Fatalf("state %d updates %d", s.st[1], s.updates)
	}
}

// BenchmarkFeedRecording is BenchmarkFeed with --recordings: each rectangle
// is copied into the queue of the session's screen worker, which decodes it
// on another goroutine (or drops it when the queue is full: never waited for).
func BenchmarkFeedRecording(b *testing.B) {
	var upd []byte
	upd = append(upd, SFramebufferUpdate, 0, 0, 16)
	for i := 0; i < 16; i++ {
		upd = append(upd, rectHdr(uint16(i*64), 0, 64, 64, rfb.EncRaw)...)
		upd = append(upd, make([]byte, 64*64*4)...)
	}
	r := &record.Record{ID: "bench"}
	s := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{RecordingsDir: b.TempDir()}})
	for _, m := range vncAuth38()[:9] {
		s.Feed(dissectors.Direction(m.dir), m.b, 1)
	}
	if s.scr == nil {
		b.Fatal("no recorder")
	}
	b.SetBytes(int64(len(upd)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for p := upd; len(p) > 0; {
			n := min(len(p), 1448)
			s.Feed(dissectors.FromServer, p[:n], int64(i)*1e6)
			p = p[n:]
		}
	}
	b.StopTimer()
	s.Close(r)
	r.Complete()
	b.ReportMetric(float64(s.scr.overflow.Load()), "first-drop-ts")
}
