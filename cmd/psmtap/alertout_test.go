package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/psmtap/psmtap/index/alertout"
)

// TestAlertOutputs: read --rules builtin with a webhook and a program: the
// receiver gets every alert of the capture once, in the order written, with
// the header of the header file; the program gets each on its stdin.
func TestAlertOutputs(t *testing.T) {
	const capture = "pcaps/ftp-vsftpd.pcap"
	_, _, want := byDataset(t, run(t, "read", "--rules", "builtin", capture).stdout)
	if len(want) < 2 {
		t.Fatalf("%s: %d alerts", capture, len(want))
	}
	var mu sync.Mutex
	var got []string
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var d map[string]any
		json.Unmarshal(b, &d)
		mu.Lock()
		got = append(got, str(d, "event.id"))
		auth = r.Header.Get("Authorization")
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	hf := filepath.Join(dir, "headers")
	writeFile(t, hf, "Authorization: Bearer t0ken\n")
	out := filepath.Join(dir, "exec")
	os.Mkdir(out, 0o700)
	sh := filepath.Join(dir, "on-alert.sh")
	writeFile(t, sh, "#!/bin/sh\ncat > \"$1/$PSMTAP_ALERT_ID.json\"\n")
	os.Chmod(sh, 0o755)
	r := run(t, "read", "--rules", "builtin", "--alert-webhook", srv.URL+"/hook", "--alert-webhook-header-file", hf,
		"--alert-spool", filepath.Join(dir, "spool"), "--alert-exec", sh+" "+out, "--log-level", "info", capture)
	if r.code != 0 {
		t.Fatalf("read: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "t0ken") {
		t.Fatal("the header's secret is in the log")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) || auth != "Bearer t0ken" {
		t.Fatalf("webhook got %v (auth %q), want %d alerts", got, auth, len(want))
	}
	for i, a := range want {
		if got[i] != str(a, "event.id") {
			t.Fatalf("webhook alert %d is %s, want %s", i, got[i], str(a, "event.id"))
		}
		b, err := os.ReadFile(filepath.Join(out, str(a, "event.id")+".json"))
		var d map[string]any
		if err != nil || json.Unmarshal(b, &d) != nil || str(d, "rule.name") != str(a, "rule.name") {
			t.Fatalf("program's stdin for %s: %s %v", str(a, "event.id"), b, err)
		}
	}
	if !strings.Contains(r.stderr, "sent="+itoa(len(want))) || !strings.Contains(r.stderr, "ran="+itoa(len(want))) {
		t.Fatalf("counters: %s", r.stderr)
	}
	for _, bad := range [][]string{
		{"--alert-webhook", srv.URL},                                                          // no --rules
		{"--rules", "builtin", "--alert-exec", "a | b"},                                       // a shell line
		{"--rules", "builtin", "--alert-webhook", "x:/y"},                                     // not http(s)
		{"--rules", "builtin", "--alert-webhook", srv.URL, "--alert-webhook-header-file", sh}, // not headers
	} {
		if r := run(t, append(append([]string{"read"}, bad...), capture)...); r.code != 2 {
			t.Errorf("read %v: exit %d, want 2: %s", bad, r.code, r.stderr)
		}
	}
}

// TestSpoolAlerts: alerts spooled while the webhook receiver was down are
// sent by `psmtap spool alerts`, in order, exactly once, and the spool is
// empty after it.
func TestSpoolAlerts(t *testing.T) {
	const capture = "pcaps/ftp-vsftpd.pcap"
	_, _, want := byDataset(t, run(t, "read", "--rules", "builtin", capture).stdout)
	// A port nobody listens on: the receiver is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() + "/hook"
	l.Close()
	spoolDir := filepath.Join(t.TempDir(), "spool")
	r := run(t, "read", "--rules", "builtin", "--alert-webhook", down, "--alert-spool", spoolDir,
		"--alert-webhook-timeout", "200ms", capture)
	if r.code != 0 || !strings.Contains(r.stderr, "alerts wait in the webhook's spool") {
		t.Fatalf("read with the receiver down: exit %d\n%s", r.code, r.stderr)
	}
	// Still down: nothing delivered, exit 1, nothing lost.
	r = run(t, "spool", "alerts", "--alert-webhook", down, "--alert-spool", spoolDir, "--wait", "1s", "--alert-webhook-timeout", "200ms")
	if r.code != 1 || !strings.Contains(r.stdout, "still waiting "+itoa(len(want))) {
		t.Fatalf("spool alerts, receiver down: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var d map[string]any
		json.Unmarshal(b, &d)
		mu.Lock()
		got = append(got, str(d, "event.id"))
		mu.Unlock()
	}))
	defer srv.Close()
	// The spool is per URL: the receiver is back at the same address.
	up := strings.Replace(down, "http://"+l.Addr().String(), srv.URL, 1)
	os.Rename(alertout.SpoolDirFor(spoolDir, down), alertout.SpoolDirFor(spoolDir, up))
	r = run(t, "spool", "alerts", "--alert-webhook", up, "--alert-spool", spoolDir)
	if r.code != 0 || !strings.Contains(r.stdout, "delivered "+itoa(len(want))+", refused 0 (dead-letter.ndjson), still waiting 0") {
		t.Fatalf("spool alerts: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("receiver got %v, want %d alerts", got, len(want))
	}
	for i, a := range want {
		if got[i] != str(a, "event.id") {
			t.Fatalf("alert %d is %s, want %s", i, got[i], str(a, "event.id"))
		}
	}
	if r := run(t, "spool", "alerts", "--alert-spool", spoolDir); r.code != 2 {
		t.Fatalf("without --alert-webhook: exit %d", r.code)
	}
}
