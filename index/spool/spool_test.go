package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
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
	if got := drainAll(t, s); len(got) != 3 {
		t.Fatalf("got %d", len(got))
	}
}

// A damaged block in the middle sets the segment aside, never deletes it.
func TestCorruptMiddle(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir, Options{})
	s.Append(docs(0, 3))
	s.Append(docs(3, 3))
	s.Append(docs(6, 3))
	s.Close()
	segs, _ := listSegments(dir)
	path := filepath.Join(dir, segs[0].name)
	b, _ := os.ReadFile(path)
	b[len(b)/2] ^= 0xff
	os.WriteFile(path, b, 0o600)
	s, _ = Open(dir, Options{})
	defer s.Close()
	got := drainAll(t, s)
	if len(got) == 0 || len(got) >= 9 {
		t.Fatalf("got %d docs", len(got))
	}
	if _, err := os.Stat(path + ".corrupt"); err != nil {
		t.Fatal("damaged segment not kept:", err)
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
