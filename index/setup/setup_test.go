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
		"dashboard/psmtap-databases", "search/psmtap-latest-statements", "visualization/psmtap-queries-by-operation",
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

// TestComposedLikeFleet: the index templates are composed as Fleet composes
// an integration's (Elastic's logs@settings, logs@mappings, ecs@mappings,
// psmtap's own, then the users' optional @custom templates), and a @custom
// template added after setup reaches the next backing index without a
// change to psmtap's.
func TestComposedLikeFleet(t *testing.T) {
	_, bodies := Bodies(DefaultOptions())
	for indexT, dataset := range map[string]string{IndexTemplate: "psmtap.session", ActivityIndexTemplate: "psmtap.activity", AlertIndexTemplate: "psmtap.alert"} {
		b := bodies["/_index_template/"+indexT].(map[string]any)
		got := strings.Join(b["composed_of"].([]string), ",")
		want := "logs@settings,logs@mappings,ecs@mappings,psmtap-" + strings.TrimPrefix(dataset, "psmtap.") + "-mappings,psmtap-" +
			strings.TrimPrefix(dataset, "psmtap.") + "-settings,logs@custom,logs-psmtap@custom,logs-" + dataset + "@custom"
		if got != want {
			t.Errorf("%s composed_of %s, want %s", indexT, got, want)
		}
		if im := strings.Join(b["ignore_missing_component_templates"].([]string), ","); im != "logs@custom,logs-psmtap@custom,logs-"+dataset+"@custom" {
			t.Errorf("%s ignore_missing_component_templates %s", indexT, im)
		}
	}
	srv := standin.New()
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	cl, _ := es.NewClient(es.Config{URLs: []string{url}}, nil)
	if _, err := Elasticsearch(context.Background(), cl, DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	m := srv.Mapping(es.DataStream("default"))
	// psmtap's settings and mappings come after logs@*: its types win.
	if m["data_stream.namespace"] != "constant_keyword" || m["user.name.text"] != "match_only_text" || m["source.ip"] != "ip" {
		t.Errorf("composed mapping: %v", m)
	}
	req, _ := http.NewRequest(http.MethodPut, url+"/_component_template/logs-psmtap.session@custom",
		strings.NewReader(`{"template":{"mappings":{"properties":{"site":{"properties":{"name":{"type":"keyword"}}}}}}}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("@custom: %v %v", res, err)
	}
	res.Body.Close()
	if m := srv.Mapping(es.DataStream("default")); m["site.name"] != "keyword" {
		t.Errorf("the @custom template added after setup is not applied: %v", m["site.name"])
	}
	if m := srv.Mapping(es.ActivityDataStream("default")); m["site.name"] != "" {
		t.Errorf("the session stream's @custom template reached the activity stream")
	}
}
