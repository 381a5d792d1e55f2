package vnc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/rfb"
	"github.com/psmtap/psmtap/internal/screenrec"
)

var challenge = bytes.Repeat([]byte{0xc1}, 16)
var response = bytes.Repeat([]byte{0x5e}, 16)

// vncAuth38 is a 3.8 session with VNC authentication, then a little of
// everything a viewer and a server send.
func vncAuth38() []msg {
	return []msg{
		srv(str("RFB 003.008\n")),
		cli(str("RFB 003.008\n")),
		srv([]byte{2, SecNone, SecVNCAuth}), // two types offered
		cli([]byte{SecVNCAuth}),             // the client picks VNC authentication
		srv(challenge),
		cli(response),
		srv(be32(0)), // SecurityResult OK
		cli([]byte{1}),
		srv(serverInit(1024, 768, "psm-srv:1 (alice)")),
		cli([]byte{CSetPixelFormat, 0, 0, 0}, pf32),
		cli([]byte{CSetEncodings, 0}, be16(5), be32(uint32(rfb.EncRaw)), be32(uint32(rfb.EncCopyRect)),
			be32(uint32(rfb.EncZRLE)), enc(rfb.EncDesktopSize), enc(rfb.EncLastRect)),
		cli([]byte{CFramebufferUpdateRequest, 0}, be16(0), be16(0), be16(1024), be16(768)),
		// An update: a 2x2 raw rectangle (16 bytes), a CopyRect, LastRect.
		srv([]byte{SFramebufferUpdate, 0}, be16(0xffff), rectHdr(0, 0, 2, 2, rfb.EncRaw), bytes.Repeat([]byte{7}, 16),
			rectHdr(4, 4, 8, 8, rfb.EncCopyRect), be16(0), be16(0), rectHdr(0, 0, 0, 0, rfb.EncLastRect)),
		// "ls -l", a mistake erased, Return.
		cli(typeKeys("ls -lx"), keyEv(true, ksBackSpace), keyEv(false, ksBackSpace), typeKeys("\n")),
		// Ctrl-c, Alt held for a chord, Up arrow, F5 then a line with Tab.
		cli(keyEv(true, ksControlL), typeKeys("c"), keyEv(false, ksControlL)),
		cli(typeKeys("ab"), keyEv(true, 0xff52), keyEv(false, 0xff52), keyEv(true, ksF1+4), typeKeys("\t\n")),
		// A left click at 10,20, a wheel turn, a right click.
		cli(pointer(0, 5, 5), pointer(1, 10, 20), pointer(0, 10, 20), pointer(8, 10, 20), pointer(0, 10, 20),
			pointer(4, 300, 400), pointer(0, 300, 400)),
		cli(cutText(CClientCutText, "s3cret from the client")),
		srv(cutText(SServerCutText, "caf\xe9 on the server")),
		srv([]byte{SBell}),
		cli([]byte{CXVP, 0, 1, 3}), // reboot
		// A second update: DesktopSize to 800x600.
		srv([]byte{SFramebufferUpdate, 0}, be16(1), rectHdr(0, 0, 800, 600, rfb.EncDesktopSize)),
	}
}

func TestVNCAuth38(t *testing.T) {
	res := feedAll(t, vncAuth38(), dissectors.Options{})
	f := fields(res.rec)
	want := &Fields{
		Version:     &Versions{Server: "3.8", Client: "3.8"},
		Security:    &Security{Offered: []string{"none", "vnc-auth"}, Chosen: "vnc-auth"},
		Auth:        &Auth{Method: "vnc-auth", Outcome: "success"},
		Shared:      f.Shared,
		Desktop:     &Desktop{Name: "psm-srv:1 (alice)", Width: 800, Height: 600, Resizes: 1},
		PixelFormat: &PixelFormat{Server: "32bpp depth 24 true-colour little-endian", Client: "32bpp depth 24 true-colour little-endian"},
		Encodings:   []string{"raw", "copyrect", "zrle", "desktop-size", "last-rect"},
		Keys:        &Keys{Count: 15, Text: "ls -lx<BackSpace>\n<Ctrl-c>ab<Up><F5><Tab>\n"},
		Pointer:     &Pointer{Events: 7, Clicks: 2, Buttons: []string{"left", "right"}, Positions: []string{"left@10,20", "right@300,400"}, Wheel: 1},
		Clipboard:   &Clipboard{ToServer: 1, ToClient: 1, BytesToServer: 22, BytesToClient: 18},
		Updates:     2,
		Rectangles:  4,
		Bells:       1,
		XVP:         []string{"reboot"},
	}
	if f.Shared == nil || !*f.Shared {
		t.Errorf("shared %v", f.Shared)
	}
	if !reflect.DeepEqual(f, want) {
		g, _ := json.Marshal(f)
		w, _ := json.Marshal(want)
		t.Errorf("fields\n%s\nwant\n%s", g, w)
	}
	r := res.rec
	// Ctrl-c abandons the (empty) line, as at a terminal; the transcript keeps it.
	if !reflect.DeepEqual(r.Commands, []string{"ls -l", "ab<Up><F5><Tab>"}) {
		t.Errorf("commands %q", r.Commands)
	}
	if r.Login == nil || r.Login.Attempts != 1 || r.Login.Success == nil || !*r.Login.Success || r.UserName != "" {
		t.Errorf("login %+v user %q", r.Login, r.UserName)
	}
	if len(r.Anomalies) != 0 || r.Kind != "interactive" {
		t.Errorf("anomalies %v kind %q", r.Anomalies, r.Kind)
	}
	logins := actions(res.events, record.ActionLogin)
	if len(logins) != 1 || logins[0].Outcome != "success" || logins[0].Login.Method != "vnc-auth" {
		t.Errorf("login events %+v", logins)
	}
	sec := actions(res.events, record.ActionSecurity)
	if len(sec) != 1 || !strings.Contains(sec[0].Reason, "vnc-auth") {
		t.Errorf("security events %+v", sec)
	}
	cmds := actions(res.events, record.ActionCommand)
	if len(cmds) != 2 || cmds[0].Command.Line != "ls -l" {
		t.Errorf("command events %+v", cmds)
	}
	clips := actions(res.events, record.ActionClipboard)
	if len(clips) != 2 || *clips[0].Clipboard != (record.EventClipboard{Direction: "to_server", Length: 22, Text: "s3cret from the client"}) ||
		*clips[1].Clipboard != (record.EventClipboard{Direction: "to_client", Length: 18, Text: "café on the server"}) {
		t.Errorf("clipboard events %+v %+v", clips[0].Clipboard, clips[1].Clipboard)
	}
	// Nothing of the challenge or response is kept anywhere.
	j, _ := json.Marshal(r.Objects)
	if bytes.Contains(j, []byte("c1c1")) || bytes.Contains(j, []byte("5e5e")) {
		t.Errorf("challenge or response in the record: %s", j)
	}
	if res.status != dissectors.Continue {
		t.Errorf("status %v", res.status)
	}
}

// TestNoClipboardContent: the operator's choice keeps the text out.
func TestNoClipboardContent(t *testing.T) {
	res := feed(t, vncAuth38(), perMessage, dissectors.Options{NoClipboardContent: true})
	clips := actions(res.events, record.ActionClipboard)
	if len(clips) != 2 || clips[0].Clipboard.Text != "" || clips[0].Clipboard.Length != 22 {
		t.Errorf("clipboard %+v", clips)
	}
}

func TestAuthFailure38(t *testing.T) {
	res := feedAll(t, []msg{
		srv(str("RFB 003.008\n")),
		cli(str("RFB 003.008\n")),
		srv([]byte{1, SecVNCAuth}),
		cli([]byte{SecVNCAuth}),
		srv(challenge),
		cli(response),
		srv(be32(1), be32(22), str("Authentication failure")),
	}, dissectors.Options{})
	f := fields(res.rec)
	if f.Auth == nil || *f.Auth != (Auth{Method: "vnc-auth", Outcome: "failure", Reason: "Authentication failure"}) {
		t.Errorf("auth %+v", f.Auth)
	}
	if l := res.rec.Login; l == nil || l.Success == nil || *l.Success || l.Attempts != 1 {
		t.Errorf("login %+v", l)
	}
	ev := actions(res.events, record.ActionLogin)
	if len(ev) != 1 || ev[0].Outcome != "failure" || ev[0].Reason != "authentication failed" && ev[0].Reason != "Authentication failure" {
		t.Errorf("events %+v", ev)
	}
	if res.status != dissectors.Done {
		t.Errorf("status %v", res.status)
	}
}

// TestV33 covers 3.3's server-chosen type: None, a refusal with a reason,
// and VNC authentication that fails (no reason string before 3.8).
func TestV33(t *testing.T) {
	res := feedAll(t, []msg{
		srv(str("RFB 003.003\n")),
		cli(str("RFB 003.003\n")),
		srv(be32(SecNone)),
		cli([]byte{0}),
		srv(serverInit(640, 480, "x")),
		cli(typeKeys("id\n")),
	}, dissectors.Options{})
	f := fields(res.rec)
	if f.Security.Chosen != "none" || f.Auth.Outcome != "success" || f.Auth.Method != "none" || *f.Shared || f.Desktop.Width != 640 {
		t.Errorf("fields %+v %+v %+v", f.Security, f.Auth, f.Desktop)
	}
	if !reflect.DeepEqual(res.rec.Commands, []string{"id"}) {
		t.Errorf("commands %q", res.rec.Commands)
	}

	res = feedAll(t, []msg{
		srv(str("RFB 003.003\n")),
		cli(str("RFB 003.003\n")),
		srv(be32(0), be32(26), str("Too many security failures")),
	}, dissectors.Options{})
	f = fields(res.rec)
	if f.Auth == nil || f.Auth.Outcome != "failure" || f.Auth.Reason != "Too many security failures" {
		t.Errorf("refusal %+v", f.Auth)
	}
	if ev := actions(res.events, record.ActionLogin); len(ev) != 1 || ev[0].Reason != "Too many security failures" {
		t.Errorf("refusal events %+v", ev)
	}

	// A 3.8 server and a 3.3 client speak 3.3; the 3.5 of some clients is 3.3.
	res = feedAll(t, []msg{
		srv(str("RFB 003.008\n")),
		cli(str("RFB 003.005\n")),
		srv(be32(SecVNCAuth)),
		srv(challenge),
		cli(response),
		srv(be32(1)),
	}, dissectors.Options{})
	f = fields(res.rec)
	if f.Version.Client != "3.5" || f.Auth.Outcome != "failure" || f.Auth.Reason != "authentication failed" || len(res.rec.Anomalies) != 0 {
		t.Errorf("3.5: %+v %+v %v", f.Version, f.Auth, res.rec.Anomalies)
	}
}

// TestV37None: 3.7 sends no SecurityResult after None.
func TestV37None(t *testing.T) {
	res := feedAll(t, []msg{
		srv(str("RFB 003.007\n")),
		cli(str("RFB 003.007\n")),
		srv([]byte{1, SecNone}),
		cli([]byte{SecNone}),
		cli([]byte{1}),
		srv(serverInit(800, 600, "seven")),
		cli(pointer(1, 1, 2)),
	}, dissectors.Options{})
	f := fields(res.rec)
	if f.Auth.Outcome != "success" || f.Desktop == nil || f.Desktop.Name != "seven" || f.Pointer.Clicks != 1 {
		t.Errorf("fields %+v %+v %+v", f.Auth, f.Desktop, f.Pointer)
	}
	// Apple's 3.889 and RealVNC's 4.1 speak 3.8: None has a SecurityResult.
	for _, v := range []string{"RFB 003.889\n", "RFB 004.001\n", "RFB 005.000\n"} {
		res = feedAll(t, []msg{
			srv(str(v)),
			cli(str("RFB 003.008\n")),
			srv([]byte{1, SecNone}),
			cli([]byte{SecNone}),
			srv(be32(0)),
			cli([]byte{1}),
			srv(serverInit(800, 600, "eight")),
		}, dissectors.Options{})
		if f := fields(res.rec); f.Desktop == nil || f.Desktop.Name != "eight" || len(res.rec.Anomalies) > 0 {
			t.Errorf("%q: %+v %v", v, f.Desktop, res.rec.Anomalies)
		}
	}
}

func TestVeNCryptPlain(t *testing.T) {
	res := feedAll(t, []msg{
		srv(str("RFB 003.008\n")),
		cli(str("RFB 003.008\n")),
		srv([]byte{1, SecVeNCrypt}),
		cli([]byte{SecVeNCrypt}),
		srv([]byte{0, 2}),
		cli([]byte{0, 2}),
		srv([]byte{0, 2}, be32(VePlain), be32(VeX509Vnc)),
		cli(be32(VePlain)),
		cli(be32(5), be32(8), str("alice"), str("pa55word")),
		srv(be32(0)),
		cli([]byte{1}),
		srv(serverInit(1280, 1024, "plain")),
	}, dissectors.Options{})
	f := fields(res.rec)
	want := &Security{Offered: []string{"vencrypt"}, Chosen: "vencrypt", Subtypes: []string{"plain", "x509-vnc"}, Subtype: "plain", VeNCryptVersion: "0.2"}
	if !reflect.DeepEqual(f.Security, want) || f.Auth.Method != "vencrypt-plain" || f.Auth.Outcome != "success" {
		t.Errorf("security %+v auth %+v", f.Security, f.Auth)
	}
	if res.rec.UserName != "alice" || res.rec.CleartextCredentials == nil || !*res.rec.CleartextCredentials {
		t.Errorf("user %q creds %v", res.rec.UserName, res.rec.CleartextCredentials)
	}
	if d := dump(t, res); strings.Contains(d, "pa55word") {
		t.Errorf("password in the output: %s", d)
	}
	ev := actions(res.events, record.ActionLogin)
	if len(ev) != 1 || ev[0].UserName != "alice" || !ev[0].CleartextCredentials {
		t.Errorf("login %+v", ev)
	}
}

// miniHello is a minimal TLS 1.2 ClientHello with SNI "a.b" (the fixture of
// dissectors/tls's tests).
const miniHello = "\x16\x03\x01\x00\x3f" +
	"\x01\x00\x00\x3b" +
	"\x03\x03" + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00" +
	"\x00\x06\x0a\x0a\xc0\x2f\x00\x2f" +
	"\x01\x00" +
	"\x00\x0c" +
	"\x00\x00\x00\x08\x00\x06\x00\x00\x03a.b"

func TestVeNCryptTLS(t *testing.T) {
	res := feedAll(t, []msg{
		srv(str("RFB 003.008\n")),
		cli(str("RFB 003.008\n")),
		srv([]byte{2, SecVeNCrypt, SecVNCAuth}),
		cli([]byte{SecVeNCrypt}),
		srv([]byte{0, 2}),
		cli([]byte{0, 2}),
		srv([]byte{0, 1}, be32(VeX509Vnc)),
		cli(be32(VeX509Vnc)),
		srv([]byte{1}), // go ahead
		cli(str(miniHello)),
	}, dissectors.Options{})
	f := fields(res.rec)
	if f.Security.Subtype != "x509-vnc" || f.Stopped != "tls" || f.Auth.Method != "vencrypt-x509-vnc" || f.Auth.Outcome != "unknown" {
		t.Errorf("security %+v auth %+v stopped %q", f.Security, f.Auth, f.Stopped)
	}
	if res.rec.Objects["tls"] == nil {
		t.Errorf("no tls object: %v", res.rec.Anomalies)
	}
	if ev := actions(res.events, record.ActionLogin); len(ev) != 1 || ev[0].Outcome != "unknown" {
		t.Errorf("login %+v", ev)
	}
	if ev := actions(res.events, record.ActionSecurity); len(ev) != 1 || ev[0].Reason != "security type vencrypt x509-vnc: TLS" {
		t.Errorf("security %+v", ev)
	}
}

func TestTight(t *testing.T) {
	cap := func(code uint32, vendor, sig string) []byte { return append(be32(code), str(vendor+sig)...) }
	res := feedAll(t, []msg{
		srv(str("RFB 003.008\n")),
		cli(str("RFB 003.008\n")),
		srv([]byte{2, SecTight, SecVNCAuth}),
		cli([]byte{SecTight}),
		srv(be32(0)), // no tunnels
		srv(be32(2), cap(1, "STDV", "NOAUTH__"), cap(2, "STDV", "VNCAUTH_")),
		cli(be32(2)),
		srv(challenge),
		cli(response),
		srv(be32(0)),
		cli([]byte{0}),
		srv(serverInit(1024, 768, "tight")),
		// Tight's interaction capabilities: 1 server message, 1 client, 2 encodings.
		srv(be16(1), be16(1), be16(2), be16(0), cap(130, "TGHT", "FTS_LSDA"), cap(132, "TGHT", "FTC_LSRQ"),
			cap(7, "TGHT", "TIGHT___"), cap(0xffffff00, "TGHT", "COMPRLVL")),
		srv([]byte{SBell}),
	}, dissectors.Options{})
	f := fields(res.rec)
	if f.Security.Chosen != "tight" || !reflect.DeepEqual(f.Security.Subtypes, []string{"noauth", "vncauth"}) || f.Security.Subtype != "vncauth" ||
		f.Auth.Method != "tight-vnc-auth" || f.Auth.Outcome != "success" || f.Bells != 1 || len(res.rec.Anomalies) > 0 {
		t.Errorf("security %+v auth %+v bells %d anomalies %v", f.Security, f.Auth, f.Bells, res.rec.Anomalies)
	}
}

// TestARD: Apple Remote Desktop's Diffie-Hellman exchange is framed (its
// credentials are encrypted: only the outcome is known).
func TestARD(t *testing.T) {
	res := feedAll(t, []msg{
		srv(str("RFB 003.889\n")),
		cli(str("RFB 003.889\n")),
		srv([]byte{2, SecARD, SecVNCAuth}),
		cli([]byte{SecARD}),
		srv(be16(2), be16(128), bytes.Repeat([]byte{0x42}, 256)), // generator, key length, prime, public key
		cli(bytes.Repeat([]byte{0x17}, 128+128)),                 // credentials, public key
		srv(be32(1), be32(6), str("denied")),
	}, dissectors.Options{})
	f := fields(res.rec)
	if f.Security.Chosen != "apple-ard" || *f.Auth != (Auth{Method: "apple-ard", Outcome: "failure", Reason: "denied"}) || res.status != dissectors.Done {
		t.Errorf("%+v %+v %v", f.Security, f.Auth, res.status)
	}
}

// TestUnfollowed: RA2 and UltraVNC MS-Logon are named, then decoding stops.
func TestUnfollowed(t *testing.T) {
	res := feedAll(t, []msg{
		srv(str("RFB 003.008\n")),
		cli(str("RFB 003.008\n")),
		srv([]byte{2, SecRA2, SecMSLogon2}),
		cli([]byte{SecMSLogon2}),
		srv(bytes.Repeat([]byte{0x42}, 300)),
	}, dissectors.Options{})
	f := fields(res.rec)
	if f.Security.Chosen != "ultravnc-mslogon-ii" || f.Stopped != "security type ultravnc-mslogon-ii cannot be followed" || res.status != dissectors.Done {
		t.Errorf("%+v %q %v", f.Security, f.Stopped, res.status)
	}
}

// TestUnknownClientMessage: the client side stops, the server goes on.
func TestUnknownClientMessage(t *testing.T) {
	conv := vncAuth38()[:9]
	conv = append(conv, cli([]byte{77, 1, 2, 3}), srv([]byte{SBell}), cli(typeKeys("lost\n")))
	res := feedAll(t, conv, dissectors.Options{})
	f := fields(res.rec)
	if f.Bells != 1 || f.Keys != nil || !reflect.DeepEqual(res.rec.Anomalies, []string{"vnc.unknown_client_message"}) ||
		f.Stopped != "unknown client message type 77" {
		t.Errorf("bells %d keys %+v anomalies %v stopped %q", f.Bells, f.Keys, res.rec.Anomalies, f.Stopped)
	}
}

// TestGap: after a gap the server side is lost; the client's keys are not.
func TestGap(t *testing.T) {
	r := &record.Record{}
	s := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{}})
	for _, m := range vncAuth38()[:9] {
		s.Feed(dissectors.Direction(m.dir), m.b, 1)
	}
	s.Feed(dissectors.FromServer, []byte{SFramebufferUpdate, 0, 0, 1}, 2)
	s.Gap(dissectors.FromServer, 1000, 3)
	s.Feed(dissectors.FromServer, []byte{SBell}, 4)
	s.Feed(dissectors.FromClient, typeKeys("after\n"), 5)
	s.Close(r)
	f := fields(r)
	if f.Bells != 0 || !reflect.DeepEqual(r.Commands, []string{"after"}) || !reflect.DeepEqual(r.Anomalies, []string{"vnc.gap"}) {
		t.Errorf("bells %d commands %q anomalies %v", f.Bells, r.Commands, r.Anomalies)
	}
}

// TestClientGap: after a gap in the client's stream, keys go on from the
// first bytes that start a message; the line typed across the gap says
// keys may be missing from it; with no message start in sight, the client
// side stops.
func TestClientGap(t *testing.T) {
	for _, c := range []struct {
		name     string
		garbage  int // segments after the gap that start no message
		commands []string
		stopped  string
	}{
		{"resync at once", 0, []string{"ec<gap>ho hi", "ls"}, ""},
		{"resync after the tail of a message", 3, []string{"ec<gap>ho hi", "ls"}, ""},
		{"no message start", maxResync, []string{}, "client bytes lost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &record.Record{}
			s := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{}})
			for _, m := range vncAuth38()[:9] {
				s.Feed(dissectors.Direction(m.dir), m.b, 1)
			}
			s.Feed(dissectors.FromClient, typeKeys("ec"), 2)
			s.Feed(dissectors.FromClient, []byte{CKeyEvent, 1, 0, 0}, 3) // half a key event, then lost
			s.Gap(dissectors.FromClient, 100, 4)
			for range c.garbage {
				s.Feed(dissectors.FromClient, []byte{0, 0, 0xff, 0x0d}, 5) // the tail of a key event
			}
			s.Feed(dissectors.FromClient, typeKeys("ho hi\nls\n"), 6)
			s.Close(r)
			if !reflect.DeepEqual(append([]string{}, r.Commands...), c.commands) || !reflect.DeepEqual(r.Anomalies, []string{"vnc.gap"}) || fields(r).Stopped != c.stopped {
				t.Errorf("commands %q anomalies %v stopped %q", r.Commands, r.Anomalies, fields(r).Stopped)
			}
		})
	}
}

// TestTruncated: every prefix of a conversation closes cleanly, and the
// record never claims more than the bytes showed.
func TestTruncated(t *testing.T) {
	var all []byte
	var dirs []int
	for _, m := range vncAuth38() {
		all = append(all, m.b...)
		for range m.b {
			dirs = append(dirs, m.dir)
		}
	}
	for n := 0; n <= len(all); n += 3 {
		r := &record.Record{}
		s := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{}})
		for i := 0; i < n; i++ {
			s.Feed(dissectors.Direction(dirs[i]), all[i:i+1], int64(i))
		}
		s.Close(r)
		if len(r.Anomalies) > 0 {
			t.Fatalf("prefix %d: anomalies %v", n, r.Anomalies)
		}
	}
}

// TestExtendedClipboard: TigerVNC's extended clipboard (a negative length,
// zlib-compressed text) both ways; a capability message is no transfer.
func TestExtendedClipboard(t *testing.T) {
	conv := vncAuth38()[:9]
	caps := bytes.Join([][]byte{{CClientCutText, 0, 0, 0}, enc(-8), be32(clipCaps | clipText), be32(1 << 20)}, nil)
	conv = append(conv, cli(caps), cli(extCut(CClientCutText, "line one\r\nline two")), srv(extCut(SServerCutText, strings.Repeat("x", 2000))))
	res := feedAll(t, conv, dissectors.Options{})
	clips := actions(res.events, record.ActionClipboard)
	if len(clips) != 2 {
		t.Fatalf("clipboard events %d", len(clips))
	}
	if c := clips[0].Clipboard; c.Text != "line one\nline two" || c.Length != 18 || c.Truncated {
		t.Errorf("to server %+v", c)
	}
	if c := clips[1].Clipboard; len(c.Text) != maxClipText || c.Length != 2000 || !c.Truncated || c.Direction != "to_client" {
		t.Errorf("to client %+v", c)
	}
	if len(res.rec.Anomalies) > 0 {
		t.Errorf("anomalies %v", res.rec.Anomalies)
	}
}

// TestLargeRect: a raw rectangle much longer than a segment is skipped as
// it arrives, without being kept.
func TestLargeRect(t *testing.T) {
	conv := vncAuth38()[:9]
	conv = append(conv, srv([]byte{SFramebufferUpdate, 0}, be16(1), rectHdr(0, 0, 1024, 768, rfb.EncRaw)))
	r := &record.Record{}
	s := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{}})
	for _, m := range conv {
		s.Feed(dissectors.Direction(m.dir), m.b, 1)
	}
	chunk := make([]byte, 1448)
	for left := 1024 * 768 * 4; left > 0; left -= len(chunk) {
		s.Feed(dissectors.FromServer, chunk[:min(left, len(chunk))], 2)
		if len(s.pend[1]) > 0 {
			t.Fatalf("%d bytes kept", len(s.pend[1]))
		}
	}
	s.Feed(dissectors.FromServer, []byte{SBell}, 3)
	s.Close(r)
	if f := fields(r); f.Bells != 1 || f.Rectangles != 1 || len(r.Anomalies) > 0 {
		t.Errorf("bells %d rects %d anomalies %v", f.Bells, f.Rectangles, r.Anomalies)
	}
}

// TestSnapshot: a snapshot leaves the session as it was and shares nothing.
func TestSnapshot(t *testing.T) {
	conv := vncAuth38()
	r := &record.Record{}
	s := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{}})
	for i, m := range conv {
		s.Feed(dissectors.Direction(m.dir), m.b, int64(i))
		if i == 14 {
			snap := &record.Record{}
			s.Snapshot(snap)
			if !reflect.DeepEqual(snap.Commands, []string{"ls -l"}) || fields(snap).Keys.Count != 9 {
				t.Errorf("snapshot %q %+v", snap.Commands, fields(snap).Keys)
			}
			snap.Commands[0] = "changed"
		}
	}
	s.Close(r)
	if r.Commands[0] != "ls -l" {
		t.Errorf("commands %q", r.Commands)
	}
}

func TestProbe(t *testing.T) {
	d := Dissector{}
	for _, c := range []struct {
		a, b   string
		client int
		want   dissectors.Verdict
		who    int
	}{
		{"", "RFB 003.008\n", 0, dissectors.Match, 0},
		{"", "RFB 003.8", 0, dissectors.NeedMore, 0},
		{"", "RFB 003.00x\n", 0, dissectors.NoMatch, 0},
		{"", "SSH-2.0-x\r\n", 0, dissectors.NoMatch, 0},
		{"GET / HTTP/1.1\r\n", "", 0, dissectors.NoMatch, 0},
		{"RFB 003.008\n", "", dissectors.Unknown, dissectors.Match, 1},
		{"RFB 003.008\n", "RFB 003.008\n", dissectors.Unknown, dissectors.Match, dissectors.Unknown},
		{"RFB 003.889\n", "RFB 003.889\n", 1, dissectors.Match, 1},
		{"xyz", "abc", dissectors.Unknown, dissectors.NoMatch, 0},
	} {
		in := &dissectors.ProbeInput{Data: [2][]byte{[]byte(c.a), []byte(c.b)}, Port: [2]uint16{40000, 5901}, Client: c.client}
		got := d.Probe(in)
		if got.Verdict != c.want || got.Verdict == dissectors.Match && got.Client != c.who {
			t.Errorf("%q %q client %d: %+v", c.a, c.b, c.client, got)
		}
	}
}

func TestKeysyms(t *testing.T) {
	var ty typist
	seq := []struct {
		down bool
		ks   uint32
	}{
		{true, ksShiftL}, {true, 'A'}, {false, 'A'}, {true, ksTab}, {false, ksShiftL},
		{true, 0xe9}, {true, ksUnicodeBase + 0x20ac}, {true, 0xffb5}, {true, ksControlL}, {true, 'C'},
		{false, ksControlL}, {true, ksAltL}, {true, ksControlL}, {true, ksDelete}, {false, ksAltL}, {false, ksControlL},
		{true, 0xfe51}, {true, ksISOLeftTab},
	}
	for _, k := range seq {
		ty.key(k.down, k.ks)
	}
	// Ctrl-c abandoned the line typed before it.
	if got, want := ty.pending(), "<Ctrl-Alt-Delete><Shift-Tab>"; got != want {
		t.Errorf("line %q want %q", got, want)
	}
	if got, want := ty.transcript.String(), "A<Shift-Tab>é€5<Ctrl-c><Ctrl-Alt-Delete><Shift-Tab>"; got != want {
		t.Errorf("transcript %q want %q", got, want)
	}
	if ty.presses != 9 {
		t.Errorf("presses %d", ty.presses)
	}
}

func TestText(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
		cut  bool
	}{
		{"plain", 10, "plain", false},
		{"a\x1b[31mb\x00", 20, `a\x1b[31mb\x00`, false},
		{"caf\xc3\xa9s", 4, "caf", true},
		{"\xff\xfe", 10, `\xff\xfe`, false},
	} {
		got, cut := Text([]byte(c.in), c.max)
		if got != c.want || cut != c.cut {
			t.Errorf("Text(%q, %d) = %q %v", c.in, c.max, got, cut)
		}
	}
}

// TestQueueNeverBlocks: a full queue drops the job and notes the time of
// the first drop; send returns at once.
func TestQueueNeverBlocks(t *testing.T) {
	r := newRecorder(false) // no worker: nothing drains
	for i := 0; i < maxJobs+10; i++ {
		r.send(job{kind: jobKey, ts: int64(100 + i), text: "a"})
	}
	if got := r.overflow.Load(); got != 100+maxJobs {
		t.Errorf("first drop at %d", got)
	}
	r.send(job{kind: jobRect, ts: 5000, data: make([]byte, maxQueued+1)})
	if r.queued.Load() != 0 {
		t.Errorf("queued %d bytes", r.queued.Load())
	}
}

// TestRecording: the conversation's updates become a recording with the
// keys on its time line; a server gap marks it incomplete.
func TestRecording(t *testing.T) {
	dir := t.TempDir()
	r := &record.Record{ID: "test1"}
	s := newSession(&dissectors.Context{Record: r, Options: &dissectors.Options{RecordingsDir: dir}})
	for i, m := range vncAuth38() {
		s.Feed(dissectors.Direction(m.dir), m.b, int64(i+1)*1e9)
	}
	s.Gap(dissectors.FromServer, 10, 30e9)
	s.Close(r)
	r.Complete()
	if r.Recording == nil || !reflect.DeepEqual(r.Anomalies, []string{"recording.incomplete", "vnc.gap"}) {
		t.Fatalf("recording %+v anomalies %v", r.Recording, r.Anomalies)
	}
	rec, err := screenrec.Open(dir + "/" + r.Recording.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Keys) != 15 || len(rec.Clicks) != 2 || len(rec.Incomplete) != 1 || rec.Incomplete[0].Text != "server bytes lost" {
		t.Errorf("keys %d clicks %d incomplete %+v", len(rec.Keys), len(rec.Clicks), rec.Incomplete)
	}
	img, err := rec.FrameAt(rec.End())
	if err != nil || img.Bounds().Dx() != 800 {
		t.Errorf("last frame %v %v sizes %+v end %v", img.Bounds(), err, rec.Sizes, rec.End())
	}
}
