package standin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func bulkItems(t *testing.T, url, query, body string) []map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/_bulk"+query, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m struct {
		Items []map[string]map[string]any `json:"items"`
	}
	json.NewDecoder(res.Body).Decode(&m)
	var out []map[string]any
	for _, it := range m.Items {
		for _, v := range it {
			out = append(out, v)
		}
	}
	return out
}

// Ingest pipelines and constant_keyword, as psmtap setup uses them.
func TestDefaultPipelineAndConstantKeyword(t *testing.T) {
	s := New()
	url, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	// A processor type Elasticsearch does not have is refused when stored.
	if st, m := do(t, http.MethodPut, url+"/_ingest/pipeline/bad", `{"processors":[{"no_such":{}}]}`); st != 400 || !strings.Contains(jsonText(m), "No processor type exists with name [no_such]") {
		t.Fatalf("unknown processor: %d %v", st, m)
	}
	if st, m := do(t, http.MethodPut, url+"/_ingest/pipeline/ing", `{"processors":[{"set":{"field":"event.ingested","value":"{{{_ingest.timestamp}}}"}}]}`); st != 200 {
		t.Fatalf("pipeline: %d %v", st, m)
	}
	if st, _ := do(t, http.MethodGet, url+"/_ingest/pipeline/ing", ""); st != 200 {
		t.Fatalf("GET pipeline: %d", st)
	}
	do(t, http.MethodPut, url+"/_component_template/m", `{"template":{"mappings":{"dynamic":false,"properties":{
		"event":{"properties":{"ingested":{"type":"date"},"id":{"type":"keyword"}}},
		"data_stream":{"properties":{"namespace":{"type":"constant_keyword"},"type":{"type":"constant_keyword","value":"logs"}}}}}}}`)
	do(t, http.MethodPut, url+"/_component_template/s", `{"template":{"settings":{"index.default_pipeline":"ing"}}}`)
	if st, m := do(t, http.MethodPut, url+"/_index_template/t", `{"index_patterns":["logs-x-*"],"data_stream":{},"priority":501,"composed_of":["m","s"]}`); st != 200 {
		t.Fatalf("template: %d %v", st, m)
	}
	before := time.Now().Add(-time.Second)
	items := bulkItems(t, url, "", `{"create":{"_index":"logs-x-a","_id":"1"}}
{"@timestamp":"2026-01-01T00:00:00Z","event":{"id":"1"},"data_stream":{"type":"logs","namespace":"a"}}
{"create":{"_index":"logs-x-a","_id":"2"}}
{"@timestamp":"2026-01-01T00:00:00Z","data_stream":{"type":"logs","namespace":"b"}}
{"create":{"_index":"logs-x-a","_id":"3"}}
{"@timestamp":"2026-01-01T00:00:00Z","data_stream":{"type":"metrics","namespace":"a"}}
{"create":{"_index":"logs-x-a","_id":"4","pipeline":"_none"}}
{"@timestamp":"2026-01-01T00:00:00Z","data_stream":{"type":"logs","namespace":"a"}}
{"create":{"_index":"logs-x-a","_id":"5","pipeline":"missing"}}
{"@timestamp":"2026-01-01T00:00:00Z"}
`)
	want := []float64{201, 400, 400, 201, 400}
	for i, it := range items {
		if it["status"].(float64) != want[i] {
			t.Errorf("item %d: %v, want status %v", i+1, it, want[i])
		}
	}
	if len(items) != 5 {
		t.Fatalf("%d items", len(items))
	}
	// The first document's namespace became the field's value; the one
	// set in the mapping holds from the start.
	if !strings.Contains(jsonText(items[1]), "only accepts values that are equal to the value defined in the mappings [a]") ||
		!strings.Contains(jsonText(items[2]), "[logs], but got [metrics]") || !strings.Contains(jsonText(items[4]), "pipeline with id [missing] does not exist") {
		t.Errorf("errors: %v", items)
	}
	docs := s.Docs("logs-x-a")
	var d1 struct {
		Event struct {
			ID       string    `json:"id"`
			Ingested time.Time `json:"ingested"`
		} `json:"event"`
	}
	var one, four string
	for k, v := range docs {
		switch {
		case strings.HasSuffix(k, "/1"):
			one = string(v)
		case strings.HasSuffix(k, "/4"):
			four = string(v)
		}
	}
	if err := json.Unmarshal([]byte(one), &d1); err != nil || d1.Event.Ingested.Before(before) || d1.Event.ID != "1" {
		t.Errorf("the default pipeline did not set event.ingested: %s", one)
	}
	// Members keep their order, the new one goes last in its object.
	if !strings.HasPrefix(one, `{"@timestamp":"2026-01-01T00:00:00Z","event":{"id":"1","ingested":"`) {
		t.Errorf("source as the pipeline left it: %s", one)
	}
	if four != `{"@timestamp":"2026-01-01T00:00:00Z","data_stream":{"type":"logs","namespace":"a"}}` {
		t.Errorf("pipeline=_none changed the source: %s", four)
	}
	// The request's pipeline parameter does the same as the action's.
	items = bulkItems(t, url, "?pipeline=_none", `{"create":{"_index":"logs-x-a","_id":"6"}}
{"@timestamp":"2026-01-01T00:00:00Z"}
`)
	if len(items) != 1 || items[0]["status"].(float64) != 201 {
		t.Fatalf("%v", items)
	}
	for k, v := range s.Docs("logs-x-a") {
		if strings.HasSuffix(k, "/6") && strings.Contains(string(v), "ingested") {
			t.Errorf("?pipeline=_none ran the default pipeline: %s", v)
		}
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
