package main

import (
	"encoding/base64"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/screenrec"
)

// The VNC session of pcaps/vnc-vncauth.pcap (pcaps/README.md): VNC
// authentication, id, echo hello vnc and hostname typed into an xterm, a
// paste from the viewer (27 bytes), a copy on the server (20 bytes, sent
// twice by Xvnc); its screen at the end is pcaps/vnc/vnc-vncauth-end.png.
const vncauth = "pcaps/vnc-vncauth.pcap"

// endPNG is the ground-truth screenshot of a VNC capture.
func endPNG(t *testing.T, name string) *image.RGBA {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "pcaps", "vnc", name+"-end.png"))
	if err != nil {
		t.Fatal(err)
	}
	return readPNG(t, b)
}

// samePixelShare is the share of pixels of got equal to want (0 when the
// sizes differ).
func samePixelShare(got, want *image.RGBA) float64 {
	if got.Rect.Size() != want.Rect.Size() {
		return 0
	}
	same, n := 0, want.Rect.Dx()*want.Rect.Dy()
	for y := range want.Rect.Dy() {
		for x := range want.Rect.Dx() {
			a, b := got.PixOffset(got.Rect.Min.X+x, got.Rect.Min.Y+y), want.PixOffset(want.Rect.Min.X+x, want.Rect.Min.Y+y)
			if got.Pix[a] == want.Pix[b] && got.Pix[a+1] == want.Pix[b+1] && got.Pix[a+2] == want.Pix[b+2] {
				same++
			}
		}
	}
	return float64(same) / float64(n)
}

// TestVNCTable: in the table, a clipboard event says which way and how
// much, never the text (it may be a pasted password); typed lines are
// commands.
func TestVNCTable(t *testing.T) {
	r := run(t, "read", "--format", "table", "--events", vncauth)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"login success vnc-auth", "command echo hello vnc", "command hostname",
		"clipboard to server 27 bytes", "clipboard to client 20 bytes", "interactive vnc-auth auth success 640x480 28 keys 2 clicks"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q in\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "pasted from the viewer") {
		t.Errorf("clipboard text in the table:\n%s", r.stdout)
	}
}

// TestVNCSearchEvents: the activity events of the VNC session, shipped to
// the Elasticsearch stand-in, are found by psmtap search --events: the
// lines typed by their words, the clipboard transfers by their action,
// shown with direction and size.
func TestVNCSearchEvents(t *testing.T) {
	_, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := run(t, "read", "--events", "--output", "es", "--es-url", url, "--spool", t.TempDir(), vncauth); r.code != 0 {
		t.Fatalf("read: exit %d %s", r.code, r.stderr)
	}
	for _, c := range []struct {
		args  []string
		count string
		want  []string
	}{
		{[]string{"--command", "hello", "--protocol", "vnc"}, "1 of 1 events", []string{"vnc", "192.0.2.20:5900", "command", "echo hello vnc"}},
		{[]string{"--action", "command", "--protocol", "vnc"}, "3 of 3 events", []string{"id", "hostname"}},
		{[]string{"--action", "clipboard"}, "3 of 3 events", []string{"clipboard", "to server 27 bytes", "to client 20 bytes"}},
	} {
		r := run(t, append([]string{"search", "--events", "--es-url", url}, c.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, c.count) {
			t.Fatalf("search --events %v: exit %d, want %q\n%s%s", c.args, r.code, c.count, r.stdout, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("search --events %v: no %q in\n%s", c.args, w, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "pasted from the viewer") {
			t.Errorf("clipboard text in the table:\n%s", r.stdout)
		}
	}
}

// TestVNCVerify: a signed run over a VNC capture covers its screen
// recording: verify passes, then reports one changed byte of the
// .screen.zst as a changed recording.
func TestVNCVerify(t *testing.T) {
	dir := t.TempDir()
	keys, w, rec := filepath.Join(dir, "keys"), filepath.Join(dir, "W"), filepath.Join(dir, "R")
	if r := run(t, "keygen", "--out", keys, "--name", "test-sensor"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := run(t, "read", "--recordings", rec, "-w", w, "--signing-key", filepath.Join(keys, "psmtap.key"), vncauth); r.code != 0 {
		t.Fatalf("read: %d %s", r.code, r.stderr)
	}
	pub := filepath.Join(keys, "psmtap.pub")
	if r := run(t, "verify", "--key", pub, w, rec); r.code != 0 || !strings.Contains(r.stdout+r.stderr, "1 recording") {
		t.Fatalf("verify of the untouched output: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	screens, _ := filepath.Glob(filepath.Join(rec, "*.screen.zst"))
	if len(screens) != 1 {
		t.Fatalf("%d screen recordings", len(screens))
	}
	b, _ := os.ReadFile(screens[0])
	b[len(b)/2] ^= 1
	os.WriteFile(screens[0], b, 0o644)
	expectProblem(t, "recording-changed", filepath.Base(screens[0]), "--key", pub, w, rec)
}

// TestVNCMissingPackets: pcaps/edge/vnc-vncauth-server-gap.pcap lacks one
// packet of the server (packet 55, the screen's answer to id, 45.908 s;
// make edge-pcaps): the record says so, the keys and the paste from the
// viewer after the gap are still decoded, and the recording is marked
// incomplete from the gap on: a frame after it comes with a warning. The
// truncated capture keeps what came before the cut, with no such mark.
func TestVNCMissingPackets(t *testing.T) {
	dir := t.TempDir()
	r := run(t, "read", "--events", "--recordings", dir, "pcaps/edge/vnc-vncauth-server-gap.pcap")
	recs, evs := activityOf(t, r.stdout)
	if r.code != 0 || len(recs) != 1 {
		t.Fatalf("exit %d, %d records: %s", r.code, len(recs), r.stderr)
	}
	g := recs[0]
	if an := str(g, "psm.anomalies"); !strings.Contains(an, "tcp.gap") || !strings.Contains(an, "recording.incomplete") || str(g, "psm.missed_bytes") == "0" {
		t.Errorf("anomalies %s, missed %s", an, str(g, "psm.missed_bytes"))
	}
	if c := str(g, "psm.commands"); c != "id,echo hello vnc,hostname" {
		t.Errorf("commands %s", c)
	}
	pasted := false
	for _, e := range evs {
		pasted = pasted || str(e, "psm.clipboard.direction") == "to_server" && str(e, "psm.clipboard.length") == "27"
	}
	if !pasted {
		t.Error("the paste after the gap is missing")
	}
	path := filepath.Join(dir, str(g, "psm.recording.path"))
	rec, err := screenrec.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	// The lost packet left at 45.908 s, 9 ms after the Return of id
	// (45.899 s, the first Return on the time line); the next one, at
	// 47.056 s, showed the hole. The mark goes at the server's last bytes
	// before the hole, or, as the recording's times only go forward, at
	// the last thing recorded before the hole was seen (a key at 47.007 s
	// here): never after the packet that showed it.
	var ret time.Duration = -1
	for _, k := range rec.Keys {
		if k.Text == "<Return>" {
			ret = k.T
			break
		}
	}
	lost, seen := ret+9*time.Millisecond, ret+1157*time.Millisecond
	if ret < 0 || len(rec.Incomplete) == 0 || rec.Incomplete[0].T >= seen || rec.Incomplete[0].T < lost-time.Second {
		t.Fatalf("incomplete marks %+v, want one between %v and %v (keys %+v)", rec.Incomplete, lost-time.Second, seen, rec.Keys)
	}
	if len(rec.Keys) == 0 || rec.Keys[len(rec.Keys)-1].T < rec.Incomplete[0].T {
		t.Errorf("no keys on the time line after the gap: %+v", rec.Keys)
	}
	x := run(t, "replay", "--export", "png", "-o", filepath.Join(dir, "end.png"), path)
	if x.code != 0 || !strings.Contains(x.stderr, "incomplete from") || !strings.Contains(x.stderr, "may not be what the screen showed") {
		t.Errorf("export past the gap: %d %q", x.code, x.stderr)
	}
	at := (rec.Incomplete[0].T - 500*time.Millisecond).String()
	if x := run(t, "replay", "--export", "png", "--at", at, "-o", filepath.Join(dir, "before.png"), path); x.code != 0 || strings.Contains(x.stderr, "incomplete") {
		t.Errorf("export before the gap: %d %q", x.code, x.stderr)
	}

	// A packet of the client lost instead (pcaptool edge's gap: the middle
	// segment of the busier direction, while echo hello vnc is typed): the
	// keys go on from the next message, the line says where keys may be
	// missing, the paste is still there, the screen is whole.
	dir = t.TempDir()
	r = run(t, "read", "--events", "--recordings", dir, "pcaps/edge/vnc-vncauth-gap.pcap")
	recs, evs = activityOf(t, r.stdout)
	if r.code != 0 || len(recs) != 1 {
		t.Fatalf("client gap: exit %d, %d records: %s", r.code, len(recs), r.stderr)
	}
	g = recs[0]
	if c := str(g, "psm.commands"); c != "id,echo hello v<gap>nc,hostname" || str(g, "vnc.stopped") != "" || !strings.Contains(str(g, "psm.anomalies"), "vnc.gap") {
		t.Errorf("client gap: commands %s, stopped %q, anomalies %s", c, str(g, "vnc.stopped"), str(g, "psm.anomalies"))
	}
	pasted = false
	for _, e := range evs {
		pasted = pasted || str(e, "psm.clipboard.direction") == "to_server" && str(e, "psm.clipboard.length") == "27"
	}
	if !pasted || strings.Contains(str(g, "psm.anomalies"), "recording.incomplete") {
		t.Errorf("client gap: paste %v, anomalies %s", pasted, str(g, "psm.anomalies"))
	}

	dir = t.TempDir()
	r = run(t, "read", "--recordings", dir, "pcaps/edge/vnc-vncauth-truncate.pcap")
	recs = records(t, r.stdout)
	if r.code != 0 || len(recs) != 1 || str(recs[0], "psm.state") != "capture_end" || !strings.Contains(r.stderr, "middle of a packet") {
		t.Fatalf("truncated: exit %d, %d records %s", r.code, len(recs), r.stderr)
	}
	if c := str(recs[0], "psm.commands"); c != "id" {
		t.Errorf("truncated: commands %s", c)
	}
	if x := run(t, "replay", "--export", "png", "-o", filepath.Join(dir, "end.png"), filepath.Join(dir, str(recs[0], "psm.recording.path"))); x.code != 0 || x.stderr != "" {
		t.Errorf("truncated: export %d %q", x.code, x.stderr)
	}
}

// TestVNCConsoleBrowser: from capture to browser. psmtap read -w
// --recordings over pcaps/vnc-vncauth.pcap, then psmtap serve over both:
// the console (headless Chromium) lists the VNC session, plays its screen
// recording, and at the end the canvas is the server's screen as
// screenshotted at the end of the capture; the time line shows the lines
// typed, as text.
func TestVNCConsoleBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser: not with -short")
	}
	c := chromium(t)
	dir := t.TempDir()
	w, rec := filepath.Join(dir, "out"), filepath.Join(dir, "rec")
	if r := run(t, "read", "-w", w, "--recordings", rec, vncauth); r.code != 0 {
		t.Fatalf("read: %d %s", r.code, r.stderr)
	}
	base := startServe(t, "--records", w, "--recordings", rec)
	c.call(t, "Page.navigate", map[string]any{"url": base + "/"})
	c.waitFor(t, "the VNC session listed", `Array.from(document.querySelectorAll("#sessions tbody tr")).some(tr => tr.querySelector(".protocol").textContent === "vnc")`, 20*time.Second)
	c.eval(t, `Array.from(document.querySelectorAll("#sessions tbody tr")).find(tr => tr.querySelector(".protocol").textContent === "vnc").click()`)
	c.waitFor(t, "its commands", `Array.from(document.querySelectorAll("#commands li")).map(l => l.textContent).join(",") === "id,echo hello vnc,hostname"`, 10*time.Second)
	c.waitFor(t, "a replay button", `!document.querySelector("#replay").hidden`, 5*time.Second)
	c.eval(t, `document.querySelector("#speed").value = "8"; document.querySelector("#replay").click()`)
	c.waitFor(t, "the recording played to its end", `document.querySelector("#screen").dataset.state === "ended"`, 30*time.Second)
	var px struct {
		W, H int
		Px   string
	}
	json.Unmarshal(c.eval(t, `(() => { const c = document.querySelector("#scanvas");
		const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		let s = ""; for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode.apply(null, d.subarray(i, i + 8192));
		return {w: c.width, h: c.height, px: btoa(s)}; })()`), &px)
	b, _ := base64.StdEncoding.DecodeString(px.Px)
	got := &image.RGBA{Pix: b, Stride: 4 * px.W, Rect: image.Rect(0, 0, px.W, px.H)}
	if len(b) != 4*px.W*px.H {
		t.Fatalf("canvas %dx%d, %d bytes", px.W, px.H, len(b))
	}
	if share := samePixelShare(got, endPNG(t, "vnc-vncauth")); share < 0.99 {
		t.Errorf("the canvas at the end: %.2f%% of the pixels of vnc-vncauth-end.png", 100*share)
	} else {
		t.Logf("the canvas at the end: %.3f%% of the pixels of vnc-vncauth-end.png", 100*share)
	}
	var ui struct {
		Items  []string
		Banner bool
	}
	json.Unmarshal(c.eval(t, `({items: Array.from(document.querySelectorAll("#stimeline li")).map(l => l.textContent), banner: !document.querySelector("#sbanner").hidden})`), &ui)
	// one item a line typed (the keys of pcaps/README.md), the clicks between
	want := []string{"click (320, 240) buttons 1", "keys  id<Return>", "keys  echo hello vnc<Return>", "keys  hostname<Return>", "click (200, 300) buttons 2", "keys  <Return>"}
	if len(ui.Items) != len(want) {
		t.Fatalf("time line %q, want %q", ui.Items, want)
	}
	for i, w := range want {
		if _, what, _ := strings.Cut(ui.Items[i], "  "); what != w {
			t.Errorf("time line item %d: %q, want %q", i, ui.Items[i], w)
		}
	}
	if ui.Banner {
		t.Error("an incomplete banner over a whole capture")
	}
}
