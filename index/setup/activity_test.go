package setup

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/index/es"
	"github.com/psmtap/psmtap/index/es/standin"
	"github.com/psmtap/psmtap/index/spool"
	"github.com/psmtap/psmtap/internal/record"
)

// activityEvents are one event of each action with every field filled, as
// the engine hands them to the sinks (session context set).
func activityEvents() []*record.Event {
	t0 := time.Date(2026, 11, 26, 0, 9, 40, 0, time.UTC).UnixNano()
	evs := []*record.Event{
		record.LoginEvent(t0, "alice", record.OutcomeFailure, "password", false),
		record.LoginEvent(t0+1e9, "alice", record.OutcomeSuccess, "password", false),
		record.CommandEvent(t0+2e9, "sudo cat /etc/shadow"),
		record.CommandEvent(t0+3e9, "RETR report.txt"),
		record.FileEvent(t0+4e9, "access", "/srv/report.txt", 1234, record.Download),
		record.FileEvent(t0+5e9, "change", "old.txt", -1, ""),
		record.KindEvent(t0+6e9, "tunnel", "bulk both ways after the login"),
		{Time: time.Unix(0, t0+7e9), Action: record.ActionSecurity, Category: []string{"network"}, Type: []string{"info"},
			Reason: "Standard RDP Security", Objects: map[string]any{"rdp": map[string]any{"selected_protocol": "rdp", "requested_protocols": []string{"ssl", "hybrid"}}}},
	}
	evs[0].Reason, evs[0].CleartextCredentials, evs[0].Login.Attempt = "Login incorrect", true, 1
	evs[1].CleartextCredentials, evs[1].Login.Attempt = true, 2
	evs[3].Command.ReplyCode, evs[3].Command.Reply = 226, "Transfer complete."
	evs[5].File.NewPath = "old.txt.bak"
	for i, e := range evs {
		e.SessionID, e.Sequence, e.ID = "yhsc25kJHic1dFR23CUt", i+1, record.EventID("yhsc25kJHic1dFR23CUt", i+1)
		e.Client, e.Server = netip.MustParseAddrPort("192.0.2.10:41438"), netip.MustParseAddrPort("192.0.2.20:23")
		e.Transport, e.Protocol, e.CommunityID = "tcp", "telnet", "1:m7783GeYYEG6HL7XOxhNBmoDxVo="
		e.Observer, e.Interface = "sensor-1", "eth1"
		if e.UserName == "" {
			e.UserName = "alice"
		}
	}
	return evs
}

// TestActivityEventsThroughTheTemplate ships one event of each action with
// the templates installed: each lands in logs-psmtap.activity-default once,
// under its event.id, none is refused, and every field it carries is mapped
// (the template is dynamic: false, so an unmapped field would be silently
// unsearchable rather than refused).
func TestActivityEventsThroughTheTemplate(t *testing.T) {
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
	if _, err := Elasticsearch(context.Background(), cl, DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	sh, err := es.New(context.Background(), es.Options{Client: cl, Index: es.DataStream("default"),
		ActivityIndex: es.ActivityDataStream("default"), Spool: sp, FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	evs := activityEvents()
	for _, e := range evs {
		if err := sh.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := sh.Close(); err != nil {
		t.Fatal(err)
	}
	if st := sh.Stats(); st.Indexed != int64(len(evs)) || st.DeadLettered != 0 {
		b, _ := os.ReadFile(filepath.Join(dir, "dead-letter.ndjson"))
		t.Fatalf("stats %v; dead letters: %s", st, b)
	}
	docs := srv.Docs(es.ActivityDataStream("default"))
	if len(docs) != len(evs) || srv.Count(es.DataStream("default")) != 0 {
		t.Fatalf("%d events in the activity stream (want %d), %d in the sessions'", len(docs), len(evs), srv.Count(es.DataStream("default")))
	}
	m := srv.Mapping(es.ActivityDataStream("default"))
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
	// The protocol object of the security event is indexed with the session
	// record's types.
	if m["rdp.selected_protocol"] != "keyword" || m["psm.file.target_path"] != "keyword" || m["file.size"] != "long" {
		t.Fatalf("mapping: %v %v %v", m["rdp.selected_protocol"], m["psm.file.target_path"], m["file.size"])
	}
}

// unmapped lists the leaf fields of a document that the mapping lacks.
func unmapped(doc map[string]any, m map[string]string) []string {
	leaves := map[string]bool{}
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				walk(p, c)
			}
		case []any:
			for _, c := range x {
				walk(prefix, c)
			}
		default:
			leaves[prefix] = true
		}
	}
	walk("", doc)
	var out []string
	for f := range leaves {
		if _, ok := m[f]; !ok && !inFlattened(f, m) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// inFlattened: f is a key inside a field mapped as flattened (which maps
// every key below it).
func inFlattened(f string, m map[string]string) bool {
	for i := strings.LastIndexByte(f, '.'); i > 0; i = strings.LastIndexByte(f[:i], '.') {
		if m[f[:i]] == "flattened" {
			return true
		}
	}
	return false
}
