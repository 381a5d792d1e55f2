package engine

import (
	"sync"

	"github.com/psmtap/psmtap/capture/decode"
	"github.com/psmtap/psmtap/internal/record"
)

// Parallel spreads packets over several engines, one goroutine each, by a
// hash of the IP address pair: every packet of a flow (and every fragment of
// a datagram) reaches the same engine, so each keeps its flows to itself and
// nothing is shared on the packet path. The reader copies each frame into a
// batch (frames from capture are borrowed); batches go to the workers and
// come back for reuse, so steady state allocates nothing.
type Parallel struct {
	workers []*worker
	mu      sync.Mutex // serialises Emit for the sink
}

type worker struct {
	e    *Engine
	in   chan *batch
	free chan *batch
	cur  *batch
	done chan struct{}
	// snap is a copy of the engine's counters, refreshed by the worker now
	// and then, so Stats can be read while packets flow.
	mu      sync.Mutex
	snap    Stats
	batches int
}

type frameRef struct {
	off, len int32
	link     int32
	wire     int32
	ts       int64
}

type batch struct {
	data   []byte
	frames []frameRef
	tick   int64 // >0: advance packet time (a quiet live link)
}

const (
	batchFrames = 256
	batchBytes  = 512 << 10
	batchesEach = 8
)

// NewParallel starts n engines with cfg (n >= 2). Emit may be called from
// any worker; Parallel serialises the calls.
func NewParallel(cfg Config, n int) *Parallel {
	p := &Parallel{}
	emit := cfg.Emit
	cfg.Emit = func(r *record.Record) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if emit != nil {
			emit(r)
		}
	}
	if emitEvent := cfg.EmitEvent; emitEvent != nil {
		cfg.EmitEvent = func(ev *record.Event) {
			p.mu.Lock()
			defer p.mu.Unlock()
			emitEvent(ev)
		}
	}
	// One memory budget for the process, split evenly: flows are spread
	// evenly by the hash.
	if cfg.MaxMemory <= 0 {
		cfg.MaxMemory = DefaultMaxMemory()
	}
	cfg.MaxMemory /= int64(n)
	for i := 0; i < n; i++ {
		e := New(cfg)
		e.share = int64(n) // recordings are counted process-wide
		w := &worker{e: e, in: make(chan *batch, batchesEach), free: make(chan *batch, batchesEach), done: make(chan struct{})}
		for j := 0; j < batchesEach; j++ {
			w.free <- &batch{data: make([]byte, 0, batchBytes), frames: make([]frameRef, 0, batchFrames)}
		}
		w.cur = <-w.free
		p.workers = append(p.workers, w)
		go w.run()
	}
	return p
}

func (w *worker) run() {
	defer close(w.done)
	for b := range w.in {
		if b.tick > 0 {
			w.e.Tick(b.tick)
		}
		for _, f := range b.frames {
			w.e.Packet(int(f.link), b.data[f.off:f.off+f.len], f.ts, int(f.wire))
		}
		b.data, b.frames, b.tick = b.data[:0], b.frames[:0], 0
		if w.batches++; w.batches%64 == 0 {
			w.snapshot()
		}
		w.free <- b
	}
	w.snapshot()
}

func (w *worker) snapshot() {
	st := w.e.Stats()
	w.mu.Lock()
	w.snap = st
	w.mu.Unlock()
}

// Packet hands a frame to its flow's engine. frame is copied.
func (p *Parallel) Packet(linkType int, frame []byte, ts int64, wireLen int) {
	h, _ := decode.PairHash(linkType, frame)
	w := p.workers[h%uint64(len(p.workers))]
	b := w.cur
	if len(b.frames) == batchFrames || len(b.data)+len(frame) > cap(b.data) && len(b.frames) > 0 {
		w.in <- b
		b = <-w.free
		w.cur = b
	}
	b.frames = append(b.frames, frameRef{off: int32(len(b.data)), len: int32(len(frame)), link: int32(linkType), wire: int32(wireLen), ts: ts})
	b.data = append(b.data, frame...)
}

// SetInterface sets observer.ingress.interface.name on every engine. Call it
// between files only (it waits for the workers to catch up).
func (p *Parallel) SetInterface(name string) {
	p.sync()
	for _, w := range p.workers {
		w.e.SetInterface(name)
	}
}

// Tick advances packet time on every engine (a quiet live link).
func (p *Parallel) Tick(now int64) {
	for _, w := range p.workers {
		b := w.cur
		b.tick = now
		w.in <- b
		w.cur = <-w.free
	}
}

// sync waits until every worker has processed what it was given.
func (p *Parallel) sync() {
	for _, w := range p.workers {
		if len(w.cur.frames) > 0 {
			w.in <- w.cur
			w.cur = <-w.free
		}
		// All batches back in the free list (plus cur) means nothing pending.
		// Receiving each one is what orders the worker's work on it before
		// what the caller does next (len alone would not synchronise).
		held := make([]*batch, 0, batchesEach-1)
		for len(held) < batchesEach-1 {
			held = append(held, <-w.free)
		}
		for _, b := range held {
			w.free <- b
		}
	}
}

// Flush processes what is pending, ends every flow of every engine and stops
// the workers. The Parallel cannot be used afterwards.
func (p *Parallel) Flush() {
	for _, w := range p.workers {
		if len(w.cur.frames) > 0 {
			w.in <- w.cur
		}
		close(w.in)
	}
	for _, w := range p.workers {
		<-w.done
		w.e.Flush()
		w.snapshot()
	}
}

// Stats adds up the engines' counters: exact after Flush, a little behind
// while packets flow.
func (p *Parallel) Stats() Stats {
	var s Stats
	s.ByProtocol = map[string]uint64{}
	for _, w := range p.workers {
		w.mu.Lock()
		ws := w.snap
		w.mu.Unlock()
		s.Packets += ws.Packets
		s.Bytes += ws.Bytes
		s.WireBytes += ws.WireBytes
		s.TCP += ws.TCP
		s.UDP += ws.UDP
		s.NotIP += ws.NotIP
		s.Malformed += ws.Malformed
		s.Fragments += ws.Fragments
		s.Flows += ws.Flows
		s.Sessions += ws.Sessions
		s.Records += ws.Records
		s.Panics += ws.Panics
		s.Related += ws.Related
		s.Interims += ws.Interims
		s.Events += ws.Events
		s.OpenFlows += ws.OpenFlows
		s.FragmentsReassembled += ws.FragmentsReassembled
		s.FragmentsExpired += ws.FragmentsExpired
		s.FragmentsDropped += ws.FragmentsDropped
		s.FragmentsEvicted += ws.FragmentsEvicted
		s.MemoryBudget += ws.MemoryBudget
		s.MemoryUsed += ws.MemoryUsed
		s.MemoryPeak += ws.MemoryPeak // an upper bound: the engines peak at different times
		s.ShedUndecided += ws.ShedUndecided
		s.ShedAtLogin += ws.ShedAtLogin
		s.ShedLoggedIn += ws.ShedLoggedIn
		s.BuffersFlushed += ws.BuffersFlushed
		s.ProbeBudgetExceeded += ws.ProbeBudgetExceeded
		s.Events += ws.Events
		s.ExpectedDropped += ws.ExpectedDropped
		s.OverlapMismatches += ws.OverlapMismatches
		for k, v := range ws.ByProtocol {
			s.ByProtocol[k] += v
		}
	}
	return s
}
