package vnc

import (
	"bytes"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/rfb"
	"github.com/psmtap/psmtap/internal/rfb/screen"
	"github.com/psmtap/psmtap/internal/screenrec"
)

// loggedIn is a session past ServerInit of a w x h desktop (32 bpp).
func loggedIn(t testing.TB, opts dissectors.Options, w, h uint16) (*session, *record.Record) {
	t.Helper()
	r := &record.Record{ID: t.Name()}
	s := newSession(&dissectors.Context{Record: r, Options: &opts})
	for _, m := range vncAuth38()[:8] {
		s.Feed(dissectors.Direction(m.dir), m.b, 1)
	}
	s.Feed(dissectors.FromServer, serverInit(w, h, "psm-srv"), 1)
	if s.scr == nil {
		t.Fatal("no recorder")
	}
	return s, r
}

// rawUpdate is a FramebufferUpdate of n raw rectangles w x h of colour c,
// one under the other from the top left.
func rawUpdate(n int, w, h uint16, c byte) []byte {
	px := bytes.Repeat([]byte{c, c, c, 0}, int(w)*int(h))
	b := []byte{SFramebufferUpdate, 0, byte(n >> 8), byte(n)}
	for i := 0; i < n; i++ {
		b = append(b, rectHdr(0, uint16(i)*h, w, h, rfb.EncRaw)...)
		b = append(b, px...)
	}
	return b
}

// TestQueueWaitsWhenReading: with WaitForRecordings a full queue (in jobs or
// in bytes) makes send wait until the worker takes a job, and nothing is
// dropped.
func TestQueueWaitsWhenReading(t *testing.T) {
	r := newRecorder(true) // no worker: the test takes the jobs
	for i := 0; i < maxJobs; i++ {
		r.send(job{kind: jobKey, ts: int64(i + 1), text: "a"})
	}
	sent := make(chan struct{})
	go func() { r.send(job{kind: jobKey, ts: 5000, text: "b"}); close(sent) }()
	select {
	case <-sent:
		t.Fatal("send did not wait for room in the queue")
	case <-time.After(50 * time.Millisecond):
	}
	r.took(<-r.q)
	<-sent
	for len(r.q) > 0 {
		r.took(<-r.q)
	}

	r.send(job{kind: jobRect, ts: 6000, data: make([]byte, maxQueued)}) // the whole bound: an empty queue takes it
	sent = make(chan struct{})
	go func() { r.send(job{kind: jobRect, ts: 7000, data: make([]byte, 10)}); close(sent) }()
	select {
	case <-sent:
		t.Fatal("send did not wait for room in bytes")
	case <-time.After(50 * time.Millisecond):
	}
	r.took(<-r.q)
	<-sent
	if got := r.overflow.Load(); got != 0 {
		t.Errorf("dropped at %d", got)
	}
	if r.queued.Load() != 10 {
		t.Errorf("queued %d bytes", r.queued.Load())
	}
}

// TestRecordingCompleteWhenReading: a flood of updates far beyond the queue,
// fed as fast as a file is read, gives a complete recording whose last frame
// is the last update's colour.
func TestRecordingCompleteWhenReading(t *testing.T) {
	dir := t.TempDir()
	s, r := loggedIn(t, dissectors.Options{RecordingsDir: dir, WaitForRecordings: true}, 1024, 768)
	const updates = 3072 // 192 MiB of rectangles, six times the queue
	for i := 0; i < updates; i++ {
		s.Feed(dissectors.FromServer, rawUpdate(4, 256, 16, byte(i)), int64(2+i)*int64(time.Millisecond))
	}
	s.Close(r)
	r.Complete()
	if r.Recording == nil || slices.Contains(r.Anomalies, "recording.incomplete") {
		t.Fatalf("recording %+v anomalies %v", r.Recording, r.Anomalies)
	}
	rec, err := screenrec.Open(dir + "/" + r.Recording.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Incomplete) != 0 {
		t.Errorf("incomplete %+v", rec.Incomplete)
	}
	img, err := rec.FrameAt(rec.End())
	if err != nil {
		t.Fatal(err)
	}
	last := byte((updates - 1) % 256)
	if c := img.RGBAAt(100, 60); c.R != last || c.G != last || c.B != last {
		t.Errorf("last frame at 100,60: %v, want grey %d", c, last)
	}
}

// TestRecorderMemoryBound: a hostile server claims the largest desktop the
// screen keeps (16384x1024, screen.MaxPixels) and floods full-width raw
// rectangles, each 4 MiB, faster than the worker decodes them. The live
// heap stays under the documented bound of one recording (docs/recordings.md):
// three copies of the screen, the queue, the rectangle being decoded, and
// 16 MiB for the rest (encoders, zlib streams, the test's own buffers).
// Live, the queue drops (the recording is incomplete); read, it waits.
func TestRecorderMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few hundred MiB")
	}
	const w, h = 16384, 1024
	if w*h != screen.MaxPixels {
		t.Fatalf("%dx%d is not screen.MaxPixels", w, h)
	}
	bound := uint64(RecordingMemory(w, h)) + 16<<20
	upd := rawUpdate(1, w, 64, 0x55)
	for _, wait := range []bool{false, true} {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		var peak uint64
		var m runtime.MemStats
		sample := func() {
			runtime.GC() // the live heap, not garbage waiting for collection
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
		s, r := loggedIn(t, dissectors.Options{RecordingsDir: t.TempDir(), WaitForRecordings: wait}, w, h)
		for i := 0; i < 60; i++ {
			upd[len(upd)-1] = byte(i)
			s.Feed(dissectors.FromServer, upd, int64(2+i)*int64(time.Millisecond))
			sample() // the feeder stands still: what the session and the worker hold
		}
		s.Close(r)
		r.Complete()
		grew := peak - min(peak, base.HeapAlloc)
		t.Logf("wait=%v: live heap grew %d MiB at most (bound %d MiB), anomalies %v", wait, grew>>20, bound>>20, r.Anomalies)
		if grew > bound {
			t.Errorf("wait=%v: live heap grew %d MiB, over the bound of %d MiB", wait, grew>>20, bound>>20)
		}
		if grew < uint64(3*4*w*h) {
			t.Errorf("wait=%v: live heap grew only %d MiB: the screens were not held?", wait, grew>>20)
		}
		if r.Recording == nil {
			t.Fatalf("wait=%v: no recording, anomalies %v", wait, r.Anomalies)
		}
		if incomplete := slices.Contains(r.Anomalies, "recording.incomplete"); incomplete == wait {
			t.Errorf("wait=%v: anomalies %v", wait, r.Anomalies)
		}
	}
}
