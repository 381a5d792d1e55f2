package rules

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/sigma"
)

var t0 = time.Date(2026, 11, 26, 0, 9, 38, 0, time.UTC)

func sessionEvent(sid string, seq int, at time.Duration, ev *record.Event) *record.Event {
	ev.Time = t0.Add(at)
	ev.SessionID, ev.Sequence, ev.ID = sid, seq, record.EventID(sid, seq)
	ev.Client = netip.MustParseAddrPort("192.0.2.10:41438")
	ev.Server = netip.MustParseAddrPort("192.0.2.20:23")
	ev.Transport, ev.Protocol, ev.CommunityID = "tcp", "telnet", "1:x"
	if ev.UserName == "" {
		ev.UserName = "alice"
	}
	return ev
}

func writeRules(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const shadowRule = `title: Shadow file read
id: r-shadow
level: high
logsource:
  product: psmtap
  category: command
detection:
  sel:
    CommandLine|contains: /etc/shadow
  condition: sel
`

func TestAlertFromCommand(t *testing.T) {
	set, err := Load([]string{writeRules(t, map[string]string{"shadow.yml": shadowRule})})
	if err != nil {
		t.Fatal(err)
	}
	ev := sessionEvent("S1", 3, 9*time.Second, record.CommandEvent(0, "cat /etc/shadow"))
	alerts, err := set.Evaluate(ev)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("alerts %v, err %v", alerts, err)
	}
	a := alerts[0]
	if a.RuleID != "r-shadow" || a.Severity != 73 || a.TriggerID != "S1-3" || len(a.SessionIDs) != 1 || a.SessionIDs[0] != "S1" {
		t.Fatalf("alert %+v", a)
	}
	b, _ := a.MarshalJSON()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"event.kind": "alert", "event.dataset": "psmtap.alert", "rule.name": "Shadow file read", "rule.id": "r-shadow",
		"psm.session_id": "S1", "process.command_line": "cat /etc/shadow", "user.name": "alice", "destination.ip": "192.0.2.20",
		"event.action": "command", "psm.alert.level": "high", "psm.alert.trigger_id": "S1-3", "@timestamp": "2026-11-26T00:09:47.000000000Z",
	} {
		if got := get(m, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if !strings.Contains(a.Message, "alice on 192.0.2.20 (telnet): cat /etc/shadow") {
		t.Errorf("message %q", a.Message)
	}
	// A command that does not match, and a login (another category): nothing.
	for _, other := range []*record.Event{
		sessionEvent("S1", 4, 10*time.Second, record.CommandEvent(0, "cat /etc/passwd")),
		sessionEvent("S1", 5, 11*time.Second, record.LoginEvent(0, "alice", record.OutcomeSuccess, "password", false)),
	} {
		if got, _ := set.Evaluate(other); len(got) != 0 {
			t.Errorf("%s fired %v", other.Action, got)
		}
	}
	// Re-evaluating the same event gives the same alert id (stable ids dedup in Elasticsearch).
	again, _ := set.Evaluate(ev)
	if len(again) != 1 || again[0].ID != a.ID {
		t.Errorf("alert id not stable: %v", again)
	}
}

func TestSuppression(t *testing.T) {
	src := strings.Replace(shadowRule, "level: high", "level: high\nsuppress: 1m", 1)
	set, err := Load([]string{writeRules(t, map[string]string{"s.yml": src})})
	if err != nil {
		t.Fatal(err)
	}
	count := func(sid string, at time.Duration) int {
		a, _ := set.Evaluate(sessionEvent(sid, int(at), at, record.CommandEvent(0, "cat /etc/shadow")))
		return len(a)
	}
	if count("S1", 0) != 1 || count("S1", 10*time.Second) != 0 || count("S2", 20*time.Second) != 1 || count("S1", 61*time.Second) != 1 {
		t.Fatalf("suppression per session within 1m broken")
	}
	if set.Stats.Suppressed != 1 || set.Stats.Alerts != 3 {
		t.Fatalf("stats %+v", set.Stats)
	}
}

func TestCorrelationAlert(t *testing.T) {
	src := `title: Failed login
name: failed
logsource:
  product: psmtap
  category: login
detection:
  sel:
    event.outcome: failure
  condition: sel
---
title: Several failed logins from one client
level: high
correlation:
  type: event_count
  rules: [failed]
  group-by: [SourceIp]
  timespan: 5m
  condition:
    gte: 3
`
	set, err := Load([]string{writeRules(t, map[string]string{"c.yml": src})})
	if err != nil {
		t.Fatal(err)
	}
	var got []*record.Alert
	for i, sid := range []string{"A", "A", "B"} {
		a, _ := set.Evaluate(sessionEvent(sid, i+1, time.Duration(i)*time.Second, record.LoginEvent(0, "root", record.OutcomeFailure, "password", false)))
		got = append(got, a...)
	}
	var corr *record.Alert
	for _, a := range got {
		if a.Correlation != "" {
			corr = a
		}
	}
	if corr == nil || corr.Count != 3 || corr.Group["source.ip"] != "192.0.2.10" || strings.Join(corr.SessionIDs, ",") != "A,B" {
		t.Fatalf("correlation alert %+v (all %d)", corr, len(got))
	}
	if !strings.Contains(corr.Message, "(3, source.ip=192.0.2.10)") {
		t.Errorf("message %q", corr.Message)
	}
}

func TestSessionRecords(t *testing.T) {
	src := `title: Session with a reverse shell kind
logsource:
  product: psmtap
  category: session
detection:
  sel:
    psm.kind: reverse
  condition: sel
`
	set, err := Load([]string{writeRules(t, map[string]string{"k.yml": src})})
	if err != nil {
		t.Fatal(err)
	}
	r := &record.Record{ID: "S9", Start: t0, End: t0.Add(time.Minute), Kind: "reverse", Protocol: "ssh", Transport: "tcp",
		Client: netip.MustParseAddrPort("192.0.2.10:1"), Server: netip.MustParseAddrPort("192.0.2.20:22")}
	if a, _ := set.Evaluate(r); len(a) != 1 || a[0].SessionIDs[0] != "S9" || !a[0].Time.Equal(r.End) {
		t.Fatalf("final record: %v", a)
	}
	r.EventType = "info" // an interim snapshot is not judged (the final record will be)
	if a, _ := set.Evaluate(r); len(a) != 0 {
		t.Fatalf("interim record fired")
	}
}

func TestLoadErrors(t *testing.T) {
	for name, c := range map[string]struct{ src, want string }{
		"category":  {strings.Replace(shadowRule, "category: command", "category: process_creation", 1), "x.yml:6: logsource.category"},
		"response":  {shadowRule + "response: explode\n", "x.yml:11: response \"explode\""},
		"suppress":  {shadowRule + "suppress: soon\n", "x.yml:11: suppress"},
		"yaml":      {"title: [unclosed\n", "x.yml:1:"},
		"modifier":  {strings.Replace(shadowRule, "|contains", "|containz", 1), "x.yml:9: unknown modifier"},
		"reference": {"title: c\ncorrelation:\n  type: event_count\n  rules: [nothing]\n  group-by: [User]\n  timespan: 1m\n  condition:\n    gte: 2\n", "x.yml:2: correlation names rule \"nothing\""},
	} {
		dir := writeRules(t, map[string]string{"x.yml": c.src})
		_, err := Load([]string{dir})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", name, err, c.want)
		}
	}
	if _, err := Load([]string{t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no .yml") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestBuiltinRulesLoad(t *testing.T) {
	set, err := Load([]string{Builtin})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range set.Rules() {
		if r.ID == "" || ids[r.ID] {
			t.Errorf("%s: rule %q has no id or a duplicate one", r.File, r.Title)
		}
		ids[r.ID] = true
		if r.Level == "" || r.Description == "" || r.Ruleset != Builtin {
			t.Errorf("%s: level, description and ruleset are required of shipped rules", r.File)
		}
	}
}

func get(m map[string]any, path string) string {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = mm[p]
	}
	if s, ok := cur.(string); ok {
		return s
	}
	if cur == nil {
		return ""
	}
	b, _ := json.Marshal(cur)
	return string(b)
}

// BenchmarkEvaluate: one command event against the shipped rules, four
// times over (about 100 rules).
func BenchmarkEvaluate(b *testing.B) {
	base, err := loadAll([]string{Builtin})
	if err != nil {
		b.Fatal(err)
	}
	all := append([]*Rule(nil), base...)
	for k := 1; k < 4; k++ { // copies of the detection rules under other ids
		for _, r := range base {
			if r.IsCorrelation() {
				continue
			}
			c := *r.Rule
			c.ID, c.Name = r.ID+"-"+strconv.Itoa(k), ""
			all = append(all, &Rule{Rule: &c, Ruleset: r.Ruleset})
		}
	}
	set, err := newSet(all)
	if err != nil {
		b.Fatal(err)
	}
	ev := sessionEvent("S1", 3, time.Second, record.ShellCommandEvent(0, "ls -la /tmp"))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := set.Evaluate(ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(set.Rules())), "rules")
}

// A query event flattens the same field by field as through its JSON.
func TestFlattenQuery(t *testing.T) {
	ev := sessionEvent("S1", 2, time.Second, record.QueryEvent(0, &record.EventQuery{System: "postgresql", Namespace: "shop",
		Text: "DELETE FROM orders", Operation: "DELETE", StatusCode: "", ReturnedRows: -1, AffectedRows: 12,
		Parameters: []string{"1", "x"}, Statement: "s1", Duration: 1500000}))
	direct, err := flatten(ev)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := ev.MarshalJSON()
	viaJSON, _ := sigma.FromJSON(body)
	if a, b := fields(direct), fields(viaJSON); !reflect.DeepEqual(a, b) {
		t.Fatalf("direct %v\njson   %v", a, b)
	}
	for _, want := range []string{"db.system.name=postgresql", "db.operation.name=DELETE", "psm.query.affected_rows=12", "event.duration=1500000"} {
		found := false
		for _, f := range fields(direct) {
			found = found || f == want
		}
		if !found {
			t.Errorf("no %s in %v", want, fields(direct))
		}
	}
}
