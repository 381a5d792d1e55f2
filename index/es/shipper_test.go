package es

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/psmtap/psmtap/index/es/standin"
	"github.com/psmtap/psmtap/index/spool"
	"github.com/psmtap/psmtap/internal/record"
)

// These tests run against the stand-in (index/es/standin) because no
// Elasticsearch can run where psmtap is built; integration_test.go runs the
// shipping scenarios against a real cluster when PSMTAP_ES_URL is set.

const ds = "logs-psmtap.session-default"

func rec(i int) *record.Record {
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	ok := i%3 != 0
	return &record.Record{
		ID: fmt.Sprintf("sess-%07d", i), Start: t0, End: t0.Add(5 * time.Second), EventType: "end",
		Client:      netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i % 250)}), uint16(40000+i%20000)),
		Server:      netip.MustParseAddrPort("192.0.2.20:22"),
		ClientBytes: 100, ClientPkts: 3, ServerBytes: 200, ServerPkts: 4, Transport: "tcp", Protocol: "ssh",
		CommunityID: "1:abc=", Observer: "sensor-1", Interface: "eth1", UserName: fmt.Sprintf("user%d", i%7),
		State: record.StateClosed, Login: &record.Login{Success: &ok, Attempts: 1},
	}
}

type harness struct {
	t       testing.TB
	srv     *standin.Server
	url     string
	spoolDr string
	logs    *strings.Builder
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	srv := standin.New()
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return &harness{t: t, srv: srv, url: url, spoolDr: t.TempDir(), logs: &strings.Builder{}}
}

type syncWriter struct {
	mu chan struct{}
	b  *strings.Builder
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu <- struct{}{}
	defer func() { <-w.mu }()
	return w.b.Write(p)
}

func (h *harness) shipper(mod func(*Config, *Options)) (*Shipper, *spool.Spool) {
	h.t.Helper()
	cfg := Config{URLs: []string{h.url}, Timeout: 2 * time.Second, MaxRetries: 2}
	sp, err := spool.Open(h.spoolDr, spool.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	retried := new(atomic.Int64)
	opt := Options{Index: ds, Spool: sp, Retried: retried, FlushBytes: 256 << 10, FlushInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(syncWriter{make(chan struct{}, 1), h.logs}, nil))}
	if mod != nil {
		mod(&cfg, &opt)
	}
	cl, err := NewClient(cfg, retried)
	if err != nil {
		h.t.Fatal(err)
	}
	opt.Client = cl
	s, err := New(context.Background(), opt)
	if err != nil {
		h.t.Fatal(err)
	}
	return s, sp
}

func write(t testing.TB, s *Shipper, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Write(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// exactlyOnce checks that records [0,n) are each in the data stream once.
func (h *harness) exactlyOnce(n int) {
	h.t.Helper()
	docs := h.srv.Docs(ds)
	seen := map[string]int{}
	for _, b := range docs {
		var d struct {
			Event struct{ ID string } `json:"event"`
		}
		json.Unmarshal(b, &d)
		seen[d.Event.ID]++
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("sess-%07d", i)
		if seen[id] != 1 {
			h.t.Fatalf("record %s stored %d times (of %d docs)", id, seen[id], len(docs))
		}
	}
	if len(docs) != n {
		h.t.Fatalf("%d documents, want %d", len(docs), n)
	}
}

func TestShipCreatesOnceWithEventID(t *testing.T) {
	h := newHarness(t)
	s, sp := h.shipper(nil)
	write(t, s, 0, 1000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	st := s.Stats()
	if st.Indexed != 1000 || st.Spooled != 0 || st.DeadLettered != 0 {
		t.Fatalf("stats %v", st)
	}
	h.exactlyOnce(1000)
	for k := range h.srv.Docs(ds) {
		if !strings.HasPrefix(k, ".ds-"+ds+"-") || !strings.Contains(k, "/sess-") {
			t.Fatalf("document %s: not in a backing index of the data stream under its event.id", k)
		}
	}
	// The same records again (a second read of the same capture): 409s, no copies.
	s, sp = h.shipper(nil)
	write(t, s, 0, 1000)
	s.Close()
	sp.Close()
	if st := s.Stats(); st.Duplicates != 1000 || st.Indexed != 0 {
		t.Fatalf("second run stats %v", st)
	}
	h.exactlyOnce(1000)
}

func TestInterimRecordsKeptBesideFinal(t *testing.T) {
	h := newHarness(t)
	s, sp := h.shipper(nil)
	r := rec(1)
	r.EventType = "start"
	s.Write(r)
	r2 := rec(1)
	r2.EventType = "info"
	r2.End = r2.End.Add(time.Minute)
	s.Write(r2)
	s.Write(r2) // the same snapshot twice: one document
	s.Write(rec(1))
	s.Close()
	sp.Close()
	if n := h.srv.Count(ds); n != 3 {
		t.Fatalf("%d documents, want start + info + end", n)
	}
}

func TestClusterDownEverythingSpooledThenSentFirst(t *testing.T) {
	h := newHarness(t)
	h.srv.Stop()
	s, sp := h.shipper(nil)
	write(t, s, 0, 500)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Spooled != 500 || st.Waiting != 500 || st.Indexed != 0 || st.Retried == 0 {
		t.Fatalf("stats %v", st)
	}
	sp.Close()
	if _, err := h.srv.Start(); err != nil {
		t.Fatal(err)
	}
	s, sp = h.shipper(nil) // a later run: the spool goes first
	write(t, s, 500, 500)
	s.Close()
	sp.Close()
	if st := s.Stats(); st.FromSpool != 500 || st.Waiting != 0 {
		t.Fatalf("stats %v", st)
	}
	h.exactlyOnce(1000)
}

func TestItemRejections429Retried(t *testing.T) {
	h := newHarness(t)
	h.srv.RejectEvery(7)
	s, sp := h.shipper(nil)
	write(t, s, 0, 2000)
	h.srv.RejectEvery(0)
	s.Close()
	sp.Close()
	st := s.Stats()
	if st.Spooled == 0 || st.FromSpool != st.Spooled || st.Waiting != 0 {
		t.Fatalf("stats %v", st)
	}
	h.exactlyOnce(2000)
}

func TestWholeRequestFailures(t *testing.T) {
	for _, status := range []int{429, 500, 503} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			h := newHarness(t)
			h.srv.FailRequests(2, status) // within the client's retries (429/503) or not (500)
			s, sp := h.shipper(nil)
			write(t, s, 0, 300)
			s.Close()
			sp.Close()
			st := s.Stats()
			if st.Indexed+st.FromSpool < 300 && st.Waiting == 0 {
				t.Fatalf("stats %v", st)
			}
			if status != 500 && st.Retried == 0 {
				t.Fatalf("no retry counted: %v", st)
			}
			s, sp = h.shipper(nil) // what waits goes first in the next run
			s.Close()
			sp.Close()
			h.exactlyOnce(300)
		})
	}
}

func TestKilledMidBulkNoLossNoDuplicate(t *testing.T) {
	h := newHarness(t)
	h.srv.KillMidBulk(3)
	s, sp := h.shipper(nil)
	write(t, s, 0, 3000)
	s.Close()
	sp.Close()
	st := s.Stats()
	if st.Duplicates == 0 {
		t.Fatalf("the half applied before the kill should come back as 409s: %v", st)
	}
	h.exactlyOnce(3000)
}

func TestSlowClusterSpools(t *testing.T) {
	h := newHarness(t)
	h.srv.Delay(700 * time.Millisecond)
	s, sp := h.shipper(func(c *Config, o *Options) { c.Timeout = 200 * time.Millisecond; c.MaxRetries = 1 })
	write(t, s, 0, 100)
	s.Close()
	sp.Close()
	if st := s.Stats(); st.Waiting != 100-st.Indexed-st.Duplicates {
		t.Fatalf("stats %v", st)
	}
	h.srv.Delay(0)
	s, sp = h.shipper(nil)
	s.Close()
	sp.Close()
	h.exactlyOnce(100)
}

func TestMappingErrorDeadLettered(t *testing.T) {
	h := newHarness(t)
	// An index template that maps user.name as long: every record with a user
	// is refused with 400 document_parsing_exception.
	put(t, h.url+"/_index_template/bad", `{"index_patterns":["logs-psmtap.session-*"],"priority":600,"data_stream":{},
		"template":{"mappings":{"properties":{"user":{"properties":{"name":{"type":"long"}}}}}}}`)
	s, sp := h.shipper(nil)
	write(t, s, 0, 10)
	s.Close()
	sp.Close()
	if st := s.Stats(); st.DeadLettered != 10 || st.Waiting != 0 {
		t.Fatalf("stats %v", st)
	}
	f, err := os.Open(filepath.Join(h.spoolDr, "dead-letter.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var dl struct {
			Status int
			Error  struct{ Type, Reason string }
			ID     string         `json:"_id"`
			Doc    map[string]any `json:"document"`
		}
		if err := json.Unmarshal(sc.Bytes(), &dl); err != nil {
			t.Fatal(err)
		}
		if dl.Status != 400 || dl.Error.Type != "document_parsing_exception" || !strings.Contains(dl.Error.Reason, "user.name") || dl.Doc["event"] == nil {
			t.Fatalf("dead letter %s", sc.Text())
		}
		n++
	}
	if n != 10 {
		t.Fatalf("%d dead letters", n)
	}
}

func TestSpoolFullSaysRecordsLost(t *testing.T) {
	h := newHarness(t)
	h.srv.Stop()
	sp, _ := spool.Open(h.spoolDr, spool.Options{MaxBytes: 4 << 10})
	cl, _ := NewClient(Config{URLs: []string{h.url}, MaxRetries: 0}, nil)
	s, err := New(context.Background(), Options{Client: cl, Index: ds, Spool: sp, FlushInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(syncWriter{make(chan struct{}, 1), h.logs}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, 0, 400)
	err = s.Close()
	sp.Close()
	st := s.Stats()
	if err == nil || st.Dropped == 0 || st.Spooled+st.Dropped != 400 {
		t.Fatalf("err %v stats %v", err, st)
	}
	if !strings.Contains(h.logs.String(), "SPOOL FULL") {
		t.Fatal("no loud warning")
	}
	if ss, _ := spool.Stat(h.spoolDr); ss.Docs != int(st.Spooled) {
		t.Fatalf("spool holds %d, acknowledged %d", ss.Docs, st.Spooled)
	}
}

func put(t *testing.T, url, body string) {
	t.Helper()
	req, _ := newReq("PUT", url, body)
	res, err := defaultHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("PUT %s: %s", url, res.Status)
	}
}

// ev is the n-th activity event of session rec(i).
func ev(i, n int) *record.Event {
	r := rec(i)
	e := record.CommandEvent(r.Start.Add(time.Duration(n)*time.Millisecond).UnixNano(), fmt.Sprintf("cmd %d", n))
	e.SessionID, e.Sequence, e.ID = r.ID, n, record.EventID(r.ID, n)
	e.Client, e.Server, e.Transport, e.Protocol, e.UserName = r.Client, r.Server, "tcp", "telnet", r.UserName
	return e
}

// TestEventsGoToTheActivityStream: records and events written through one
// shipper land in their own data streams, each once under its DocID, and a
// second run of the same documents stores nothing twice.
func TestEventsGoToTheActivityStream(t *testing.T) {
	h := newHarness(t)
	const act = "logs-psmtap.activity-default"
	run := func() Stats {
		s, sp := h.shipper(func(_ *Config, o *Options) { o.ActivityIndex = ActivityDataStream("default") })
		defer sp.Close()
		for i := 0; i < 50; i++ {
			for n := 1; n <= 3; n++ {
				if err := s.Write(ev(i, n)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Write(rec(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return s.Stats()
	}
	if st := run(); st.Indexed != 200 || st.DeadLettered != 0 {
		t.Fatalf("stats %v", st)
	}
	h.exactlyOnce(50)
	docs := h.srv.Docs(act)
	if len(docs) != 150 {
		t.Fatalf("%d documents in %s, want 150", len(docs), act)
	}
	for k, b := range docs {
		var d struct {
			Event struct{ ID, Dataset string }
		}
		json.Unmarshal(b, &d)
		if !strings.HasPrefix(k, ".ds-"+act+"-") || !strings.HasSuffix(k, "/"+d.Event.ID) || d.Event.Dataset != record.DatasetActivity {
			t.Fatalf("document %s (event.id %s, dataset %s)", k, d.Event.ID, d.Event.Dataset)
		}
	}
	if st := run(); st.Duplicates != 200 || st.Indexed != 0 {
		t.Fatalf("second run: %v", st)
	}
	if h.srv.Count(act) != 150 {
		t.Fatalf("%d events after the second run", h.srv.Count(act))
	}
}

// TestEventsWithoutActivityIndex: a shipper given no ActivityIndex (an
// embedder that predates events) keeps everything in Index.
func TestEventsWithoutActivityIndex(t *testing.T) {
	h := newHarness(t)
	s, sp := h.shipper(nil)
	s.Write(ev(1, 1))
	s.Write(rec(1))
	s.Close()
	sp.Close()
	if h.srv.Count(ds) != 2 || h.srv.Count("logs-psmtap.activity-*") != 0 {
		t.Fatalf("%d in %s, %d in activity", h.srv.Count(ds), ds, h.srv.Count("logs-psmtap.activity-*"))
	}
}

// Spool (the output queue's overflow) puts documents on disk without asking
// the cluster; the periodic drain delivers them, each once, next to those
// written normally.
func TestSpoolDirectThenDrained(t *testing.T) {
	h := newHarness(t)
	s, sp := h.shipper(func(_ *Config, o *Options) { o.DrainEvery = 50 * time.Millisecond })
	write(t, s, 0, 10)
	var docs []record.Document
	for i := 10; i < 30; i++ {
		docs = append(docs, rec(i))
	}
	if err := s.Spool(docs); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Spooled != 20 {
		t.Fatalf("spooled %d, want 20", st.Spooled)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sp.Pending() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := sp.Pending(); n > 0 {
		t.Fatalf("%d documents still in the spool after the drain interval", n)
	}
	s.Close()
	sp.Close()
	h.exactlyOnce(30)
	if st := s.Stats(); st.FromSpool != 20 {
		t.Fatalf("stats %v", st)
	}
}

// TestAlertsGoToTheAlertStream: alerts land in their own data stream under
// their event.id, whether written or spooled first (the live overflow path),
// apart from the records and events of the same shipper.
func TestAlertsGoToTheAlertStream(t *testing.T) {
	h := newHarness(t)
	const al = "logs-psmtap.alert-default"
	s, sp := h.shipper(func(_ *Config, o *Options) {
		o.ActivityIndex, o.AlertIndex = ActivityDataStream("default"), AlertDataStream("default")
	})
	alert := func(i int) *record.Alert {
		return &record.Alert{ID: fmt.Sprintf("alert-%d", i), Time: time.Date(2026, 11, 26, 0, 0, i, 0, time.UTC),
			RuleName: "Shadow file read", RuleLevel: "high", Severity: 73, SessionIDs: []string{rec(i).ID}}
	}
	for i := 0; i < 10; i++ {
		s.Write(rec(i))
		s.Write(ev(i, 1))
		s.Write(alert(i))
	}
	if err := s.Spool([]record.Document{alert(10), alert(11)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DrainSpool(context.Background()); n != 2 || err != nil {
		t.Fatalf("drain: %d %v", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	if h.srv.Count(ds) != 10 || h.srv.Count("logs-psmtap.activity-default") != 10 || h.srv.Count(al) != 12 {
		t.Fatalf("sessions %d, events %d, alerts %d", h.srv.Count(ds), h.srv.Count("logs-psmtap.activity-default"), h.srv.Count(al))
	}
	for k, b := range h.srv.Docs(al) {
		var d struct {
			Event struct{ ID, Dataset, Kind string }
		}
		json.Unmarshal(b, &d)
		if !strings.HasPrefix(k, ".ds-"+al+"-") || !strings.HasSuffix(k, "/"+d.Event.ID) || d.Event.Dataset != record.DatasetAlert || d.Event.Kind != "alert" {
			t.Fatalf("document %s: %s", k, b)
		}
	}
}
