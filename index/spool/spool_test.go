package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func docs(from, n int) []Doc {
	out := make([]Doc, n)
	for i := range out {
		out[i] = Doc{Index: "logs-psmtap.session-default", ID: fmt.Sprintf("id-%d", from+i), Body: []byte(fmt.Sprintf(`{"n":%d}`, from+i))}
	}
	return out
}

func drainAll(t *testing.T, s *Spool) []Doc {
	t.Helper()
	var got []Doc
	if _, err := s.Drain(func(d []Doc) error { got = append(got, d...); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestAppendDrainReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{SegmentBytes: 200})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if err := s.Append(docs(i*5, 5)); err != nil {
			t.Fatal(err)
		}
	}
	if s.Pending() != 50 {
		t.Fatalf("pending %d", s.Pending())
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	s.Close()
	st, err := Stat(dir)
	if err != nil || st.Docs != 50 || st.Segments < 2 {
		t.Fatalf("stat %+v %v", st, err)
	}
	s, _ = Open(dir, Options{})
	defer s.Close()
	if s.Pending() != 50 {
		t.Fatalf("pending after reopen %d", s.Pending())
	}
	got := drainAll(t, s)
	if len(got) != 50 {
		t.Fatalf("drained %d", len(got))
	}
	for i, d := range got {
		if d.ID != fmt.Sprintf("id-%d", i) || string(d.Body) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("doc %d: %+v", i, d)
		}
	}
	if st, _ := Stat(dir); st.Docs != 0 || st.Segments != 0 || s.Size() != 0 || s.Pending() != 0 {
		t.Fatalf("after drain: %+v size %d pending %d", st, s.Size(), s.Pending())
	}
}

// A drain that fails half way resumes at the first undelivered block.
func TestDrainResumes(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{})
	for i := 0; i < 4; i++ {
		s.Append(docs(i*3, 3))
	}
	calls := 0
	n, err := s.Drain(func(d []Doc) error {
		calls++
		if calls == 3 {
			return errors.New("cluster away")
		}
		return nil
	})
	if err == nil || n != 6 {
		t.Fatalf("n=%d err=%v", n, err)
	}
	s.Close()
	s, _ = Open(dir, Options{})
	defer s.Close()
	if s.Pending() != 6 {
		t.Fatalf("pending %d", s.Pending())
	}
	got := drainAll(t, s)
	if len(got) != 6 || got[0].ID != "id-6" {
		t.Fatalf("resumed with %d docs from %v", len(got), got)
	}
}

// A crash in the middle of an append leaves a torn block: everything before it
// is read, the torn block is ignored.
func TestTornTail(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{})
	s.Append(docs(0, 3))
	s.Append(docs(3, 3))
	s.Close()
	segs, _ := listSegments(dir)
	path := filepath.Join(dir, segs[0].name)
	fi, _ := os.Stat(path)
	os.Truncate(path, fi.Size()-5)
	st, _ := Stat(dir)
	if st.Docs != 3 || st.TornTails != 1 {
		t.Fatalf("stat %+v", st)
	}
	s, _ = Open(dir, Options{})
	defer s.Close()
	// The torn block was cut: once more is appended the segment is sealed
	// and still reads clean, not as damage.
	s.Append(docs(10, 2))
	if got := ids(drainAll(t, s)); got != "0 1 2 10 11" {
		t.Fatalf("got %s", got)
	}
	if l := s.Losses(); l != (Losses{}) {
		t.Fatalf("a torn tail taken for damage: %+v", l)
	}
}

// blockSpans returns where each block of a segment starts and ends.
func blockSpans(t *testing.T, path string) [][2]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec, _ := zstd.NewReader(nil)
	defer dec.Close()
	var spans [][2]int
	for p := 0; p < len(b); {
		_, n, ok := parseBlock(dec, b[p:])
		if !ok {
			t.Fatalf("block at %d does not parse", p)
		}
		spans = append(spans, [2]int{p, p + n})
		p += n
	}
	return spans
}

// sealedThenMore writes three blocks (ids 0-8) into a first segment, sealed
// by a reopen, and two (ids 9-14) into a second. It returns the first
// segment's path.
func sealedThenMore(t *testing.T, dir string) string {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		s.Append(docs(i*3, 3))
	}
	s.Close()
	s, _ = Open(dir, Options{})
	s.Append(docs(9, 3))
	s.Append(docs(12, 3))
	s.Close()
	segs, _ := listSegments(dir)
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2", len(segs))
	}
	return filepath.Join(dir, segs[0].name)
}

func ids(ds []Doc) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(strings.TrimPrefix(d.ID, "id-") + " ")
	}
	return strings.TrimSpace(b.String())
}

// Damage in a sealed segment is corruption wherever it is: the good blocks on
// both sides are delivered, the damaged block's records are counted as lost,
// and the file is kept as *.corrupt.
func TestCorruptSealedSegment(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(b []byte, spans [][2]int) []byte
		want    string // ids delivered
		lost    int
		unknown int
	}{
		{"payload of the middle block", func(b []byte, sp [][2]int) []byte { b[sp[1][0]+headerLen+3] ^= 0xff; return b },
			"0 1 2 6 7 8 9 10 11 12 13 14", 3, 0},
		{"header of the middle block", func(b []byte, sp [][2]int) []byte { b[sp[1][0]] = 'X'; return b },
			"0 1 2 6 7 8 9 10 11 12 13 14", 0, 1},
		{"length of the middle block", func(b []byte, sp [][2]int) []byte { b[sp[1][0]+5] ^= 0x40; return b },
			"0 1 2 6 7 8 9 10 11 12 13 14", 3, 0},
		{"payload of the last block of the sealed segment", func(b []byte, sp [][2]int) []byte { b[sp[2][0]+headerLen+3] ^= 0xff; return b },
			"0 1 2 3 4 5 9 10 11 12 13 14", 3, 0},
		{"sealed segment cut inside its last block", func(b []byte, sp [][2]int) []byte { return b[:len(b)-5] },
			"0 1 2 3 4 5 9 10 11 12 13 14", 3, 0},
		{"garbage between blocks", func(b []byte, sp [][2]int) []byte {
			return append(append(append([]byte(nil), b[:sp[1][0]]...), "garbage that is no block"...), b[sp[1][0]:]...)
		}, "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14", 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := sealedThenMore(t, dir)
			b, _ := os.ReadFile(path)
			os.WriteFile(path, c.damage(b, blockSpans(t, path)), 0o600)

			st, err := Stat(dir)
			if err != nil || st.Corrupt != 1 || st.Lost != c.lost || st.LostUnknown != c.unknown || st.TornTails != 0 {
				t.Errorf("stat %+v %v; want 1 corrupt, %d lost, %d unknown, no torn tail", st, err, c.lost, c.unknown)
			}
			s, _ := Open(dir, Options{})
			defer s.Close()
			if got := ids(drainAll(t, s)); got != c.want {
				t.Errorf("delivered %s, want %s", got, c.want)
			}
			if l := s.Losses(); l != (Losses{Segments: 1, Docs: c.lost, Unknown: c.unknown}) {
				t.Errorf("losses %+v, want %d records and %d unknown stretches in 1 segment", l, c.lost, c.unknown)
			}
			if _, err := os.Stat(path + ".corrupt"); err != nil {
				t.Error("damaged segment not kept:", err)
			}
			if st, _ := Stat(dir); st.Corrupt != 1 || st.Lost != c.lost || st.Docs != 0 {
				t.Errorf("stat after the drain %+v", st)
			}
		})
	}
}

// A drain that stops half way (the cluster refuses) resumes after the damage
// without sending again what was delivered.
func TestCorruptResumes(t *testing.T) {
	dir := t.TempDir()
	path := sealedThenMore(t, dir)
	b, _ := os.ReadFile(path)
	b[blockSpans(t, path)[1][0]+headerLen+3] ^= 0xff
	os.WriteFile(path, b, 0o600)
	s, _ := Open(dir, Options{})
	defer s.Close()
	var got []Doc
	calls := 0
	_, err := s.Drain(func(d []Doc) error {
		if calls++; calls == 2 {
			return errors.New("cluster away")
		}
		got = append(got, d...)
		return nil
	})
	if err == nil || err.Error() != "cluster away" {
		t.Fatalf("drain error %v", err)
	}
	got = append(got, drainAll(t, s)...)
	if ids(got) != "0 1 2 6 7 8 9 10 11 12 13 14" {
		t.Fatalf("delivered %s", ids(got))
	}
	if l := s.Losses(); l.Docs != 3 {
		t.Fatalf("losses %+v", l)
	}
}

func TestFull(t *testing.T) {
	s, _ := Open(t.TempDir(), Options{MaxBytes: 300})
	defer s.Close()
	var err error
	n := 0
	for ; n < 100 && err == nil; n++ {
		err = s.Append(docs(n*4, 4))
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("err %v", err)
	}
	if s.Size() > 300 {
		t.Fatalf("size %d past the bound", s.Size())
	}
	if got := drainAll(t, s); int64(len(got)) != int64((n-1)*4) {
		t.Fatalf("kept %d of %d acknowledged", len(got), (n-1)*4)
	}
}
