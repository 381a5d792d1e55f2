package respond

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/record"
)

func lockScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lockdown.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitReqs takes n requests from the responder's queue (the outcomes coming back).
func waitReqs(t *testing.T, rs *Responder, n int, within time.Duration) []Request {
	t.Helper()
	var got []Request
	end := time.Now().Add(within)
	for len(got) < n && time.Now().Before(end) {
		if req, ok := rs.Next(); ok {
			got = append(got, req)
			continue
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(got) != n {
		t.Fatalf("%d outcomes came back, want %d: %+v", len(got), n, got)
	}
	return got
}

func lockAlert(id string, sessions ...string) *record.Alert {
	// Context as the rules engine copies it from a document's JSON.
	return &record.Alert{ID: id, Time: time.Unix(1700000000, 0), RuleID: "r-" + id, RuleName: "Shadow read", RuleLevel: "high",
		Message: "alert " + id, SessionIDs: sessions, Context: map[string]any{
			"source":      map[string]any{"ip": "192.0.2.10", "port": float64(52816)},
			"destination": map[string]any{"ip": "192.0.2.20", "port": float64(23)},
			"user":        map[string]any{"name": "alice"},
			"network":     map[string]any{"protocol": "telnet"},
		}}
}

func lockReqs(a *record.Alert) []Request {
	var r []Request
	for _, s := range a.SessionIDs {
		r = append(r, Request{SessionID: s, Action: ActionLockdown, Why: "rule", RuleID: a.RuleID})
	}
	return r
}

// TestLockdownRuns: a real script gets the alert's JSON on stdin; its
// outcome comes back once per session of the alert, as lockdown requests.
func TestLockdownRuns(t *testing.T) {
	out := filepath.Join(t.TempDir(), "stdin.json")
	rs := NewResponder(nil, 16)
	lk, err := NewLockdown(LockdownOptions{Argv: []string{lockScript(t, `cat > "$1"`), out}, Duration: 90 * time.Second}, rs)
	if err != nil {
		t.Fatal(err)
	}
	a := lockAlert("a1", "S1", "S2")
	lk.Run(a, lockReqs(a))
	got := waitReqs(t, rs, 2, 5*time.Second)
	for i, want := range []string{"S1", "S2"} {
		if got[i].SessionID != want || got[i].Action != ActionLockdown || got[i].Outcome != OutcomeOK || got[i].Err != "" || got[i].RuleID != "r-a1" {
			t.Fatalf("outcome %d: %+v", i, got[i])
		}
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var d HookInput
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("stdin: %s (%v)", b, err)
	}
	want := HookInput{Action: "lockdown", AlertID: "a1", Time: "2023-11-14T22:13:20.000000000Z", Rule: HookRule{ID: "r-a1", Title: "Shadow read", Level: "high"},
		SessionIDs: []string{"S1", "S2"}, Client: HookAddr{"192.0.2.10", 52816}, Server: HookAddr{"192.0.2.20", 23}, User: "alice",
		Protocol: "telnet", Duration: "1m30s", DurationSeconds: 90}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("stdin:\n%s\nwant %+v", b, want)
	}
	if err := lk.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestLockdownFailureAndTimeout: a non-zero exit is failed with what the
// program said; a program past the timeout is killed: timeout. Run never waits.
func TestLockdownFailureAndTimeout(t *testing.T) {
	rs := NewResponder(nil, 16)
	fail, err := NewLockdown(LockdownOptions{Argv: []string{lockScript(t, `echo "firewall said no" >&2; exit 3`)}}, rs)
	if err != nil {
		t.Fatal(err)
	}
	a := lockAlert("f1", "S1")
	fail.Run(a, lockReqs(a))
	got := waitReqs(t, rs, 1, 5*time.Second)
	if got[0].Outcome != OutcomeFailed || !strings.Contains(got[0].Err, "exit status 3") || !strings.Contains(got[0].Err, "firewall said no") {
		t.Fatalf("failed run: %+v", got[0])
	}
	fail.Close()

	slow, err := NewLockdown(LockdownOptions{Argv: []string{lockScript(t, `sleep 30`)}, Timeout: 300 * time.Millisecond, Concurrency: 2}, rs)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, id := range []string{"t1", "t2"} {
		a := lockAlert(id, "S-"+id)
		slow.Run(a, lockReqs(a))
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("Run waited %s for the program", d)
	}
	got = waitReqs(t, rs, 2, 5*time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("two runs at once of 300 ms took %s", d)
	}
	for _, r := range got {
		if r.Outcome != OutcomeTimeout || !strings.HasPrefix(r.SessionID, "S-t") {
			t.Fatalf("slow run: %+v", r)
		}
	}
	slow.Close()
}

// TestLockdownRecord: Record reports a lockdown to the session's owner
// without touching the termination in progress.
func TestLockdownRecord(t *testing.T) {
	rs := NewResponder(nil, 4)
	var told []*Termination
	term := &Termination{Req: Request{Action: ActionTerminate}}
	c := &Conn{Term: term, Done: func(t *Termination) { told = append(told, t) }}
	rs.Record(c, Request{SessionID: "S1", Action: ActionLockdown, Outcome: OutcomeOK}, time.Now())
	if c.Term != term || len(told) != 1 || told[0].Outcome != OutcomeOK || told[0].Req.Action != ActionLockdown {
		t.Fatalf("term %p (was %p), told %+v", c.Term, term, told)
	}
}

// TestLockdownShutdown: Pending counts runs under way; after Detach their
// outcomes are logged, not queued for an engine that is gone; Close waits
// for them.
func TestLockdownShutdown(t *testing.T) {
	rs := NewResponder(nil, 16)
	lk, err := NewLockdown(LockdownOptions{Argv: []string{lockScript(t, `sleep 0.3`)}, Concurrency: 1, Timeout: 5 * time.Second}, rs)
	if err != nil {
		t.Fatal(err)
	}
	a, b := lockAlert("d1", "S1"), lockAlert("d2", "S2")
	lk.Run(a, lockReqs(a))
	lk.Run(b, lockReqs(b))
	if n := lk.Pending(); n != 2 {
		t.Fatalf("pending %d, want 2", n)
	}
	got := waitReqs(t, rs, 1, 5*time.Second) // the first, while attached
	if got[0].SessionID != "S1" || got[0].Outcome != OutcomeOK {
		t.Fatalf("first: %+v", got[0])
	}
	lk.Detach()
	start := time.Now()
	if err := lk.Close(); err != nil {
		t.Fatal(err)
	}
	if lk.Pending() != 0 || time.Since(start) < 100*time.Millisecond {
		t.Fatalf("Close returned after %s with %d pending", time.Since(start), lk.Pending())
	}
	if req, ok := rs.Next(); ok {
		t.Fatalf("an outcome after Detach was queued: %+v", req)
	}
}
