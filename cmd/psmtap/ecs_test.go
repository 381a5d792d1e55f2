package main

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/internal/record"
)

// ecsTypes are the ECS types (generated/ecs/ecs_flat.yml of ECS v9.4.0) of
// the ECS fields psmtap writes.
var ecsTypes = map[string]string{
	"@timestamp": "date", "message": "match_only_text", "ecs.version": "keyword",
	"data_stream.type": "constant_keyword", "data_stream.dataset": "constant_keyword", "data_stream.namespace": "constant_keyword",
	"event.action": "keyword", "event.category": "keyword", "event.dataset": "keyword", "event.duration": "long", "event.end": "date",
	"event.id": "keyword", "event.kind": "keyword", "event.module": "keyword", "event.outcome": "keyword", "event.reason": "keyword",
	"event.sequence": "long", "event.severity": "long", "event.start": "date", "event.type": "keyword",
	"source.ip": "ip", "source.port": "long", "source.bytes": "long", "source.packets": "long", "source.user.name": "keyword",
	"destination.ip": "ip", "destination.port": "long", "destination.bytes": "long", "destination.packets": "long", "destination.domain": "keyword",
	"client.ip": "ip", "client.port": "long", "client.bytes": "long", "client.packets": "long", "client.user.name": "keyword",
	"server.ip": "ip", "server.port": "long", "server.bytes": "long", "server.packets": "long", "server.domain": "keyword",
	"network.bytes": "long", "network.community_id": "keyword", "network.packets": "long", "network.protocol": "keyword",
	"network.transport": "keyword", "network.type": "keyword",
	"observer.hostname": "keyword", "observer.ingress.interface.name": "keyword", "observer.product": "keyword",
	"observer.type": "keyword", "observer.vendor": "keyword",
	"related.hash": "keyword", "related.hosts": "keyword", "related.ip": "ip", "related.user": "keyword",
	"user.name":    "keyword",
	"process.args": "keyword", "process.args_count": "long", "process.command_line": "wildcard", "process.name": "keyword",
	"file.name": "keyword", "file.path": "keyword", "file.size": "long",
	"rule.author": "keyword", "rule.description": "keyword", "rule.id": "keyword", "rule.name": "keyword", "rule.reference": "keyword", "rule.ruleset": "keyword",
	"tls.cipher": "keyword", "tls.established": "boolean", "tls.next_protocol": "keyword", "tls.version": "keyword", "tls.version_protocol": "keyword",
	"tls.client.ja3": "keyword", "tls.client.server_name": "keyword", "tls.client.supported_ciphers": "keyword",
	"tls.server.hash.sha1": "keyword", "tls.server.hash.sha256": "keyword", "tls.server.issuer": "keyword", "tls.server.ja3s": "keyword",
	"tls.server.not_after": "date", "tls.server.not_before": "date", "tls.server.subject": "keyword",
	"tls.server.x509.alternative_names": "keyword", "tls.server.x509.issuer.common_name": "keyword", "tls.server.x509.not_after": "date",
	"tls.server.x509.not_before": "date", "tls.server.x509.serial_number": "keyword", "tls.server.x509.subject.common_name": "keyword",
}

// ECS's allowed values and, per category, its expected event types (ecs_flat.yml).
var (
	ecsKinds      = []string{"event", "alert"}
	ecsOutcomes   = []string{"success", "failure", "unknown"}
	ecsTypesOfCat = map[string][]string{
		"authentication": {"start", "end", "info"}, "network": {"access", "allowed", "connection", "denied", "end", "info", "protocol", "start"},
		"session": {"start", "end", "info"}, "process": {"access", "change", "end", "info", "start"},
		"file": {"access", "change", "creation", "deletion", "info"}, "database": {"access", "change", "info", "error"},
		"intrusion_detection": {"allowed", "denied", "info"},
	}
)

// ECS field sets psmtap writes into: a field under one of these that is not
// in ecsTypes is either a new ECS field (add its type above) or a field ECS
// does not define placed where it would clash (tls.detailed.* is psmtap's).
var ecsSets = []string{"@timestamp", "message", "ecs", "data_stream", "event", "source", "destination", "client", "server",
	"network", "observer", "related", "user", "process", "file", "rule", "tls"}

// TestECSDocuments: every document of every bundled capture (records,
// events, alerts of the built-in rules) has the ECS frame Elastic Security
// reads, with ECS's types and allowed values.
func TestECSDocuments(t *testing.T) {
	n := map[string]int{}
	for _, c := range captures(t) {
		for _, d := range records(t, run(t, "read", "--all", "--events", "--rules", "builtin", c).stdout) {
			ds := str(d, "event.dataset")
			n[ds]++
			where := fmt.Sprintf("%s %s %s", c, ds, str(d, "event.id"))
			flat := map[string]any{}
			leafValues("", d, flat)
			for name, v := range flat {
				typ, ok := ecsTypes[name]
				if !ok {
					set, _, _ := strings.Cut(name, ".")
					if slices.Contains(ecsSets, set) && !strings.HasPrefix(name, "tls.detailed.") {
						t.Errorf("%s: %s is under ECS's %s.* but not an ECS field psmtap knows", where, name, set)
					}
					continue
				}
				if err := ecsTypeOK(typ, v); err != nil {
					t.Errorf("%s: %s (%s): %v", where, name, typ, err)
				}
			}
			want := map[string]string{"ecs.version": record.ECSVersion, "event.module": "psmtap", "observer.type": "sensor",
				"observer.vendor": "psmtap", "observer.product": "psmtap", "data_stream.type": "logs", "data_stream.dataset": ds,
				"data_stream.namespace": "default", "client.ip": str(d, "source.ip"), "server.ip": str(d, "destination.ip")}
			for k, v := range want {
				if got := str(d, k); got != v {
					t.Errorf("%s: %s = %q, want %q", where, k, got, v)
				}
			}
			if a, err := netip.ParseAddr(str(d, "source.ip")); err == nil {
				nt := map[bool]string{true: "ipv4", false: "ipv6"}[a.Unmap().Is4()]
				if got := str(d, "network.type"); got != nt {
					t.Errorf("%s: network.type %q for %s", where, got, a)
				}
			}
			rel := strings.Split(str(d, "related.ip"), ",")
			for _, k := range []string{"source.ip", "destination.ip"} {
				if !slices.Contains(rel, str(d, k)) {
					t.Errorf("%s: related.ip %v lacks %s", where, rel, k)
				}
			}
			if u := str(d, "user.name"); u != "" && !slices.Contains(strings.Split(str(d, "related.user"), ","), u) {
				t.Errorf("%s: related.user lacks user.name %q", where, u)
			}
			if !slices.Contains(ecsKinds, str(d, "event.kind")) {
				t.Errorf("%s: event.kind %q", where, str(d, "event.kind"))
			}
			if o := str(d, "event.outcome"); o != "" && !slices.Contains(ecsOutcomes, o) {
				t.Errorf("%s: event.outcome %q", where, o)
			}
			cats, types := strings.Split(str(d, "event.category"), ","), strings.Split(str(d, "event.type"), ",")
			for _, c := range cats {
				allowed, ok := ecsTypesOfCat[c]
				if !ok {
					t.Errorf("%s: event.category %q", where, c)
					continue
				}
				for _, ty := range types {
					if !slices.Contains(allowed, ty) {
						t.Errorf("%s: event.type %q is not one ECS expects for category %q", where, ty, c)
					}
				}
			}
			// Authentication exactly when a login was seen, with its outcome.
			auth := slices.Contains(cats, "authentication")
			if ds == record.DatasetSession {
				_, login := field(d, "psm.login").(map[string]any)
				if auth != login || (login && str(d, "event.outcome") == "") || (login != (str(d, "event.action") == "login")) {
					t.Errorf("%s: category %v, action %q, outcome %q with psm.login present %v", where, cats, str(d, "event.action"), str(d, "event.outcome"), login)
				}
				if ck := str(d, "rdp.cookie"); ck != "" && str(d, "user.name") == ck && !login {
					t.Errorf("%s: the RDP cookie is user.name", where)
				}
			}
			if ds == record.DatasetActivity && str(d, "event.action") == "login" && (!auth || str(d, "event.outcome") == "") {
				t.Errorf("%s: a login event without authentication and an outcome", where)
			}
		}
	}
	if n[record.DatasetSession] < 80 || n[record.DatasetActivity] < 300 || n[record.DatasetAlert] < 50 {
		t.Fatalf("too few documents: %v", n)
	}
}

// leafValues flattens a document: arrays of scalars stay one value.
func leafValues(prefix string, v any, out map[string]any) {
	if arr, ok := v.([]any); ok && len(arr) > 0 {
		if _, objects := arr[0].(map[string]any); objects {
			for _, x := range arr {
				leafValues(prefix, x, out)
			}
			return
		}
	}
	m, ok := v.(map[string]any)
	if !ok || prefix == "psm.alert.group" {
		out[prefix] = v
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leafValues(p, m[k], out)
	}
}

func ecsTypeOK(typ string, v any) error {
	vals, ok := v.([]any)
	if !ok {
		vals = []any{v}
	}
	for _, x := range vals {
		switch typ {
		case "keyword", "constant_keyword", "wildcard", "match_only_text":
			if _, ok := x.(string); !ok {
				return fmt.Errorf("%v is not a string", x)
			}
		case "long":
			f, ok := x.(float64)
			if !ok || f != float64(int64(f)) {
				return fmt.Errorf("%v is not an integer", x)
			}
		case "boolean":
			if _, ok := x.(bool); !ok {
				return fmt.Errorf("%v is not a boolean", x)
			}
		case "ip":
			s, _ := x.(string)
			if _, err := netip.ParseAddr(s); err != nil {
				return err
			}
		case "date":
			s, _ := x.(string)
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return err
			}
		default:
			return fmt.Errorf("no check for type %s", typ)
		}
	}
	return nil
}

// TestNamespaceInDocuments: --es-namespace is data_stream.namespace of every
// document, in NDJSON as in the cluster; a bad one is refused.
func TestNamespaceInDocuments(t *testing.T) {
	docs := records(t, run(t, "read", "--events", "--rules", "builtin", "--es-namespace", "prod", "pcaps/telnet-login.pcap").stdout)
	if len(docs) < 3 {
		t.Fatalf("%d documents", len(docs))
	}
	for _, d := range docs {
		if got := str(d, "data_stream.namespace"); got != "prod" {
			t.Errorf("%s: data_stream.namespace %q", str(d, "event.id"), got)
		}
	}
	if r := run(t, "read", "--es-namespace", "Bad NS", "pcaps/telnet-login.pcap"); r.code != 2 {
		t.Errorf("a bad namespace: exit %d", r.code)
	}
}

// TestECSInElasticsearch: after psmtap setup, documents shipped to a
// namespace carry it as a constant_keyword, and the cluster's default
// pipeline stamps event.ingested on each (not on signed output, whose bytes
// must stay as written: TestVerifyElasticsearch).
func TestECSInElasticsearch(t *testing.T) {
	srv, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatalf("setup: %s", r.stderr)
	}
	start := time.Now().Add(-time.Second)
	r := run(t, "read", "--events", "--rules", "builtin", "--output", "es", "--es-url", url, "--es-namespace", "prod",
		"--spool", t.TempDir(), "pcaps/telnet-login.pcap", "pcaps/rdp-xrdp-rdpsec.pcap")
	if r.code != 0 {
		t.Fatalf("read: %s", r.stderr)
	}
	n := 0
	for _, ds := range []string{"logs-psmtap.session-prod", "logs-psmtap.activity-prod", "logs-psmtap.alert-prod"} {
		docs := srv.Docs(ds)
		if len(docs) == 0 {
			t.Errorf("%s: no documents", ds)
		}
		for id, b := range docs {
			n++
			d := records(t, string(b))[0]
			ing, err := time.Parse(time.RFC3339Nano, str(d, "event.ingested"))
			if err != nil || ing.Before(start) {
				t.Errorf("%s: event.ingested %q", id, str(d, "event.ingested"))
			}
			if str(d, "data_stream.namespace") != "prod" || !strings.HasPrefix(ds, "logs-"+str(d, "data_stream.dataset")+"-") {
				t.Errorf("%s: data_stream %v", id, field(d, "data_stream"))
			}
		}
		m := srv.Mapping(ds)
		for f, typ := range map[string]string{"data_stream.type": "constant_keyword", "data_stream.dataset": "constant_keyword",
			"data_stream.namespace": "constant_keyword", "user.name": "keyword", "user.name.text": "match_only_text",
			"event.ingested": "date", "related.ip": "ip"} {
			if m[f] != typ {
				t.Errorf("%s: %s mapped as %q, want %s", ds, f, m[f], typ)
			}
		}
	}
	if m := srv.Mapping("logs-psmtap.session-prod"); m["rdp.client.color_depth"] != "long" {
		t.Errorf("rdp.client.color_depth mapped as %q", m["rdp.client.color_depth"])
	}
	if n < 10 {
		t.Fatalf("%d documents", n)
	}
}

// TestSetupPrint: setup --print shows the pipeline, the composed templates
// and the Kibana objects, without a cluster.
func TestSetupPrint(t *testing.T) {
	r := run(t, "setup", "--print")
	if r.code != 0 {
		t.Fatalf("setup --print: %d %s", r.code, r.stderr)
	}
	for _, want := range []string{"PUT /_ingest/pipeline/psmtap-ingested", `"{{{_ingest.timestamp}}}"`, `"index.default_pipeline": "psmtap-ingested"`,
		`"logs@settings"`, `"ignore_missing_component_templates"`, `"logs-psmtap.session@custom"`, `"constant_keyword"`,
		"/api/saved_objects/_import", `"title":"psmtap: Alerts"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("setup --print lacks %s", want)
		}
	}
}

// TestRecordNamesItsFile: read with several files, every record and event
// names the capture file its session came from (observer.ingress.interface.name),
// not the file being read when it was written.
func TestRecordNamesItsFile(t *testing.T) {
	// Captures with sessions of their own (the edge variants repeat one).
	var files []string
	for _, f := range captures(t) {
		if !strings.Contains(f, "/edge/") && len(files) < 12 {
			files = append(files, f)
		}
	}
	from := map[string]string{}
	for _, f := range files {
		for _, d := range records(t, run(t, "read", "--events", f).stdout) {
			from[str(d, "event.id")] = f
		}
	}
	n := 0
	for _, d := range records(t, run(t, append([]string{"read", "--events"}, files...)...).stdout) {
		id := str(d, "event.id")
		if str(d, "event.dataset") == record.DatasetActivity {
			id = str(d, "psm.session_id")
			if f, ok := from[str(d, "event.id")]; ok && from[id] == "" {
				from[id] = f
			}
		}
		want, ok := from[id]
		if !ok {
			continue
		}
		n++
		if got := str(d, "observer.ingress.interface.name"); got != want {
			t.Errorf("%s %s: observer.ingress.interface.name %q, want %q", str(d, "event.dataset"), str(d, "event.id"), got, want)
		}
	}
	if n < 20 {
		t.Fatalf("only %d documents compared", n)
	}
}

// TestSignedSpoolDrainKeepsBytes: signed documents that waited in the spool
// (the cluster was away) are drained past the default ingest pipeline too:
// psmtap spool drain does not know --signing-key, the documents say it.
func TestSignedSpoolDrainKeepsBytes(t *testing.T) {
	s := signedOutputRun(t)
	srv, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatalf("setup: %s", r.stderr)
	}
	spoolDir := t.TempDir()
	// A cluster that is not there: everything goes to the spool.
	r := run(t, "read", "--events", "--output", "es", "--es-url", "http://127.0.0.1:1", "--spool", spoolDir,
		"--signing-key", filepath.Join(s.keys, "psmtap.key"), "pcaps/telnet-login.pcap")
	if r.code != 0 {
		t.Fatalf("read: %s", r.stderr)
	}
	if r := run(t, "spool", "drain", "--spool", spoolDir, "--es-url", url); r.code != 0 {
		t.Fatalf("drain: %s%s", r.stdout, r.stderr)
	}
	if srv.Count("logs-psmtap.session-default") == 0 {
		t.Fatal("nothing drained")
	}
	r = run(t, "verify", "--key", filepath.Join(s.keys, "psmtap.pub"), "--es-url", url)
	if r.code != 0 || !strings.Contains(r.stdout, "all intact") {
		t.Fatalf("verify after drain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
