package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/index/setup"
	"github.com/psmtap/psmtap/internal/record"
)

// byDataset splits NDJSON output into session records, events and alerts.
func byDataset(t *testing.T, out string) (recs, events, alerts []map[string]any) {
	t.Helper()
	for _, d := range records(t, out) {
		switch str(d, "event.dataset") {
		case record.DatasetActivity:
			events = append(events, d)
		case record.DatasetAlert:
			alerts = append(alerts, d)
		default:
			recs = append(recs, d)
		}
	}
	return recs, events, alerts
}

// TestReadAlertsToElasticsearch: `read --events --rules builtin --output es`
// on a real capture, with the templates installed, puts session records,
// events and alerts each in their own data stream, each once under its
// event.id, with every field mapped; a second run stores nothing twice.
func TestReadAlertsToElasticsearch(t *testing.T) {
	const capture = "pcaps/ftp-vsftpd.pcap"
	wantRecs, wantEvents, wantAlerts := byDataset(t, run(t, "read", "--events", "--rules", "builtin", capture).stdout)
	if len(wantRecs) == 0 || len(wantEvents) == 0 || len(wantAlerts) < 2 {
		t.Fatalf("%s: %d records, %d events, %d alerts", capture, len(wantRecs), len(wantEvents), len(wantAlerts))
	}
	srv, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 || !strings.Contains(r.stdout, "PUT /_index_template/psmtap-alert ok") {
		t.Fatalf("setup: %s %s", r.stdout, r.stderr)
	}
	spoolDir := t.TempDir()
	r := run(t, "read", "--events", "--rules", "builtin", "--output", "es", "--es-url", url, "--spool", spoolDir, capture)
	if r.code != 0 || strings.Contains(r.stderr, "refused") {
		t.Fatalf("read: exit %d %s", r.code, r.stderr)
	}
	streams := []struct {
		name string
		want []map[string]any
	}{
		{"logs-psmtap.session-default", wantRecs},
		{"logs-psmtap.activity-default", wantEvents},
		{"logs-psmtap.alert-default", wantAlerts},
	}
	total := 0
	for _, s := range streams {
		docs := srv.Docs(s.name)
		if len(docs) != len(s.want) {
			t.Fatalf("%d documents in %s, want %d", len(docs), s.name, len(s.want))
		}
		total += len(docs)
		m := srv.Mapping(s.name)
		byID := map[string]map[string]any{}
		for k, b := range docs {
			var d map[string]any
			json.Unmarshal(b, &d)
			id := str(d, "event.id")
			if !strings.HasSuffix(k, "/"+id) {
				t.Fatalf("%s: _id is not the event.id %s", k, id)
			}
			byID[id] = d
			if un := unmappedLeaves(d, m); len(un) > 0 {
				t.Errorf("%s: fields without a mapping in %s: %v", k, s.name, un)
			}
		}
		for _, w := range s.want {
			got := byID[str(w, "event.id")]
			if got == nil || str(got, "event.dataset") != str(w, "event.dataset") || str(got, "psm.session_id") != str(w, "psm.session_id") ||
				str(got, "@timestamp") != str(w, "@timestamp") || str(got, "rule.name") != str(w, "rule.name") {
				t.Fatalf("%s: %s missing or different", s.name, str(w, "event.id"))
			}
		}
	}
	// The alerts are about the capture's sessions and name rules.
	sessions := map[string]bool{}
	for _, r := range wantRecs {
		sessions[str(r, "event.id")] = true
	}
	for _, a := range wantAlerts {
		if !sessions[str(a, "psm.session_id")] || str(a, "rule.name") == "" || str(a, "event.kind") != "alert" {
			t.Fatalf("alert %v", a)
		}
	}
	if !strings.Contains(r.stderr, "indexed="+itoa(total)) {
		t.Fatalf("counters (want indexed=%d): %s", total, r.stderr)
	}
	r = run(t, "read", "--events", "--rules", "builtin", "--output", "es", "--es-url", url, "--spool", spoolDir, capture)
	if !strings.Contains(r.stderr, "duplicates="+itoa(total)) || srv.Count("logs-psmtap.alert-default") != len(wantAlerts) {
		t.Fatalf("second read: %s", r.stderr)
	}
}

// TestAlertFieldsMapped: every field of every alert the built-in rules raise
// on the bundled captures has a mapping in the alert template.
func TestAlertFieldsMapped(t *testing.T) {
	m := map[string]string{}
	for _, f := range setup.AlertFields() {
		m[f.Name] = f.Type
	}
	alerts := 0
	missing := map[string]string{}
	for _, c := range captures(t) {
		_, _, as := byDataset(t, run(t, "read", "--all", "--rules", "builtin", c).stdout)
		for _, a := range as {
			alerts++
			for _, f := range unmappedLeaves(a, m) {
				missing[f] = c
			}
		}
	}
	for f, c := range missing {
		t.Errorf("%s (on an alert of %s) has no mapping in index/setup/assets/alert_fields.txt", f, c)
	}
	if alerts < 20 {
		t.Fatalf("only %d alerts over the bundled captures", alerts)
	}
}

// TestSearchAlerts: search --alerts over the alerts of every bundled capture
// (read together, so the repeated-failures correlation spans sessions):
// --level keeps that level and above, --rule names a rule, --session finds
// the alerts about a session, a correlation's among them.
func TestSearchAlerts(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "pcaps", "*.pcap")) // not pcaps/edge: the same sessions again
	for i, f := range files {
		files[i], _ = filepath.Rel(repoRoot, f) // psmtap runs in repoRoot
	}
	if len(files) < 20 {
		t.Fatalf("%d captures in pcaps/", len(files))
	}
	_, _, alerts := byDataset(t, run(t, append([]string{"read", "--rules", "builtin"}, files...)...).stdout)
	levels := map[string]int{}
	var corr map[string]any
	for _, a := range alerts {
		levels[str(a, "psm.alert.level")]++
		if str(a, "psm.alert.correlation") != "" {
			corr = a
		}
	}
	ids, _ := field(corr, "psm.session_id").([]any)
	if corr == nil || len(ids) < 2 || levels["high"] == 0 || levels["low"] == 0 {
		t.Fatalf("the bundled captures no longer give a correlation over sessions, or high and low alerts: %v %v", levels, corr)
	}
	srv, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := run(t, append([]string{"read", "--rules", "builtin", "--output", "es", "--es-url", url, "--spool", t.TempDir()}, files...)...); r.code != 0 {
		t.Fatalf("read: %s", r.stderr)
	}
	if n := srv.Count("logs-psmtap.alert-default"); n != len(alerts) {
		t.Fatalf("%d alerts stored, want %d", n, len(alerts))
	}
	other := ids[1].(string) // a session the correlation names but did not complete on
	nOther := 0
	for _, a := range alerts {
		if strings.Contains(","+str(a, "psm.session_id")+",", ","+other+",") {
			nOther++
		}
	}
	atLeastMedium := levels["medium"] + levels["high"] + levels["critical"]
	nCorr := 0 // alerts of the correlation's rule (several groups may fire it)
	for _, a := range alerts {
		if str(a, "rule.id") == str(corr, "rule.id") {
			nCorr++
		}
	}
	for _, c := range []struct {
		args []string
		n    int
		want []string
	}{
		{[]string{"--size", "500"}, len(alerts), []string{"TIME (UTC)", "LEVEL", "RULE", "MESSAGE"}},
		{[]string{"--level", "high"}, levels["high"] + levels["critical"], []string{"high", "SSH session driven from the server side"}},
		{[]string{"--level", "MEDIUM", "--size", "500"}, atLeastMedium, []string{"medium"}},
		{[]string{"--rule", "File deleted over FTP"}, 1, []string{"alice", "192.0.2.20:21", "File deleted over FTP: alice on 192.0.2.20 (ftp): old.txt"}},
		{[]string{"--rule", str(corr, "rule.id")}, nCorr, []string{str(corr, "rule.name")[:30]}},
		{[]string{"--session", other}, nOther, []string{str(corr, "rule.name")[:30]}},
		{[]string{"--rule", "File deleted over FTP", "--level", "high"}, 0, nil},
	} {
		r := run(t, append([]string{"search", "--alerts", "--es-url", url}, c.args...)...)
		count := itoa(min(c.n, 50)) + " of " + itoa(c.n) + " alerts"
		if c.n > 50 && len(c.args) > 0 && c.args[len(c.args)-1] == "500" {
			count = itoa(c.n) + " of " + itoa(c.n) + " alerts"
		}
		if r.code != 0 || !strings.Contains(r.stdout, count) {
			t.Fatalf("search --alerts %v: want %q; exit %d\n%s%s", c.args, count, r.code, r.stdout, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("search --alerts %v: no %q in\n%s", c.args, w, r.stdout)
			}
		}
	}
	// JSON: the alerts as stored, newest first.
	r := run(t, "search", "--alerts", "--es-url", url, "--level", "high", "--format", "json")
	if got := records(t, r.stdout); len(got) == 0 || str(got[0], "event.kind") != "alert" {
		t.Fatalf("json: %s", r.stdout)
	}
	for _, bad := range [][]string{{"--level", "severe"}, {"--events", "--alerts"}} {
		if r := run(t, append([]string{"search", "--alerts", "--es-url", url}, bad...)...); r.code != 2 {
			t.Errorf("search --alerts %v: exit %d, want 2", bad, r.code)
		}
	}
	if r := run(t, "search", "--es-url", url, "--rule", "x"); r.code != 2 {
		t.Errorf("--rule without --alerts: exit %d, want 2", r.code)
	}
}
