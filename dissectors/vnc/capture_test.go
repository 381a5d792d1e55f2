package vnc_test

import (
	"image/png"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/dissectors/vnc"
	"github.com/psmtap/psmtap/internal/capturetest"
	"github.com/psmtap/psmtap/internal/engine"
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
		"qemu-extended-key", "tight", "copyrect", "zrle", "hextile", "rre", "copyrect", "raw", "compress-level-2", "quality-level-8"}
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
	if f.Pointer == nil || f.Pointer.Clicks != 2 || !reflect.DeepEqual(f.Pointer.Positions, []string{"left@320,240", "middle@200,300"}) {
		t.Errorf("pointer %+v", f.Pointer)
	}
	if f.Updates == 0 || f.Rectangles == 0 || f.Stopped != "" || len(r.Anomalies) > 0 {
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

// TestRecordingCapture: with --recordings, the last frame of the screen
// recording is the server's screen at the end (pcaps/vnc/NAME-end.png, taken
// by xwd on Xvnc's display) to at least 99% of its pixels, and the keys and
// clicks are on its time line.
func TestRecordingCapture(t *testing.T) {
	dir := t.TempDir()
	src, err := capture.OpenFile("../../pcaps/vnc-vncauth.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var recs []*record.Record
	e := engine.New(engine.Config{Dissectors: capturetest.Named("vnc"), Options: dissectors.Options{RecordingsDir: dir},
		Emit: func(r *record.Record) { recs = append(recs, r) }})
	for {
		frame, link, ts, wire, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e.Packet(link, frame, ts, wire)
	}
	e.Flush()
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	r.Complete()
	if r.Recording == nil || len(r.Anomalies) > 0 {
		t.Fatalf("recording %+v anomalies %v", r.Recording, r.Anomalies)
	}
	rec, err := screenrec.Open(filepath.Join(dir, r.Recording.Path))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rec.FrameAt(rec.End())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../../pcaps/vnc/vnc-vncauth-end.png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds() != want.Bounds() {
		t.Fatalf("frame %v, screenshot %v", got.Bounds(), want.Bounds())
	}
	differ, all := 0, got.Bounds().Dx()*got.Bounds().Dy()
	for y := 0; y < got.Bounds().Dy(); y++ {
		for x := 0; x < got.Bounds().Dx(); x++ {
			r1, g1, b1, _ := got.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			if r1>>8 != r2>>8 || g1>>8 != g2>>8 || b1>>8 != b2>>8 {
				differ++
			}
		}
	}
	t.Logf("%d of %d pixels differ; %d keys, %d clicks on the time line", differ, all, len(rec.Keys), len(rec.Clicks))
	if differ*100 > all {
		t.Errorf("%d of %d pixels differ from the screenshot", differ, all)
	}
	if len(rec.Keys) != 28 || len(rec.Clicks) != 2 || len(rec.Incomplete) != 0 {
		t.Errorf("time line: %d keys, %d clicks, incomplete %+v", len(rec.Keys), len(rec.Clicks), rec.Incomplete)
	}
}
