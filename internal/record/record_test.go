package record

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestMarshalShape(t *testing.T) {
	r := &Record{
		ID: "abc", Start: time.Unix(0, 1_700_000_000_123456789), End: time.Unix(0, 1_700_000_001_123456789),
		Client: netip.MustParseAddrPort("192.0.2.10:40000"), Server: netip.MustParseAddrPort("[2001:db8::20]:22"),
		ClientBytes: 10, ServerBytes: 0, ClientPkts: 2, ServerPkts: 1,
		Transport: "tcp", Protocol: "ssh", State: StateClosed,
	}
	r.AddAnomaly("z.b")
	r.AddAnomaly("a.a")
	r.AddAnomaly("z.b")
	r.Set("ssh", map[string]any{"version": 2})
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	s := string(b)
	for _, want := range []string{
		`"@timestamp":"2023-11-14T22:13:20.123456789Z"`, `"duration":1000000000`,
		`"destination":{"ip":"2001:db8::20","port":22,"bytes":0,"packets":1}`,
		`"anomalies":["a.a","z.b"]`, `"ssh":{"version":2}`, `"dataset":"psmtap.session"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in %s", want, s)
		}
	}
	// Unknown fields are absent, not empty.
	for _, absent := range []string{`"user"`, `"login"`, `"commands"`, `"hostname"`, `"ingress"`, `"kind":"interactive"`, `"cleartext_credentials"`, `"outcome"`} {
		if strings.Contains(s, absent) {
			t.Errorf("%s present in %s", absent, s)
		}
	}
}
