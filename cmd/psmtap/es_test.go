package main

import (
	"encoding/json"
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
