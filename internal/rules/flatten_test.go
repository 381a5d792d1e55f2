package rules

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/psmtap/psmtap/dissectors"
	_ "github.com/psmtap/psmtap/dissectors/ftp"
	_ "github.com/psmtap/psmtap/dissectors/rdp"
	_ "github.com/psmtap/psmtap/dissectors/rlogin"
	_ "github.com/psmtap/psmtap/dissectors/rsh"
	_ "github.com/psmtap/psmtap/dissectors/ssh"
	_ "github.com/psmtap/psmtap/dissectors/telnet"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/sigma"
	"github.com/psmtap/psmtap/internal/term/termtest"
)

// TestFlattenMatchesJSON: rules see the same fields and values whether an
// event is read field by field (flatten) or through its JSON, for every
// event of every bundled capture. A field added to the event's JSON and not
// to flatten fails here.
func TestFlattenMatchesJSON(t *testing.T) {
	files, _ := filepath.Glob("../../pcaps/*.pcap")
	if len(files) == 0 {
		t.Fatal("no captures")
	}
	n := 0
	for _, d := range dissectors.All() {
		for _, f := range files {
			for _, ev := range termtest.Read(t, f, 0, d).Events {
				n++
				direct, err := flatten(ev)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := ev.MarshalJSON()
				viaJSON, err := sigma.FromJSON(body)
				if err != nil {
					t.Fatal(err)
				}
				if a, b := fields(direct), fields(viaJSON); !reflect.DeepEqual(a, b) {
					t.Fatalf("%s event %s:\n direct %v\n json   %v", filepath.Base(f), ev.ID, a, b)
				}
			}
		}
	}
	if n < 100 {
		t.Fatalf("only %d events compared", n)
	}
}

// fields lists field=value pairs as text, sorted.
func fields(e *sigma.FlatEvent) []string {
	var out []string
	e.Each(func(name string, v any) { out = append(out, name+"="+sigma.Text(v)) })
	sort.Strings(out)
	return out
}

// TestRecordEventMatchesJSON: the fields a session record gives the rules
// directly have the values (and the absences) its JSON has, for every record
// of every bundled capture; the other fields come from the JSON.
func TestRecordEventMatchesJSON(t *testing.T) {
	files, _ := filepath.Glob("../../pcaps/*.pcap")
	n := 0
	texts := func(vs []any) []string {
		var out []string
		for _, v := range vs {
			out = append(out, sigma.Text(v))
		}
		return out
	}
	for _, d := range dissectors.All() {
		for _, f := range files {
			for _, r := range termtest.Read(t, f, 0, d).Records {
				n++
				body, _ := r.MarshalJSON()
				viaJSON, err := sigma.FromJSON(body)
				if err != nil {
					t.Fatal(err)
				}
				ev := newRecordEvent(r)
				for _, field := range recordFields {
					if a, b := texts(ev.Values(field)), texts(viaJSON.Values(field)); !reflect.DeepEqual(a, b) {
						t.Fatalf("%s record %s: %s direct %q, json %q", filepath.Base(f), r.ID, field, a, b)
					}
				}
				if ev.flat != nil {
					t.Fatalf("%s: the direct fields flattened the record", filepath.Base(f))
				}
				if a, b := texts(ev.Values("source.ip")), texts(viaJSON.Values("source.ip")); !reflect.DeepEqual(a, b) || len(a) != 1 {
					t.Fatalf("%s record %s: source.ip %q, json %q", filepath.Base(f), r.ID, a, b)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d records compared", n)
	}
	// An object named like a direct field's parent: the JSON decides.
	r := &record.Record{ID: "S1", Protocol: "ssh", Objects: map[string]any{"psm": map[string]any{"kind": "x"}}}
	if ev := newRecordEvent(r); ev.direct {
		t.Fatal("an object psm did not turn the direct fields off")
	}
}

// A session rule on a field the record does not give directly, and a
// keyword search, still see the whole record.
func TestSessionRuleOtherFields(t *testing.T) {
	set, err := Load([]string{writeRules(t, map[string]string{"u.yml": `title: Root over telnet
logsource:
  product: psmtap
  category: session
detection:
  sel:
    network.protocol: telnet
    user.name: root
  condition: sel
---
title: Keyword in a session
logsource:
  product: psmtap
  category: session
detection:
  keywords:
    - '*shadow*'
  condition: keywords
`})})
	if err != nil {
		t.Fatal(err)
	}
	r := &record.Record{ID: "S2", Start: t0, End: t0.Add(time.Minute), Protocol: "telnet", UserName: "root", Transport: "tcp",
		Client: netip.MustParseAddrPort("192.0.2.10:1"), Server: netip.MustParseAddrPort("192.0.2.20:23"),
		Commands: []string{"cat /etc/shadow"}}
	a, err := set.Evaluate(r)
	if err != nil || len(a) != 2 {
		t.Fatalf("%d alerts (%v), want 2", len(a), err)
	}
	r.UserName = "alice"
	r.Commands = nil
	if a, _ := set.Evaluate(r); len(a) != 0 {
		t.Fatalf("fired on alice: %v", a[0].RuleName)
	}
}
