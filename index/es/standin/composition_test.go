package standin

import (
	"net/http"
	"strings"
	"testing"
)

// Index templates composed as Fleet composes them: the built-in logs@*
// and ecs@mappings exist, later component templates win, an absent one is
// refused unless listed in ignore_missing_component_templates, and
// logs@settings' ignore_malformed keeps a mistyped value instead of
// refusing the document, unless a later template turns it off.
func TestTemplateComposition(t *testing.T) {
	s := New()
	url, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	put := func(path, body string) (int, map[string]any) { return do(t, http.MethodPut, url+path, body) }
	put("/_component_template/mine", `{"template":{"mappings":{"dynamic":false,"properties":{"n":{"type":"long"},"k":{"type":"keyword"}}}}}`)
	put("/_component_template/later", `{"template":{"mappings":{"properties":{"k":{"type":"long"}}}}}`)
	if st, m := put("/_index_template/missing", `{"index_patterns":["logs-m-*"],"data_stream":{},"priority":501,"composed_of":["mine","nope@custom"]}`); st != 400 || !strings.Contains(jsonText(m), "nope@custom") {
		t.Fatalf("a missing component template: %d %v", st, m)
	}
	if st, m := put("/_index_template/lenient", `{"index_patterns":["logs-l-*"],"data_stream":{},"priority":501,
		"composed_of":["logs@settings","logs@mappings","ecs@mappings","mine","later","x@custom"],"ignore_missing_component_templates":["x@custom"]}`); st != 200 {
		t.Fatalf("composed template: %d %v", st, m)
	}
	m := s.Mapping("logs-l-a")
	if m["k"] != "long" || m["n"] != "long" || m["data_stream.type"] != "constant_keyword" {
		t.Errorf("later component templates win: %v", m)
	}
	put("/_component_template/strict", `{"template":{"settings":{"index.mapping.ignore_malformed":false}}}`)
	put("/_index_template/strict", `{"index_patterns":["logs-s-*"],"data_stream":{},"priority":501,"composed_of":["logs@settings","logs@mappings","mine","strict"]}`)
	items := bulkItems(t, url, "", `{"create":{"_index":"logs-l-a"}}
{"@timestamp":"2026-01-01T00:00:00Z","n":"not a number"}
{"create":{"_index":"logs-s-a"}}
{"@timestamp":"2026-01-01T00:00:00Z","n":"not a number"}
{"create":{"_index":"logs-l-a"}}
{"@timestamp":"2026-01-01T00:00:00Z","data_stream":{"type":"metrics"}}
`)
	if len(items) != 3 || items[0]["status"].(float64) != 201 || items[1]["status"].(float64) != 400 || items[2]["status"].(float64) != 400 {
		t.Fatalf("ignore_malformed from logs@settings, off when a later template says so; data_stream.type fixed to logs by logs@mappings: %v", items)
	}
}
