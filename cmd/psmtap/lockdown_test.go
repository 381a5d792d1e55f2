package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/engine"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/respond"
	"github.com/psmtap/psmtap/internal/rules"
)

type quietLog struct{}

func (quietLog) Warn(string, ...any) {}

// takeReqs collects the requests an alert put on the responder's queue
// within d (a lockdown's come back when its program ends).
func takeReqs(rs *respond.Responder, n int, d time.Duration) []string {
	var got []string
	for end := time.Now().Add(d); len(got) < n && time.Now().Before(end); {
		if req, ok := rs.Next(); ok {
			got = append(got, req.Action+"="+req.Outcome)
			continue
		}
		time.Sleep(5 * time.Millisecond)
	}
	sort.Strings(got)
	return got
}

// TestRuleResponder: what a rule's alert asks the capture goroutine to do,
// by the kinds enabled: a kind not enabled is recorded as disabled, warn
// covers terminate, a dry run runs no program, and a lockdown runs it.
func TestRuleResponder(t *testing.T) {
	dir := t.TempDir()
	rule := strings.Replace(respondRule, "response: terminate", "response: [lockdown, terminate]", 1)
	if err := os.WriteFile(filepath.Join(dir, "r.yml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	mark := filepath.Join(dir, "ran")
	prog := filepath.Join(dir, "lock.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ncat >> "+mark+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	alert := &record.Alert{ID: "A1", RuleID: set.Rules()[0].ID, SessionIDs: []string{"S1"}, Time: time.Now()}
	for _, tc := range []struct {
		name    string
		enabled []string
		dryRun  bool
		want    string
		ran     bool
	}{
		{"terminate only", []string{"terminate"}, false, "lockdown=disabled terminate=", false},
		{"warn only", []string{"warn"}, false, "lockdown=disabled terminate=disabled", false},
		{"lockdown only", []string{"lockdown"}, false, "lockdown=ok terminate=disabled", true},
		{"both", []string{"terminate", "lockdown"}, false, "lockdown=ok terminate=", true},
		{"both, dry run", []string{"terminate", "lockdown"}, true, "lockdown=dry_run terminate=", false},
	} {
		os.Remove(mark)
		lr := &liveResponses{enabled: map[string]bool{}, dryRun: tc.dryRun, rs: respond.NewResponder(nil, 16)}
		for _, k := range tc.enabled {
			lr.enabled[k] = true
		}
		if lr.on("lockdown") {
			if lr.lk, err = respond.NewLockdown(respond.LockdownOptions{Argv: []string{prog}}, lr.rs); err != nil {
				t.Fatal(err)
			}
		}
		on := ruleResponder(set, lr, quietLog{})
		on(alert)
		got := strings.Join(takeReqs(lr.rs, 2, 5*time.Second), " ")
		if lr.lk != nil {
			lr.lk.Close()
		}
		_, err := os.Stat(mark)
		if got != tc.want || (err == nil) != tc.ran {
			t.Errorf("%s: requests %q, want %q; program ran %v, want %v", tc.name, got, tc.want, err == nil, tc.ran)
		}
	}
	// Nothing enabled: no responder, the log is the record; nothing panics.
	if on := ruleResponder(set, &liveResponses{enabled: map[string]bool{}}, quietLog{}); on == nil {
		t.Error("no hook for a rule with a response when nothing is enabled: its disabled response would go unlogged")
	} else {
		on(alert)
	}
}

// TestDrainRecordsLockdown: a hook still running when the capture stops is
// waited for before the flush, so its outcome is on the session's record
// (it used to come after the engine had gone, and was lost).
func TestDrainRecordsLockdown(t *testing.T) {
	src, err := capture.OpenFile(repoRoot + "/pcaps/telnet-suspicious.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	prog := filepath.Join(t.TempDir(), "slow.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\ncat >/dev/null\nsleep 0.5\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	lr := &liveResponses{enabled: map[string]bool{"lockdown": true}, rs: respond.NewResponder(nil, 16)}
	if lr.lk, err = respond.NewLockdown(respond.LockdownOptions{Argv: []string{prog}, Timeout: 5 * time.Second}, lr.rs); err != nil {
		t.Fatal(err)
	}
	var recs []*record.Record
	var id string
	eng := engine.New(engine.Config{Dissectors: dissectors.All(), Responder: lr.rs, Emit: func(r *record.Record) { recs = append(recs, r) },
		EmitEvent: func(ev *record.Event) {
			if id == "" && ev.Action == record.ActionCommand {
				id = ev.SessionID
			}
		}})
	for {
		frame, link, ts, wire, err := src.Next()
		if err != nil {
			break
		}
		eng.Packet(link, frame, ts, wire)
		if id != "" && lr.lk.Pending() == 0 && len(recs) == 0 {
			a := &record.Alert{ID: "A1", RuleID: "r1", SessionIDs: []string{id}, Time: time.Now()}
			lr.lk.Run(a, []respond.Request{{SessionID: id, Action: respond.ActionLockdown, Why: "rule", RuleID: "r1", AlertID: "A1"}})
			break // the capture stops while the program runs
		}
	}
	if id == "" {
		t.Fatal("no command event")
	}
	start := time.Now()
	lr.drain(eng, 5*time.Second)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("drain returned after %v: it did not wait for the program", d)
	}
	eng.Flush()
	lr.lk.Detach()
	lr.lk.Close()
	for _, r := range recs {
		if r.ID == id && r.EventType == "end" {
			if r.Response == nil || r.Response.Action != "lockdown" || r.Response.Outcome != "ok" {
				t.Fatalf("record's psm.response: %+v", r.Response)
			}
			return
		}
	}
	t.Fatal("no final record of the session")
}
