package sensor

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
)

// TestVNCSessionLive follows pcaps/vnc-vncauth.pcap (VNC authentication,
// then id, echo hello vnc, hostname typed into an xterm, a paste from the
// viewer, a copy on the server; pcaps/README.md) into the API: a graphical
// session has no terminal, so its feed is text made of its events: the
// login, each line typed, each clipboard transfer with its direction and
// size, and never the clipboard's text, with or without
// --no-clipboard-content.
func TestVNCSessionLive(t *testing.T) {
	for _, noContent := range []bool{false, true} {
		hub := New(Options{})
		srv := httptest.NewServer((&Server{Hub: hub}).Handler())
		var half []*Entry
		replayWith(t, hub, "pcaps/vnc-vncauth.pcap", dissectors.Options{NoClipboardContent: noContent}, func(n int) {
			if n == 150 { // after id, before hostname
				settle(hub)
				half = decode[SessionList](t, get(t, srv, PathSessions, "")).Sessions
			}
		})
		settle(hub)
		if len(half) != 1 {
			t.Fatalf("half way: %d sessions", len(half))
		}
		if !half[0].Open || half[0].Protocol != "vnc" || half[0].Terminal || half[0].Login != "success" || half[0].Commands < 1 || half[0].Commands > 2 {
			half[0].Record = nil
			t.Fatalf("half way: %+v", *half[0])
		}
		resp := get(t, srv, PathSessions+"/"+half[0].ID+"/live", "")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		feed := string(b)
		for _, want := range []string{"login success (vnc-auth)", "command: id\\r", "command: echo hello vnc\\r", "command: hostname\\r",
			"clipboard success: to server, 27 bytes", "clipboard success: to client, 20 bytes", "session ended (closed)"} {
			if !strings.Contains(feed, want) {
				t.Errorf("no clipboard content %v: the feed lacks %q:\n%s", noContent, want, feed)
			}
		}
		if strings.Contains(feed, "pasted from the viewer") || strings.Contains(feed, "copied on the server") {
			t.Errorf("clipboard text in the feed:\n%s", feed)
		}
		hub.Close()
		srv.Close()
	}
}
