package integrity

import (
	"fmt"
	"image"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/screenrec"
)

// TestScreenRecordingLeaf: a session whose recording is a screen recording
// (.screen.zst, VNC) gets it as a leaf like a terminal recording: verify
// finds it untouched, then sees one changed byte.
func TestScreenRecordingLeaf(t *testing.T) {
	dir := t.TempDir()
	start := time.Unix(1800000000, 0)
	w, err := screenrec.Create(dir, "vnc-20270115T080000Z-screen1", start, 64, 48, screenrec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	w.Frame(start.UnixNano(), img, []image.Rectangle{img.Rect})
	img.Pix[4*70] = 255
	w.Frame(start.Add(time.Second).UnixNano(), img, []image.Rectangle{image.Rect(0, 1, 10, 2)})
	w.Key(start.Add(2*time.Second).UnixNano(), "secret-ish")
	saved, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	r := &record.Record{ID: "screen1", Start: start, End: start.Add(3 * time.Second), EventType: "end", Transport: "tcp", Protocol: "vnc",
		Client: netip.MustParseAddrPort("192.0.2.1:50000"), Server: netip.MustParseAddrPort("192.0.2.2:5900"), Recording: saved}

	signer, verifier := testKey(t)
	sink := &memSink{}
	st, err := New(sink, Options{Signer: signer, RecordingsDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Write(r); err != nil {
		t.Fatal(err)
	}
	st.Close()
	verify := func() *Report {
		v := NewVerifier(verifier)
		src := v.Source("mem")
		for i, l := range sink.lines {
			v.AddDocument(src, int64(i+1), l)
		}
		for i, c := range sink.cps {
			v.AddCheckpoint(fmt.Sprint("cp", i+1), c)
		}
		return v.Finish(func(rel string) (string, bool) {
			p := filepath.Join(dir, rel)
			_, err := os.Stat(p)
			return p, err == nil
		})
	}
	rep := verify()
	if !rep.OK() || rep.Recordings != 1 || rep.Logs[0].Leaves != 2 {
		t.Fatalf("untouched: recordings %d, logs %+v, problems %v", rep.Recordings, rep.Logs, rep.Problems)
	}
	p := filepath.Join(dir, saved.Path)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 1
	os.WriteFile(p, b, 0o644)
	rep = verify()
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != RecordingChange {
		t.Fatalf("one byte changed: %v", rep.Problems)
	}
}
