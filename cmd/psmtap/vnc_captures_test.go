package main

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// vncCaptures is the ground truth of the VNC captures (pcaps/README.md): how many RFB connections each
// holds and the size of the server's screen at its end (pcaps/vnc/NAME-end.png, what the viewer last
// received; none when the viewer was refused). Until the RFB dissector lands, psmtap must at least read them whole and see each connection
// to the VNC port as one whole TCP session.
var vncCaptures = map[string]struct {
	sessions int
	port     string
	w, h     int
}{
	"vnc-vncauth":        {1, "5900", 640, 480},
	"vnc-wrong-password": {1, "5900", 0, 0},
	"vnc-none":           {1, "5900", 640, 480},
	"vnc-vencrypt":       {1, "5900", 640, 480},
	"vnc-zrle":           {1, "5900", 640, 480},
	"vnc-hextile":        {1, "5900", 640, 480},
	"vnc-raw":            {1, "5900", 640, 480},
	"vnc-rre":            {1, "5900", 640, 480},
	"vnc-copyrect":       {1, "5900", 640, 480},
	"vnc-tight-jpeg":     {1, "5900", 640, 480},
	"vnc-tightpng":       {1, "5900", 720, 400}, // QEMU's VGA text screen
	"vnc-rfb33":          {1, "5900", 640, 480},
	"vnc-rfb37":          {1, "5900", 640, 480},
	"vnc-tight-16bpp":    {1, "5900", 640, 480},
	"vnc-keys":           {1, "5900", 640, 480},
	"vnc-resize":         {1, "5900", 720, 540}, // 640x480, then 800x600 (xrandr), then 720x540 (the viewer)
}

func TestVNCCaptures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "pcaps", "vnc-*.pcap"))
	if len(files) != len(vncCaptures) {
		t.Errorf("%d vnc-*.pcap in pcaps/, want %d", len(files), len(vncCaptures))
	}
	for name, want := range vncCaptures {
		t.Run(name, func(t *testing.T) {
			r := run(t, "read", "--all", "pcaps/"+name+".pcap")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			n := 0
			for _, rec := range records(t, r.stdout) {
				if str(rec, "destination.port") != want.port {
					t.Errorf("a session to port %s", str(rec, "destination.port"))
					continue
				}
				n++
				if str(rec, "source.ip") != "192.0.2.10" || str(rec, "destination.ip") != "192.0.2.20" {
					t.Errorf("client %s, server %s", str(rec, "source.ip"), str(rec, "destination.ip"))
				}
				wantState := "closed"
				if name == "vnc-vencrypt" { // the viewer closes without a TLS close_notify; Xvnc's alert meets its RST
					wantState = "reset"
				}
				if s := str(rec, "psm.state"); s != wantState {
					t.Errorf("psm.state %q, want %s", s, wantState)
				}
				if m := str(rec, "psm.missed_bytes"); m != "0" {
					t.Errorf("psm.missed_bytes %s", m)
				}
				if str(rec, "server.bytes") == "0" || str(rec, "client.bytes") == "0" {
					t.Errorf("bytes: client %s, server %s", str(rec, "client.bytes"), str(rec, "server.bytes"))
				}
			}
			if n != want.sessions {
				t.Errorf("%d sessions to port %s, want %d", n, want.port, want.sessions)
			}
			if want.w == 0 { // the viewer never saw the screen
				return
			}
			f, err := os.Open(filepath.Join(repoRoot, "pcaps", "vnc", name+"-end.png"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatalf("%s-end.png: %v", name, err)
			}
			if b := img.Bounds(); b.Dx() != want.w || b.Dy() != want.h {
				t.Errorf("%s-end.png is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), want.w, want.h)
			}
		})
	}
}
