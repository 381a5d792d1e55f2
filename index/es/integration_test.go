package es

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/psmtap/psmtap/index/spool"
)

// TestIntegrationRealCluster runs the shipping scenarios against a real
// Elasticsearch when PSMTAP_ES_URL is set (README, "Elasticsearch", says how
// to start one in a container). Credentials: PSMTAP_ES_USERNAME and
// PSMTAP_ES_PASSWORD, or PSMTAP_ES_API_KEY; PSMTAP_ES_CA_FILE for TLS.
// It writes to its own namespace (logs-psmtap.session-it<time> and
// logs-psmtap.activity-it<time> for events) and deletes those data streams at
// the end. The templates are installed by the setup
// package's own integration test; here the built-in logs template applies
// when they are absent.
func TestIntegrationRealCluster(t *testing.T) {
	url := os.Getenv("PSMTAP_ES_URL")
	if url == "" {
		t.Skip("PSMTAP_ES_URL not set: the real-cluster suite is skipped (the stand-in tests cover the same paths)")
	}
	cfg := Config{URLs: strings.Split(url, ","), Username: os.Getenv("PSMTAP_ES_USERNAME"), Password: os.Getenv("PSMTAP_ES_PASSWORD"),
		APIKey: os.Getenv("PSMTAP_ES_API_KEY"), CAFile: os.Getenv("PSMTAP_ES_CA_FILE"), MaxRetries: 3, Timeout: 30 * time.Second}
	retried := new(atomic.Int64)
	cl, err := NewClient(cfg, retried)
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("it%d", time.Now().UnixNano())
	target, activity := DataStream(ns), ActivityDataStream(ns)
	t.Cleanup(func() {
		for _, ds := range []string{target, activity} {
			req, _ := http.NewRequest(http.MethodDelete, "/_data_stream/"+ds, nil)
			if res, err := cl.Perform(req); err == nil {
				res.Body.Close()
			}
		}
	})
	ship := func(from, n int) Stats {
		sp, err := spool.Open(t.TempDir(), spool.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		s, err := New(context.Background(), Options{Client: cl, Index: target, Spool: sp, Retried: retried,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			t.Fatal(err)
		}
		write(t, s, from, n)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return s.Stats()
	}
	count := func(target string) string {
		cl.Indices.Refresh(cl.Indices.Refresh.WithIndex(target))
		res, err := cl.Count(cl.Count.WithIndex(target))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	if st := ship(0, 2000); st.Indexed != 2000 || st.Waiting != 0 {
		t.Fatalf("first run: %v", st)
	}
	if st := ship(0, 2000); st.Duplicates != 2000 || st.Indexed != 0 {
		t.Fatalf("second run of the same records: %v", st)
	}
	if c := count(target); !strings.Contains(c, `"count":2000`) {
		t.Fatalf("count: %s", c)
	}

	// Activity events go to their own data stream, once each.
	events := func() Stats {
		sp, err := spool.Open(t.TempDir(), spool.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		s, err := New(context.Background(), Options{Client: cl, Index: target, ActivityIndex: activity, Spool: sp, Retried: retried,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			for n := 1; n <= 3; n++ {
				s.Write(ev(i, n))
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return s.Stats()
	}
	if st := events(); st.Indexed != 300 || st.Waiting != 0 {
		t.Fatalf("events: %v", st)
	}
	if st := events(); st.Duplicates != 300 {
		t.Fatalf("events again: %v", st)
	}
	if c := count(activity); !strings.Contains(c, `"count":300`) {
		t.Fatalf("activity count: %s", c)
	}
	if c := count(target); !strings.Contains(c, `"count":2000`) {
		t.Fatalf("events reached the session stream: %s", c)
	}
}
