// Package queue puts a bounded queue between the engine, which runs on the
// goroutine that reads packets, and a sink (Elasticsearch, files, stdout),
// which may be slow: one goroutine drains the queue into the sink, so a slow
// cluster, a slow disk or a record's deferred work (record.Record.Complete)
// never runs on the packet path.
//
// The queue is bounded by documents and by (estimated) bytes. When it is full:
//
//   - Block (reading files): Write waits for room. Nothing is lost and the
//     order of documents is kept; the reader slows down to the sink's pace.
//   - otherwise (live capture) Write never waits. A document that does not
//     fit goes to Spill when one is given (the Elasticsearch shipper's disk
//     spool) through a second bounded channel drained by its own goroutine,
//     in batches; if that is full too, or there is no Spill, the document is
//     dropped, counted and logged.
package queue

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/psmtap/psmtap/index"
	"github.com/psmtap/psmtap/internal/record"
)

// Defaults of Options.
const (
	DefaultMaxDocs  = 10000
	DefaultMaxBytes = 64 << 20
	spillBatch      = 512
)

// Options configure a Queue.
type Options struct {
	MaxDocs  int   // documents held at most (default DefaultMaxDocs)
	MaxBytes int64 // estimated bytes held at most (default DefaultMaxBytes; see Size)
	// Block makes Write wait for room instead of spilling or dropping.
	Block bool
	// Spill takes documents that found the queue full (not with Block). It
	// runs on a goroutine of its own, with up to 512 documents at a time; an
	// error means they are lost (it has said so itself, or the queue logs it).
	Spill func(docs []record.Document) error
	// SpillDocs bounds the documents waiting for Spill (default MaxDocs).
	SpillDocs int
	// FlushIdle calls the sink's Flush (when it has one) whenever the queue
	// runs empty, so a reader of live output sees documents as they come.
	FlushIdle bool
	Logger    *slog.Logger
}

// Stats are the queue's counters.
type Stats struct {
	Queued    uint64 // documents taken into the queue
	Written   uint64 // documents the sink took without an error
	Failed    uint64 // documents the sink returned an error for
	Spilled   uint64 // documents that found the queue full and went to Spill
	Dropped   uint64 // documents lost: queue full and no Spill, or Spill full or failing
	Depth     int    // documents in the queue now (including the one being written)
	HighWater int    // the most documents the queue has held
}

// Queue is an index.Sink whose Write hands documents to a goroutine that
// writes them into the sink behind it.
type Queue struct {
	sink    index.Sink
	opt     Options
	log     *slog.Logger
	flusher interface{ Flush() error }

	mu        sync.Mutex
	notEmpty  sync.Cond
	notFull   sync.Cond
	items     []entry // waiting, oldest first
	spare     []entry
	n         int   // documents waiting or being written
	bytes     int64 // their estimated size
	highWater int
	draining  bool // the drain goroutine waits for work
	closed    bool

	queued, written, failed, spilled, dropped atomic.Uint64

	spill     chan record.Document
	drainDone chan struct{}
	spillDone chan struct{}

	errMu    sync.Mutex
	firstErr error

	lastDropLog atomic.Int64 // unix ns of the last "dropped" warning

	closeOnce sync.Once
	closeErr  error
}

type entry struct {
	doc  record.Document
	size int64
}

// New starts the drain goroutine (and the spill goroutine when opt.Spill is
// set) in front of sink. Close must be called once everything is written.
func New(sink index.Sink, opt Options) *Queue {
	if opt.MaxDocs <= 0 {
		opt.MaxDocs = DefaultMaxDocs
	}
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxBytes
	}
	if opt.SpillDocs <= 0 {
		opt.SpillDocs = opt.MaxDocs
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	q := &Queue{sink: sink, opt: opt, log: opt.Logger, drainDone: make(chan struct{})}
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	if opt.FlushIdle {
		q.flusher, _ = sink.(interface{ Flush() error })
	}
	go q.drain()
	if opt.Spill != nil && !opt.Block {
		q.spill = make(chan record.Document, opt.SpillDocs)
		q.spillDone = make(chan struct{})
		go q.spillLoop()
	}
	return q
}

// Write implements index.Sink. It never returns an error: a sink's errors
// come back from Close (the first one), as the documents are written later.
// With Block it waits while the queue is full; otherwise it never waits.
// The caller must not change d after Write.
func (q *Queue) Write(d record.Document) error {
	size := Size(d)
	q.mu.Lock()
	for !q.closed && q.full(size) {
		if !q.opt.Block {
			q.mu.Unlock()
			q.overflow(d)
			return nil
		}
		q.notFull.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		q.drop(1, "written after close")
		return nil
	}
	q.items = append(q.items, entry{d, size})
	q.n++
	q.bytes += size
	if q.n > q.highWater {
		q.highWater = q.n
	}
	wake := q.draining
	q.mu.Unlock()
	q.queued.Add(1)
	if wake {
		q.notEmpty.Signal()
	}
	return nil
}

// full says whether a document of size does not fit now; one document
// always fits in an empty queue, however large.
func (q *Queue) full(size int64) bool {
	return q.n >= q.opt.MaxDocs || q.n > 0 && q.bytes+size > q.opt.MaxBytes
}

// overflow handles a document that found the queue full (not Block): to the
// spill goroutine if there is room, else to the floor.
func (q *Queue) overflow(d record.Document) {
	if q.spill != nil {
		select {
		case q.spill <- d:
			return
		default:
		}
		q.drop(1, "the queue and the spill queue are full")
		return
	}
	q.drop(1, "the queue is full and this output has no spool")
}

// drop counts lost documents and says so, at most every 10 s (the packet
// path must not spend its time logging).
func (q *Queue) drop(n int, why string) {
	total := q.dropped.Add(uint64(n))
	now := time.Now().UnixNano()
	last := q.lastDropLog.Load()
	if now-last >= int64(10*time.Second) && q.lastDropLog.CompareAndSwap(last, now) {
		q.log.Error("OUTPUT QUEUE FULL: DOCUMENTS ARE BEING DROPPED (the output cannot keep up with capture)",
			"why", why, "dropped_total", total)
	}
}

func (q *Queue) drain() {
	defer close(q.drainDone)
	for {
		q.mu.Lock()
		for len(q.items) == 0 && !q.closed {
			q.draining = true
			q.notEmpty.Wait()
			q.draining = false
		}
		if len(q.items) == 0 { // closed and empty
			q.mu.Unlock()
			return
		}
		batch := q.items
		q.items = q.spare[:0]
		q.mu.Unlock()
		for i := range batch {
			q.write(batch[i].doc)
			q.mu.Lock()
			q.n--
			q.bytes -= batch[i].size
			q.mu.Unlock()
			if q.opt.Block {
				q.notFull.Signal()
			}
			batch[i] = entry{}
		}
		q.mu.Lock()
		q.spare = batch[:0]
		idle := len(q.items) == 0
		q.mu.Unlock()
		if idle && q.flusher != nil {
			if err := q.flusher.Flush(); err != nil {
				q.setErr(err)
			}
		}
	}
}

// write runs a record's deferred work and hands the document to the sink,
// on the drain goroutine.
func (q *Queue) write(d record.Document) {
	if r, ok := d.(*record.Record); ok {
		r.Complete()
	}
	if err := q.sink.Write(d); err != nil {
		q.failed.Add(1)
		q.setErr(err)
		return
	}
	q.written.Add(1)
}

func (q *Queue) setErr(err error) {
	q.errMu.Lock()
	if q.firstErr == nil {
		q.firstErr = err
	}
	q.errMu.Unlock()
}

func (q *Queue) spillLoop() {
	defer close(q.spillDone)
	batch := make([]record.Document, 0, spillBatch)
	for d := range q.spill {
		batch = append(batch[:0], d)
	more:
		for len(batch) < spillBatch {
			select {
			case d, ok := <-q.spill:
				if !ok {
					break more
				}
				batch = append(batch, d)
			default:
				break more
			}
		}
		if err := q.opt.Spill(batch); err != nil {
			q.drop(len(batch), "spilling failed: "+err.Error())
		} else {
			q.spilled.Add(uint64(len(batch)))
		}
		clear(batch)
	}
}

// Close waits until every queued document is written (and every spilled one
// handed to Spill), closes the sink, and returns the first error of the
// sink's Write, Flush or Close. Only the first call does anything.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		q.notEmpty.Broadcast()
		q.notFull.Broadcast()
		<-q.drainDone
		if q.spill != nil {
			close(q.spill)
			<-q.spillDone
		}
		err := q.sink.Close()
		q.errMu.Lock()
		defer q.errMu.Unlock()
		if q.firstErr != nil {
			err = q.firstErr
		}
		if n := q.dropped.Load(); err == nil && n > 0 {
			// As records lost by the shipper: the run did not keep everything.
			err = fmt.Errorf("%d documents dropped: the output could not keep up with capture", n)
		}
		q.closeErr = err
	})
	return q.closeErr
}

// Stats returns the counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	depth, hw := q.n, q.highWater
	q.mu.Unlock()
	return Stats{
		Queued: q.queued.Load(), Written: q.written.Load(), Failed: q.failed.Load(),
		Spilled: q.spilled.Load(), Dropped: q.dropped.Load(), Depth: depth, HighWater: hw,
	}
}

// LogAttrs are the counters as slog key-value pairs, for the counters lines.
func (s Stats) LogAttrs() []any {
	return []any{"queued", s.Queued, "written", s.Written, "spilled", s.Spilled, "dropped", s.Dropped,
		"queue_depth", s.Depth, "queue_high_water", s.HighWater}
}

// Size estimates what a document costs in memory while it waits: a fixed
// part for the structure and its JSON, plus the text it carries. It reads
// only lengths, so it is cheap enough for the packet path.
func Size(d record.Document) int64 {
	switch v := d.(type) {
	case *record.Record:
		n := 1024 + len(v.OutputText) + 64*len(v.Anomalies) + 512*len(v.Objects)
		for _, c := range v.Commands {
			n += len(c) + 16
		}
		return int64(n)
	case *record.Event:
		n := 512 + len(v.Reason) + 256*len(v.Objects)
		if v.Command != nil {
			n += len(v.Command.Line)
		}
		if v.File != nil {
			n += len(v.File.Path)
		}
		return int64(n)
	}
	return 1024
}
