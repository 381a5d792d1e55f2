package setup

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/psmtap/psmtap/index/es"
	"github.com/psmtap/psmtap/index/spool"
)

// TestIntegrationRealCluster installs the policy and templates into the
// cluster at PSMTAP_ES_URL (a test cluster: they are cluster-wide) and checks
// that new session, activity and alert data streams get their explicit mappings.
func TestIntegrationRealCluster(t *testing.T) {
	url := os.Getenv("PSMTAP_ES_URL")
	if url == "" {
		t.Skip("PSMTAP_ES_URL not set: the real-cluster suite is skipped (the stand-in tests cover the same paths)")
	}
	cl, err := es.NewClient(es.Config{URLs: strings.Split(url, ","), Username: os.Getenv("PSMTAP_ES_USERNAME"),
		Password: os.Getenv("PSMTAP_ES_PASSWORD"), APIKey: os.Getenv("PSMTAP_ES_API_KEY"), CAFile: os.Getenv("PSMTAP_ES_CA_FILE")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Elasticsearch(context.Background(), cl, DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, want string }{
		{"logs-psmtap.session-integration", `"psmtap-session"`},
		{"logs-psmtap.activity-integration", `"psmtap-activity"`},
		{"logs-psmtap.alert-integration", `"psmtap-alert"`},
	} {
		got := simulate(t, cl, c.name)
		for _, want := range []string{`"source"`, `"type":"ip"`, c.want} {
			if !strings.Contains(got, want) {
				t.Fatalf("simulated template of %s lacks %s: %s", c.name, want, got)
			}
		}
		if strings.Contains(c.name, "alert") && !strings.Contains(got, `"flattened"`) {
			t.Fatalf("psm.alert.group is not a flattened field: %s", got)
		}
		if !strings.Contains(c.name, "session") && !strings.Contains(got, `"wildcard"`) {
			t.Fatalf("process.command_line is not a wildcard field: %s", got)
		}
	}
	// One event of each action into a data stream of its own: the real
	// cluster accepts every field with the template's types.
	ns := fmt.Sprintf("it%d", time.Now().UnixNano())
	target, alerts := es.ActivityDataStream(ns), es.AlertDataStream(ns)
	t.Cleanup(func() {
		if res, err := cl.Indices.DeleteDataStream([]string{target, alerts}); err == nil {
			res.Body.Close()
		}
	})
	sp, err := spool.Open(t.TempDir(), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sh, err := es.New(context.Background(), es.Options{Client: cl, Index: es.DataStream(ns), ActivityIndex: target, AlertIndex: alerts, Spool: sp})
	if err != nil {
		t.Fatal(err)
	}
	evs := activityEvents()
	for _, e := range evs {
		sh.Write(e)
	}
	als := testAlerts(t) // and the alerts of the built-in rules on them, and a correlation's
	for _, a := range als {
		sh.Write(a)
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	if st := sh.Stats(); st.Indexed != int64(len(evs)+len(als)) {
		t.Fatalf("events into %s: %v (dead letters in %s)", target, st, sp.Dir())
	}
}

// simulate returns the body of _index_template/_simulate_index for name.
func simulate(t *testing.T, cl *elasticsearch.Client, name string) string {
	t.Helper()
	res, err := cl.Indices.SimulateIndexTemplate(name)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		t.Fatal(res.String())
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
