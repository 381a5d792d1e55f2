package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/psmtap/psmtap/internal/screenrec"
)

// screenRecording writes a small screen recording: a grey 160x100 screen,
// a red square at 1 s, a blue bar at 2.5 s, a scroll at 2.7 s, an incomplete mark at 3 s,
// a last key at 63 s
// (with a reason that holds terminal escapes), keys and a click. It
// returns the path and the screens expected at 1.5 s and at the end.
func screenRecording(t *testing.T, dir string) (string, *image.RGBA, *image.RGBA) {
	t.Helper()
	start := time.Date(2026, 11, 30, 1, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) int64 { return start.Add(d).UnixNano() }
	w, err := screenrec.Create(dir, "vnc-20261130T010000Z-screentest1", start, 160, 100, screenrec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 160, 100))
	draw.Draw(img, img.Rect, image.NewUniform(color.RGBA{90, 90, 90, 255}), image.Point{}, draw.Src)
	for y := 40; y < 84; y++ { // rows that differ from each other, to scroll
		for x := range 160 {
			img.SetRGBA(x, y, color.RGBA{uint8(x * y), uint8(y * 5), uint8(x ^ y), 255})
		}
	}
	w.Frame(ts(0), img, []image.Rectangle{img.Rect})
	sq := image.Rect(10, 10, 40, 40)
	draw.Draw(img, sq, image.NewUniform(color.RGBA{220, 0, 0, 255}), image.Point{}, draw.Src)
	w.Frame(ts(time.Second), img, []image.Rectangle{sq})
	at15 := image.NewRGBA(img.Rect)
	copy(at15.Pix, img.Pix)
	w.Key(ts(2*time.Second), "xterm<b>\n")
	w.Click(ts(2200*time.Millisecond), 100, 50, 1)
	bar := image.Rect(0, 80, 160, 90)
	draw.Draw(img, bar, image.NewUniform(color.RGBA{0, 0, 200, 255}), image.Point{}, draw.Src)
	w.Frame(ts(2500*time.Millisecond), img, []image.Rectangle{bar})
	// a scroll: rows 40..80 move up 4 pixels, 4 new rows at the bottom (the
	// recording says it as a copy and a small picture)
	region := image.Rect(0, 40, 160, 80)
	for y := region.Min.Y; y < region.Max.Y; y++ {
		copy(img.Pix[img.PixOffset(0, y):img.PixOffset(160, y)], img.Pix[img.PixOffset(0, y+4):])
	}
	for y := 76; y < 80; y++ {
		for x := range 160 {
			img.SetRGBA(x, y, color.RGBA{uint8(x), 255, uint8(y), 255})
		}
	}
	w.Frame(ts(2700*time.Millisecond), img, []image.Rectangle{region})
	w.Incomplete(ts(3*time.Second), "missing packets \x1b]0;pwned\x07")
	w.Key(ts(63*time.Second), "exit\n") // after a minute of nothing
	rec, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, rec.Path))
	d, _ := zstd.NewReader(nil)
	defer d.Close()
	if plain, _ := d.DecodeAll(raw, nil); !bytes.Contains(plain, []byte(`{"x":0,"y":40,"w":160,"h":36,"sx":0,"sy":44}`)) {
		t.Fatalf("the scroll is not a copy in the recording")
	}
	return filepath.Join(dir, rec.Path), at15, img
}

func readPNG(t *testing.T, b []byte) *image.RGBA {
	t.Helper()
	m, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out := image.NewRGBA(m.Bounds())
	draw.Draw(out, out.Rect, m, m.Bounds().Min, draw.Src)
	return out
}

// TestReplayExportPNG: psmtap replay --export png takes the frame at a
// time (or the end) out of a screen recording; without --export it says
// how to look at one instead of playing it; a terminal recording is not a
// screen.
func TestReplayExportPNG(t *testing.T) {
	dir := t.TempDir()
	path, at15, last := screenRecording(t, dir)
	out := filepath.Join(dir, "at.png")
	if r := run(t, "replay", "--export", "png", "--at", "1.5s", "-o", out, path); r.code != 0 {
		t.Fatalf("export: %d %s", r.code, r.stderr)
	}
	b, _ := os.ReadFile(out)
	if got := readPNG(t, b); !bytes.Equal(got.Pix, at15.Pix) {
		t.Error("the frame at 1.5 s differs")
	}
	r := run(t, "replay", "--export", "png", "-o", "-", path) // --at end is the default
	if r.code != 0 {
		t.Fatalf("export: %d %s", r.code, r.stderr)
	}
	if got := readPNG(t, []byte(r.stdout)); !bytes.Equal(got.Pix, last.Pix) {
		t.Error("the last frame differs")
	}
	// the end is past the incomplete mark: a warning, its text escaped
	if !strings.Contains(r.stderr, "incomplete from 3s") || strings.Contains(r.stderr, "\x1b") {
		t.Errorf("warning: %q", r.stderr)
	}
	if r := run(t, "replay", "--export", "png", "--at", "2s", "-o", "-", path); r.code != 0 || strings.Contains(r.stderr, "incomplete") {
		t.Errorf("before the mark: %d %q", r.code, r.stderr)
	}
	if r := run(t, "replay", path); r.code != 2 || !strings.Contains(r.stderr, "--export png") || r.stdout != "" {
		t.Errorf("played in a terminal: %d %q", r.code, r.stderr)
	}
	if r := run(t, "replay", "--export", "cast", path); r.code != 2 || !strings.Contains(r.stderr, "not a terminal one") || r.stdout != "" {
		t.Errorf("cast export of a screen: %d %q", r.code, r.stderr)
	}
	if r := run(t, "replay", "--export", "png", path); r.code != 2 || !strings.Contains(r.stderr, "-o FILE") {
		t.Errorf("no -o: %d %q", r.code, r.stderr)
	}
	if r := run(t, "replay", "--export", "png", "--at", "soon", "-o", out, path); r.code != 2 {
		t.Errorf("bad --at: %d %q", r.code, r.stderr)
	}
	cast := filepath.Join(dir, "x.cast")
	os.WriteFile(cast, []byte(`{"version":2,"width":80,"height":24}`+"\n"+`[0.1, "o", "hi"]`+"\n"), 0o644)
	if r := run(t, "replay", "--export", "png", "-o", out, cast); r.code != 2 || !strings.Contains(r.stderr, "not one") {
		t.Errorf("png of a cast: %d %q", r.code, r.stderr)
	}
	if r := run(t, "replay", "--export", "cast", cast); r.code != 0 || !strings.Contains(r.stdout, `"o", "hi"`) {
		t.Errorf("cast export: %d %q", r.code, r.stderr)
	}
	bad := filepath.Join(dir, "bad.screen")
	os.WriteFile(bad, []byte(`{"version":1,"format":"psmtap-screen","width":99999,"height":2}`+"\n"), 0o644)
	if r := run(t, "replay", "--export", "png", "-o", out, bad); r.code != 1 || !strings.Contains(r.stderr, "size") {
		t.Errorf("hostile file: %d %q", r.code, r.stderr)
	}
}

// TestConsoleScreenBrowser: the console of psmtap serve, in headless
// Chromium, plays a VNC session's screen recording on its canvas: at the
// end the canvas holds the last frame pixel for pixel; the slider takes it
// back to the frame at 1.5 s; the keys and the incomplete mark are on the
// time line and in the banner, as text.
func TestConsoleScreenBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser: not with -short")
	}
	c := chromium(t)
	dir := t.TempDir()
	w, rec := filepath.Join(dir, "out"), filepath.Join(dir, "rec")
	os.MkdirAll(w, 0o755)
	path, at15, last := screenRecording(t, rec)
	st, _ := os.Stat(path)
	doc, _ := json.Marshal(map[string]any{"@timestamp": "2026-11-30T01:00:00Z",
		"event":  map[string]any{"dataset": "psmtap.session", "id": "screentest1", "type": []string{"end"}, "start": "2026-11-30T01:00:00Z", "end": "2026-11-30T01:00:04Z"},
		"source": map[string]any{"ip": "192.0.2.10", "port": 50000}, "destination": map[string]any{"ip": "192.0.2.20", "port": 5900},
		"network": map[string]any{"protocol": "vnc"}, "user": map[string]any{"name": "alice"},
		"psm": map[string]any{"session_id": "screentest1", "recording": map[string]any{"format": screenrec.Format, "path": filepath.Base(path), "bytes": st.Size()}}})
	os.WriteFile(filepath.Join(w, "a.ndjson"), append(doc, '\n'), 0o644)
	base := startServe(t, "--records", w, "--recordings", rec)

	c.call(t, "Page.navigate", map[string]any{"url": base + "/#session=screentest1&replay=1"})
	// 63 s of recording, a minute of it idle (cut to 2 s)
	c.waitFor(t, "the screen recording played to its end", `document.querySelector("#screen").dataset.state === "ended"`, 20*time.Second)
	canvas := func() *image.RGBA {
		var px struct {
			W, H int
			Px   string
		}
		json.Unmarshal(c.eval(t, `(() => { const c = document.querySelector("#scanvas");
			const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
			let s = ""; for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode.apply(null, d.subarray(i, i + 8192));
			return {w: c.width, h: c.height, px: btoa(s)}; })()`), &px)
		b, _ := base64.StdEncoding.DecodeString(px.Px)
		return &image.RGBA{Pix: b, Stride: 4 * px.W, Rect: image.Rect(0, 0, px.W, px.H)}
	}
	same := func(what string, got, want *image.RGBA) {
		t.Helper()
		if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
			diff := 0
			for i := range min(len(got.Pix), len(want.Pix)) {
				if got.Pix[i] != want.Pix[i] {
					diff++
				}
			}
			t.Errorf("%s: canvas %v, want %v; %d bytes differ", what, got.Rect, want.Rect, diff)
		}
	}
	same("the end", canvas(), last)
	var ui struct {
		Banner, Timeline string
		BannerHidden     bool
		Tags             int
	}
	json.Unmarshal(c.eval(t, `({banner: document.querySelector("#sbanner").textContent, bannerHidden: document.querySelector("#sbanner").hidden,
		timeline: document.querySelector("#stimeline").textContent, tags: document.querySelectorAll("#stimeline b, #sbanner b").length})`), &ui)
	if ui.BannerHidden || !strings.Contains(ui.Banner, "Incomplete from 0:03.0") || !strings.Contains(ui.Timeline, "keys  xterm<b>⏎") || !strings.Contains(ui.Banner, "^[]0;pwned^G") ||
		!strings.Contains(ui.Timeline, "click (100, 50) buttons 1") || ui.Tags != 0 {
		t.Errorf("banner and time line: %+v", ui)
	}
	// back to about 1.5 s of 63 s with the slider
	c.eval(t, `(() => { const s = document.querySelector("#sslider"); s.value = "24"; s.dispatchEvent(new Event("input")); })()`)
	c.waitFor(t, "the frame at 1.5 s", `Math.abs(document.querySelector("#screen").dataset.t - 1.5) < 0.1 && document.querySelector("#screen").dataset.state === "paused"`, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	same("1.5 s", canvas(), at15)
	if shots := os.Getenv("PSMTAP_CONSOLE_SHOTS"); shots != "" {
		c.eval(t, `document.querySelector("#detail").scrollIntoView()`)
		c.screenshot(t, filepath.Join(shots, "console-screen.png"))
	}
}
