package asciicast

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriterRoundTrip(t *testing.T) {
	w := &Writer{Term: "xterm"}
	w.Start(1e9)
	w.Resize(1e9, 132, 43)                             // before any event: the header size
	w.Output(1e9+5e8, []byte("caf\xc3"))               // a rune cut between two segments
	w.Output(2e9, []byte("\xa9 \"q\" \\ \x1b[0m\r\n")) // quotes, backslash, escape, CR LF
	w.Input(3e9, []byte("id\r"))
	w.Resize(4e9, 80, 24)
	w.Output(5e9, []byte("bad \xff byte"))
	h, evs, err := Parse(w.Bytes(1795651778))
	if err != nil {
		t.Fatal(err)
	}
	if h.Width != 132 || h.Height != 43 || h.Env["TERM"] != "xterm" || h.Timestamp != 1795651778 {
		t.Fatalf("header %+v", h)
	}
	want := []Event{{0.5, "o", "caf"}, {1, "o", "é \"q\" \\ \x1b[0m\r\n"}, {2, "i", "id\r"}, {3, "r", "80x24"}, {4, "o", "bad \ufffd byte"}}
	if len(evs) != len(want) {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d: %+v, want %+v", i, evs[i], want[i])
		}
	}
}

func TestCap(t *testing.T) {
	w := &Writer{}
	chunk := []byte(strings.Repeat("x", 1<<16))
	for i := 0; i < MaxBytes/len(chunk)+10; i++ {
		w.Output(int64(i), chunk)
	}
	if !w.Truncated || len(w.buf) > MaxBytes+2*len(chunk) {
		t.Fatalf("truncated %v, %d bytes", w.Truncated, len(w.buf))
	}
}

func TestSaveOpen(t *testing.T) {
	dir := t.TempDir()
	w := &Writer{}
	w.Output(0, []byte("hello\r\n"))
	s, err := Save(dir, "telnet-x", w.Bytes(0))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, s.Path))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if s.Path != "telnet-x.cast.zst" || s.SHA256 != hex.EncodeToString(sum[:]) || s.Bytes != int64(len(raw)) || s.Format != "asciicast-v2" {
		t.Fatalf("%+v", s)
	}
	_, evs, err := Open(filepath.Join(dir, s.Path))
	if err != nil || len(evs) != 1 || evs[0].Data != "hello\r\n" {
		t.Fatalf("%v %+v", err, evs)
	}
	if _, _, err := Parse([]byte("not json\n")); err == nil {
		t.Fatal("garbage parsed")
	}
}

// Recordings in progress are counted (bytes and places) and bounded.
func TestInProgressBounded(t *testing.T) {
	old := MaxInProgress
	MaxInProgress = InProgress() + 2
	defer func() { MaxInProgress = old }()
	base := Held()
	var ws [3]Writer
	for i := range ws {
		ws[i].Output(int64(i), []byte("login: "))
	}
	if Held() <= base {
		t.Fatalf("held %d, before %d", Held(), base)
	}
	if !ws[0].Commit() || !ws[1].Commit() || ws[2].Commit() || !ws[2].Refused {
		t.Fatal("the third recording should be refused")
	}
	ws[2].Output(5, []byte("more"))
	if !ws[2].Empty() && ws[2].Bytes(0) != nil && len(ws[2].buf) != 0 {
		t.Fatal("a refused recording keeps recording")
	}
	for i := range ws {
		ws[i].Release()
	}
	if Held() != base || InProgress() != MaxInProgress-2 {
		t.Fatalf("after release: held %d (want %d), in progress %d", Held(), base, InProgress())
	}
	// Before Commit, a recording stays small.
	var w Writer
	big := make([]byte, 1024)
	for i := 0; i < 200; i++ {
		w.Output(int64(i), big)
	}
	if !w.Truncated || len(w.buf) > MaxUncommitted+8<<10 {
		t.Fatalf("uncommitted recording: %d bytes, truncated %v", len(w.buf), w.Truncated)
	}
	w.Release()
}
