package sensor

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	_ "github.com/psmtap/psmtap/dissectors/rlogin"
	_ "github.com/psmtap/psmtap/dissectors/ssh"
	_ "github.com/psmtap/psmtap/dissectors/telnet"
	_ "github.com/psmtap/psmtap/dissectors/vnc"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
)

// replay runs a capture from pcaps/ through a real engine wired to hub as
// psmtap live wires it: sessions attached and terminal bytes on the packet
// path, documents through a Tee. Every packet is fed after stop(packet
// number) returns; documents go straight to the hub (no queue), in order.
func replay(t *testing.T, hub *Hub, path string, pause func(n int)) (docs []record.Document) {
	t.Helper()
	return replayWith(t, hub, path, dissectors.Options{}, pause)
}

// replayWith is replay with the sessions' options (--no-clipboard-content...).
func replayWith(t *testing.T, hub *Hub, path string, opt dissectors.Options, pause func(n int)) (docs []record.Document) {
	t.Helper()
	var mu sync.Mutex
	tee := &Tee{Hub: hub, Next: sinkFunc(func(d record.Document) { mu.Lock(); docs = append(docs, d); mu.Unlock() }), PassEvents: true}
	cfg := engine.Config{Dissectors: dissectors.All(), Observer: "test", Live: hub.Attach, Options: opt}
	cfg.Emit = func(r *record.Record) { hub.Ended(r); tee.Write(r) }
	cfg.EmitEvent = func(ev *record.Event) { tee.Write(ev) }
	e := engine.New(cfg)
	src, err := capture.OpenFile("../../" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for n := 0; ; n++ {
		frame, link, ts, wire, err := src.Next()
		if err != nil {
			break
		}
		if pause != nil {
			pause(n)
		}
		e.Packet(link, frame, ts, wire)
	}
	e.Flush()
	return docs
}

type sinkFunc func(record.Document)

func (f sinkFunc) Write(d record.Document) error { f(d); return nil }
func (f sinkFunc) Close() error                  { return nil }

// settle waits until the hub's goroutine has taken every engine notice.
func settle(h *Hub) { h.Sync() }

func get(t *testing.T, srv *httptest.Server, path, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	defer resp.Body.Close()
	var v T
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s: %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestTelnetSessionLive follows pcaps/telnet-login.pcap (alice: one failed
// login, then id, whoami, exit; pcaps/README.md) through the engine into the
// API: the session is listed while it runs with what events told (user,
// login, commands); a viewer that joins half way gets the screen so far,
// then the rest as it happens, with both passwords masked; the stream ends
// with the session; the final record replaces the snapshot.
func TestTelnetSessionLive(t *testing.T) {
	hub := New(Options{})
	srv := httptest.NewServer((&Server{Hub: hub}).Handler())
	defer srv.Close()
	defer hub.Close() // first: streams end, and the server can close

	var id string
	var half []*Entry
	var lines []string
	var streamErr error
	streamDone := make(chan struct{})
	replay(t, hub, "pcaps/telnet-login.pcap", func(n int) {
		switch n {
		case 5:
			settle(hub)
			l := decode[SessionList](t, get(t, srv, PathSessions, ""))
			if len(l.Sessions) != 1 || !l.Sessions[0].Open || l.Sessions[0].Protocol != "telnet" {
				t.Fatalf("after 5 packets: %+v", l.Sessions)
			}
			id = l.Sessions[0].ID
		case 150:
			// documents go straight to the hub here; the feed may lag
			settle(hub)
			half = decode[SessionList](t, get(t, srv, PathSessions, "")).Sessions
			cl, _ := NewClient(srv.URL, "", "")
			started := make(chan struct{})
			go func() {
				defer close(streamDone)
				streamErr = cl.Live(context.Background(), id, func(h CastHeader) {
					if !h.Terminal || h.SessionID != id || h.StartNS == 0 {
						t.Errorf("header %+v", h)
					}
					close(started)
				}, func(e CastEvent) error {
					lines = append(lines, e.Code+":"+e.Data)
					return nil
				})
			}()
			<-started
		}
	})
	settle(hub)
	select {
	case <-streamDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the live stream did not end with the session")
	}
	if streamErr != nil {
		t.Fatalf("live stream: %v", streamErr)
	}

	// Half way (packet 150: after id's output, before whoami), from events.
	if len(half) != 1 {
		t.Fatalf("half way: %d sessions", len(half))
	}
	e := half[0]
	if e.User != "alice" || e.Login != "success" || e.Commands < 1 || !e.Terminal || e.Events < 3 {
		t.Errorf("half way: %+v", e)
	}
	var rec map[string]any
	json.Unmarshal(e.Record, &rec)
	if psm, _ := rec["psm"].(map[string]any); psm == nil || psm["commands"] == nil {
		t.Errorf("half-way record has no commands: %s", e.Record)
	}

	all := strings.Join(lines, "")
	out := ""
	for _, l := range lines {
		if strings.HasPrefix(l, "o:") {
			out += l[2:]
		}
	}
	// whoami was typed whoamu, DEL, i: the echo says so
	for _, want := range []string{"login:", "Login incorrect", "uid=2001(alice)", "whoamu\b \bi\r\n", "alice\r\n", "logout"} {
		if !strings.Contains(out, want) {
			t.Errorf("live output lacks %q:\n%q", want, out)
		}
	}
	if !strings.Contains(all, "i:*") || strings.Contains(all, "Wonderland") {
		t.Errorf("passwords not masked in the live stream:\n%q", all)
	}

	// After the end: gone from the open list, kept with ?state=all, final.
	if l := decode[SessionList](t, get(t, srv, PathSessions, "")).Sessions; len(l) != 0 {
		t.Errorf("open after the end: %+v", l)
	}
	l := decode[SessionList](t, get(t, srv, PathSessions+"?state=all", "")).Sessions
	if len(l) != 1 || l[0].Open {
		t.Fatalf("state=all: %+v", l)
	}
	one := decode[Entry](t, get(t, srv, PathSessions+"/"+id, ""))
	json.Unmarshal(one.Record, &rec)
	if ev := rec["event"].(map[string]any); ev["type"].([]any)[0] != "end" {
		t.Errorf("final snapshot is not the final record: %s", one.Record)
	}
	if !strings.Contains(string(one.Record), `"whoami"`) {
		t.Errorf("final record: %s", one.Record)
	}
	if resp := get(t, srv, PathSessions+"/nope", ""); resp.StatusCode != 404 {
		t.Errorf("unknown session: %s", resp.Status)
	}
	// A finished session's stream: what is kept, then the end at once.
	resp := get(t, srv, PathSessions+"/"+id+"/live", "")
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != ContentTypeCast || !strings.Contains(string(b), "uid=") || resp.Trailer.Get(TrailerEnd) != EndSession {
		t.Errorf("finished stream: %s %v %.200s", resp.Header.Get("Content-Type"), resp.Trailer, b)
	}
}

// TestEventsStream: SSE delivers events and alerts with the filters.
func TestEventsStream(t *testing.T) {
	hub := New(Options{})
	srv := httptest.NewServer((&Server{Hub: hub}).Handler())
	defer srv.Close()
	defer hub.Close() // first: streams end, and the server can close

	type sub struct {
		frames []string
		done   chan struct{}
	}
	open := func(q string) *sub {
		s := &sub{done: make(chan struct{})}
		resp := get(t, srv, PathEvents+q, "")
		if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("content type %q", ct)
		}
		go func() {
			defer close(s.done)
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			var ev string
			for sc.Scan() {
				switch l := sc.Text(); {
				case strings.HasPrefix(l, "event: "):
					ev = l[7:]
				case strings.HasPrefix(l, "data: "):
					var m map[string]any
					if err := json.Unmarshal([]byte(l[6:]), &m); err != nil {
						t.Errorf("data is not JSON: %s", l)
					}
					s.frames = append(s.frames, ev)
				}
			}
		}()
		return s
	}
	everything := open("")
	alice := open("?user=alice")
	ssh := open("?protocol=ssh")
	for len(hub.subs) < 3 {
		time.Sleep(time.Millisecond)
	}
	docs := replay(t, hub, "pcaps/telnet-login.pcap", nil)
	var nEvents int
	var sid string
	for _, d := range docs {
		if ev, ok := d.(*record.Event); ok {
			nEvents++
			sid = ev.SessionID
		}
	}
	hub.Alert(&record.Alert{ID: "a1", Time: time.Now(), RuleName: "r", RuleLevel: "high", Message: "m",
		SessionIDs: []string{sid},
		Context:    map[string]any{"user": map[string]any{"name": "alice"}, "network": map[string]any{"protocol": "telnet"}}})
	settle(hub)
	hub.Close()
	for _, s := range []*sub{everything, alice, ssh} {
		<-s.done
	}
	count := func(s *sub, kind string) (n int) {
		for _, f := range s.frames {
			if f == kind {
				n++
			}
		}
		return n
	}
	// The failed login (user alice as typed) and the commands are alice's.
	if got := count(everything, "event"); got != nEvents || nEvents < 4 {
		t.Errorf("all: %d events of %d", got, nEvents)
	}
	if count(everything, "alert") != 1 || count(alice, "alert") != 1 || count(ssh, "alert") != 0 {
		t.Errorf("alerts: all %v alice %v ssh %v", everything.frames, alice.frames, ssh.frames)
	}
	if count(alice, "event") == 0 || count(ssh, "event") != 0 || count(everything, "session") < 1 {
		t.Errorf("filters: alice %v ssh %v all %v", alice.frames, ssh.frames, everything.frames)
	}
}

// TestSlowViewerDropped: viewers that never read do not hold the feed up;
// they are dropped (their buffers are bounded), the others carry on.
func TestSlowViewerDropped(t *testing.T) {
	hub := New(Options{ViewerBuffer: 16})
	defer hub.Close()
	r := &record.Record{ID: "s1", Protocol: "telnet"}
	live := hub.Attach(&dissectors.Context{Record: r}, 1)
	settle(hub)
	var slow []*Stream
	for i := 0; i < 50; i++ {
		st, _, err := hub.Watch("s1")
		if err != nil {
			t.Fatal(err)
		}
		slow = append(slow, st)
	}
	fast, _, _ := hub.Watch("s1")
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range fast.Lines {
			got.Add(1)
		}
	}()
	start := time.Now()
	for i := 0; i < 2000; i++ {
		live(dissectors.FromServer, int64(i+2), []byte("x"))
		if i%8 == 7 {
			// a reader that keeps up: it has what was sent before the next burst
			settle(hub)
			for got.Load() < int64(i+1) && time.Since(start) < 10*time.Second {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("feeding took %v", d)
	}
	settle(hub)
	hub.Ended(&record.Record{ID: "s1"})
	<-done
	if got.Load() != 2000 || fast.Dropped() {
		t.Errorf("the reading viewer got %d of 2000 (dropped %v)", got.Load(), fast.Dropped())
	}
	for _, st := range slow {
		n := 0
		for range st.Lines {
			n++
		}
		if !st.Dropped() || n > 16 {
			t.Fatalf("a viewer that never read: dropped %v, %d lines buffered", st.Dropped(), n)
		}
		st.Close()
	}
	if v := hub.viewersDropped.Load(); v != 50 {
		t.Errorf("viewers dropped: %d", v)
	}
}

// TestSlowHTTPViewer: a client that stops reading its HTTP stream is cut
// by the server; the engine side never waits.
func TestSlowHTTPViewer(t *testing.T) {
	hub := New(Options{ViewerBuffer: 64})
	srv := httptest.NewServer((&Server{Hub: hub}).Handler())
	defer srv.Close()
	defer hub.Close()
	live := hub.Attach(&dissectors.Context{Record: &record.Record{ID: "s1", Protocol: "telnet"}}, 1)
	settle(hub)
	resp := get(t, srv, PathSessions+"/s1/live", "")
	defer resp.Body.Close()
	big := []byte(strings.Repeat("y", 32<<10))
	start := time.Now()
	for i := 0; i < 2000 && hub.viewersDropped.Load() == 0; i++ {
		live(dissectors.FromServer, int64(i+2), big)
		settle(hub)
	}
	if hub.viewersDropped.Load() != 1 {
		t.Fatalf("a client that does not read was not dropped")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("feeding took %v", d)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.Trailer.Get(TrailerEnd) != EndDropped {
		t.Errorf("trailer %v after %d bytes", resp.Trailer, len(b))
	}
	// History stays bounded per session.
	hub.mu.Lock()
	hb := hub.histBytes
	hub.mu.Unlock()
	if hb > 64<<10+40<<10 {
		t.Errorf("history holds %d bytes", hb)
	}
}

// TestToken: with a token, every path wants it.
func TestToken(t *testing.T) {
	hub := New(Options{})
	srv := httptest.NewServer((&Server{Hub: hub, Token: "s3cret"}).Handler())
	defer srv.Close()
	defer hub.Close()
	for _, p := range []string{PathSessions, PathSessions + "/x", PathSessions + "/x/live", PathEvents, PathMetrics} {
		for tok, want := range map[string]int{"": 401, "wrong": 401, "s3cret": 0} {
			resp := get(t, srv, p, tok)
			resp.Body.Close()
			if want == 401 && resp.StatusCode != 401 || want == 0 && resp.StatusCode == 401 {
				t.Errorf("%s with token %q: %s", p, tok, resp.Status)
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		}
	}
}

func TestMetrics(t *testing.T) {
	hub := New(Options{})
	defer hub.Close()
	hub.Publish([]Metric{{Name: "psmtap_packets_total", Help: "Packets.", Type: "counter", Value: 42},
		{Name: "psmtap_records_by_protocol_total", Help: "By protocol.", Type: "counter", Labels: "protocol=" + LabelValue("ssh"), Value: 2},
		{Name: "psmtap_records_by_protocol_total", Help: "By protocol.", Type: "counter", Labels: "protocol=" + LabelValue("telnet"), Value: 1}})
	hub.Gather(func() []Metric {
		return []Metric{{Name: "psmtap_queue_depth", Help: "Depth.", Type: "gauge", Value: 3}}
	})
	srv := httptest.NewServer((&Server{Hub: hub}).Handler())
	defer srv.Close()
	resp := get(t, srv, PathMetrics, "")
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		"# TYPE psmtap_packets_total counter\npsmtap_packets_total 42\n",
		"psmtap_records_by_protocol_total{protocol=\"ssh\"} 2\npsmtap_records_by_protocol_total{protocol=\"telnet\"} 1\n",
		"# TYPE psmtap_queue_depth gauge\npsmtap_queue_depth 3\n",
		"psmtap_live_viewers_dropped_total 0\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if strings.Count(body, "# TYPE psmtap_records_by_protocol_total") != 1 {
		t.Errorf("TYPE repeated:\n%s", body)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
}

// TestTee: events reach the outputs only when asked; the hub sees them.
func TestTee(t *testing.T) {
	for _, pass := range []bool{false, true} {
		hub := New(Options{})
		var out []record.Document
		tee := &Tee{Hub: hub, Next: sinkFunc(func(d record.Document) { out = append(out, d) }), PassEvents: pass}
		ev := record.LoginEvent(1, "alice", record.OutcomeSuccess, "password", false)
		ev.SessionID, ev.Protocol = "s1", "ftp"
		tee.Write(ev)
		tee.Write(&record.Record{ID: "s1", Protocol: "ftp", EventType: "end"})
		settle(hub)
		if len(out) != map[bool]int{false: 1, true: 2}[pass] {
			t.Errorf("pass %v: %d documents out", pass, len(out))
		}
		if e := hub.Session("s1"); e == nil || e.Open || e.Events != 1 {
			t.Errorf("pass %v: %+v", pass, e)
		}
		hub.Close()
	}
}

// TestBounds: open sessions and history are capped.
func TestBounds(t *testing.T) {
	hub := New(Options{MaxOpen: 10, MaxFinished: 3, History: 1000, HistoryTotal: 4000})
	defer hub.Close()
	for i := 0; i < 30; i++ {
		id := string(rune('a' + i))
		live := hub.Attach(&dissectors.Context{Record: &record.Record{ID: id, Protocol: "telnet"}}, 1)
		for j := 0; j < 50; j++ {
			live(dissectors.FromServer, int64(j+2), []byte("0123456789012345678901234567890123456789"))
		}
		settle(hub)
	}
	hub.mu.Lock()
	open, n, hist := hub.nOpen, len(hub.sessions), hub.histBytes
	for _, s := range hub.sessions {
		if s.histBytes > 1000 {
			t.Errorf("session %s keeps %d bytes", s.id, s.histBytes)
		}
	}
	hub.mu.Unlock()
	if open != 10 || n > 13 || hist > 4000 {
		t.Errorf("open %d, kept %d, history %d bytes", open, n, hist)
	}
}

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr       string
		tls, token bool
		want       string // "" = refused
	}{
		{"8765", false, false, "127.0.0.1:8765"},
		{":8765", false, false, "127.0.0.1:8765"},
		{"127.0.0.1:0", false, false, "127.0.0.1:0"},
		{"[::1]:8765", false, false, "[::1]:8765"},
		{"localhost:8765", false, false, "localhost:8765"},
		{"0.0.0.0:8765", false, false, ""},
		{"0.0.0.0:8765", true, false, ""},
		{"0.0.0.0:8765", false, true, ""},
		{"192.0.2.1:8765", true, true, "192.0.2.1:8765"},
		{"[::]:8765", false, true, ""},
		{"host:", false, false, ""},
	} {
		got, err := CheckListen(c.addr, c.tls, c.token)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("%q tls=%v token=%v: %q, %v", c.addr, c.tls, c.token, got, err)
		}
	}
}

func TestSafeTerm(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text\r\n", "plain text\r\n"},
		{"\x1b[1;31mred\x1b[0m", "\x1b[1;31mred\x1b[0m"},
		{"\x1b[H\x1b[2J\x1b[10;5H\x1b[K", "\x1b[H\x1b[2J\x1b[10;5H\x1b[K"},
		{"\x1b]0;title\x07after", "after"},               // OSC: window title
		{"\x1b]52;c;ZXZpbA==\x1b\\after", "after"},       // OSC 52: clipboard
		{"\x1bP$q\"p\x1b\\after", "after"},               // DCS request
		{"a\x1b[6nb\x1b[cc\x1b[>cd\x1b[18te", "abcde"},   // reports: cursor, attributes, window
		{"\x1b[?1000h\x1b[?1004h\x1b[?2004hx", "x"},      // mouse, focus, bracketed paste
		{"\x1b[?1049h\x1b[?25l", "\x1b[?1049h\x1b[?25l"}, // alternate screen, cursor
		{"\x1b[?1049;1000h", ""},                         // a harmless mode with a harmful one
		{"\x1bcx\x1bZy", "xy"},                           // RIS, DECID
		{"\x1b(0qq\x1b(B", "\x1b(0qq\x1b(B"},             // line drawing
		{"\u009b6n\u009d0;t\u0007z", "6n0;t\az"},         // C1 CSI and OSC in UTF-8: dropped
		{"\x9b6n", "\uFFFD6n"},                           // a bare 8-bit C1 is not UTF-8
		{"h\xc3\xa9llo \xe2\x9c\x93", "h\xc3\xa9llo \xe2\x9c\x93"},
		{"\x00\x01\x05\x0e\x0f\x7fok", "ok"},
		{"\x1b[" + strings.Repeat("1;", 100) + "mX", "X"}, // too long to judge
		{"\x1b[1$pY", "Y"},                                // intermediates (DECRQM)
	} {
		var b strings.Builder
		st := NewSafeTerm(&b)
		// byte by byte: state carries across writes
		for i := 0; i < len(c.in); i++ {
			st.Write([]byte{c.in[i]})
		}
		if b.String() != c.want {
			t.Errorf("%q: got %q, want %q", c.in, b.String(), c.want)
		}
	}
	var b strings.Builder
	st := NewSafeTerm(&b)
	st.Write([]byte("\x1b[?1049h"))
	st.Close()
	if !strings.HasSuffix(b.String(), "\x1b[?1049l") {
		t.Errorf("Close leaves the alternate screen on: %q", b.String())
	}
}

// TestTerminalOf: a live stream's header takes the client's terminal type
// and window size (Telnet NAWS, rlogin's window message), and ignores sizes
// no terminal has.
func TestTerminalOf(t *testing.T) {
	for _, c := range []struct {
		obj        map[string]any
		typ        string
		cols, rows int
	}{
		{map[string]any{"terminal_type": "XTERM", "window": map[string]any{"cols": 132, "rows": 43}}, "xterm", 132, 43},
		{map[string]any{"terminal_type": "vt100", "window": map[string]any{"cols": 100000, "rows": 43}}, "vt100", 0, 0},
		{map[string]any{"window": map[string]any{"cols": 0, "rows": 24}}, "", 0, 0},
		{map[string]any{}, "", 0, 0},
	} {
		r := &record.Record{Objects: map[string]any{"telnet": c.obj}}
		typ, cols, rows := terminalOf(r)
		if typ != c.typ || cols != c.cols || rows != c.rows {
			t.Errorf("%v: got %q %dx%d, want %q %dx%d", c.obj, typ, cols, rows, c.typ, c.cols, c.rows)
		}
	}
}
