package alertout

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/record"
)

func testAlert(i int) *record.Alert {
	return &record.Alert{ID: fmt.Sprintf("a-%03d", i), Time: time.Date(2026, 11, 26, 0, 0, 0, i*1e6, time.UTC),
		RuleID: "r1", RuleName: "Shadow file read", RuleLevel: "high", Severity: 73,
		Message: fmt.Sprintf("Shadow file read: alice on 192.0.2.20 (telnet) #%d", i), SessionIDs: []string{"s1"}}
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// receiver is a webhook receiver that can be made to fail: it answers 503
// while down, and records the alert ids it took (2xx), in order.
type receiver struct {
	mu       sync.Mutex
	down     bool
	reject   map[string]bool // ids answered 400
	got      []string
	attempts int
	headers  http.Header
	hold     chan struct{} // when set, each request waits on it
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc.hold != nil {
		<-rc.hold
	}
	b, _ := io.ReadAll(r.Body)
	var d struct {
		Event struct{ ID, Kind string }
	}
	if err := json.Unmarshal(b, &d); err != nil || d.Event.Kind != "alert" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "not an alert", 400)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	rc.headers = r.Header.Clone()
	if r.Header.Get("Idempotency-Key") != d.Event.ID {
		http.Error(w, "no idempotency key", 400)
		return
	}
	if rc.down {
		http.Error(w, "down for maintenance", 503)
		return
	}
	if rc.reject[d.Event.ID] {
		http.Error(w, "schema says no", 400)
		return
	}
	rc.got = append(rc.got, d.Event.ID)
	w.WriteHeader(202)
}

func (rc *receiver) setDown(v bool) {
	rc.mu.Lock()
	rc.down = v
	rc.mu.Unlock()
}

func (rc *receiver) ids() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.got...)
}

func fastOptions(t *testing.T, url string) WebhookOptions {
	return WebhookOptions{URL: url, SpoolDir: filepath.Join(t.TempDir(), "spool"), Attempts: 3,
		Backoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond, Timeout: 2 * time.Second,
		CloseTimeout: 2 * time.Second, Logger: testLog(t)}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// exactlyInOrder: got is want, each once, in order.
func exactlyInOrder(t *testing.T, got []string, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("the receiver took %d alerts, want %d: %v", len(got), n, got)
	}
	for i, id := range got {
		if want := testAlert(i).ID; id != want {
			t.Fatalf("alert %d is %s, want %s (order or duplicates): %v", i, id, want, got)
		}
	}
}

// TestWebhookFailsThenRecovers: the receiver answers 503 for a while in
// the middle of a run; the alerts of that while wait in the spool, and every
// alert arrives exactly once, in the order raised.
func TestWebhookFailsThenRecovers(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	w, err := NewWebhook(fastOptions(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	outs := New(testLog(t), w)
	for i := 0; i < 10; i++ {
		outs.OnAlert(testAlert(i))
	}
	waitFor(t, "the first ten", func() bool { return w.Stats().Sent == 10 })
	rc.setDown(true)
	for i := 10; i < 25; i++ {
		outs.OnAlert(testAlert(i))
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, "alerts in the spool", func() bool { return w.Stats().Spooled >= 10 })
	time.Sleep(150 * time.Millisecond) // a few spool retries against the down receiver
	rc.setDown(false)
	for i := 25; i < 40; i++ {
		outs.OnAlert(testAlert(i))
	}
	waitFor(t, "every alert", func() bool { return w.Stats().Sent == 40 })
	if err := outs.Close(); err != nil {
		t.Fatal(err)
	}
	exactlyInOrder(t, rc.ids(), 40)
	st := w.Stats()
	if st.Spooled < 15 || st.FromSpool != st.Spooled || st.Retried < 3 || st.Dropped != 0 || st.Rejected != 0 || st.Waiting != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestWebhookSpoolAcrossRuns: the receiver is not there at all; at Close
// the alerts stay in the spool, and the next run (same spool) sends them
// first, then its own: each once, in order.
func TestWebhookSpoolAcrossRuns(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // connection refused from now on
	opt := fastOptions(t, "http://"+addr+"/hook/SECRET")
	opt.CloseTimeout = 300 * time.Millisecond
	w, err := NewWebhook(opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		New(nil, w).OnAlert(testAlert(i))
	}
	start := time.Now()
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Close took %s with the receiver away", took)
	}
	if st := w.Stats(); st.Waiting != 5 || st.Sent != 0 || st.Dropped != 0 {
		t.Fatalf("after the first run: %+v", st)
	}
	if strings.Contains(w.name(), "SECRET") {
		t.Fatalf("the URL's path shows in logs: %s", w.name())
	}

	rc := &receiver{}
	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := httptest.NewUnstartedServer(rc)
	srv.Listener.Close()
	srv.Listener = l2
	srv.Start()
	defer srv.Close()
	w2, err := NewWebhook(opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := 5; i < 8; i++ {
		New(nil, w2).OnAlert(testAlert(i))
	}
	waitFor(t, "all eight", func() bool { return w2.Stats().Sent == 8 })
	if err := w2.close(); err != nil {
		t.Fatal(err)
	}
	exactlyInOrder(t, rc.ids(), 8)
	if st := w2.Stats(); st.FromSpool != 5 || st.Waiting != 0 {
		t.Fatalf("second run: %+v", st)
	}
}

// TestWebhookNeverBlocks: a receiver that hangs fills the queue; OnAlert
// returns at once all the same, and what does not fit is dropped, counted,
// and reported by Close.
func TestWebhookNeverBlocks(t *testing.T) {
	rc := &receiver{hold: make(chan struct{})}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	opt := fastOptions(t, srv.URL)
	opt.Queue = 4
	w, err := NewWebhook(opt)
	if err != nil {
		t.Fatal(err)
	}
	outs := New(testLog(t), w)
	start := time.Now()
	for i := 0; i < 50; i++ {
		outs.OnAlert(testAlert(i))
	}
	if took := time.Since(start); took > 200*time.Millisecond {
		t.Fatalf("50 alerts to a hanging receiver took %s: the output goroutine waited", took)
	}
	if d := w.Stats().Dropped; d < 45-1 || d > 46 {
		t.Fatalf("dropped %d of 50 with a queue of 4", d)
	}
	close(rc.hold)
	err = outs.Close()
	if err == nil || !strings.Contains(err.Error(), "alerts lost") {
		t.Fatalf("Close: %v", err)
	}
	if got := len(rc.ids()); int64(got) != 50-w.Stats().Dropped {
		t.Fatalf("received %d, dropped %d", got, w.Stats().Dropped)
	}
}

// TestWebhookRejected: an alert the receiver refuses for good (400) is not
// retried: it goes to the dead-letter file, and the others go on.
func TestWebhookRejected(t *testing.T) {
	rc := &receiver{reject: map[string]bool{"a-002": true}}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	opt := fastOptions(t, srv.URL)
	w, err := NewWebhook(opt)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		New(nil, w).OnAlert(testAlert(i))
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Sent != 4 || st.Rejected != 1 || st.Retried != 0 {
		t.Fatalf("stats %+v", st)
	}
	if rc.attempts != 5 {
		t.Fatalf("%d POSTs for 5 alerts", rc.attempts)
	}
	b, err := os.ReadFile(filepath.Join(opt.SpoolDir, "dead-letter.ndjson"))
	if err != nil || !strings.Contains(string(b), `"id":"a-002"`) || !strings.Contains(string(b), "schema says no") {
		t.Fatalf("dead letter: %s %v", b, err)
	}
}

// TestWebhookTLSAndHeaders: the server certificate is verified (a
// self-signed one is not trusted unless its CA is given), and the headers
// of a header file go with every request.
func TestWebhookTLSAndHeaders(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewTLSServer(rc)
	defer srv.Close()
	opt := fastOptions(t, srv.URL)
	opt.Attempts, opt.CloseTimeout = 1, 300*time.Millisecond
	w, err := NewWebhook(opt)
	if err != nil {
		t.Fatal(err)
	}
	New(nil, w).OnAlert(testAlert(0))
	w.close()
	if st := w.Stats(); st.Sent != 0 || st.Waiting != 1 || len(rc.ids()) != 0 {
		t.Fatalf("an unverified certificate was accepted: %+v", st)
	}

	hf := filepath.Join(t.TempDir(), "headers")
	os.WriteFile(hf, []byte("# the receiver's token\nAuthorization: Bearer s3cr3t\n\nX-Sensor: sensor-1\n"), 0o600)
	h, err := ReadHeaderFile(hf)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	opt.TLS, opt.Header = &tls.Config{RootCAs: pool}, h
	w2, err := NewWebhook(opt) // same spool: the first alert goes first
	if err != nil {
		t.Fatal(err)
	}
	New(nil, w2).OnAlert(testAlert(1))
	waitFor(t, "both alerts", func() bool { return w2.Stats().Sent == 2 })
	w2.close()
	exactlyInOrder(t, rc.ids(), 2)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.headers.Get("Authorization") != "Bearer s3cr3t" || rc.headers.Get("X-Sensor") != "sensor-1" || rc.headers.Get("Idempotency-Key") != "a-001" {
		t.Fatalf("headers: %v", rc.headers)
	}

	for _, bad := range []string{"Authorization Bearer x\n", "\n# nothing\n", "Bad Name: x\n"} {
		os.WriteFile(hf, []byte(bad), 0o600)
		if _, err := ReadHeaderFile(hf); err == nil {
			t.Errorf("header file %q accepted", bad)
		} else if strings.Contains(err.Error(), "Bearer") {
			t.Errorf("the error shows the line: %v", err)
		}
	}
}

func TestWebhookBadURL(t *testing.T) {
	for _, u := range []string{"ftp://x/y", "localhost:8080/hook", "http://"} {
		if _, err := NewWebhook(WebhookOptions{URL: u, SpoolDir: t.TempDir()}); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
}
