package setup

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/index/es"
	"github.com/psmtap/psmtap/index/es/standin"
	"github.com/psmtap/psmtap/index/spool"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/rules"
)

// contextKept says whether record.Contextual copies a field of a trigger
// into its alerts (keep the two in step).
func contextKept(name string) bool {
	switch name {
	case "source.ip", "source.port", "destination.ip", "destination.port",
		"psm.session_id", "psm.kind", "psm.cleartext_credentials":
		return true
	case "network.bytes", "network.packets":
		return false
	}
	for _, p := range []string{"network.", "observer.", "user.", "process.", "file.", "psm.login.", "psm.command.", "psm.file."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// TestAlertMappingAgreesAndCoversContext: every field of the session and
// activity templates that an alert copies from its trigger is in the alert
// template with the same type (and ignore_above), so no context field lands
// unmapped and a data view over logs-psmtap.* has no conflicts; no field is
// listed twice; the group is one flattened field.
func TestAlertMappingAgreesAndCoversContext(t *testing.T) {
	al := map[string]Field{}
	for _, f := range AlertFields() {
		if _, dup := al[f.Name]; dup {
			t.Errorf("%s mapped twice for alerts", f.Name)
		}
		al[f.Name] = f
	}
	covered := 0
	for _, f := range append(Fields(), ActivityFields()...) {
		a, ok := al[f.Name]
		if !ok {
			if contextKept(f.Name) {
				t.Errorf("%s (%s) can come into an alert from its trigger but is not in assets/alert_fields.txt", f.Name, f.Type)
			}
			continue
		}
		covered++
		if a.Type != f.Type || a.Long != f.Long || a.Text != f.Text {
			t.Errorf("%s: %+v on alerts, %+v on records or events", f.Name, a, f)
		}
	}
	if covered < 30 {
		t.Fatalf("only %d alert fields shared with the other templates", covered)
	}
	if al["psm.alert.group"].Type != "flattened" || al["message"].Type != "text" || al["event.severity"].Type != "long" {
		t.Fatalf("alert fields: %+v %+v %+v", al["psm.alert.group"], al["message"], al["event.severity"])
	}
	m := AlertMappings()["properties"].(map[string]any)["psm"].(map[string]any)["properties"].(map[string]any)["alert"].(map[string]any)["properties"].(map[string]any)
	if g, _ := json.Marshal(m["group"]); string(g) != `{"type":"flattened"}` {
		t.Fatalf("group mapping: %s", g)
	}
}

// testAlerts: the alerts the built-in rules raise on the activity events of
// activityEvents (real rules, real context), and a correlation alert over
// two sessions with its group.
func testAlerts(t *testing.T) []*record.Alert {
	set, err := rules.Load([]string{"builtin"})
	if err != nil {
		t.Fatal(err)
	}
	var out []*record.Alert
	for _, e := range activityEvents() {
		as, err := set.Evaluate(e)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, as...)
	}
	if len(out) < 2 {
		t.Fatalf("the built-in rules raised %d alerts on the test events", len(out))
	}
	ctx, err := record.Contextual(mustJSON(t, activityEvents()[0]))
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, &record.Alert{ID: "corr-1", Time: time.Date(2026, 11, 26, 0, 10, 0, 0, time.UTC),
		RuleID: "c0ffee", RuleName: "Repeated failed logins", RuleDescription: "Many failures from one source.", RuleRuleset: "builtin",
		RuleLevel: "high", RuleReferences: []string{"https://attack.mitre.org/techniques/T1110/"}, RuleAuthors: []string{"psmtap"},
		RuleTags: []string{"attack.t1110"}, Severity: 73, Message: "Repeated failed logins (5 from 192.0.2.10)",
		Correlation: "event_count", Count: 5, Group: map[string]string{"source.ip": "192.0.2.10", "destination.ip": "192.0.2.20"},
		SessionIDs: []string{"yhsc25kJHic1dFR23CUt", "zzsc25kJHic1dFR23CUt"}, TriggerID: "yhsc25kJHic1dFR23CUt-1",
		TriggerDataset: record.DatasetActivity, Context: ctx})
	return out
}

func mustJSON(t *testing.T, d record.Document) []byte {
	b, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAlertsThroughTheTemplate ships alerts with the templates installed:
// each lands in logs-psmtap.alert-default once under its event.id, none is
// refused, every field is mapped, the group is searchable by its keys, and
// the alert policy keeps data a year by default.
func TestAlertsThroughTheTemplate(t *testing.T) {
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
		t.Fatal(done, err)
	}
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sh, err := es.New(context.Background(), es.Options{Client: cl, Index: es.DataStream("default"),
		ActivityIndex: es.ActivityDataStream("default"), AlertIndex: es.AlertDataStream("default"), Spool: sp, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	alerts := testAlerts(t)
	for _, a := range alerts {
		if err := sh.Write(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	if st := sh.Stats(); st.Indexed != int64(len(alerts)) || st.DeadLettered != 0 {
		b, _ := os.ReadFile(filepath.Join(dir, "dead-letter.ndjson"))
		t.Fatalf("stats %v; dead letters: %s", st, b)
	}
	stream := es.AlertDataStream("default")
	docs := srv.Docs(stream)
	if len(docs) != len(alerts) || srv.Count(es.DataStream("default")) != 0 {
		t.Fatalf("%d alerts in %s (want %d), %d in the sessions'", len(docs), stream, len(alerts), srv.Count(es.DataStream("default")))
	}
	m := srv.Mapping(stream)
	for k, b := range docs {
		var d map[string]any
		json.Unmarshal(b, &d)
		if id, _ := d["event"].(map[string]any)["id"].(string); !strings.HasSuffix(k, "/"+id) {
			t.Errorf("document %s: _id is not its event.id %s", k, id)
		}
		if un := unmapped(d, m); len(un) > 0 {
			t.Errorf("document %s: fields without a mapping: %v", k, un)
		}
	}
	if m["psm.alert.group"] != "flattened" || m["process.command_line.text"] != "match_only_text" || m["message.keyword"] != "keyword" {
		t.Fatalf("mapping: %v %v %v", m["psm.alert.group"], m["process.command_line.text"], m["message.keyword"])
	}
	_, bodies := Bodies(DefaultOptions())
	pol, _ := json.Marshal(bodies["/_ilm/policy/"+AlertPolicy])
	if !strings.Contains(string(pol), `"delete":{"actions":{"delete":{}},"min_age":"365d"}`) {
		t.Fatalf("alert policy: %s", pol)
	}
}
