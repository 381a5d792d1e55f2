package integrity

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/psmtap/psmtap/internal/record"
)

// The writer's frontier gives the root tlog computes from every stored hash,
// at every size.
func TestFrontierMatchesTlog(t *testing.T) {
	var f frontier
	var stored []tlog.Hash
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for n := int64(0); n < 300; n++ {
		want, _ := tlog.TreeHash(n, hr)
		if got := f.root(); got != want {
			t.Fatalf("size %d: root %v, tlog %v", n, got, want)
		}
		h := tlog.RecordHash([]byte(fmt.Sprint("leaf", n)))
		hs, err := tlog.StoredHashesForRecordHash(n, h, hr)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
		f.append(h)
	}
	if len(f.roots) > 9 {
		t.Fatalf("frontier of 300 leaves holds %d hashes", len(f.roots))
	}
}

func TestSealOpen(t *testing.T) {
	doc := []byte(`{"@timestamp":"x","psm":{"session_id":"a"},"ssh":{"client":"\",\"psm.integrity\":{"}}`)
	m := Meta{LogID: "0123456789abcdef", LeafIndex: 41, RecordingLeafIndex: 42, RecordingLeafHash: tlog.RecordHash([]byte("rec"))}
	b, err := Seal(doc, &m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, doc[:len(doc)-1]) || !bytes.HasSuffix(b, []byte(`"}}`)) {
		t.Fatalf("sealed: %s", b)
	}
	got, h, err := Open(append(b, '\n'))
	if err != nil || got != m || h != m.LeafHash {
		t.Fatalf("open: %+v %v %v, want %+v", got, h, err, m)
	}
	// Any changed byte, before or inside the member, is seen.
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x20
		if _, _, err := Open(c); err == nil {
			if i >= len(b)-66 && i < len(b)-3 { // a hex digit of leaf_hash flipped to upper case... is refused too
				continue
			}
			t.Fatalf("byte %d (%q) changed and Open says nothing", i, b[i])
		}
	}
	if _, _, err := Open(doc); !errors.Is(err, ErrUnsealed) {
		t.Fatalf("unsealed: %v", err)
	}
	if _, err := Seal([]byte(`{}`), &m); err == nil {
		t.Fatal("sealed an empty object")
	}
}

type memSink struct {
	mu    sync.Mutex
	lines [][]byte
	cps   [][]byte
}

func (s *memSink) Write(d record.Document) error {
	b, err := d.MarshalJSON()
	s.mu.Lock()
	s.lines = append(s.lines, b)
	s.mu.Unlock()
	return err
}
func (s *memSink) Close() error { return nil }
func (s *memSink) WriteCheckpoint(_ string, doc []byte) error {
	s.mu.Lock()
	s.cps = append(s.cps, doc)
	s.mu.Unlock()
	return nil
}

func testKey(t testing.TB) (note.Signer, note.Verifier) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "test")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

func event(i int) *record.Event {
	ev := record.CommandEvent(1700000000e9+int64(i), fmt.Sprintf("ls -l /tmp/%d <&>", i))
	ev.ID = fmt.Sprintf("ev-%d", i)
	ev.SessionID = "s1"
	return ev
}

// A clock that moves when told: checkpoints every interval, and a gap when
// the sensor stalls.
func TestIntervalCheckpointsAndGap(t *testing.T) {
	signer, verifier := testKey(t)
	var mu sync.Mutex
	now := time.Unix(1800000000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	sink := &memSink{}
	st, err := New(sink, Options{Signer: signer, Interval: 40 * time.Millisecond, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	waitCPs := func(n int) {
		for i := 0; i < 200; i++ {
			sink.mu.Lock()
			k := len(sink.cps)
			sink.mu.Unlock()
			if k >= n {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("no checkpoint %d", n)
	}
	st.Write(event(0))
	advance(50 * time.Millisecond) // past the interval: the ticker signs
	waitCPs(2)
	st.Write(event(1))
	advance(time.Hour) // a stall of an hour
	waitCPs(3)
	st.Write(event(2))
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(verifier)
	v.GapAfter = 100 * time.Millisecond
	src := v.Source("mem")
	for i, l := range sink.lines {
		v.AddDocument(src, int64(i+1), l)
	}
	for i, c := range sink.cps {
		v.AddCheckpoint(fmt.Sprint("cp", i+1), c)
	}
	rep := v.Finish(func(string) (string, bool) { return "", false })
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != Gap || !strings.Contains(rep.Problems[0].Detail, "(1h0m0s)") {
		t.Fatalf("want one gap of an hour: %v", rep.Problems)
	}
	if len(rep.Logs) != 1 || rep.Logs[0].Leaves != 3 || !rep.Logs[0].Closed {
		t.Fatalf("logs: %+v", rep.Logs)
	}
}

// verify must be fast: 100k documents (a million in well under a minute).
func TestVerify100k(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	signer, verifier := testKey(t)
	sink := &memSink{}
	st, err := New(sink, Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	const n = 100000
	for i := 0; i < n; i++ {
		if err := st.Write(event(i)); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	start := time.Now()
	v := NewVerifier(verifier)
	src := v.Source("mem")
	for i, l := range sink.lines {
		v.AddDocument(src, int64(i+1), l)
	}
	for i, c := range sink.cps {
		v.AddCheckpoint(fmt.Sprint("cp", i+1), c)
	}
	rep := v.Finish(nil)
	took := time.Since(start)
	if !rep.OK() || rep.Documents != n {
		t.Fatalf("%d documents, problems %v", rep.Documents, rep.Problems)
	}
	t.Logf("verified %d documents in %s", n, took)
	if took > 6*time.Second { // 60 s for a million, with room for a slow CI
		t.Fatalf("verifying %d documents took %s", n, took)
	}
}

func BenchmarkSeal(b *testing.B) {
	signer, _ := testKey(b)
	st, _ := New(&memSink{}, Options{Signer: signer})
	defer st.Close()
	ev := event(1)
	size, _ := ev.MarshalJSON()
	b.SetBytes(int64(len(size)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		st.Write(ev)
	}
}

func BenchmarkVerify(b *testing.B) {
	signer, verifier := testKey(b)
	sink := &memSink{}
	st, _ := New(sink, Options{Signer: signer})
	for i := 0; i < 10000; i++ {
		st.Write(event(i))
	}
	st.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v := NewVerifier(verifier)
		src := v.Source("mem")
		for k, l := range sink.lines {
			v.AddDocument(src, int64(k+1), l)
		}
		for k, c := range sink.cps {
			v.AddCheckpoint(fmt.Sprint(k), c)
		}
		if rep := v.Finish(nil); !rep.OK() {
			b.Fatal(rep.Problems)
		}
	}
}

// LeafMeta reads what Seal wrote, from the member as _source filtering gives
// it (dotted, as written) or nested; it refuses a member without its hash.
func TestLeafMeta(t *testing.T) {
	m := Meta{LogID: "0123456789abcdef", LeafIndex: 7, RecordingLeafIndex: 8, RecordingLeafHash: tlog.RecordHash([]byte("cast"))}
	b, err := Seal([]byte(`{"a":1}`), &m)
	if err != nil {
		t.Fatal(err)
	}
	member := b[bytes.Index(b, []byte(`"psm.integrity":`))+len(`"psm.integrity":`) : len(b)-1]
	for _, src := range []string{`{"psm.integrity":` + string(member) + `}`, `{"psm":{"integrity":` + string(member) + `}}`} {
		got, err := LeafMeta([]byte(src))
		if err != nil || got != m {
			t.Errorf("LeafMeta(%s) = %+v, %v; want %+v", src, got, err, m)
		}
	}
	for _, bad := range []string{`{"a":1}`, `{"psm.integrity":{"log_id":"0123456789abcdef","leaf_index":7}}`,
		`{"psm.integrity":{"log_id":"0123456789abcdef","leaf_hash":"` + strings.Repeat("0", 64) + `"}}`,
		`{"psm.integrity":{"log_id":"XYZ","leaf_index":1,"leaf_hash":"` + strings.Repeat("0", 64) + `"}}`} {
		if _, err := LeafMeta([]byte(bad)); err == nil {
			t.Errorf("LeafMeta(%s): no error", bad)
		}
	}
}
