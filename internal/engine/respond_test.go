package engine

import (
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/respond"
)

// TestRespondRecords reads a real Telnet session with a dry-run responder
// and asks, mid-session, for a terminate, a lockdown's outcome and a
// disabled kind: each is recorded (one response event each, the record
// keeping the terminate's), nothing is sent; a lockdown outcome for the
// session after it ended has an event of its own.
func TestRespondRecords(t *testing.T) {
	src, err := capture.OpenFile("../../pcaps/telnet-suspicious.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sent := 0
	rs := respond.NewResponder(func([]byte) error { sent++; return nil }, 16)
	rs.DryRun = true
	var recs []*record.Record
	var evs []*record.Event
	e := New(Config{Dissectors: dissectors.All(), Responder: rs, Emit: func(r *record.Record) { recs = append(recs, r) },
		EmitEvent: func(ev *record.Event) { evs = append(evs, ev) }})
	var id string
	asked := false
	for {
		frame, link, ts, wire, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		e.Packet(link, frame, ts, wire)
		if id == "" {
			for _, ev := range evs {
				if ev.Action == record.ActionCommand {
					id = ev.SessionID
				}
			}
		}
		if id != "" && !asked {
			asked = true
			now := time.Now()
			rs.Submit(respond.Request{SessionID: id, Action: respond.ActionLockdown, Why: "rule", RuleID: "r1", Outcome: respond.OutcomeOK})
			rs.Submit(respond.Request{SessionID: id, Action: respond.ActionTerminate, Why: "rule", RuleID: "r1"})
			rs.Submit(respond.Request{SessionID: id, Action: respond.ActionWarn, Why: "rule", RuleID: "r2", Outcome: respond.OutcomeDisabled})
			e.Respond(now)
		}
	}
	e.Flush()
	if id == "" {
		t.Fatal("no command event: the capture did not decode")
	}
	// After the end: the session is gone, the outcome gets an event alone.
	cl := netip.MustParseAddrPort("192.0.2.10:52816")
	rs.Submit(respond.Request{SessionID: id, Action: respond.ActionLockdown, Why: "rule", RuleID: "r3", AlertID: "A9",
		Outcome: respond.OutcomeFailed, Err: "exit status 1", Client: cl, User: "alice"})
	e.Respond(time.Now())
	if sent != 0 {
		t.Errorf("dry run sent %d frames", sent)
	}
	byAction := map[string]*record.Response{}
	var late *record.Event
	for _, ev := range evs {
		if ev.Action != record.ActionResponse {
			continue
		}
		if ev.Response == nil || !ev.Response.DryRun || ev.SessionID != id {
			t.Fatalf("response event: %+v", ev)
		}
		if ev.Response.RuleID == "r3" {
			late = ev
			continue
		}
		byAction[ev.Response.Action] = ev.Response
	}
	if r := byAction[respond.ActionTerminate]; r == nil || r.Outcome != respond.OutcomeDryRun || r.Packets != 0 || r.Tries != 0 {
		t.Errorf("terminate: %+v", r)
	}
	if r := byAction[respond.ActionLockdown]; r == nil || r.Outcome != respond.OutcomeOK {
		t.Errorf("lockdown: %+v", r)
	}
	if r := byAction[respond.ActionWarn]; r == nil || r.Outcome != respond.OutcomeDisabled {
		t.Errorf("disabled warn: %+v", r)
	}
	if late == nil || late.ID != id+"-lockdown-A9" || late.Client != cl || late.UserName != "alice" || late.Response.Outcome != respond.OutcomeFailed ||
		late.Outcome != record.OutcomeFailure || late.Response.Error != "exit status 1" {
		t.Errorf("the lockdown outcome after the session ended: %+v", late)
	}
	var rec *record.Record
	for _, r := range recs {
		if r.ID == id && r.EventType == "end" {
			rec = r
		}
	}
	if rec == nil || rec.Response == nil || rec.Response.Action != respond.ActionTerminate || rec.Response.Outcome != respond.OutcomeDryRun || !rec.Response.DryRun {
		t.Fatalf("record's psm.response: %+v", rec)
	}
	if rec.State == "reset" {
		t.Error("a dry run marked the session reset")
	}
}
