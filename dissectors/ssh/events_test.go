package ssh_test

import (
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/record"
)

// TestEventsAllCaptures: in every SSH capture, one login event per attempt
// the record counts (inferred, numbered, the last one with the record's
// outcome), events in order inside the session, and the last session_kind
// event says the record's psm.kind.
func TestEventsAllCaptures(t *testing.T) {
	names, _ := os.ReadDir("../../pcaps")
	n := 0
	for _, de := range names {
		if !strings.HasPrefix(de.Name(), "ssh-") || !strings.HasSuffix(de.Name(), ".pcap") {
			continue
		}
		n++
		recs, evs := readCapture(t, de.Name(), "ssh")
		for _, r := range recs {
			ev := evs[r.ID]
			checkTimes(t, r, ev)
			logins := byAction(ev, record.ActionLogin)
			if r.Login == nil && len(logins) == 0 && slices.Contains(r.Anomalies, "ssh.one_side_only") {
				continue // a banner grab: no login to tell
			}
			if r.Login == nil || len(logins) != r.Login.Attempts {
				t.Errorf("%s: %d login events for %+v", de.Name(), len(logins), r.Login)
				continue
			}
			for i, l := range logins {
				if !l.Login.Inferred || l.Login.Attempt != i+1 || l.Login.Method != "" {
					t.Errorf("%s: login %d %+v", de.Name(), i+1, l.Login)
				}
			}
			if last := logins[len(logins)-1]; r.Login.Success != nil && (last.Outcome == record.OutcomeSuccess) != *r.Login.Success {
				t.Errorf("%s: last login %s, record %v", de.Name(), last.Outcome, *r.Login.Success)
			}
			kinds := byAction(ev, record.ActionSessionKind)
			if r.Kind == "" && len(kinds) > 0 || r.Kind != "" && (len(kinds) == 0 || kinds[len(kinds)-1].Kind != r.Kind) {
				t.Errorf("%s: kind events %v, record %q", de.Name(), kinds, r.Kind)
			}
			if f := byAction(ev, record.ActionFile); len(f) != 0 && r.Kind != "file_transfer" || len(f) > 1 {
				t.Errorf("%s: %d file events for kind %q", de.Name(), len(f), r.Kind)
			}
			s := byAction(ev, record.ActionSecurity)
			if de.Name() == "ssh-weak-cipher.pcap" { // 3des-cbc asked for on purpose (pcaps/README.md)
				if len(s) != 1 || s[0].Reason != "weak SSH algorithms negotiated: cipher 3des-cbc" {
					t.Errorf("%s: security events %+v, want one for cipher 3des-cbc", de.Name(), s)
				}
			} else if len(s) != 0 {
				t.Errorf("%s: security event %q (OpenSSH's defaults are not weak)", de.Name(), s[0].Reason)
			}
		}
	}
	if n < 15 {
		t.Fatalf("only %d ssh captures", n)
	}
}

// TestEventsWrongThenRight: pcaps/README.md, four passwords, the last
// accepted; each event at the server's answer.
func TestEventsWrongThenRight(t *testing.T) {
	recs, evs := readCapture(t, "ssh-wrong-then-right.pcap", "ssh")
	l := byAction(evs[recs[0].ID], record.ActionLogin)
	if len(l) != 4 {
		t.Fatalf("%d logins", len(l))
	}
	answers := []float64{4.798, 9.397, 11.953, 12.582}
	for i, ev := range l {
		want := record.OutcomeFailure
		if i == 3 {
			want = record.OutcomeSuccess
		}
		if at := ev.Time.Sub(recs[0].Start).Seconds(); ev.Outcome != want || math.Abs(at-answers[i]) > 0.01 {
			t.Errorf("attempt %d: %s at %.3f s, want %s at %.3f s", i+1, ev.Outcome, at, want, answers[i])
		}
	}
}

// TestEventsKinds: the kinds the ground truth names, published while the
// session runs for tunnel, reverse and file transfer, with a file event for
// scp in the bulk's direction.
func TestEventsKinds(t *testing.T) {
	for _, c := range []struct {
		name, kind, direction string
		size                  int64 // the payload; the event counts encrypted records: a little more
	}{
		{"ssh-port-forward.pcap", "tunnel", "", 0},
		{"ssh-reverse-shell.pcap", "reverse", "", 0},
		{"ssh-scp-upload.pcap", "file_transfer", "upload", 307200},
		{"ssh-scp-download.pcap", "file_transfer", "download", 307200},
	} {
		recs, evs := readCapture(t, c.name, "ssh")
		r := recs[0]
		k := byAction(evs[r.ID], record.ActionSessionKind)
		if len(k) != 1 || k[0].Kind != c.kind || k[0].Reason == "" {
			t.Errorf("%s: kind events %+v", c.name, k)
			continue
		}
		// Mid-session: before the last records of the session.
		if !k[0].Time.Before(r.End.Add(-5 * time.Millisecond)) {
			t.Errorf("%s: kind told at %v, session ends %v", c.name, k[0].Time, r.End)
		}
		f := byAction(evs[r.ID], record.ActionFile)
		if c.direction == "" {
			if len(f) != 0 {
				t.Errorf("%s: file events %+v", c.name, f)
			}
			continue
		}
		if len(f) != 1 || f[0].File.Direction != c.direction || f[0].File.Path != "" ||
			f[0].File.Size < c.size || f[0].File.Size > c.size*21/20 {
			t.Errorf("%s: file events %+v", c.name, f[0].File)
		}
	}
}
