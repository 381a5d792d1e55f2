package setup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestKibanaObjectsRender: every saved object has what Kibana's renderers
// read, not only what the import format accepts (Kibana imports an object
// it then fails to draw). From Kibana's source: the XY (histogram)
// visualization reads categoryAxes[].{id,type,position,show,labels,title},
// valueAxes[].{id,name,type,position,show,scale.type,labels,title} and
// seriesParams[].{show,type,mode,data.id,data.label,valueAxis}, each series
// naming a value axis and a metric aggregation; each editor accepts only its
// own aggregation schemas; a saved search needs columns; a searchSourceJSON
// index is a reference; a dashboard's panels sit on the 48-column grid
// without overlapping and each panelRefName is a reference; every
// reference names an object of the file. Panels over the session records
// count final records only (event.type:end), not interim snapshots.
func TestKibanaObjectsRender(t *testing.T) {
	type object struct {
		Type       string                     `json:"type"`
		ID         string                     `json:"id"`
		Attributes map[string]json.RawMessage `json:"attributes"`
		References []struct {
			Name, Type, ID string
		} `json:"references"`
	}
	var objs []object
	have := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(KibanaObjects))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o object
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
		have[o.Type+"/"+o.ID] = true
	}
	schemas := map[string][]string{"histogram": {"metric", "segment", "group"}, "pie": {"metric", "segment"}, "table": {"metric", "bucket"}}
	str := func(raw json.RawMessage) string {
		var s string
		json.Unmarshal(raw, &s)
		return s
	}
	counts := map[string]int{}
	for _, o := range objs {
		counts[o.Type]++
		where := o.Type + "/" + o.ID
		refs := map[string]string{}
		for _, r := range o.References {
			if !have[r.Type+"/"+r.ID] {
				t.Errorf("%s: reference %s to %s/%s, not in the file", where, r.Name, r.Type, r.ID)
			}
			refs[r.Name] = r.Type + "/" + r.ID
		}
		if meta, ok := o.Attributes["kibanaSavedObjectMeta"]; ok {
			var m struct{ SearchSourceJSON string }
			json.Unmarshal(meta, &m)
			var ss struct {
				Query struct {
					Query    string `json:"query"`
					Language string `json:"language"`
				} `json:"query"`
				IndexRefName string `json:"indexRefName"`
				Filter       []any  `json:"filter"`
			}
			if err := json.Unmarshal([]byte(m.SearchSourceJSON), &ss); err != nil || ss.Filter == nil || ss.Query.Language != "kuery" {
				t.Errorf("%s: searchSourceJSON %q", where, m.SearchSourceJSON)
			}
			if o.Type != "dashboard" {
				if refs[ss.IndexRefName] == "" {
					t.Errorf("%s: indexRefName %q is no reference", where, ss.IndexRefName)
				}
				if refs[ss.IndexRefName] == "index-pattern/"+dataView && !strings.HasPrefix(ss.Query.Query, "event.type:end") {
					t.Errorf("%s: counts interim snapshots: query %q", where, ss.Query.Query)
				}
			}
		}
		switch o.Type {
		case "visualization":
			var vs struct {
				Type   string `json:"type"`
				Params struct {
					CategoryAxes []map[string]any `json:"categoryAxes"`
					ValueAxes    []map[string]any `json:"valueAxes"`
					SeriesParams []struct {
						Show      *bool  `json:"show"`
						Type      string `json:"type"`
						Mode      string `json:"mode"`
						ValueAxis string `json:"valueAxis"`
						Data      struct {
							ID    string `json:"id"`
							Label string `json:"label"`
						} `json:"data"`
					} `json:"seriesParams"`
				} `json:"params"`
				Aggs []struct {
					ID     string         `json:"id"`
					Type   string         `json:"type"`
					Schema string         `json:"schema"`
					Params map[string]any `json:"params"`
				} `json:"aggs"`
			}
			if err := json.Unmarshal([]byte(str(o.Attributes["visState"])), &vs); err != nil {
				t.Errorf("%s: visState: %v", where, err)
				continue
			}
			metrics := map[string]bool{}
			ids := map[string]bool{}
			for _, a := range vs.Aggs {
				if ids[a.ID] {
					t.Errorf("%s: aggregation id %s twice", where, a.ID)
				}
				ids[a.ID] = true
				if !contains(schemas[vs.Type], a.Schema) {
					t.Errorf("%s: schema %q in a %s", where, a.Schema, vs.Type)
				}
				if a.Schema == "metric" {
					metrics[a.ID] = true
				} else if f, _ := a.Params["field"].(string); f == "" {
					t.Errorf("%s: aggregation %s without a field", where, a.ID)
				}
			}
			if len(metrics) == 0 {
				t.Errorf("%s: no metric", where)
			}
			if vs.Type != "histogram" {
				continue
			}
			if len(vs.Params.CategoryAxes) == 0 || len(vs.Params.ValueAxes) == 0 || len(vs.Params.SeriesParams) == 0 {
				t.Errorf("%s: an XY chart without axes or series", where)
			}
			for _, ax := range vs.Params.CategoryAxes {
				for _, k := range []string{"id", "type", "position", "show", "labels", "title"} {
					if ax[k] == nil {
						t.Errorf("%s: categoryAxes[].%s missing", where, k)
					}
				}
				if _, ok := ax["title"].(map[string]any); !ok {
					t.Errorf("%s: categoryAxes[].title is not an object", where)
				}
			}
			valueAxes := map[string]bool{}
			for _, ax := range vs.Params.ValueAxes {
				for _, k := range []string{"id", "name", "type", "position", "show", "scale", "labels", "title"} {
					if ax[k] == nil {
						t.Errorf("%s: valueAxes[].%s missing", where, k)
					}
				}
				if sc, _ := ax["scale"].(map[string]any); sc["type"] == nil {
					t.Errorf("%s: valueAxes[].scale.type missing", where)
				}
				id, _ := ax["id"].(string)
				valueAxes[id] = true
			}
			for _, sp := range vs.Params.SeriesParams {
				if sp.Show == nil || sp.Type == "" || sp.Mode == "" || sp.Data.Label == "" || !valueAxes[sp.ValueAxis] || !metrics[sp.Data.ID] {
					t.Errorf("%s: seriesParams %+v", where, sp)
				}
			}
		case "search":
			var cols []string
			json.Unmarshal(o.Attributes["columns"], &cols)
			if len(cols) == 0 {
				t.Errorf("%s: no columns", where)
			}
		case "dashboard":
			var panels []struct {
				Type         string `json:"type"`
				PanelIndex   string `json:"panelIndex"`
				PanelRefName string `json:"panelRefName"`
				GridData     struct {
					X, Y, W, H int
					I          string
				} `json:"gridData"`
			}
			if err := json.Unmarshal([]byte(str(o.Attributes["panelsJSON"])), &panels); err != nil || len(panels) == 0 {
				t.Errorf("%s: panelsJSON: %v", where, err)
				continue
			}
			seen := map[string]bool{}
			for i, p := range panels {
				g := p.GridData
				if g.X < 0 || g.Y < 0 || g.W <= 0 || g.H <= 0 || g.X+g.W > 48 {
					t.Errorf("%s: panel %s at %+v is off the 48-column grid", where, p.PanelIndex, g)
				}
				if g.I != p.PanelIndex || seen[g.I] {
					t.Errorf("%s: panel index %q / %q", where, p.PanelIndex, g.I)
				}
				seen[g.I] = true
				if refs[p.PanelRefName] != p.Type+"/"+strings.TrimPrefix(refs[p.PanelRefName], p.Type+"/") || refs[p.PanelRefName] == "" {
					t.Errorf("%s: panelRefName %q", where, p.PanelRefName)
				}
				for _, q := range panels[:i] {
					h := q.GridData
					if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
						t.Errorf("%s: panels %s and %s overlap", where, q.PanelIndex, p.PanelIndex)
					}
				}
			}
		}
	}
	if counts["visualization"] < 20 || counts["dashboard"] < 6 || counts["search"] < 3 {
		t.Fatalf("objects: %v", counts)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
