package vnc

import (
	"fmt"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/rfb"
	"github.com/psmtap/psmtap/internal/rfb/screen"
	"github.com/psmtap/psmtap/internal/screenrec"
)

// The screen recording runs off the packet path: the session copies each
// whole rectangle, and the keys and clicks, into a bounded queue; one worker
// goroutine per session owns the framebuffer (internal/rfb/screen) and the
// recording (internal/screenrec). Live, a full queue never blocks Feed: the
// job is dropped and the recording is marked incomplete from there. Reading
// files (Options.WaitForRecordings), Feed waits for room instead.
//
// Memory per recording (docs/recordings.md): the queue (maxQueued bytes of
// rectangles, maxJobs small jobs) and the one rectangle being decoded (at
// most maxRecordLen); three copies of the screen at 4 bytes a pixel (the
// framebuffer, at most screen.MaxPixels, and the writer's two); the
// decoders' zlib streams and the writer's encoders.

// Queue bounds, per session, and the recordings at once.
const (
	maxRecorders = 256
	// maxJobs: a busy terminal at 1080p sends 5000 small rectangles a
	// second, and the worker may spend a few hundred ms on one picture;
	// 1024 overflowed at the session's real rate. Slots are pointers.
	maxJobs      = 16384
	maxQueued    = 32 << 20 // rectangle bytes waiting for the worker
	maxRecordLen = 32 << 20 // a rectangle longer than this is not recorded
)

type jobKind uint8

const (
	jobRect jobKind = iota
	jobFrame
	jobPixelFormat
	jobColourMap
	jobKey
	jobClick
	jobIncomplete // the picture may be wrong from here (text: why)
	jobGap        // server bytes lost: compressed streams lost their place
)

type job struct {
	kind jobKind
	ts   int64
	rect Rect
	data []byte
	pf   rfb.PixelFormat
	text string
	x, y int
	mask uint8
	rgb  [][3]uint16
}

type recorder struct {
	q        chan *job
	queued   atomic.Int64 // bytes of the rectangles in q
	overflow atomic.Int64 // packet time of the first dropped job, 0 while none
	closed   bool
	done     chan struct{}
	wait     bool          // a full queue makes send wait (reading files)
	room     chan struct{} // the worker took bytes off the queue (wait mode)

	// Set by the worker, read after done.
	rec       *record.Recording
	anomalies []string
}

// RecordingMemory is the most one recording of a w x h desktop holds, but
// for its encoders and zlib streams (a few MiB): three RGBA copies of the
// screen (the framebuffer and the writer's shadow and shown images), the
// rectangles queued, the one being decoded, and the queue's job slots.
func RecordingMemory(w, h int) int64 {
	return 3*4*int64(w)*int64(h) + maxQueued + maxRecordLen + maxJobs*int64(unsafe.Sizeof(job{})+8)
}

// recorders counts the workers running, in all sessions.
var recorders atomic.Int64

// startRecorder begins a recording at ServerInit; nil when too many are
// running already (each holds a framebuffer and a queue).
func startRecorder(dir, name string, start time.Time, w, h int, pf rfb.PixelFormat, wait bool) *recorder {
	if recorders.Add(1) > maxRecorders {
		recorders.Add(-1)
		return nil
	}
	r := newRecorder(wait)
	go r.work(dir, name, start, w, h, pf)
	return r
}

func newRecorder(wait bool) *recorder {
	return &recorder{q: make(chan *job, maxJobs), done: make(chan struct{}), wait: wait, room: make(chan struct{}, 1)}
}

// send queues a job; live, without ever waiting: a full queue drops it.
func (r *recorder) send(j job) {
	if r == nil || r.closed {
		return
	}
	n := int64(len(j.data))
	if r.wait {
		// Wait for the worker to take bytes off; a job alone may be as
		// long as the whole bound (maxRecordLen), so an empty queue takes it.
		for q := r.queued.Load(); q > 0 && q+n > maxQueued; q = r.queued.Load() {
			<-r.room
		}
		r.queued.Add(n)
		r.q <- &j
		return
	}
	if r.queued.Load()+n > maxQueued {
		r.drop(j.ts)
		return
	}
	r.queued.Add(n)
	select {
	case r.q <- &j:
	default:
		r.queued.Add(-n)
		r.drop(j.ts)
	}
}

// took notes that the worker took job j off the queue.
func (r *recorder) took(j *job) {
	if len(j.data) == 0 {
		return
	}
	r.queued.Add(-int64(len(j.data)))
	select {
	case r.room <- struct{}{}:
	default:
	}
}

func (r *recorder) drop(ts int64) {
	if ts == 0 {
		ts = 1
	}
	r.overflow.CompareAndSwap(0, ts)
}

// close ends the queue; the worker finishes the file.
func (r *recorder) close() {
	if r == nil || r.closed {
		return
	}
	r.closed = true
	close(r.q)
}

func (r *recorder) work(dir, name string, start time.Time, w, h int, pf rfb.PixelFormat) {
	defer close(r.done)
	defer recorders.Add(-1)
	scr, err := screen.New(w, h, pf)
	if err != nil {
		r.anomalies = append(r.anomalies, "recording.refused")
		for j := range r.q {
			r.took(j)
		}
		return
	}
	wr, err := screenrec.Create(dir, name, start, w, h, screenrec.Options{})
	if err != nil {
		r.anomalies = append(r.anomalies, "recording.write_failed")
		for j := range r.q {
			r.took(j)
		}
		return
	}
	var overflowed, broken bool
	incomplete := func(ts int64, why string) {
		if !broken {
			broken = true
			wr.Incomplete(ts, why)
		}
	}
	for j := range r.q {
		r.took(j)
		if ts := r.overflow.Load(); ts != 0 && !overflowed {
			overflowed = true
			scr.Gap() // a dropped rectangle may have been part of a zlib stream
			incomplete(ts, "queue overflow")
		}
		switch j.kind {
		case jobRect:
			if err := scr.Apply(j.rect.X, j.rect.Y, j.rect.W, j.rect.H, j.rect.Enc, j.data); err != nil {
				incomplete(j.ts, fmt.Sprintf("rectangle %s not decoded: %v", rfb.EncodingName(j.rect.Enc), err))
			}
		case jobFrame:
			wr.Frame(j.ts, scr.Image(), scr.TakeDirty())
		case jobPixelFormat:
			if err := scr.SetPixelFormat(j.pf); err != nil {
				incomplete(j.ts, "pixel format not decoded")
			}
		case jobColourMap:
			scr.SetColourMap(int(j.x), j.rgb)
		case jobKey:
			wr.Key(j.ts, j.text)
		case jobClick:
			wr.Click(j.ts, j.x, j.y, j.mask)
		case jobIncomplete:
			incomplete(j.ts, j.text)
		case jobGap:
			scr.Gap()
			incomplete(j.ts, j.text)
		}
	}
	if ts := r.overflow.Load(); ts != 0 && !overflowed {
		incomplete(ts, "queue overflow")
	}
	if wr.Truncated() {
		r.anomalies = append(r.anomalies, "recording.truncated")
	}
	if broken {
		r.anomalies = append(r.anomalies, "recording.incomplete")
	}
	rec, err := wr.Close()
	if err != nil {
		r.anomalies = append(r.anomalies, "recording.write_failed")
		return
	}
	r.rec = rec
}

// save closes the queue and defers waiting for the worker to the output
// stage, which then notes the recording in the record.
func (r *recorder) save(rec *record.Record) {
	if r == nil {
		return
	}
	r.close()
	rec.Defer(func(rec *record.Record) {
		<-r.done
		for _, a := range r.anomalies {
			rec.AddAnomaly(a)
		}
		if r.rec != nil {
			rec.Recording = r.rec
		}
	})
}
