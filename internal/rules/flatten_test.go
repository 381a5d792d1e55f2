package rules

import (
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	_ "github.com/psmtap/psmtap/dissectors/ftp"
	_ "github.com/psmtap/psmtap/dissectors/rdp"
	_ "github.com/psmtap/psmtap/dissectors/rlogin"
	_ "github.com/psmtap/psmtap/dissectors/rsh"
	_ "github.com/psmtap/psmtap/dissectors/ssh"
	_ "github.com/psmtap/psmtap/dissectors/telnet"
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
