package main

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/index/setup"
	"github.com/psmtap/psmtap/internal/record"
)

// activityOf splits read --events output into session records and events.
func activityOf(t *testing.T, out string) (recs, events []map[string]any) {
	t.Helper()
	for _, d := range records(t, out) {
		if str(d, "event.dataset") == record.DatasetActivity {
			events = append(events, d)
		} else {
			recs = append(recs, d)
		}
	}
	return recs, events
}

// mappedLeaves lists the leaf fields of doc that the mapping m lacks.
func unmappedLeaves(doc map[string]any, m map[string]string) []string {
	seen := map[string]bool{}
	leaves("", doc, seen)
	var out []string
	for f := range seen {
		if _, ok := m[f]; !ok {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// TestReadEventsToElasticsearch: `read --events --output es` on a real
// capture, with the templates installed, puts the session record in
// logs-psmtap.session-default and the events in logs-psmtap.activity-default,
// each once under its event.id, and every field of every event is mapped
// (the template is dynamic: false: an unmapped field would be kept but not
// searchable).
func TestReadEventsToElasticsearch(t *testing.T) {
	const capture = "pcaps/telnet-login.pcap"
	wantRecs, wantEvents := activityOf(t, run(t, "read", "--events", capture).stdout)
	if len(wantEvents) == 0 {
		t.Fatal(capture + ": read --events gives no \"event.dataset\":\"psmtap.activity\" documents")
	}
	srv, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatalf("setup: %s", r.stderr)
	}
	spoolDir := t.TempDir()
	r := run(t, "read", "--events", "--output", "es", "--es-url", url, "--spool", spoolDir, capture)
	if r.code != 0 || strings.Contains(r.stderr, "refused") {
		t.Fatalf("read: exit %d %s", r.code, r.stderr)
	}
	check := func(stream string, want []map[string]any, m map[string]string) {
		t.Helper()
		docs := srv.Docs(stream)
		if len(docs) != len(want) {
			t.Fatalf("%d documents in %s, want %d", len(docs), stream, len(want))
		}
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
				t.Errorf("%s: fields without a mapping in %s: %v", k, stream, un)
			}
		}
		for _, w := range want {
			got := byID[str(w, "event.id")]
			if got == nil || str(got, "psm.session_id") != str(w, "psm.session_id") || str(got, "@timestamp") != str(w, "@timestamp") {
				t.Fatalf("%s: %s missing or different", stream, str(w, "event.id"))
			}
		}
	}
	check("logs-psmtap.session-default", wantRecs, srv.Mapping("logs-psmtap.session-default"))
	check("logs-psmtap.activity-default", wantEvents, srv.Mapping("logs-psmtap.activity-default"))
	if !strings.Contains(r.stderr, "indexed="+itoa(len(wantRecs)+len(wantEvents))) {
		t.Fatalf("counters: %s", r.stderr)
	}
	// Again: nothing stored twice.
	r = run(t, "read", "--events", "--output", "es", "--es-url", url, "--spool", spoolDir, capture)
	if !strings.Contains(r.stderr, "duplicates="+itoa(len(wantRecs)+len(wantEvents))) || srv.Count("logs-psmtap.activity-default") != len(wantEvents) {
		t.Fatalf("second read: %s", r.stderr)
	}
}

// TestEventFieldsMapped: every field of every activity event psmtap writes
// for the bundled captures has a mapping in the activity template, and every
// field of every record one in the session template.
func TestEventFieldsMapped(t *testing.T) {
	m := map[string]string{}
	for _, f := range setup.ActivityFields() {
		m[f.Name] = f.Type
	}
	events := 0
	missing := map[string][]string{}
	for _, c := range captures(t) {
		_, evs := activityOf(t, run(t, "read", "--all", "--events", c).stdout)
		for _, e := range evs {
			events++
			for _, f := range unmappedLeaves(e, m) {
				missing[f] = append(missing[f], c)
			}
		}
	}
	for f, cs := range missing {
		t.Errorf("%s (on events of %s) has no mapping in index/setup/assets/activity_fields.txt", f, cs[0])
	}
	if events == 0 {
		t.Fatal("no capture gives activity events: nothing was checked")
	}
}

// TestSearchEvents: search --events finds activity events by words of the
// command, user, action and outcome, and a session's whole story by its id.
func TestSearchEvents(t *testing.T) {
	srv, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatal(r.stderr)
	}
	t0 := time.Date(2026, 11, 26, 0, 9, 40, 0, time.UTC).UnixNano()
	mk := func(e *record.Event, sid string, seq int, user string) *record.Event {
		e.SessionID, e.Sequence, e.ID = sid, seq, record.EventID(sid, seq)
		e.Client, e.Server = netip.MustParseAddrPort("192.0.2.10:41438"), netip.MustParseAddrPort("192.0.2.20:23")
		e.Transport, e.Protocol = "tcp", "telnet"
		if e.UserName == "" {
			e.UserName = user
		}
		return e
	}
	fail := record.LoginEvent(t0, "alice", record.OutcomeFailure, "password", false)
	fail.Reason, fail.CleartextCredentials = "Login incorrect", true
	ftp := record.CommandEvent(t0+5e9, "DELE report.txt")
	ftp.Command.ReplyCode = 550
	evs := []*record.Event{
		mk(fail, "sessA", 1, ""),
		mk(record.LoginEvent(t0+1e9, "alice", record.OutcomeSuccess, "password", false), "sessA", 2, ""),
		mk(record.CommandEvent(t0+2e9, "id"), "sessA", 3, "alice"),
		mk(record.CommandEvent(t0+3e9, "sudo cat /etc/shadow"), "sessA", 4, "alice"),
		mk(record.CommandEvent(t0+4e9, "cat /etc/passwd"), "sessB", 1, "bob"),
		mk(ftp, "sessB", 2, "bob"),
		mk(record.FileEvent(t0+6e9, "deletion", "/srv/old.txt", -1, ""), "sessB", 3, "bob"),
	}
	var bulk strings.Builder
	for _, e := range evs {
		b, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		bulk.WriteString(`{"create":{"_id":"` + e.DocID() + `"}}` + "\n")
		bulk.Write(b)
		bulk.WriteByte('\n')
	}
	res, err := http.Post(url+"/logs-psmtap.activity-default/_bulk", "application/x-ndjson", strings.NewReader(bulk.String()))
	if err != nil || res.StatusCode != 200 {
		t.Fatal(err, res)
	}
	res.Body.Close()
	if srv.Count("logs-psmtap.activity-default") != len(evs) {
		t.Fatalf("%d events stored", srv.Count("logs-psmtap.activity-default"))
	}
	for _, c := range []struct {
		args  []string
		count string
		want  []string
	}{
		{[]string{"--command", "SHADOW sudo"}, "1 of 1 events", []string{"sudo cat /etc/shadow", "alice", "192.0.2.20:23", "command"}},
		{[]string{"--command", "cat"}, "2 of 2 events", []string{"/etc/passwd", "/etc/shadow"}},
		{[]string{"--user", "bob"}, "3 of 3 events", []string{"DELE report.txt -> 550", "deletion /srv/old.txt"}},
		{[]string{"--action", "login", "--outcome", "failure"}, "1 of 1 events", []string{"password cleartext password (Login incorrect)", "failure"}},
		{[]string{"--action", "login,file"}, "3 of 3 events", nil},
		{[]string{"--session", "sessA"}, "4 of 4 events", nil},
		{[]string{"--session", "sessA", "--to", "2026-11-26T00:09:41Z"}, "2 of 2 events", nil},
	} {
		r := run(t, append([]string{"search", "--events", "--es-url", url}, c.args...)...)
		if r.code != 0 || !strings.Contains(r.stdout, c.count) {
			t.Fatalf("search --events %v: exit %d\n%s%s", c.args, r.code, r.stdout, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("search --events %v: no %q in\n%s", c.args, w, r.stdout)
			}
		}
	}
	// Newest first, JSON as stored.
	r := run(t, "search", "--events", "--es-url", url, "--session", "sessA", "--format", "json")
	got := records(t, r.stdout)
	if len(got) != 4 || str(got[0], "event.id") != "sessA-4" || str(got[3], "event.id") != "sessA-1" {
		t.Fatalf("order: %s", r.stdout)
	}
	// Without --events, sessions only; --action needs --events.
	if r := run(t, "search", "--es-url", url, "--user", "alice"); !strings.Contains(r.stdout, "0 of 0 sessions") {
		t.Fatalf("session search found events: %s", r.stdout)
	}
	if r := run(t, "search", "--es-url", url, "--action", "login"); r.code != 2 {
		t.Fatalf("--action without --events: exit %d", r.code)
	}
}
