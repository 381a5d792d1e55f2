package console

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/psmtap/psmtap/internal/sensor"
)

const cast = `{"version":2,"width":80,"height":24,"timestamp":1795651778,"env":{"TERM":"xterm"}}
[0.5, "o", "alice@psm-srv:~$ "]
[1.0, "i", "whoami\r"]
[1.1, "o", "whoami\r\nalice\r\n"]
`

// hostile is a user name and command that would run script if the page
// put them in as HTML.
const hostile = `<img src=x onerror="window.__pwned=1">`

func rec(id, proto, user, client, start, typ, recPath string, cmds ...string) map[string]any {
	psm := map[string]any{"session_id": id, "commands": cmds, "kind": "interactive", "login": map[string]any{"success": true}}
	if recPath != "" {
		psm["recording"] = map[string]any{"path": recPath, "format": "asciicast-v2"}
	}
	return map[string]any{"@timestamp": start,
		"event":       map[string]any{"dataset": "psmtap.session", "id": id, "type": []string{typ}, "start": start, "end": start},
		"source":      map[string]any{"ip": client, "port": 41438},
		"destination": map[string]any{"ip": "192.0.2.20", "port": 23},
		"network":     map[string]any{"protocol": proto}, "observer": map[string]any{"hostname": "sensor-1"},
		"user": map[string]any{"name": user}, "psm": psm}
}

// fixture writes records (one rotated zstd file, one plain) and recordings:
// a good one, and records whose recording path tries to leave the directory.
func fixture(t *testing.T) (records, recordings, outside string) {
	t.Helper()
	base := t.TempDir()
	records, recordings = filepath.Join(base, "out"), filepath.Join(base, "rec")
	os.MkdirAll(filepath.Join(records, "old"), 0o755)
	os.MkdirAll(recordings, 0o755)
	outside = filepath.Join(base, "secret.cast")
	os.WriteFile(outside, []byte(`{"version":2,"width":80,"height":24}`+"\n"+`[0.1, "o", "TOP SECRET"]`+"\n"), 0o600)

	enc, _ := zstd.NewWriter(nil)
	os.WriteFile(filepath.Join(recordings, "telnet-20261126T000938Z-good.cast.zst"), enc.EncodeAll([]byte(cast), nil), 0o644)
	os.Symlink(outside, filepath.Join(recordings, "telnet-link.cast"))

	var buf bytes.Buffer
	for _, d := range []map[string]any{
		rec("good", "telnet", "alice", "192.0.2.10", "2026-11-26T00:09:38Z", "start", ""),
		rec("good", "telnet", "alice", "192.0.2.10", "2026-11-26T00:09:38Z", "end", "telnet-20261126T000938Z-good.cast.zst", "id", "whoami", "exit"),
		rec("good", "telnet", "alice", "192.0.2.10", "2026-11-26T00:09:38Z", "info", ""), // a late interim copy: ignored
		rec("dotdot", "telnet", "bob", "192.0.2.11", "2026-11-27T10:00:00Z", "end", "../secret.cast"),
		rec("abs", "telnet", "bob", "192.0.2.11", "2026-11-27T11:00:00Z", "end", outside),
		rec("link", "rlogin", "bob", "192.0.2.11", "2026-11-27T12:00:00Z", "end", "telnet-link.cast"),
		rec("norec", "ssh", "carol", "198.51.100.7", "2026-11-28T08:00:00Z", "end", ""),
		rec("evil", "telnet", hostile, "192.0.2.66", "2026-11-28T09:00:00Z", "end", "", hostile),
		{"@timestamp": "2026-11-26T00:09:45Z", "event": map[string]any{"dataset": "psmtap.alert", "id": "a1"},
			"message": "Cleartext administration protocol in use", "psm": map[string]any{"session_id": "good"}},
	} {
		b, _ := json.Marshal(d)
		buf.Write(append(b, '\n'))
	}
	buf.WriteString("not json\n")
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	os.WriteFile(filepath.Join(records, "psmtap-20261126T000000Z-0001.ndjson.zst"), enc.EncodeAll(bytes.Join(lines[:3], nil), nil), 0o644)
	os.WriteFile(filepath.Join(records, "old", "more.ndjson"), bytes.Join(lines[3:], nil), 0o644)
	os.WriteFile(filepath.Join(records, "psmtap-x.ndjson.zst.part"), []byte("partial"), 0o644)
	return records, recordings, outside
}

func server(t *testing.T, token string) (*httptest.Server, *Archive, string) {
	t.Helper()
	records, recordings, outside := fixture(t)
	a := &Archive{Dir: records}
	if err := a.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(a, recordings, token, "test", nil))
	t.Cleanup(srv.Close)
	return srv, a, outside
}

func get(t *testing.T, url, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func TestArchiveSearch(t *testing.T) {
	srv, a, _ := server(t, "")
	files, sessions, alerts, bad := a.Stats()
	if files != 2 || sessions != 6 || alerts != 1 || bad != 1 {
		t.Fatalf("stats: files %d sessions %d alerts %d bad %d; want 2 6 1 1", files, sessions, alerts, bad)
	}
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"", []string{"evil", "norec", "link", "abs", "dotdot", "good"}},
		{"user=ALICE", []string{"good"}},
		{"protocol=rlogin", []string{"link"}},
		{"host=198.51.100", []string{"norec"}},
		{"host=sensor-1&user=bob", []string{"link", "abs", "dotdot"}},
		{"since=2026-11-27&until=2026-11-27T11:00", []string{"dotdot"}},
		{"q=WHOAMI", []string{"good"}},
		{"q=whoami&user=bob", nil},
		{"limit=2", []string{"evil", "norec"}},
	} {
		res, body := get(t, srv.URL+"/api/v1/sessions?"+c.query, "")
		var l ArchiveList
		if res.StatusCode != 200 || json.Unmarshal([]byte(body), &l) != nil {
			t.Fatalf("%s: %d %s", c.query, res.StatusCode, body)
		}
		var got []string
		for _, e := range l.Sessions {
			got = append(got, e.ID)
			if len(e.Record) != 0 && string(e.Record) != "null" {
				t.Errorf("%s: the list carries records", c.query)
			}
		}
		if strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: got %v, want %v", c.query, got, c.want)
		}
	}
	for _, q := range []string{"since=yesterday", "limit=0", "limit=x"} {
		if res, _ := get(t, srv.URL+"/api/v1/sessions?"+q, ""); res.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", q, res.StatusCode)
		}
	}
	// One session: the final record (not the interim before it or after it), with its alert count.
	res, body := get(t, srv.URL+"/api/v1/sessions/good", "")
	var e struct {
		Open     bool   `json:"open"`
		Alerts   int    `json:"alerts"`
		Commands int    `json:"commands"`
		Login    string `json:"login"`
		Record   struct {
			Event struct{ Type []string } `json:"event"`
		} `json:"record"`
	}
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &e) != nil || e.Open || e.Alerts != 1 || e.Commands != 3 ||
		e.Login != "success" || len(e.Record.Event.Type) != 1 || e.Record.Event.Type[0] != "end" {
		t.Errorf("session good: %d %+v %s", res.StatusCode, e, body)
	}
	if res, _ := get(t, srv.URL+"/api/v1/sessions/nope", ""); res.StatusCode != 404 {
		t.Errorf("unknown session: %d", res.StatusCode)
	}
	res, body = get(t, srv.URL+"/api/v1/alerts?session=good", "")
	if res.StatusCode != 200 || !strings.Contains(body, "Cleartext administration") {
		t.Errorf("alerts: %d %s", res.StatusCode, body)
	}
	if _, body := get(t, srv.URL+"/api/v1/alerts?session=norec", ""); strings.Contains(body, "Cleartext") {
		t.Errorf("alerts of another session: %s", body)
	}
}

// TestRecordings: a recording is served decompressed, found by the
// session's record; nothing else is, whatever the request or the record
// says.
func TestRecordings(t *testing.T) {
	srv, _, _ := server(t, "")
	res, body := get(t, srv.URL+"/api/v1/recordings/good", "")
	if res.StatusCode != 200 || body != cast || res.Header.Get("Content-Type") != "application/x-asciicast" {
		t.Fatalf("good: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	for _, c := range []struct {
		path string
		code int
	}{
		{"/api/v1/recordings/dotdot", 403}, // the record says ../secret.cast
		{"/api/v1/recordings/abs", 403},    // the record names an absolute path
		{"/api/v1/recordings/link", 403},   // a symbolic link out of the directory
		{"/api/v1/recordings/norec", 404},  // no recording
		{"/api/v1/recordings/nope", 404},   // no such session
		{"/api/v1/recordings/..%2Fsecret.cast", 404},
		{"/api/v1/recordings/%2E%2E%2F%2E%2E%2Fsecret.cast", 404},
		{"/api/v1/recordings/telnet-20261126T000938Z-good.cast.zst", 404}, // a file name is no session id
		{"/api/v1/recordings/../../secret.cast", 404},
		{"/api/v1/recordings/", 404},
	} {
		res, body := get(t, srv.URL+c.path, "")
		if res.StatusCode != c.code || strings.Contains(body, "TOP SECRET") {
			t.Errorf("%s: %d %q; want %d", c.path, res.StatusCode, body, c.code)
		}
	}
	for _, p := range []string{"a.cast", "x/telnet.cast.zst"} {
		if !safeRel(p) {
			t.Errorf("safeRel(%q) = false", p)
		}
	}
	for _, p := range []string{"", "../a.cast", "/a.cast", "x/../../a.cast", `..\a.cast`, "a.txt", "a.cast\x00", "."} {
		if safeRel(p) {
			t.Errorf("safeRel(%q) = true", p)
		}
	}
}

// TestToken: with a token, every API call needs it; the page and its
// scripts (no data) do not, or a browser could not open the console.
func TestToken(t *testing.T) {
	srv, _, _ := server(t, "s3cret")
	for _, p := range []string{"/api/v1/console", "/api/v1/sessions", "/api/v1/sessions/good", "/api/v1/recordings/good", "/api/v1/alerts"} {
		if res, body := get(t, srv.URL+p, ""); res.StatusCode != 401 || strings.Contains(body, "alice") {
			t.Errorf("%s without the token: %d", p, res.StatusCode)
		}
		if res, _ := get(t, srv.URL+p, "wrong"); res.StatusCode != 401 {
			t.Errorf("%s with a wrong token: %d", p, res.StatusCode)
		}
		if res, _ := get(t, srv.URL+p, "s3cret"); res.StatusCode != 200 {
			t.Errorf("%s with the token: %d", p, res.StatusCode)
		}
	}
	for _, p := range []string{"/", "/console/console.js", "/console/vendor/xterm/xterm.js", "/console/vendor/asciinema-player/asciinema-player.min.js"} {
		if res, _ := get(t, srv.URL+p, ""); res.StatusCode != 200 {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
	}
}

// TestPage: the page runs only its own files (CSP), lists no directory,
// and puts nothing from the network in as HTML.
func TestPage(t *testing.T) {
	srv, _, _ := server(t, "")
	res, body := get(t, srv.URL+"/", "")
	csp := res.Header.Get("Content-Security-Policy")
	if res.StatusCode != 200 || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval'") && !strings.Contains(csp, "wasm-unsafe-eval") ||
		!strings.Contains(csp, "connect-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("/: %d, CSP %q", res.StatusCode, csp)
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(body) || strings.Contains(body, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
		t.Error("the page has inline script")
	}
	for _, p := range []string{"/console/", "/console/vendor/", "/nothing", "/console/../console.go"} {
		if res, _ := get(t, srv.URL+p, ""); res.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}
	if res, _ := http.Post(srv.URL+"/", "text/plain", nil); res.StatusCode != 405 {
		t.Errorf("POST /: %d", res.StatusCode)
	}
	js, err := assets.ReadFile("assets/console.js")
	if err != nil {
		t.Fatal(err)
	}
	// The browser test (cmd/psmtap TestConsoleBrowser) shows a hostile user
	// name drawn as text; this keeps the script from the HTML parsers.
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "DOMParser", "createContextualFragment", "srcdoc"} {
		if bytes.Contains(js, []byte(bad)) {
			t.Errorf("console.js uses %s", bad)
		}
	}
	// The hostile session is served as JSON data, escaped for HTML contexts too.
	_, body = get(t, srv.URL+"/api/v1/sessions?protocol=telnet&since=2026-11-28", "")
	if !strings.Contains(body, `\u003cimg src=x onerror=`) || strings.Contains(body, "<img") {
		t.Errorf("hostile session: %s", body)
	}
}

func TestVendoredLicences(t *testing.T) {
	for _, p := range []string{"assets/vendor/xterm/LICENSE", "assets/vendor/asciinema-player/LICENSE", "assets/vendor/README.md"} {
		if b, err := assets.ReadFile(p); err != nil || len(b) < 500 {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// TestOnSensor: mounted on the live sensor's API, the page is served
// without the token and the console's endpoints behind it, next to the
// sensor's own.
func TestOnSensor(t *testing.T) {
	hub := sensor.New(sensor.Options{})
	defer hub.Close()
	rec := t.TempDir()
	api := &sensor.Server{Hub: hub, Token: "tok", Static: Static(),
		Mount: func(mux *http.ServeMux) { MountSensor(mux, hub, rec, "test", false, nil) }}
	srv := httptest.NewServer(api.Handler())
	defer srv.Close()
	if res, body := get(t, srv.URL+"/", ""); res.StatusCode != 200 || !strings.Contains(body, "console.js") {
		t.Errorf("/: %d", res.StatusCode)
	}
	if res, _ := get(t, srv.URL+"/api/v1/console", ""); res.StatusCode != 401 {
		t.Errorf("console info without the token: %d", res.StatusCode)
	}
	if res, _ := get(t, srv.URL+"/metrics", ""); res.StatusCode != 401 {
		t.Errorf("metrics without the token: %d", res.StatusCode)
	}
	res, body := get(t, srv.URL+"/api/v1/console", "tok")
	var info Info
	if res.StatusCode != 200 || json.Unmarshal([]byte(body), &info) != nil || info.Mode != ModeLive || !info.Recordings {
		t.Errorf("console info: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, srv.URL+"/api/v1/sessions", "tok"); res.StatusCode != 200 {
		t.Errorf("sessions: %d", res.StatusCode)
	}
	if res, _ := get(t, srv.URL+"/api/v1/recordings/nope", "tok"); res.StatusCode != 404 {
		t.Errorf("recording of an unknown session: %d", res.StatusCode)
	}
	if recordingPath([]byte(`{"psm":{"recording":{"path":"telnet-x.cast.zst"}}}`)) != "telnet-x.cast.zst" {
		t.Error("recordingPath")
	}
}
