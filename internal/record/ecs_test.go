package record

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

type factObject struct{ f Facts }

func (o factObject) AddFacts(f *Facts) {
	f.Users = append(f.Users, o.f.Users...)
	f.Hosts = append(f.Hosts, o.f.Hosts...)
	f.Hashes = append(f.Hashes, o.f.Hashes...)
	if o.f.Domain != "" {
		f.Domain = o.f.Domain
	}
}

func decode(t *testing.T, d interface{ MarshalJSON() ([]byte, error) }) map[string]any {
	t.Helper()
	b, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func get(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func strs(v any) []string {
	a, _ := v.([]any)
	out := []string{}
	for _, x := range a {
		out = append(out, x.(string))
	}
	return out
}

// TestRecordECS: the fields Elastic Security reads on a session record.
func TestRecordECS(t *testing.T) {
	no, yes := false, true
	base := func() *Record {
		return &Record{ID: "s1", Start: time.Unix(100, 0), End: time.Unix(101, 0),
			Client: netip.MustParseAddrPort("192.0.2.10:1022"), Server: netip.MustParseAddrPort("192.0.2.20:513"),
			Transport: "tcp", Protocol: "rlogin", Observer: "sensor1"}
	}
	for _, tc := range []struct {
		name             string
		login            *Login
		category         []string
		action, outcome  string
		wantOutcomeField bool
	}{
		{"no login", nil, []string{"network", "session"}, "session", "", false},
		{"success", &Login{Success: &yes, Attempts: 1}, []string{"authentication", "network", "session"}, "login", "success", true},
		{"failure", &Login{Success: &no, Attempts: 2}, []string{"authentication", "network", "session"}, "login", "failure", true},
		{"unknown", &Login{Attempts: 1}, []string{"authentication", "network", "session"}, "login", "unknown", true},
	} {
		r := base()
		r.Login = tc.login
		m := decode(t, r)
		if got := strs(get(m, "event", "category")); !reflect.DeepEqual(got, tc.category) {
			t.Errorf("%s: event.category %v, want %v", tc.name, got, tc.category)
		}
		if got := get(m, "event", "action"); got != tc.action {
			t.Errorf("%s: event.action %v, want %s", tc.name, got, tc.action)
		}
		if got, ok := get(m, "event", "outcome").(string); ok != tc.wantOutcomeField || got != tc.outcome {
			t.Errorf("%s: event.outcome %q (present %v), want %q", tc.name, got, ok, tc.outcome)
		}
	}

	r := base()
	r.UserName, r.SourceUserName = "root", "alice"
	r.Proxy = &Proxy{Type: "socks5", Target: "psm-srv:22", User: "bob"}
	r.Set("tls", factObject{Facts{Hosts: []string{"db.example.com"}, Hashes: []string{"JA3", "root"}, Domain: "db.example.com"}})
	r.Set("rdp", factObject{Facts{Users: []string{"alice", "cookie-claim"}, Hashes: []string{"JA3"}}})
	SetNamespace("prod")
	defer SetNamespace("")
	m := decode(t, r)
	for path, want := range map[string]any{
		"ecs.version": ECSVersion, "event.module": "psmtap", "observer.type": "sensor", "observer.vendor": "psmtap",
		"observer.product": "psmtap", "observer.hostname": "sensor1", "network.type": "ipv4",
		"data_stream.type": "logs", "data_stream.dataset": "psmtap.session", "data_stream.namespace": "prod",
		"source.user.name": "alice", "client.user.name": "alice", "user.name": "root",
		"destination.domain": "db.example.com", "server.domain": "db.example.com",
		"client.ip": "192.0.2.10", "server.ip": "192.0.2.20", "server.port": 513.0,
	} {
		if got := get(m, splitDots(path)...); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	for path, want := range map[string][]string{
		"related.ip":    {"192.0.2.10", "192.0.2.20"},
		"related.user":  {"root", "alice", "bob", "cookie-claim"},
		"related.hosts": {"psm-srv", "db.example.com"},
		"related.hash":  {"JA3", "root"},
	} {
		if got := strs(get(m, splitDots(path)...)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	if get(m, "source", "domain") != nil || get(m, "destination", "user") != nil {
		t.Errorf("domain or user on the wrong side: %v %v", m["source"], m["destination"])
	}

	v6 := base()
	v6.Client, v6.Server = netip.MustParseAddrPort("[2001:db8::1]:5000"), netip.MustParseAddrPort("[2001:db8::2]:22")
	if got := get(decode(t, v6), "network", "type"); got != "ipv6" {
		t.Errorf("network.type %v for IPv6", got)
	}
}

// TestEventAndAlertECS: events and alerts carry the same ECS frame.
func TestEventAndAlertECS(t *testing.T) {
	ev := LoginEvent(time.Unix(5, 0).UnixNano(), "root", OutcomeFailure, "password", false)
	ev.ID, ev.SessionID, ev.Sequence = "s1-1", "s1", 1
	ev.Client, ev.Server = netip.MustParseAddrPort("192.0.2.10:40000"), netip.MustParseAddrPort("192.0.2.20:23")
	ev.Transport, ev.Protocol = "tcp", "telnet"
	m := decode(t, ev)
	for path, want := range map[string]any{
		"ecs.version": ECSVersion, "event.module": "psmtap", "event.outcome": "failure", "event.action": "login",
		"data_stream.dataset": "psmtap.activity", "data_stream.namespace": "default", "data_stream.type": "logs",
		"network.type": "ipv4", "client.ip": "192.0.2.10", "server.port": 23.0, "observer.type": "sensor",
	} {
		if got := get(m, splitDots(path)...); got != want {
			t.Errorf("event %s = %v, want %v", path, got, want)
		}
	}
	if got := strs(get(m, "related", "user")); !reflect.DeepEqual(got, []string{"root"}) {
		t.Errorf("event related.user %v", got)
	}
	b, _ := ev.MarshalJSON()
	ctx, err := Contextual(b)
	if err != nil {
		t.Fatal(err)
	}
	a := &Alert{ID: "a1", Time: ev.Time, RuleName: "r", RuleLevel: "high", Severity: 73, Context: ctx, SessionIDs: []string{"s1"}}
	m = decode(t, a)
	for path, want := range map[string]any{
		"ecs.version": ECSVersion, "event.module": "psmtap", "event.kind": "alert",
		"data_stream.dataset": "psmtap.alert", "client.ip": "192.0.2.10", "observer.product": "psmtap",
	} {
		if got := get(m, splitDots(path)...); got != want {
			t.Errorf("alert %s = %v, want %v", path, got, want)
		}
	}
	if got := strs(get(m, "related", "ip")); !reflect.DeepEqual(got, []string{"192.0.2.10", "192.0.2.20"}) {
		t.Errorf("alert related.ip %v", got)
	}
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
