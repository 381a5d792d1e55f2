package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/respond"
	"github.com/psmtap/psmtap/internal/rules"
)

type quietLog struct{}

func (quietLog) Warn(string, ...any) {}

// TestLockdownRuleNeedsExec: a rule asking for lockdown is refused without
// --lockdown-exec; with it, its alert runs the program and asks for the
// terminate too, one request per session.
func TestLockdownRuleNeedsExec(t *testing.T) {
	dir := t.TempDir()
	rule := strings.Replace(respondRule, "response: terminate", "response: [lockdown, terminate]", 1)
	if err := os.WriteFile(filepath.Join(dir, "r.yml"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := rules.Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	rs := respond.NewResponder(nil, 16)
	if _, err := ruleResponder(set, rs, nil, quietLog{}); err == nil || !strings.Contains(err.Error(), "--lockdown-exec") {
		t.Fatalf("lockdown rule without --lockdown-exec: %v", err)
	}
	mark := filepath.Join(dir, "ran")
	p := filepath.Join(dir, "lock.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\ncat > "+mark+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	lk, err := respond.NewLockdown(respond.LockdownOptions{Argv: []string{p}}, rs)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	on, err := ruleResponder(set, rs, lk, quietLog{})
	if err != nil || on == nil {
		t.Fatal(err)
	}
	on(&record.Alert{ID: "A1", RuleID: set.Rules()[0].ID, SessionIDs: []string{"S1"}, Time: time.Now()})
	seen := map[string]string{}
	end := time.Now().Add(5 * time.Second)
	for len(seen) < 2 && time.Now().Before(end) {
		if req, ok := rs.Next(); ok {
			seen[req.Action] = req.Outcome
			continue
		}
		time.Sleep(5 * time.Millisecond)
	}
	if seen[respond.ActionTerminate] != "" || seen[respond.ActionLockdown] != respond.OutcomeOK || len(seen) != 2 {
		t.Fatalf("requests: %v", seen)
	}
	if _, err := os.Stat(mark); err != nil {
		t.Fatal("the program did not run:", err)
	}
}
