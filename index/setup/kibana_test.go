package setup

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite assets/kibana.ndjson from the spec below")

// The dashboards, as a compact spec; assets/kibana.ndjson is generated from
// it (`go test ./index/setup -run TestKibanaObjects -update`) and committed,
// so a reviewer reads the objects Kibana will import.

const dataView = "psmtap-sessions"

type agg struct {
	typ, schema, field string
	size               int
}

type vis struct {
	id, title, kind, query string // kind: histogram, pie, table
	aggs                   []agg
}

type search struct {
	id, title, query string
	columns          []string
}

type dashboard struct {
	id, title, desc string
	panels          []string // vis or search ids
}

var visSpec = []vis{
	{"psmtap-sessions-by-protocol", "Sessions over time by protocol", "histogram", "", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "network.protocol", 10}}},
	{"psmtap-top-users", "Top users", "table", "", []agg{{"terms", "bucket", "user.name", 20}}},
	{"psmtap-top-pairs", "Top client to server pairs", "table", "", []agg{{"terms", "bucket", "source.ip", 20}, {"terms", "bucket", "destination.ip", 5}, {"terms", "bucket", "destination.port", 3}}},
	{"psmtap-failed-logins", "Failed logins", "table", "psm.login.success:false", []agg{{"terms", "bucket", "user.name", 20}, {"terms", "bucket", "destination.ip", 5}, {"terms", "bucket", "network.protocol", 3}}},

	{"psmtap-ssh-client-software", "SSH client software", "pie", "network.protocol:ssh", []agg{{"terms", "segment", "ssh.client.software", 15}}},
	{"psmtap-ssh-hassh", "SSH client fingerprints (HASSH)", "table", "network.protocol:ssh", []agg{{"terms", "bucket", "ssh.client.hassh", 20}, {"terms", "bucket", "ssh.client.software", 3}}},
	{"psmtap-ssh-server-hassh", "SSH server fingerprints (HASSHServer)", "table", "network.protocol:ssh", []agg{{"terms", "bucket", "ssh.server.hassh", 20}, {"terms", "bucket", "ssh.server.software", 3}}},
	{"psmtap-ssh-inferred-failures", "SSH failed logins (inferred from encrypted traffic)", "histogram", "network.protocol:ssh and psm.login.inferred:true and psm.login.success:false", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "destination.ip", 10}}},
	{"psmtap-ssh-kinds", "SSH session kinds", "pie", "network.protocol:ssh", []agg{{"terms", "segment", "psm.kind", 10}}},

	{"psmtap-rdp-cookie-users", "RDP users (mstshash cookie)", "table", "network.protocol:rdp", []agg{{"terms", "bucket", "rdp.cookie", 20}, {"terms", "bucket", "destination.ip", 5}}},
	{"psmtap-rdp-security", "RDP security protocols", "pie", "network.protocol:rdp", []agg{{"terms", "segment", "rdp.selected_protocol", 10}, {"terms", "segment", "rdp.requested_protocols", 10}}},
	{"psmtap-rdp-client-builds", "RDP client builds", "table", "network.protocol:rdp", []agg{{"terms", "bucket", "rdp.client.build", 20}, {"terms", "bucket", "rdp.client.name", 5}}},
	{"psmtap-rdp-tls", "RDP TLS fingerprints", "table", "network.protocol:rdp", []agg{{"terms", "bucket", "tls.client.ja4", 20}, {"terms", "bucket", "tls.client.ja3", 3}, {"terms", "bucket", "tls.server.ja3s", 3}}},

	{"psmtap-cleartext-commands", "Commands typed in cleartext", "table", "network.protocol:(telnet or rlogin or rsh or ftp)", []agg{{"terms", "bucket", "psm.commands.keyword", 50}, {"terms", "bucket", "network.protocol", 4}}},
	{"psmtap-cleartext-credentials", "Cleartext credential exposure", "table", "psm.cleartext_credentials:true", []agg{{"terms", "bucket", "destination.ip", 20}, {"terms", "bucket", "network.protocol", 4}, {"terms", "bucket", "user.name", 10}}},
	{"psmtap-cleartext-over-time", "Cleartext sessions over time", "histogram", "network.protocol:(telnet or rlogin or rsh or ftp)", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "network.protocol", 4}}},
}

var searchSpec = []search{
	{"psmtap-cleartext-sessions", "Cleartext sessions with what was typed", "network.protocol:(telnet or rlogin or rsh or ftp)",
		[]string{"user.name", "source.ip", "destination.ip", "network.protocol", "psm.login.success", "psm.commands", "ftp.files"}},
}

var dashSpec = []dashboard{
	{"psmtap-overview", "psmtap: Overview", "Sessions over time by protocol, top users, top client to server pairs, failed logins",
		[]string{"psmtap-sessions-by-protocol", "psmtap-top-users", "psmtap-top-pairs", "psmtap-failed-logins"}},
	{"psmtap-ssh", "psmtap: SSH", "Client software, HASSH fingerprints, inferred login failures, session kinds",
		[]string{"psmtap-ssh-client-software", "psmtap-ssh-kinds", "psmtap-ssh-hassh", "psmtap-ssh-server-hassh", "psmtap-ssh-inferred-failures"}},
	{"psmtap-rdp", "psmtap: RDP", "Users from cookies, security protocols, client builds, TLS fingerprints",
		[]string{"psmtap-rdp-cookie-users", "psmtap-rdp-security", "psmtap-rdp-client-builds", "psmtap-rdp-tls"}},
	{"psmtap-cleartext", "psmtap: Cleartext", "Telnet, rlogin, rsh and FTP: commands typed and cleartext credential exposure",
		[]string{"psmtap-cleartext-over-time", "psmtap-cleartext-credentials", "psmtap-cleartext-commands", "psmtap-cleartext-sessions"}},
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func searchSource(query string, withIndex bool) string {
	m := map[string]any{"query": map[string]any{"query": query, "language": "kuery"}, "filter": []any{}}
	if withIndex {
		m["indexRefName"] = "kibanaSavedObjectMeta.searchSourceJSON.index"
	}
	return js(m)
}

var indexRef = []map[string]string{{"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": dataView}}

func generate() []byte {
	var objs []any
	objs = append(objs, map[string]any{"type": "index-pattern", "id": dataView, "attributes": map[string]any{
		"title": Pattern, "name": "psmtap sessions", "timeFieldName": "@timestamp"}, "references": []any{}})
	for _, v := range visSpec {
		aggs := []any{map[string]any{"id": "1", "enabled": true, "type": "count", "schema": "metric", "params": map[string]any{}}}
		for i, a := range v.aggs {
			p := map[string]any{"field": a.field}
			if a.typ == "terms" {
				p["size"], p["order"], p["orderBy"], p["otherBucket"], p["missingBucket"] = a.size, "desc", "1", false, false
			} else {
				p["interval"], p["min_doc_count"], p["extended_bounds"] = "auto", 1, map[string]any{}
			}
			aggs = append(aggs, map[string]any{"id": fmt.Sprint(i + 2), "enabled": true, "type": a.typ, "schema": a.schema, "params": p})
		}
		params := map[string]any{"type": v.kind, "addTooltip": true, "addLegend": true}
		switch v.kind {
		case "table":
			params = map[string]any{"perPage": 20, "showPartialRows": false, "showMetricsAtAllLevels": false, "showTotal": false, "totalFunc": "sum", "percentageCol": ""}
		case "pie":
			params["isDonut"], params["legendPosition"] = true, "right"
		case "histogram":
			params["legendPosition"] = "right"
			params["seriesParams"] = []any{map[string]any{"show": true, "type": "histogram", "mode": "stacked", "data": map[string]any{"label": "Sessions", "id": "1"}, "valueAxis": "ValueAxis-1"}}
			params["categoryAxes"] = []any{map[string]any{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": true, "labels": map[string]any{"show": true}}}
			params["valueAxes"] = []any{map[string]any{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left", "show": true, "scale": map[string]any{"type": "linear", "mode": "normal"}, "labels": map[string]any{"show": true}, "title": map[string]any{"text": "Sessions"}}}
		}
		objs = append(objs, map[string]any{"type": "visualization", "id": v.id, "attributes": map[string]any{
			"title": v.title, "description": "", "uiStateJSON": "{}", "version": 1,
			"visState":              js(map[string]any{"title": v.title, "type": v.kind, "params": params, "aggs": aggs}),
			"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": searchSource(v.query, true)},
		}, "references": indexRef})
	}
	for _, s := range searchSpec {
		objs = append(objs, map[string]any{"type": "search", "id": s.id, "attributes": map[string]any{
			"title": s.title, "description": "", "columns": s.columns, "sort": [][]string{{"@timestamp", "desc"}},
			"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": searchSource(s.query, true)},
		}, "references": indexRef})
	}
	isSearch := map[string]bool{}
	for _, s := range searchSpec {
		isSearch[s.id] = true
	}
	for _, d := range dashSpec {
		var panels []any
		var refs []any
		for i, id := range d.panels {
			typ := "visualization"
			if isSearch[id] {
				typ = "search"
			}
			w, h := 24, 15
			if typ == "search" {
				w = 48
			}
			ref := fmt.Sprintf("panel_%d", i)
			panels = append(panels, map[string]any{"version": "8.8.0", "type": typ, "panelIndex": fmt.Sprint(i + 1),
				"gridData":         map[string]any{"x": (i % 2) * 24, "y": (i / 2) * 15, "w": w, "h": h, "i": fmt.Sprint(i + 1)},
				"embeddableConfig": map[string]any{}, "panelRefName": ref})
			refs = append(refs, map[string]any{"name": ref, "type": typ, "id": id})
		}
		objs = append(objs, map[string]any{"type": "dashboard", "id": d.id, "attributes": map[string]any{
			"title": d.title, "description": d.desc, "panelsJSON": js(panels), "version": 1, "timeRestore": false,
			"optionsJSON":           js(map[string]any{"useMargins": true, "hidePanelTitles": false}),
			"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": searchSource("", false)},
		}, "references": refs})
	}
	var b bytes.Buffer
	for _, o := range objs {
		b.WriteString(js(o))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func TestKibanaObjectsUpToDate(t *testing.T) {
	got := generate()
	if *update {
		if err := os.WriteFile("assets/kibana.ndjson", got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(got, KibanaObjects) {
		t.Fatal("assets/kibana.ndjson is not what the spec in kibana_test.go gives: go test ./index/setup -run TestKibanaObjects -update, and review")
	}
}

// mapped returns field -> type as the template maps it, multi-fields included.
func mapped() map[string]string {
	out := map[string]string{}
	for _, f := range Fields() {
		out[f.Name] = f.Type
		if f.Type == "text" {
			out[f.Name+".keyword"] = "keyword"
		}
	}
	return out
}

func aggregatable(t string) bool { return t != "text" && t != "" }

var kqlField = regexp.MustCompile(`([A-Za-z@][\w.@]*)\s*:`)

// TestKibanaFieldsInTemplate: every field a saved object aggregates on is in
// the template with an aggregatable type; every field it filters on or shows
// is in the template.
func TestKibanaFieldsInTemplate(t *testing.T) {
	m := mapped()
	used := 0
	for _, line := range bytes.Split(bytes.TrimSpace(KibanaObjects), []byte("\n")) {
		var o struct {
			Type       string
			ID         string
			Attributes struct {
				Title                 string
				VisState              string
				Columns               []string
				TimeFieldName         string
				KibanaSavedObjectMeta struct{ SearchSourceJSON string }
			}
		}
		if err := json.Unmarshal(line, &o); err != nil {
			t.Fatal(err)
		}
		check := func(field string, agg bool) {
			used++
			typ, ok := m[field]
			if !ok {
				t.Errorf("%s %s uses %s: not in the template", o.Type, o.ID, field)
			} else if agg && !aggregatable(typ) {
				t.Errorf("%s %s aggregates on %s of type %s: not aggregatable", o.Type, o.ID, field, typ)
			}
		}
		if o.Attributes.TimeFieldName != "" {
			check(o.Attributes.TimeFieldName, true)
		}
		if o.Attributes.VisState != "" {
			var vs struct {
				Aggs []struct {
					Type   string
					Params map[string]any
				}
			}
			if err := json.Unmarshal([]byte(o.Attributes.VisState), &vs); err != nil {
				t.Fatal(err)
			}
			for _, a := range vs.Aggs {
				if f, ok := a.Params["field"].(string); ok {
					check(f, true)
				}
			}
		}
		for _, c := range o.Attributes.Columns {
			check(c, false)
		}
		if ss := o.Attributes.KibanaSavedObjectMeta.SearchSourceJSON; ss != "" {
			var src struct {
				Query struct{ Query string }
			}
			json.Unmarshal([]byte(ss), &src)
			for _, mm := range kqlField.FindAllStringSubmatch(src.Query.Query, -1) {
				check(mm[1], false)
			}
		}
	}
	if used < 40 {
		t.Fatalf("only %d field uses found: did the parsing break?", used)
	}
}

// TestEveryDocumentedFieldMapped: every field of docs/fields.md and of
// SCHEMA.md has a mapping of the documented type.
func TestEveryDocumentedFieldMapped(t *testing.T) {
	m := mapped()
	want := map[string]string{}
	for _, doc := range []string{"../../docs/fields.md", "../../../shared/SCHEMA.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			if strings.Contains(doc, "shared") {
				t.Logf("%s absent (a fresh clone): checking docs/fields.md only", doc)
				continue
			}
			t.Fatal(err)
		}
		for name, typ := range documentedFields(string(b)) {
			want[name] = typ
		}
	}
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		typ, ok := m[n]
		if !ok {
			t.Errorf("%s (%s) has no mapping in assets/fields.txt", n, want[n])
			continue
		}
		if !typeFits(want[n], typ) {
			t.Errorf("%s documented as %s, mapped as %s", n, want[n], typ)
		}
	}
	if len(want) < 80 {
		t.Fatalf("only %d documented fields found", len(want))
	}
}

// typeFits compares a documented type ("keyword[]", "text+keyword[]",
// "keyword/long", "ip, long") with the mapped one.
func typeFits(doc, mapped string) bool {
	doc = strings.TrimSuffix(doc, "[]")
	if strings.HasPrefix(doc, "text") {
		return mapped == "text"
	}
	for _, alt := range strings.FieldsFunc(doc, func(r rune) bool { return r == '/' || r == ',' || r == ' ' }) {
		if strings.TrimSuffix(alt, "[]") == mapped {
			return true
		}
	}
	return false
}

var backticked = regexp.MustCompile("`([^`]+)`")

// documentedFields reads the field tables (first column names, second
// column type) up to the anomalies section. A cell may name several fields
// ("`source.ip`, `source.port`") with as many types ("ip, long").
func documentedFields(doc string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "## Anomalies") {
			break
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 4 {
			continue
		}
		names := backticked.FindAllStringSubmatch(cells[1], -1)
		typ := strings.TrimSpace(cells[2])
		types := strings.Split(typ, ",")
		for i, n := range names {
			name := n[1]
			if strings.Contains(name, " ") || !strings.ContainsAny(name, ".@") {
				continue
			}
			t := typ
			if len(types) == len(names) {
				t = strings.TrimSpace(types[i])
			}
			out[name] = t
		}
	}
	return out
}
