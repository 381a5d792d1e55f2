package console

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/screenrec"
)

// TestScreenRecordingServed: a VNC session's screen recording is served
// decompressed (NDJSON, the screenrec header first), found by the record
// like a terminal recording.
func TestScreenRecordingServed(t *testing.T) {
	base := t.TempDir()
	records, recordings := filepath.Join(base, "out"), filepath.Join(base, "rec")
	os.MkdirAll(records, 0o755)
	start := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	w, err := screenrec.Create(recordings, "vnc-20261130T010000Z-scr", start, 32, 16, screenrec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 32, 16))
	w.Frame(start.UnixNano(), img, nil)
	w.Key(start.Add(time.Second).UnixNano(), "ls")
	saved, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	d := rec("scr", "vnc", "alice", "192.0.2.10", "2026-11-30T01:00:00Z", "end", saved.Path)
	d["psm"].(map[string]any)["recording"].(map[string]any)["format"] = saved.Format
	b, _ := json.Marshal(d)
	os.WriteFile(filepath.Join(records, "a.ndjson"), append(b, '\n'), 0o644)
	a := &Archive{Dir: records}
	if err := a.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(a, recordings, "", "test", nil))
	defer srv.Close()
	res, body := get(t, srv.URL+"/api/v1/recordings/scr", "")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/x-ndjson" || len(lines) != 3 ||
		!strings.HasPrefix(lines[0], `{"version":1,"format":"psmtap-screen","width":32,"height":16`) || !strings.HasSuffix(lines[2], `"i","ls"]`) {
		t.Fatalf("%d %q %q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if !bytes.Contains([]byte(lines[1]), []byte(`"k",{"png":"iVBORw0KGgo`)) {
		t.Errorf("key frame: %.80s", lines[1])
	}
	for _, p := range []string{"vnc-x.screen.zst", "x/vnc.screen"} {
		if !safeRel(p) {
			t.Errorf("safeRel(%q) = false", p)
		}
	}
	for _, p := range []string{"../a.screen.zst", "a.screen.zst.tmp", "a.png"} {
		if safeRel(p) {
			t.Errorf("safeRel(%q) = true", p)
		}
	}
}
