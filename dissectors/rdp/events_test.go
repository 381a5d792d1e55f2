package rdp_test

import (
	"strings"
	"testing"

	"github.com/psmtap/psmtap/internal/record"
)

// TestSecurityEvents: one security event per RDP session, when the
// negotiation settles, saying what the ground truth (pcaps/README.md) says;
// no login event (the cookie is a claim).
func TestSecurityEvents(t *testing.T) {
	for _, c := range []struct {
		name, outcome, reason, selected string
		std                             bool
	}{
		{"rdp-xrdp-rdpsec.pcap", "success", "Standard RDP Security selected", "rdp", true},
		{"rdp-rdesktop.pcap", "success", "Standard RDP Security selected, though the client offered ssl, hybrid", "rdp", true},
		{"rdp-xrdp-tls.pcap", "success", "security protocol ssl selected", "ssl", false},
		{"rdp-neg-failure.pcap", "failure", "RDP security negotiation failed: ssl_required_by_server", "", false},
	} {
		recs, evs := readCapture(t, c.name, 0, "rdp")
		if len(recs) != 1 {
			t.Fatalf("%s: %d records", c.name, len(recs))
		}
		r := recs[0]
		ev := evs[r.ID]
		checkTimes(t, r, ev)
		if len(ev) != 1 || ev[0].Action != record.ActionSecurity || ev[0].Outcome != c.outcome || ev[0].Reason != c.reason {
			t.Errorf("%s: events %+v", c.name, ev)
			continue
		}
		obj := ev[0].Objects["rdp"].(map[string]any)
		if sel, _ := obj["selected_protocol"].(string); sel != c.selected {
			t.Errorf("%s: selected %q", c.name, sel)
		}
		if std, ok := obj["standard_security"].(bool); c.selected != "" && (!ok || std != c.std) {
			t.Errorf("%s: standard_security %v", c.name, obj["standard_security"])
		}
		// The negotiation is the first exchange: the event comes early.
		if d := ev[0].Time.Sub(r.Start).Seconds(); d > 0.1 {
			t.Errorf("%s: event at +%.3f s", c.name, d)
		}
	}
}

// TestSnapshot: interim records (every second of packet time) carry what
// the negotiation said, and the final record is the same as without them.
func TestSnapshot(t *testing.T) {
	plain, _ := readCapture(t, "rdp-xrdp-rdpsec.pcap", 0, "rdp")
	all, _ := readCapture(t, "rdp-xrdp-rdpsec.pcap", 1e9, "rdp")
	var interims, final []*record.Record
	for _, r := range all {
		if r.EventType == "end" {
			final = append(final, r)
		} else {
			interims = append(interims, r)
		}
	}
	if len(interims) < 2 || len(final) != 1 {
		t.Fatalf("%d interim, %d final records", len(interims), len(final))
	}
	a, _ := final[0].MarshalJSON()
	b, _ := plain[0].MarshalJSON()
	if string(a) != string(b) {
		t.Fatalf("snapshots changed the record:\n%s\n%s", a, b)
	}
	last, _ := interims[len(interims)-1].MarshalJSON()
	for _, want := range []string{`"selected_protocol":"rdp"`, `"cookie":"alice"`, `"related":{"ip":["192.0.2.10","192.0.2.20"],"user":["alice"]`, `"encryption_method":"fips"`, `"certificate":{"type":"proprietary"`} {
		if !strings.Contains(string(last), want) {
			t.Errorf("interim record lacks %s: %s", want, last)
		}
	}
	if strings.Contains(string(last), `"user":{"name":"alice"}`) {
		t.Errorf("the RDP cookie became user.name: %s", last)
	}
}
