package standin

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Behaviour of the stand-in that psmtap's tests rely on, each as the
// Elasticsearch reference documents it.

func do(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return res.StatusCode, m
}

func hits(t *testing.T, url, index, query string) int {
	t.Helper()
	st, m := do(t, http.MethodPost, url+"/"+index+"/_search", `{"query":`+query+`}`)
	if st != 200 {
		t.Fatalf("search %s: %d %v", query, st, m)
	}
	return int(m["hits"].(map[string]any)["total"].(map[string]any)["value"].(float64))
}

func TestTwoTemplatesAndTheirQueries(t *testing.T) {
	s := New()
	url, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	put := func(path, body string) {
		if st, m := do(t, http.MethodPut, url+path, body); st != 200 {
			t.Fatalf("PUT %s: %d %v", path, st, m)
		}
	}
	put("/_component_template/sess", `{"template":{"mappings":{"dynamic":false,"properties":{"user":{"properties":{"name":{"type":"keyword"}}},"psm":{"properties":{"commands":{"type":"text","fields":{"keyword":{"type":"keyword"}}}}}}}}}`)
	put("/_component_template/act", `{"template":{"mappings":{"dynamic":false,"properties":{"user":{"properties":{"name":{"type":"keyword"}}},"process":{"properties":{"command_line":{"type":"wildcard","fields":{"text":{"type":"match_only_text"}}}}}}}}}`)
	put("/_index_template/sess", `{"index_patterns":["logs-psmtap.session-*"],"data_stream":{},"priority":501,"composed_of":["sess"]}`)
	// A second template at the same priority: the patterns do not overlap.
	put("/_index_template/act", `{"index_patterns":["logs-psmtap.activity-*"],"data_stream":{},"priority":501,"composed_of":["act"]}`)
	// One that overlaps at the same priority is refused.
	if st, _ := do(t, http.MethodPut, url+"/_index_template/clash", `{"index_patterns":["logs-psmtap.*"],"data_stream":{},"priority":501}`); st != 400 {
		t.Fatalf("overlapping template at equal priority: %d", st)
	}
	bulk := `{"create":{"_index":"logs-psmtap.session-default","_id":"s1"}}
{"@timestamp":"2026-11-26T00:00:00Z","user":{"name":"alice"},"psm":{"commands":["sudo cat /etc/shadow"]},"unmapped":"x"}
{"create":{"_index":"logs-psmtap.activity-default","_id":"s1-1"}}
{"@timestamp":"2026-11-26T00:00:01Z","user":{"name":"alice"},"process":{"command_line":"sudo cat /etc/shadow"},"unmapped":"x"}
`
	req, _ := http.NewRequest(http.MethodPost, url+"/_bulk", strings.NewReader(bulk))
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if s.Count("logs-psmtap.session-default") != 1 || s.Count("logs-psmtap.activity-default") != 1 {
		t.Fatal("documents not routed by data stream name")
	}
	if m := s.Mapping("logs-psmtap.activity-default"); m["process.command_line.text"] != "match_only_text" || m["psm.commands"] != "" {
		t.Fatalf("activity mapping: %v", m)
	}
	act, sess := "logs-psmtap.activity-default", "logs-psmtap.session-default"
	for _, c := range []struct {
		index, query string
		want         int
	}{
		// match on text-family fields: words, any case.
		{act, `{"match":{"process.command_line.text":{"query":"SHADOW sudo","operator":"and"}}}`, 1},
		{sess, `{"match":{"psm.commands":"shadow"}}`, 1},
		// match on a keyword-family field compares the whole value.
		{act, `{"match":{"process.command_line":"shadow"}}`, 0},
		{act, `{"match":{"process.command_line":"sudo cat /etc/shadow"}}`, 1},
		{sess, `{"match":{"user.name":"ALICE"}}`, 0},
		{sess, `{"term":{"psm.commands.keyword":"sudo cat /etc/shadow"}}`, 1},
		// dynamic false: in _source, not indexed, found by no query.
		{sess, `{"term":{"unmapped":"x"}}`, 0},
		{act, `{"exists":{"field":"unmapped"}}`, 0},
		// each stream has only its own fields.
		{sess, `{"exists":{"field":"process.command_line"}}`, 0},
		{"logs-psmtap.*", `{"term":{"user.name":"alice"}}`, 2},
	} {
		if got := hits(t, url, c.index, c.query); got != c.want {
			t.Errorf("%s %s: %d hits, want %d", c.index, c.query, got, c.want)
		}
	}
}

// TestFlattened: a flattened field takes an object of any keys below it
// without growing the mapping, and a query on one of its keys finds the
// value (psmtap's alerts keep a correlation's group-by fields so).
func TestFlattened(t *testing.T) {
	s := New()
	url, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	for _, pb := range [][2]string{
		{"/_component_template/al", `{"template":{"mappings":{"dynamic":"strict","properties":{"@timestamp":{"type":"date"},"psm":{"properties":{"alert":{"properties":{"group":{"type":"flattened"}}}}}}}}}`},
		{"/_index_template/al", `{"index_patterns":["logs-psmtap.alert-*"],"data_stream":{},"priority":501,"composed_of":["al"]}`},
	} {
		path, body := pb[0], pb[1]
		if st, m := do(t, http.MethodPut, url+path, body); st != 200 {
			t.Fatalf("PUT %s: %d %v", path, st, m)
		}
	}
	bulk := `{"create":{"_index":"logs-psmtap.alert-default","_id":"a1"}}
{"@timestamp":"2026-11-26T00:00:00Z","psm":{"alert":{"group":{"source.ip":"192.0.2.10","user":{"name":"alice"}}}}}
`
	req, _ := http.NewRequest(http.MethodPost, url+"/_bulk", strings.NewReader(bulk))
	req.Header.Set("Content-Type", "application/x-ndjson")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if s.Count("logs-psmtap.alert-default") != 1 {
		t.Fatalf("a strict mapping refused keys under a flattened field: %s", b)
	}
	if m := s.Mapping("logs-psmtap.alert-default"); len(m) != 2 || m["psm.alert.group"] != "flattened" {
		t.Fatalf("mapping grew: %v", m)
	}
	const al = "logs-psmtap.alert-default"
	if n := hits(t, url, al, `{"term":{"psm.alert.group.source.ip":"192.0.2.10"}}`); n != 1 {
		t.Fatalf("term on a flattened key: %d hits", n)
	}
	if n := hits(t, url, al, `{"term":{"psm.alert.group.user.name":"bob"}}`); n != 0 {
		t.Fatalf("term on a flattened key, other value: %d hits", n)
	}
}

// Paging with a point in time and search_after sees every document that was
// there when the PIT opened, once, in order, and none written after it.
func TestPointInTimeSearchAfter(t *testing.T) {
	s := New()
	url, err := s.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	bulk := func(from, to int) {
		var b strings.Builder
		for i := from; i < to; i++ {
			// Equal timestamps in pairs: the tiebreaker must keep both.
			b.WriteString(`{"create":{"_index":"logs-psmtap.session-default","_id":"d` + strconv.Itoa(i) + `"}}` + "\n")
			b.WriteString(`{"@timestamp":"2026-11-26T00:00:` + fmt.Sprintf("%02d", i/2) + `Z","n":` + strconv.Itoa(i) + `,"user":{"name":"u","id":"x"}}` + "\n")
		}
		if st, m := do(t, http.MethodPost, url+"/_bulk", b.String()); st != 200 || m["errors"] != false {
			t.Fatalf("bulk: %d %v", st, m)
		}
	}
	bulk(0, 25)
	if st, _ := do(t, http.MethodPost, url+"/logs-psmtap.session-*/_pit", ""); st != 400 {
		t.Fatalf("PIT without keep_alive: %d, want 400", st)
	}
	st, m := do(t, http.MethodPost, url+"/logs-psmtap.session-*/_pit?keep_alive=1m", "")
	if st != 200 {
		t.Fatalf("open PIT: %d %v", st, m)
	}
	id := m["id"].(string)
	bulk(25, 30) // after the PIT: not seen
	if st, _ := do(t, http.MethodPost, url+"/logs-psmtap.session-default/_search", `{"pit":{"id":"`+id+`"}}`); st != 400 {
		t.Fatalf("PIT search with an index: %d, want 400", st)
	}
	var seen []int
	var after string
	for page := 0; page < 10; page++ {
		body := `{"size":10,"pit":{"id":"` + id + `","keep_alive":"1m"},"sort":[{"@timestamp":"asc"}],"_source":["n","user.name"]` + after + `}`
		st, m := do(t, http.MethodPost, url+"/_search", body)
		if st != 200 {
			t.Fatalf("page %d: %d %v", page, st, m)
		}
		hs := m["hits"].(map[string]any)["hits"].([]any)
		if len(hs) == 0 {
			break
		}
		for _, h := range hs {
			src := h.(map[string]any)["_source"].(map[string]any)
			if _, ok := src["@timestamp"]; ok {
				t.Fatalf("_source filtering kept @timestamp: %v", src)
			}
			if u := src["user"].(map[string]any); u["id"] != nil || u["name"] != "u" {
				t.Fatalf("_source filtering of user: %v", u)
			}
			seen = append(seen, int(src["n"].(float64)))
		}
		sv, _ := json.Marshal(hs[len(hs)-1].(map[string]any)["sort"])
		after = `,"search_after":` + string(sv)
	}
	if len(seen) != 25 {
		t.Fatalf("paged %d documents, want the 25 there when the PIT opened: %v", len(seen), seen)
	}
	for i, n := range seen {
		if n != i {
			t.Fatalf("order: %v", seen)
		}
	}
	if st, m := do(t, http.MethodDelete, url+"/_pit", `{"id":"`+id+`"}`); st != 200 || m["num_freed"] != 1.0 {
		t.Fatalf("close PIT: %d %v", st, m)
	}
	if s.OpenPITs() != 0 {
		t.Fatal("PIT still open")
	}
	if st, _ := do(t, http.MethodPost, url+"/_search", `{"pit":{"id":"`+id+`"}}`); st != 404 {
		t.Fatalf("search on a closed PIT: %d, want 404", st)
	}
}
