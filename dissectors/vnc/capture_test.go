package vnc_test

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/dissectors/vnc"
	"github.com/psmtap/psmtap/internal/capturetest"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/screenrec"
)

func fieldsOf(t *testing.T, r *record.Record) *vnc.Fields {
	t.Helper()
	f, ok := r.Objects["vnc"].(*vnc.Fields)
	if !ok {
		t.Fatalf("no vnc object: %v", r.Objects)
	}
	return f
}

// TestVNCAuthCapture: TigerVNC's viewer and Xvnc (pcaps/README.md,
// vnc-vncauth.pcap): the handshake, the lines typed (sent as QEMU extended
// key events), the clicks and the Extended Clipboard both ways, as the
// ground truth says, with one event for each.
func TestVNCAuthCapture(t *testing.T) {
	res := capturetest.Read(t, "../../pcaps/vnc-vncauth.pcap", 0, capturetest.Named("vnc")...)
	if len(res.Records) != 1 {
		t.Fatalf("%d records", len(res.Records))
	}
	r := res.Records[0]
	f := fieldsOf(t, r)
	if *f.Version != (vnc.Versions{Server: "3.8", Client: "3.8"}) || f.Security.Chosen != "vnc-auth" ||
		!reflect.DeepEqual(f.Security.Offered, []string{"vnc-auth"}) || *f.Auth != (vnc.Auth{Method: "vnc-auth", Outcome: "success"}) {
		t.Errorf("handshake %+v %+v %+v", f.Version, f.Security, f.Auth)
	}
	if f.Shared == nil || *f.Shared || f.Desktop.Name != "psm-srv" || f.Desktop.Width != 640 || f.Desktop.Height != 480 ||
		f.PixelFormat.Server != "32bpp depth 24 true-colour little-endian" || f.PixelFormat.Client != "" {
		t.Errorf("init %v %+v %+v", f.Shared, f.Desktop, f.PixelFormat)
	}
	wantEnc := []string{"cursor-with-alpha", "vmware-cursor", "cursor", "x-cursor", "vmware-cursor-position", "desktop-size",
		"extended-desktop-size", "desktop-name", "last-rect", "extended-clipboard", "continuous-updates", "fence",
		"qemu-extended-key", "tight", "copyrect", "zrle", "hextile", "rre", "copyrect", "raw", "compress-level-2", "quality-level-6"}
	if !reflect.DeepEqual(f.Encodings, wantEnc) {
		t.Errorf("encodings %q", f.Encodings)
	}
	if !reflect.DeepEqual(r.Commands, []string{"id", "echo hello vnc", "hostname"}) {
		t.Errorf("commands %q", r.Commands)
	}
	// The three lines, then the Return after the middle-click paste.
	if f.Keys == nil || f.Keys.Text != "id\necho hello vnc\nhostname\n\n" || f.Keys.Count != 28 {
		t.Errorf("keys %+v", f.Keys)
	}
	if f.Pointer == nil || f.Pointer.Clicks != 2 || f.Pointer.Events != 10 || !reflect.DeepEqual(f.Pointer.Positions, []string{"left@320,240", "middle@200,300"}) {
		t.Errorf("pointer %+v", f.Pointer)
	}
	// 49 updates: 75 Tight, 7 CursorWithAlpha, 48 LastRect, 1 ExtendedDesktopSize rectangles
	// (pcaps/README.md), and the QEMU extended key pseudo-rectangle by which Xvnc accepts those keys.
	if f.Updates != 49 || f.Rectangles != 132 || f.Stopped != "" || len(r.Anomalies) > 0 {
		t.Errorf("updates %d rects %d stopped %q anomalies %v", f.Updates, f.Rectangles, f.Stopped, r.Anomalies)
	}
	if r.Login == nil || r.Login.Attempts != 1 || r.Login.Success == nil || !*r.Login.Success || r.UserName != "" {
		t.Errorf("login %+v user %q", r.Login, r.UserName)
	}

	evs := res.Of(r)
	capturetest.CheckTimes(t, r, evs)
	if l := capturetest.ByAction(evs, record.ActionLogin); len(l) != 1 || l[0].Outcome != "success" || l[0].Login.Method != "vnc-auth" {
		t.Errorf("logins %+v", l)
	}
	cmds := capturetest.ByAction(evs, record.ActionCommand)
	if len(cmds) != len(r.Commands) {
		t.Fatalf("%d command events for %d commands", len(cmds), len(r.Commands))
	}
	for i, ev := range cmds {
		if ev.Command.Line != r.Commands[i] {
			t.Errorf("command event %d: %q", i, ev.Command.Line)
		}
	}
	var clips []record.EventClipboard
	for _, ev := range capturetest.ByAction(evs, record.ActionClipboard) {
		clips = append(clips, *ev.Clipboard)
	}
	// The viewer's clipboard to the server; the server's CLIPBOARD and PRIMARY back.
	want := []record.EventClipboard{
		{Direction: "to_server", Length: 27, Text: "echo pasted from the viewer"},
		{Direction: "to_client", Length: 20, Text: "copied on the server"},
		{Direction: "to_client", Length: 20, Text: "copied on the server"},
	}
	if !reflect.DeepEqual(clips, want) {
		t.Errorf("clipboard %+v", clips)
	}
}

// TestSnapshotCapture: interim records along the capture carry the
// handshake; the final record is the same as without them.
func TestSnapshotCapture(t *testing.T) {
	plain := capturetest.Read(t, "../../pcaps/vnc-vncauth.pcap", 0, capturetest.Named("vnc")...)
	res := capturetest.Read(t, "../../pcaps/vnc-vncauth.pcap", 2e9, capturetest.Named("vnc")...)
	if len(res.Interims) == 0 {
		t.Fatal("no interim records")
	}
	last := res.Interims[len(res.Interims)-1]
	if f := fieldsOf(t, last); f.Auth == nil || f.Auth.Outcome != "success" || len(last.Commands) == 0 {
		t.Errorf("last interim %+v commands %q", f.Auth, last.Commands)
	}
	if !reflect.DeepEqual(fieldsOf(t, res.Records[0]), fieldsOf(t, plain.Records[0])) ||
		!reflect.DeepEqual(res.Records[0].Commands, plain.Records[0].Commands) {
		t.Error("interim records changed the final one")
	}
}

// TestCaptures: every VNC capture as its ground truth says (pcaps/README.md).
func TestCaptures(t *testing.T) {
	for _, c := range []struct {
		name, versions, security, subtype, method, outcome, reason string
		commands                                                   []string
	}{
		{"vnc-wrong-password", "3.8 3.8", "vnc-auth", "", "vnc-auth", "failure", "Authentication failure", nil},
		{"vnc-none", "3.8 3.8", "none", "", "none", "success", "", []string{"id", "echo hello vnc", "hostname"}},
		{"vnc-vencrypt", "3.8 3.8", "vencrypt", "tls-vnc", "vencrypt-tls-vnc", "unknown", "", nil},
		{"vnc-zrle", "3.8 3.8", "none", "", "none", "success", "", []string{"echo zrle"}},
		{"vnc-hextile", "3.8 3.8", "vnc-auth", "", "vnc-auth", "success", "", []string{"echo hextile"}},
		{"vnc-raw", "3.8 3.8", "vnc-auth", "", "vnc-auth", "success", "", []string{"echo raw"}},
		{"vnc-rre", "3.8 3.8", "vnc-auth", "", "vnc-auth", "success", "", []string{"echo rre"}},
		{"vnc-copyrect", "3.8 3.8", "vnc-auth", "", "vnc-auth", "success", "", []string{"seq 1 60"}},
		{"vnc-rfb33", "3.3 3.3", "vnc-auth", "", "vnc-auth", "success", "", []string{"id", "echo hello vnc", "hostname"}},
		{"vnc-rfb37", "3.7 3.8", "none", "", "none", "success", "", []string{"echo rfb 3.7"}},
		{"vnc-resize", "3.8 3.8", "vnc-auth", "", "vnc-auth", "success", "", []string{"xrandr -s 800x600", "echo resized"}},
		{"vnc-tight-16bpp", "3.8 3.8", "vnc-auth", "", "vnc-auth", "success", "", []string{"echo sixteen bits"}},
		// Four BackSpaces erase "typo"; Ctrl-C interrupts sleep; Tab completes in bash (not seen: no echo in pixels).
		{"vnc-keys", "3.8 3.8", "vnc-auth", "", "vnc-auth", "success", "", []string{"echo fixed", "sleep 30", "ls /us<Tab>"}},
	} {
		res := capturetest.Read(t, "../../pcaps/"+c.name+".pcap", 0, capturetest.Named("vnc")...)
		if len(res.Records) != 1 {
			t.Errorf("%s: %d records", c.name, len(res.Records))
			continue
		}
		r := res.Records[0]
		f := fieldsOf(t, r)
		sec := f.Security
		if sec == nil {
			sec = &vnc.Security{}
		}
		got := []string{f.Version.Client + " " + f.Version.Server, sec.Chosen, sec.Subtype, f.Auth.Method, f.Auth.Outcome, f.Auth.Reason}
		want := []string{c.versions, c.security, c.subtype, c.method, c.outcome, c.reason}
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(r.Commands, c.commands) || len(r.Anomalies) > 0 {
			t.Errorf("%s: %q commands %q anomalies %v", c.name, got, r.Commands, r.Anomalies)
		}
		if c.name == "vnc-vencrypt" && (r.Objects["tls"] == nil || f.Stopped != "tls") {
			t.Errorf("%s: tls %v stopped %q", c.name, r.Objects["tls"], f.Stopped)
		}
	}
}

// TestRecordingCaptures: with --recordings, the last frame of each screen
// recording is the server's screen at the end (pcaps/vnc/NAME-end.png, taken
// by xwd on the server's display; for Tight JPEG the viewer's own window,
// NAME-viewer.png, as JPEG is lossy) to at least 99% of its pixels.
func TestRecordingCaptures(t *testing.T) {
	shots, _ := filepath.Glob("../../pcaps/vnc/*-end.png")
	if len(shots) < 10 {
		t.Fatalf("%d screenshots", len(shots))
	}
	for _, shot := range shots {
		name := strings.TrimSuffix(filepath.Base(shot), "-end.png")
		if name == "vnc-vencrypt" {
			continue // the screen is inside TLS
		}
		if v := strings.TrimSuffix(shot, "-end.png") + "-viewer.png"; fileExists(v) {
			shot = v
		}
		t.Run(name, func(t *testing.T) {
			r, rec := recordCapture(t, name)
			last, err := rec.FrameAt(rec.End())
			if err != nil {
				t.Fatal(err)
			}
			want := readPNG(t, shot)
			if last.Bounds() != want.Bounds() {
				t.Fatalf("frame %v, screenshot %v", last.Bounds(), want.Bounds())
			}
			differ, all := 0, last.Bounds().Dx()*last.Bounds().Dy()
			for y := 0; y < last.Bounds().Dy(); y++ {
				for x := 0; x < last.Bounds().Dx(); x++ {
					r1, g1, b1, _ := last.At(x, y).RGBA()
					r2, g2, b2, _ := want.At(x, y).RGBA()
					// Within 2 of 255 per channel: JPEG decoders round differently.
					if far(r1, r2) || far(g1, g2) || far(b1, b2) {
						differ++
					}
				}
			}
			t.Logf("%d of %d pixels differ; %d keys, %d clicks on the time line", differ, all, len(rec.Keys), len(rec.Clicks))
			if differ*100 > all {
				t.Errorf("%d of %d pixels differ from the screenshot", differ, all)
			}
			if len(rec.Incomplete) != 0 || len(r.Anomalies) != 0 {
				t.Errorf("incomplete %+v anomalies %v", rec.Incomplete, r.Anomalies)
			}
			if name == "vnc-vncauth" && (len(rec.Keys) != 28 || len(rec.Clicks) != 2) {
				t.Errorf("time line: %d keys, %d clicks", len(rec.Keys), len(rec.Clicks))
			}
		})
	}
}

func far(a, b uint32) bool { return max(a, b)>>8-min(a, b)>>8 > 2 }

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func readPNG(t *testing.T, p string) image.Image {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// recordCapture reads a capture with --recordings and opens the recording.
func recordCapture(t *testing.T, name string) (*record.Record, *screenrec.Recording) {
	t.Helper()
	dir := t.TempDir()
	recs := capturetest.ReadOptions(t, "../../pcaps/"+name+".pcap", 0, dissectors.Options{RecordingsDir: dir}, capturetest.Named("vnc")...).Records
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	r.Complete()
	if r.Recording == nil {
		t.Fatalf("no recording; anomalies %v", r.Anomalies)
	}
	rec, err := screenrec.Open(filepath.Join(dir, r.Recording.Path))
	if err != nil {
		t.Fatal(err)
	}
	return r, rec
}
