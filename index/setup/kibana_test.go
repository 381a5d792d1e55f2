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

// The data views: the session records, the activity events, the alerts.
const (
	dataView         = "psmtap-sessions"
	activityDataView = "psmtap-activity"
	alertDataView    = "psmtap-alerts"
)

type agg struct {
	typ, schema, field string
	size               int
}

type vis struct {
	id, title, kind, query string // kind: histogram, pie, table
	aggs                   []agg
	view                   string // the data view; "" is the sessions'
}

type search struct {
	id, title, query string
	columns          []string
	view             string
}

type dashboard struct {
	id, title, desc string
	panels          []string // vis or search ids
}

var visSpec = []vis{
	{"psmtap-sessions-by-protocol", "Sessions over time by protocol", "histogram", "", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "network.protocol", 10}}, ""},
	{"psmtap-top-users", "Top users", "table", "", []agg{{"terms", "bucket", "user.name", 20}}, ""},
	{"psmtap-top-pairs", "Top client to server pairs", "table", "", []agg{{"terms", "bucket", "source.ip", 20}, {"terms", "bucket", "destination.ip", 5}, {"terms", "bucket", "destination.port", 3}}, ""},
	{"psmtap-failed-logins", "Failed logins", "table", "psm.login.success:false", []agg{{"terms", "bucket", "user.name", 20}, {"terms", "bucket", "destination.ip", 5}, {"terms", "bucket", "network.protocol", 3}}, ""},

	{"psmtap-ssh-client-software", "SSH client software", "pie", "network.protocol:ssh", []agg{{"terms", "segment", "ssh.client.software", 15}}, ""},
	{"psmtap-ssh-hassh", "SSH client fingerprints (HASSH)", "table", "network.protocol:ssh", []agg{{"terms", "bucket", "ssh.client.hassh", 20}, {"terms", "bucket", "ssh.client.software", 3}}, ""},
	{"psmtap-ssh-server-hassh", "SSH server fingerprints (HASSHServer)", "table", "network.protocol:ssh", []agg{{"terms", "bucket", "ssh.server.hassh", 20}, {"terms", "bucket", "ssh.server.software", 3}}, ""},
	{"psmtap-ssh-inferred-failures", "SSH failed logins (inferred from encrypted traffic)", "histogram", "network.protocol:ssh and psm.login.inferred:true and psm.login.success:false", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "destination.ip", 10}}, ""},
	{"psmtap-ssh-kinds", "SSH session kinds", "pie", "network.protocol:ssh", []agg{{"terms", "segment", "psm.kind", 10}}, ""},

	{"psmtap-rdp-cookie-users", "RDP users (mstshash cookie)", "table", "network.protocol:rdp", []agg{{"terms", "bucket", "rdp.cookie", 20}, {"terms", "bucket", "destination.ip", 5}}, ""},
	{"psmtap-rdp-security", "RDP security protocols", "pie", "network.protocol:rdp", []agg{{"terms", "segment", "rdp.selected_protocol", 10}, {"terms", "segment", "rdp.requested_protocols", 10}}, ""},
	{"psmtap-rdp-client-builds", "RDP client builds", "table", "network.protocol:rdp", []agg{{"terms", "bucket", "rdp.client.build", 20}, {"terms", "bucket", "rdp.client.name", 5}}, ""},
	{"psmtap-rdp-tls", "RDP TLS fingerprints", "table", "network.protocol:rdp", []agg{{"terms", "bucket", "tls.detailed.client.ja4", 20}, {"terms", "bucket", "tls.client.ja3", 3}, {"terms", "bucket", "tls.server.ja3s", 3}}, ""},

	{"psmtap-cleartext-commands", "Commands typed in cleartext", "table", "network.protocol:(telnet or rlogin or rsh or ftp) or (network.protocol:vnc and vnc.keys.count > 0)", []agg{{"terms", "bucket", "psm.commands.keyword", 50}, {"terms", "bucket", "network.protocol", 5}}, ""},
	{"psmtap-cleartext-credentials", "Cleartext credential exposure", "table", "psm.cleartext_credentials:true", []agg{{"terms", "bucket", "destination.ip", 20}, {"terms", "bucket", "network.protocol", 4}, {"terms", "bucket", "user.name", 10}}, ""},
	{"psmtap-cleartext-over-time", "Cleartext sessions over time", "histogram", "network.protocol:(telnet or rlogin or rsh or ftp) or (network.protocol:vnc and vnc.keys.count > 0)", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "network.protocol", 5}}, ""},

	// Activity events (logs-psmtap.activity-*).
	{"psmtap-commands-per-user", "Commands per user over time", "histogram", "event.action:command", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "user.name", 10}}, activityDataView},
	{"psmtap-login-failures-over-time", "Login failures over time", "histogram", "event.action:login and event.outcome:failure", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "network.protocol", 6}}, activityDataView},
	{"psmtap-top-commands", "Most frequent commands", "table", "event.action:command", []agg{{"terms", "bucket", "process.command_line", 30}, {"terms", "bucket", "user.name", 5}}, activityDataView},
	{"psmtap-login-failures-by-user", "Login failures by user and server", "table", "event.action:login and event.outcome:failure", []agg{{"terms", "bucket", "user.name", 20}, {"terms", "bucket", "destination.ip", 5}, {"terms", "bucket", "psm.login.method", 3}}, activityDataView},

	// Database statements: the query events of PostgreSQL and MySQL/MariaDB sessions.
	{"psmtap-queries-by-operation", "Statements over time by operation", "histogram", "event.action:query", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "db.operation.name", 10}}, activityDataView},
	{"psmtap-query-errors-over-time", "Statement errors over time by status code", "histogram", "event.action:query and db.response.status_code:*", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "db.response.status_code", 10}}, activityDataView},
	{"psmtap-top-operations-per-user", "Top operations per user", "table", "event.action:query", []agg{{"terms", "bucket", "user.name", 20}, {"terms", "bucket", "db.operation.name", 10}, {"terms", "bucket", "db.system.name", 2}}, activityDataView},

	// Alerts (logs-psmtap.alert-*).
	{"psmtap-alerts-by-rule", "Alerts over time by rule", "histogram", "", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "rule.name", 10}}, alertDataView},
	{"psmtap-alerts-by-severity", "Alerts over time by severity", "histogram", "", []agg{{"date_histogram", "segment", "@timestamp", 0}, {"terms", "group", "psm.alert.level", 5}}, alertDataView},
	{"psmtap-alert-top-rules", "Top alert rules", "table", "", []agg{{"terms", "bucket", "rule.name", 20}, {"terms", "bucket", "psm.alert.level", 1}, {"terms", "bucket", "rule.ruleset", 2}}, alertDataView},
	{"psmtap-alert-top-users", "Top users in alerts", "table", "user.name:*", []agg{{"terms", "bucket", "user.name", 20}, {"terms", "bucket", "destination.ip", 5}, {"terms", "bucket", "rule.name", 3}}, alertDataView},
}

var searchSpec = []search{
	{"psmtap-cleartext-sessions", "Cleartext sessions with what was typed", "network.protocol:(telnet or rlogin or rsh or ftp) or (network.protocol:vnc and vnc.keys.count > 0)",
		[]string{"user.name", "source.ip", "destination.ip", "network.protocol", "psm.login.success", "psm.commands", "ftp.files"}, ""},
	{"psmtap-latest-commands", "Latest commands", "event.action:command",
		[]string{"user.name", "source.ip", "destination.ip", "destination.port", "network.protocol", "process.command_line", "psm.command.reply_code", "psm.session_id"}, activityDataView},
	{"psmtap-latest-statements", "Latest database statements", "event.action:query",
		[]string{"user.name", "destination.ip", "db.system.name", "db.namespace", "db.operation.name", "db.query.text", "psm.query.affected_rows", "db.response.status_code", "event.outcome", "psm.session_id"}, activityDataView},
	{"psmtap-latest-alerts", "Latest alerts", "",
		[]string{"psm.alert.level", "rule.name", "user.name", "destination.ip", "network.protocol", "message", "psm.session_id"}, alertDataView},
}

var dashSpec = []dashboard{
	{"psmtap-overview", "psmtap: Overview", "Sessions over time by protocol, top users, top client to server pairs, failed logins",
		[]string{"psmtap-sessions-by-protocol", "psmtap-top-users", "psmtap-top-pairs", "psmtap-failed-logins"}},
	{"psmtap-ssh", "psmtap: SSH", "Client software, HASSH fingerprints, inferred login failures, session kinds",
		[]string{"psmtap-ssh-client-software", "psmtap-ssh-kinds", "psmtap-ssh-hassh", "psmtap-ssh-server-hassh", "psmtap-ssh-inferred-failures"}},
	{"psmtap-rdp", "psmtap: RDP", "Users from cookies, security protocols, client builds, TLS fingerprints",
		[]string{"psmtap-rdp-cookie-users", "psmtap-rdp-security", "psmtap-rdp-client-builds", "psmtap-rdp-tls"}},
	{"psmtap-cleartext", "psmtap: Cleartext", "Telnet, rlogin, rsh, FTP and VNC whose keys were read: commands typed and cleartext credential exposure",
		[]string{"psmtap-cleartext-over-time", "psmtap-cleartext-credentials", "psmtap-cleartext-commands", "psmtap-cleartext-sessions"}},
	{"psmtap-commands", "psmtap: Commands over time", "Activity events: commands per user over time, login failures over time, the latest commands, the most frequent ones",
		[]string{"psmtap-commands-per-user", "psmtap-login-failures-over-time", "psmtap-latest-commands", "psmtap-top-commands", "psmtap-login-failures-by-user"}},
	{"psmtap-databases", "psmtap: Database statements", "Activity events of PostgreSQL and MySQL/MariaDB sessions: statements over time by operation, errors over time by status code, top operations per user, the latest statements",
		[]string{"psmtap-queries-by-operation", "psmtap-query-errors-over-time", "psmtap-latest-statements", "psmtap-top-operations-per-user"}},
	{"psmtap-alerts", "psmtap: Alerts", "Alerts of the Sigma rules: over time by rule and by severity, the latest alerts, the top rules and users",
		[]string{"psmtap-alerts-by-rule", "psmtap-alerts-by-severity", "psmtap-latest-alerts", "psmtap-alert-top-rules", "psmtap-alert-top-users"}},
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

// finalOnly restricts a query on the session records to final records
// (event.type: end): the interim snapshots of a long session (--interim)
// would otherwise count it once per snapshot.
func finalOnly(query, view string) string {
	if view != "" && view != dataView {
		return query
	}
	if query == "" {
		return "event.type:end"
	}
	return "event.type:end and (" + query + ")"
}

func indexRef(view string) []map[string]string {
	if view == "" {
		view = dataView
	}
	return []map[string]string{{"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": view}}
}

func generate() []byte {
	var objs []any
	objs = append(objs, map[string]any{"type": "index-pattern", "id": dataView, "attributes": map[string]any{
		"title": Pattern, "name": "psmtap sessions", "timeFieldName": "@timestamp"}, "references": []any{}})
	objs = append(objs, map[string]any{"type": "index-pattern", "id": activityDataView, "attributes": map[string]any{
		"title": ActivityPattern, "name": "psmtap activity", "timeFieldName": "@timestamp"}, "references": []any{}})
	objs = append(objs, map[string]any{"type": "index-pattern", "id": alertDataView, "attributes": map[string]any{
		"title": AlertPattern, "name": "psmtap alerts", "timeFieldName": "@timestamp"}, "references": []any{}})
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
		label := "Sessions"
		switch v.view {
		case activityDataView:
			label = "Events"
		case alertDataView:
			label = "Alerts"
		}
		switch v.kind {
		case "table":
			params = map[string]any{"perPage": 20, "showPartialRows": false, "showMetricsAtAllLevels": false, "showTotal": false, "totalFunc": "sum", "percentageCol": ""}
		case "pie":
			params["isDonut"], params["legendPosition"] = true, "right"
		case "histogram":
			params["legendPosition"] = "right"
			params["seriesParams"] = []any{map[string]any{"show": true, "type": "histogram", "mode": "stacked", "data": map[string]any{"label": label, "id": "1"}, "valueAxis": "ValueAxis-1"}}
			// Kibana's XY renderer reads categoryAxes[].title (an object,
			// its text optional): without it the chart fails to draw.
			params["categoryAxes"] = []any{map[string]any{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": true, "labels": map[string]any{"show": true}, "title": map[string]any{}}}
			params["valueAxes"] = []any{map[string]any{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left", "show": true, "scale": map[string]any{"type": "linear", "mode": "normal"}, "labels": map[string]any{"show": true}, "title": map[string]any{"text": label}}}
		}
		objs = append(objs, map[string]any{"type": "visualization", "id": v.id, "attributes": map[string]any{
			"title": v.title, "description": "", "uiStateJSON": "{}", "version": 1,
			"visState":              js(map[string]any{"title": v.title, "type": v.kind, "params": params, "aggs": aggs}),
			"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": searchSource(finalOnly(v.query, v.view), true)},
		}, "references": indexRef(v.view)})
	}
	for _, s := range searchSpec {
		objs = append(objs, map[string]any{"type": "search", "id": s.id, "attributes": map[string]any{
			"title": s.title, "description": "", "columns": s.columns, "sort": [][]string{{"@timestamp", "desc"}},
			"kibanaSavedObjectMeta": map[string]any{"searchSourceJSON": searchSource(finalOnly(s.query, s.view), true)},
		}, "references": indexRef(s.view)})
	}
	isSearch := map[string]bool{}
	for _, s := range searchSpec {
		isSearch[s.id] = true
	}
	for _, d := range dashSpec {
		var panels []any
		var refs []any
		x, y := 0, 0 // two visualizations a row on Kibana's 48-column grid; a saved search takes a row of its own
		for i, id := range d.panels {
			typ := "visualization"
			if isSearch[id] {
				typ = "search"
			}
			w, h := 24, 15
			if typ == "search" {
				w = 48
			}
			if x+w > 48 {
				x, y = 0, y+h
			}
			ref := fmt.Sprintf("panel_%d", i)
			panels = append(panels, map[string]any{"version": "8.8.0", "type": typ, "panelIndex": fmt.Sprint(i + 1),
				"gridData":         map[string]any{"x": x, "y": y, "w": w, "h": h, "i": fmt.Sprint(i + 1)},
				"embeddableConfig": map[string]any{}, "panelRefName": ref})
			if x += w; x >= 48 {
				x, y = 0, y+h
			}
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

// mapped returns field -> type as a template maps fields, multi-fields included.
func mapped(fields []Field) map[string]string {
	out := map[string]string{}
	for _, f := range fields {
		out[f.Name] = f.Type
		if f.Type == "text" {
			out[f.Name+".keyword"] = "keyword"
		}
		if f.Text {
			out[f.Name+".text"] = "match_only_text"
		}
	}
	return out
}

// viewFields: the mapping behind each data view id.
var viewFields = map[string]func() []Field{dataView: Fields, activityDataView: ActivityFields, alertDataView: AlertFields}

func aggregatable(t string) bool { return t != "text" && t != "match_only_text" && t != "" }

var kqlField = regexp.MustCompile(`([A-Za-z@][\w.@]*)\s*:`)

// TestKibanaFieldsInTemplate: every field a saved object aggregates on is in
// the template of its data view with an aggregatable type; every field it
// filters on or shows is in that template.
func TestKibanaFieldsInTemplate(t *testing.T) {
	used := 0
	perView := map[string]int{}
	titles := map[string]string{dataView: Pattern, activityDataView: ActivityPattern, alertDataView: AlertPattern}
	for _, line := range bytes.Split(bytes.TrimSpace(KibanaObjects), []byte("\n")) {
		var o struct {
			Type       string
			ID         string
			References []struct{ Type, ID string }
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
		if o.Type == "dashboard" {
			continue
		}
		view := o.ID // an index-pattern is its own view
		for _, r := range o.References {
			if r.Type == "index-pattern" {
				view = r.ID
			}
		}
		if o.Type == "index-pattern" && o.Attributes.Title != titles[view] {
			t.Errorf("data view %s has the title %q, want %q", o.ID, o.Attributes.Title, titles[view])
		}
		fieldsOf, ok := viewFields[view]
		if !ok {
			t.Errorf("%s %s: unknown data view %q", o.Type, o.ID, view)
			continue
		}
		m := mapped(fieldsOf())
		check := func(field string, agg bool) {
			used++
			perView[view]++
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
	if used < 40 || perView[activityDataView] < 10 || perView[alertDataView] < 15 {
		t.Fatalf("only %d field uses found (%v): did the parsing break?", used, perView)
	}
}

// TestEveryDocumentedFieldMapped: every session record field of
// docs/fields.md has a mapping of the documented type in
// assets/fields.txt, every field of the "Activity events" section one in
// the activity template (assets/activity_fields.txt), and every field of the
// "Alerts" section one in the alert template (assets/alert_fields.txt).
func TestEveryDocumentedFieldMapped(t *testing.T) {
	session, activity, alert, integ := map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	// docs/fields.md is the one field contract: a fresh clone (no
	// ../shared beside it) checks the same as CI.
	for _, doc := range []string{"../../docs/fields.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		s, a, al, in := documentedFields(string(b))
		for name, typ := range in {
			integ[name] = typ
		}
		for name, typ := range s {
			session[name] = typ
		}
		for name, typ := range a {
			activity[name] = typ
		}
		for name, typ := range al {
			alert[name] = typ
		}
	}
	checkMapped(t, session, mapped(Fields()), "assets/fields.txt")
	checkMapped(t, activity, mapped(ActivityFields()), "assets/activity_fields.txt")
	checkMapped(t, alert, mapped(AlertFields()), "assets/alert_fields.txt")
	// Integrity: the members every document carries are in the three
	// document templates, the rest in the checkpoints' template.
	perDoc, cps := map[string]string{}, map[string]string{}
	inCP, inDoc := mapped(IntegrityFields()), mapped(Fields())
	for n, typ := range integ {
		if _, ok := inCP[n]; ok {
			cps[n] = typ
		}
		if _, ok := inDoc[n]; ok || cps[n] == "" {
			perDoc[n] = typ // log_id is both
		}
	}
	checkMapped(t, cps, inCP, "assets/integrity_fields.txt")
	checkMapped(t, perDoc, mapped(Fields()), "assets/fields.txt")
	checkMapped(t, perDoc, mapped(ActivityFields()), "assets/activity_fields.txt")
	checkMapped(t, perDoc, mapped(AlertFields()), "assets/alert_fields.txt")
	if len(perDoc) < 5 || len(cps) < 6 {
		t.Fatalf("only %d+%d integrity fields documented: did the parsing break?", len(perDoc), len(cps))
	}
	if len(session) < 80 || len(activity) < 25 || len(alert) < 30 {
		t.Fatalf("only %d session, %d activity and %d alert fields documented: did the parsing break?", len(session), len(activity), len(alert))
	}
}

func checkMapped(t *testing.T, want, m map[string]string, file string) {
	t.Helper()
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		typ, ok := m[n]
		if !ok {
			t.Errorf("%s (%s) has no mapping in %s", n, want[n], file)
			continue
		}
		if !typeFits(want[n], typ) {
			t.Errorf("%s documented as %s, mapped as %s in %s", n, want[n], typ, file)
		}
	}
}

// TestActivityMappingAgreesWithSessions: a field both templates map has the
// same type in both (a data view over logs-psmtap.* then has no conflicts),
// the protocol objects of the "objects" line are mapped on events, and no
// field is listed twice.
func TestActivityMappingAgreesWithSessions(t *testing.T) {
	sess := mapped(Fields())
	seen := map[string]bool{}
	protocols := 0
	for _, f := range ActivityFields() {
		if seen[f.Name] {
			t.Errorf("%s mapped twice for activity events", f.Name)
		}
		seen[f.Name] = true
		if typ, ok := sess[f.Name]; ok && typ != f.Type {
			t.Errorf("%s: %s on session records, %s on activity events", f.Name, typ, f.Type)
		}
		if strings.HasPrefix(f.Name, "rdp.") || strings.HasPrefix(f.Name, "telnet.") {
			protocols++
		}
	}
	for _, f := range Fields() {
		if seen[f.Name] && f.Long != fieldLong(ActivityFields(), f.Name) {
			t.Errorf("%s: ignore_above differs between the templates", f.Name)
		}
	}
	if protocols < 20 {
		t.Fatalf("only %d rdp.* and telnet.* fields mapped on events: the objects line is not applied", protocols)
	}
	if got := mapped(ActivityFields())["process.command_line.text"]; got != "match_only_text" {
		t.Fatalf("process.command_line has no .text multi-field: %q", got)
	}
}

func fieldLong(fs []Field, name string) bool {
	for _, f := range fs {
		if f.Name == name {
			return f.Long
		}
	}
	return false
}

// typeFits compares a documented type ("keyword[]", "text+keyword[]",
// "keyword/long", "ip, long") with the mapped one. wildcard is of the keyword
// family (Elasticsearch's word): a keyword in the docs may be mapped so.
func typeFits(doc, mapped string) bool {
	doc = strings.TrimSuffix(doc, "[]")
	if strings.HasPrefix(doc, "text") {
		return mapped == "text"
	}
	for _, alt := range strings.FieldsFunc(doc, func(r rune) bool { return r == '/' || r == ',' || r == ' ' }) {
		alt = strings.TrimSuffix(alt, "[]")
		if alt == mapped || (alt == "keyword" && mapped == "wildcard") {
			return true
		}
	}
	return false
}

var backticked = regexp.MustCompile("`([^`]+)`")

// documentedFields reads the field tables (first column names, second
// column type) up to the anomalies section: those before "## Activity
// events" are session record fields, those after it activity event fields,
// those after "## Alerts" alert fields. A cell may name several fields
// ("`source.ip`, `source.port`") with as many types ("ip, long").
func documentedFields(doc string) (session, activity, alert, integ map[string]string) {
	session, activity, alert, integ = map[string]string{}, map[string]string{}, map[string]string{}, map[string]string{}
	out := session
	responses := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "## Anomalies") {
			break
		}
		if strings.HasPrefix(line, "## Activity events") {
			out = activity
		}
		if strings.HasPrefix(line, "## Alerts") {
			out = alert
		}
		if strings.HasPrefix(line, "## Integrity") {
			out = integ
		}
		if strings.HasPrefix(line, "## Responses") {
			// On the session record and on the response event: both templates.
			out = session
			responses = true
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
			if responses {
				activity[name] = t
			}
		}
	}
	return session, activity, alert, integ
}
