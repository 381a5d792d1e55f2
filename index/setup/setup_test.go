package setup

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/index/es"
	"github.com/psmtap/psmtap/index/es/standin"
)

// Installation against the stand-in (index/es/standin: no cluster can run
// where psmtap is built), which validates templates, component references
// and ILM phases as Elasticsearch documents them.

func TestInstallAndMapping(t *testing.T) {
	srv := standin.New()
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cl, err := es.NewClient(es.Config{URLs: []string{url}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done, err := Elasticsearch(context.Background(), cl, DefaultOptions())
	if err != nil || len(done) != 17 { // the ingest pipeline; four data streams: policy, two component templates, index template each
		t.Fatalf("%v %v", done, err)
	}
	// Twice is fine (an update).
	if _, err := Elasticsearch(context.Background(), cl, DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	got := srv.Mapping(es.DataStream("default"))
	for _, f := range Fields() {
		if got[f.Name] != f.Type {
			t.Errorf("%s: %q in the data stream's mapping, want %s", f.Name, got[f.Name], f.Type)
		}
	}
	if got["psm.commands.keyword"] != "keyword" || got["psm.output_text.keyword"] != "keyword" {
		t.Errorf("text fields without a keyword sub-field: %v %v", got["psm.commands.keyword"], got["psm.output_text.keyword"])
	}
	if got["process.command_line"] != "" {
		t.Errorf("an activity field in the sessions' mapping: the templates are mixed up")
	}
	act := srv.Mapping(es.ActivityDataStream("default"))
	for _, f := range ActivityFields() {
		if act[f.Name] != f.Type {
			t.Errorf("%s: %q in the activity data stream's mapping, want %s", f.Name, act[f.Name], f.Type)
		}
	}
	if act["process.command_line.text"] != "match_only_text" || act["psm.commands"] != "" {
		t.Errorf("activity mapping: command_line.text %q, psm.commands %q", act["process.command_line.text"], act["psm.commands"])
	}
	al := srv.Mapping(es.AlertDataStream("default"))
	for _, f := range AlertFields() {
		if al[f.Name] != f.Type {
			t.Errorf("%s: %q in the alert data stream's mapping, want %s", f.Name, al[f.Name], f.Type)
		}
	}
	if al["rule.name"] != "keyword" || al["psm.commands"] != "" || act["rule.name"] != "" {
		t.Errorf("alert mapping mixed up with another: %q %q %q", al["rule.name"], al["psm.commands"], act["rule.name"])
	}
	// A bad retention is refused by the cluster and reported.
	o := DefaultOptions()
	o.Retention = "forever"
	if _, err := Elasticsearch(context.Background(), cl, o); err == nil || !strings.Contains(err.Error(), "_ilm/policy") {
		t.Fatalf("bad retention: %v", err)
	}
}

func TestKibanaImport(t *testing.T) {
	k := standin.NewKibana()
	ts := httptest.NewServer(k)
	defer ts.Close()
	res, err := Kibana(context.Background(), ts.Client(), ts.URL, KibanaAuth{})
	if err != nil {
		t.Fatal(err)
	}
	if res.SuccessCount != strings.Count(string(KibanaObjects), "\n") {
		t.Fatalf("imported %d objects", res.SuccessCount)
	}
	for _, id := range []string{"dashboard/psmtap-overview", "dashboard/psmtap-ssh", "dashboard/psmtap-rdp", "dashboard/psmtap-cleartext", "index-pattern/psmtap-sessions",
		"index-pattern/psmtap-activity", "dashboard/psmtap-commands", "search/psmtap-latest-commands", "visualization/psmtap-commands-per-user",
		"index-pattern/psmtap-alerts", "dashboard/psmtap-alerts", "search/psmtap-latest-alerts", "visualization/psmtap-alerts-by-rule"} {
		if k.Objects[id] == nil {
			t.Errorf("%s not imported", id)
		}
	}
	// Without the kbn-xsrf header Kibana refuses; setup always sends it.
	res2, _ := http.Post(ts.URL+"/api/saved_objects/_import", "multipart/form-data; boundary=x", strings.NewReader(""))
	if res2.StatusCode != 400 {
		t.Fatalf("stand-in accepted an import without kbn-xsrf: %s", res2.Status)
	}
}
