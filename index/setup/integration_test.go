package setup

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/index/es"
)

// TestIntegrationRealCluster installs the policy and templates into the
// cluster at PSMTAP_ES_URL (a test cluster: they are cluster-wide) and checks
// that a new data stream gets the explicit mapping.
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
	res, err := cl.Indices.SimulateIndexTemplate("logs-psmtap.session-integration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		t.Fatal(res.String())
	}
	var buf strings.Builder
	b := make([]byte, 1<<16)
	for {
		n, err := res.Body.Read(b)
		buf.Write(b[:n])
		if err != nil {
			break
		}
	}
	for _, want := range []string{`"source"`, `"type":"ip"`, `"psmtap-session"`} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("simulated template lacks %s: %s", want, buf.String())
		}
	}
}
