package queue

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/record"
)

// slowSink writes into a slice; each Write waits until gate lets it through
// (nil gate: no wait).
type slowSink struct {
	mu      sync.Mutex
	gate    chan struct{}
	ids     []string
	flushes int
	closed  int
	failOn  string
}

func (s *slowSink) Write(d record.Document) error {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.DocID() == s.failOn {
		return errors.New("disk full")
	}
	s.ids = append(s.ids, d.DocID())
	return nil
}
func (s *slowSink) Flush() error { s.mu.Lock(); s.flushes++; s.mu.Unlock(); return nil }
func (s *slowSink) Close() error { s.mu.Lock(); s.closed++; s.mu.Unlock(); return nil }

func (s *slowSink) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ids...)
}

func rec(i int) *record.Record { return &record.Record{ID: "r" + strconv.Itoa(i), EventType: "end"} }

// With Block, a full queue holds the writer back: nothing lost, order kept,
// never more than MaxDocs waiting.
func TestBlockKeepsEverythingInOrder(t *testing.T) {
	sink := &slowSink{gate: make(chan struct{})}
	q := New(sink, Options{MaxDocs: 4, Block: true})
	const n = 50
	done := make(chan struct{})
	go func() {
		for i := 0; i < n; i++ {
			q.Write(rec(i))
		}
		close(done)
	}()
	// The sink takes nothing: the writer must stop after a handful.
	time.Sleep(50 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("Write did not wait while the queue was full")
	default:
	}
	if st := q.Stats(); st.Queued > 5 || st.Depth > 4 {
		t.Fatalf("queue went past its bound: %+v", st)
	}
	close(sink.gate) // the sink is fast again
	<-done
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	got := sink.got()
	if len(got) != n {
		t.Fatalf("wrote %d documents, want %d", len(got), n)
	}
	for i, id := range got {
		if id != "r"+strconv.Itoa(i) {
			t.Fatalf("document %d is %s: order lost", i, id)
		}
	}
	st := q.Stats()
	if st.Queued != n || st.Written != n || st.Dropped != 0 || st.Spilled != 0 || st.HighWater != 4 || st.Depth != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// Without Block, Write never waits: what does not fit goes to Spill, and
// every document ends up written or spilled exactly once.
func TestSpillNeverWaits(t *testing.T) {
	sink := &slowSink{gate: make(chan struct{})}
	var mu sync.Mutex
	spilled := map[string]int{}
	q := New(sink, Options{MaxDocs: 8, SpillDocs: 1000, Spill: func(docs []record.Document) error {
		mu.Lock()
		defer mu.Unlock()
		for _, d := range docs {
			spilled[d.DocID()]++
		}
		return nil
	}})
	const n = 1000
	start := time.Now()
	for i := 0; i < n; i++ {
		q.Write(rec(i))
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("writing %d documents to a stuck sink took %v", n, el)
	}
	close(sink.gate)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, id := range sink.got() {
		seen[id]++
	}
	for id, c := range spilled {
		seen[id] += c
	}
	for i := 0; i < n; i++ {
		if c := seen["r"+strconv.Itoa(i)]; c != 1 {
			t.Fatalf("r%d delivered %d times", i, c)
		}
	}
	st := q.Stats()
	if st.Spilled == 0 || st.Written+st.Spilled != n || st.Dropped != 0 || st.HighWater != 8 {
		t.Fatalf("stats %+v", st)
	}
}

// No Spill (live to files or stdout): what does not fit is dropped, counted,
// and Close says so.
func TestDropWithoutSpill(t *testing.T) {
	sink := &slowSink{gate: make(chan struct{})}
	q := New(sink, Options{MaxDocs: 3})
	for i := 0; i < 10; i++ {
		q.Write(rec(i))
	}
	close(sink.gate)
	err := q.Close()
	st := q.Stats()
	// One may already be out of the queue, in the sink's Write.
	if st.Dropped < 6 || st.Dropped > 7 || st.Written+st.Dropped != 10 {
		t.Fatalf("stats %+v", st)
	}
	if err == nil {
		t.Fatal("Close did not report the dropped documents")
	}
}

// A full spill queue (or a failing Spill) drops, counted.
func TestSpillFailureDrops(t *testing.T) {
	sink := &slowSink{gate: make(chan struct{})}
	q := New(sink, Options{MaxDocs: 2, Spill: func([]record.Document) error { return errors.New("spool full") }})
	for i := 0; i < 20; i++ {
		q.Write(rec(i))
	}
	close(sink.gate)
	q.Close()
	st := q.Stats()
	if st.Spilled != 0 || st.Dropped+st.Written != 20 || st.Dropped < 17 {
		t.Fatalf("stats %+v", st)
	}
}

// The byte bound holds as well as the count bound; one document larger than
// the bound still passes alone.
func TestByteBound(t *testing.T) {
	sink := &slowSink{gate: make(chan struct{})}
	big := func(i int) *record.Record {
		r := rec(i)
		r.OutputText = string(make([]byte, 10000))
		return r
	}
	q := New(sink, Options{MaxDocs: 1000, MaxBytes: 25000})
	for i := 0; i < 10; i++ {
		q.Write(big(i))
	}
	st := q.Stats()
	if st.HighWater < 2 || st.HighWater > 3 || st.Dropped < 7 {
		t.Fatalf("byte bound not kept: %+v", st)
	}
	close(sink.gate)
	q.Close()

	sink2 := &slowSink{}
	q2 := New(sink2, Options{MaxBytes: 100})
	q2.Write(big(0))
	if err := q2.Close(); err != nil || len(sink2.got()) != 1 {
		t.Fatalf("a document larger than the bound was not written alone: %v %v", err, sink2.got())
	}
}

// A record's deferred work runs on the drain goroutine, not in Write.
func TestDeferredRunsOffTheWriter(t *testing.T) {
	sink := &slowSink{}
	release := make(chan struct{})
	ran := make(chan struct{})
	r := rec(1)
	r.Deferred = func(r *record.Record) {
		<-release
		r.Kind = "done"
		close(ran)
	}
	q := New(sink, Options{Block: true})
	wrote := make(chan struct{})
	go func() { q.Write(r); close(wrote) }()
	select {
	case <-wrote:
	case <-time.After(2 * time.Second):
		t.Fatal("Write ran the deferred work itself")
	}
	close(release)
	<-ran
	q.Close()
	if r.Kind != "done" || r.Deferred != nil {
		t.Fatalf("deferred work did not complete the record: kind %q", r.Kind)
	}
}

// Close: everything written, the sink closed once, the first write error
// returned, the goroutines gone; a second Close changes nothing.
func TestCloseOnceNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	sink := &slowSink{failOn: "r3"}
	q := New(sink, Options{Spill: func([]record.Document) error { return nil }, FlushIdle: true})
	for i := 0; i < 10; i++ {
		q.Write(rec(i))
	}
	err := q.Close()
	if err == nil || err.Error() != "disk full" {
		t.Fatalf("Close returned %v, want the sink's write error", err)
	}
	if err2 := q.Close(); err2 != err {
		t.Fatalf("second Close returned %v", err2)
	}
	if sink.closed != 1 {
		t.Fatalf("sink closed %d times", sink.closed)
	}
	if sink.flushes == 0 {
		t.Fatal("FlushIdle never flushed")
	}
	if st := q.Stats(); st.Written != 9 || st.Failed != 1 {
		t.Fatalf("stats %+v", st)
	}
	q.Write(rec(11)) // after Close: counted as dropped, not a panic
	for i := 0; i < 100 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines left behind", n-before)
	}
}

// What the packet path pays per document when the sink keeps up.
func BenchmarkWrite(b *testing.B) {
	q := New(&slowSink{}, Options{Block: true})
	r := rec(1)
	b.ReportAllocs()
	for b.Loop() {
		q.Write(r)
	}
	q.Close()
}
