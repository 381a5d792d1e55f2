package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/index/es/standin"
)

// The CLI against the Elasticsearch stand-in (index/es/standin): no cluster
// can run where psmtap is built. index/es runs the same against a real one
// when PSMTAP_ES_URL is set.

func startStandin(t *testing.T) (*standin.Server, string) {
	t.Helper()
	srv := standin.New()
	url, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	return srv, url
}

func TestReadToElasticsearch(t *testing.T) {
	srv, url := startStandin(t)
	spoolDir := t.TempDir()
	files, _ := filepath.Glob(filepath.Join(repoRoot, "pcaps", "*.pcap"))
	var args []string
	for _, f := range files {
		rel, _ := filepath.Rel(repoRoot, f)
		args = append(args, rel)
	}
	want := records(t, run(t, append([]string{"read"}, args...)...).stdout)
	if len(want) < 5 {
		t.Fatalf("only %d records from the bundled captures", len(want))
	}
	r := run(t, append([]string{"read", "--output", "es", "--es-url", url, "--spool", spoolDir}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	docs := srv.Docs("logs-psmtap.session-default")
	if len(docs) != len(want) {
		t.Fatalf("%d documents in the data stream, %d records: %s", len(docs), len(want), r.stderr)
	}
	for _, w := range want {
		id := str(w, "event.id")
		var found bool
		for k, b := range docs {
			if strings.HasSuffix(k, "/"+id) {
				var got map[string]any
				json.Unmarshal(b, &got)
				if str(got, "network.community_id") != str(w, "network.community_id") {
					t.Fatalf("document %s differs from the NDJSON record", id)
				}
				found = true
			}
		}
		if !found {
			t.Fatalf("record %s not indexed under its event.id", id)
		}
	}
	if !strings.Contains(r.stderr, "indexed="+itoa(len(want))) {
		t.Fatalf("no counters on stderr: %s", r.stderr)
	}

	// The cluster away: read still exits 0, says how many wait; spool status
	// shows them; spool drain sends them once the cluster is back.
	srv.Stop()
	r = run(t, append([]string{"read", "--output", "es", "--es-url", url, "--es-namespace", "second", "--spool", spoolDir}, args...)...)
	if r.code != 0 || !strings.Contains(r.stderr, itoa(len(want))+" records wait in the spool") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	st := run(t, "spool", "status", "--spool", spoolDir)
	if !strings.Contains(st.stdout, "waiting:   "+itoa(len(want))+" records") {
		t.Fatalf("spool status: %s", st.stdout)
	}
	r = run(t, "spool", "drain", "--spool", spoolDir, "--es-url", url)
	if r.code == 0 {
		t.Fatalf("drain with the cluster away should fail: %s", r.stdout)
	}
	if _, err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	r = run(t, "spool", "drain", "--spool", spoolDir, "--es-url", url)
	if r.code != 0 || srv.Count("logs-psmtap.session-second") != len(want) {
		t.Fatalf("drain: exit %d %s %s; %d docs", r.code, r.stdout, r.stderr, srv.Count("logs-psmtap.session-second"))
	}
	if strings.Contains(run(t, "spool", "status", "--spool", spoolDir).stdout, "waiting:   "+itoa(len(want))) {
		t.Fatal("spool not empty after drain")
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	_, url := startStandin(t)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	writeFile(t, keyFile, "c2VjcmV0LWlkOnNlY3JldC1rZXk=\n")
	r := run(t, "read", "--output", "es", "--es-url", url, "--es-api-key-file", keyFile, "--spool", dir, "--log-level", "debug", "pcaps/telnet-login.pcap")
	if strings.Contains(r.stderr+r.stdout, "c2VjcmV0") {
		t.Fatal("the API key appears in the output")
	}
	if !strings.Contains(r.stderr, "auth=api-key") {
		t.Fatalf("no note of the kind of credential: %s", r.stderr)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSetupThenSearch(t *testing.T) {
	srv, url := startStandin(t)
	kb := standin.NewKibana()
	ks := httptest.NewServer(kb)
	defer ks.Close()
	r := run(t, "setup", "--es-url", url, "--kibana-url", ks.URL, "--retention", "30d")
	if r.code != 0 || !strings.Contains(r.stdout, "PUT /_index_template/psmtap-session ok") || !strings.Contains(r.stdout, "Kibana: imported") {
		t.Fatalf("setup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if m := srv.Mapping("logs-psmtap.session-default"); m["source.ip"] != "ip" {
		t.Fatalf("template not applied: %v", m["source.ip"])
	}
	r = run(t, "read", "--output", "es", "--es-url", url, "--spool", t.TempDir(),
		"pcaps/rlogin.pcap", "pcaps/rsh.pcap", "pcaps/telnet-login.pcap", "pcaps/ssh-password-interactive.pcap")
	if r.code != 0 || strings.Contains(r.stderr, "dead-letter") {
		t.Fatalf("read: exit %d %s", r.code, r.stderr)
	}
	// alice: the rlogin, the two rsh and the Telnet sessions (SSH hides the user).
	r = run(t, "search", "--es-url", url, "--user", "alice")
	if r.code != 0 || !strings.Contains(r.stdout, "4 of 4 sessions") || !strings.Contains(r.stdout, "rlogin") || !strings.Contains(r.stdout, "telnet") {
		t.Fatalf("search --user: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "search", "--es-url", url, "--protocol", "ssh,telnet", "--format", "json", "--from", "2000-01-01", "--to", "2100-01-01")
	recs := records(t, r.stdout)
	if r.code != 0 || len(recs) != 2 {
		t.Fatalf("search --protocol: exit %d, %d records\n%s", r.code, len(recs), r.stderr)
	}
	for _, rec := range recs {
		if p := str(rec, "network.protocol"); p != "ssh" && p != "telnet" {
			t.Fatalf("protocol %s", p)
		}
	}
	r = run(t, "search", "--es-url", url, "--host", "192.0.2.0/24", "--from", "2026-11-26T00:10:00Z", "--to", "2026-11-26T00:10:30Z")
	if r.code != 0 || !strings.Contains(r.stdout, "1 of 1 sessions") || !strings.Contains(r.stdout, "rlogin") {
		t.Fatalf("search --host --from --to: %s%s", r.stdout, r.stderr)
	}
	r = run(t, "search", "--es-url", url, "--host", "198.51.100.7", "--since", "24h")
	if r.code != 0 || !strings.Contains(r.stdout, "0 of 0 sessions") {
		t.Fatalf("search --host (no such host): %s%s", r.stdout, r.stderr)
	}
	// Days and weeks as report takes them: a century back finds the captures' sessions; a unit that
	// is not one is refused with the forms that are.
	r = run(t, "search", "--es-url", url, "--host", "192.0.2.0/24", "--since", "36500d", "--format", "json")
	if recs := records(t, r.stdout); r.code != 0 || len(recs) == 0 {
		t.Fatalf("search --since 36500d: exit %d, %d records\n%s", r.code, len(recs), r.stderr)
	}
	r = run(t, "search", "--es-url", url, "--since", "30x")
	if r.code != 2 || !strings.Contains(r.stderr, "30d") {
		t.Fatalf("search --since 30x: exit %d\n%s", r.code, r.stderr)
	}
}

func TestSearchByCommand(t *testing.T) {
	srv, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatal(r.stderr)
	}
	bulk := `{"create":{"_id":"a"}}
{"@timestamp":"2026-11-26T00:00:00Z","event":{"type":["end"],"id":"a"},"network":{"protocol":"telnet"},"source":{"ip":"192.0.2.10","port":4000},"destination":{"ip":"192.0.2.20","port":23},"user":{"name":"bob"},"psm":{"state":"closed","commands":["id","sudo passwd root"]}}
{"create":{"_id":"b"}}
{"@timestamp":"2026-11-26T00:01:00Z","event":{"type":["end"],"id":"b"},"network":{"protocol":"telnet"},"source":{"ip":"192.0.2.11","port":4001},"destination":{"ip":"192.0.2.20","port":23},"user":{"name":"carol"},"psm":{"state":"closed","commands":["passwd"]}}
`
	res, err := http.Post(url+"/logs-psmtap.session-default/_bulk", "application/x-ndjson", strings.NewReader(bulk))
	if err != nil || res.StatusCode != 200 {
		t.Fatal(err, res)
	}
	if srv.Count("logs-psmtap.session-default") != 2 {
		t.Fatal("bulk did not land")
	}
	r := run(t, "search", "--es-url", url, "--command", "passwd ROOT")
	if !strings.Contains(r.stdout, "1 of 1 sessions") || !strings.Contains(r.stdout, "sudo passwd root") {
		t.Fatalf("%s%s", r.stdout, r.stderr)
	}
	r = run(t, "search", "--es-url", url, "--command", "passwd")
	if !strings.Contains(r.stdout, "2 of 2 sessions") {
		t.Fatalf("%s%s", r.stdout, r.stderr)
	}
}
