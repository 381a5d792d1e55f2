package setup

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDatabaseDashboardOnCaptures: every field the "Database statements"
// dashboard aggregates on or shows is carried by query events that psmtap
// writes for the real PostgreSQL and MariaDB captures (their golden files), so
// no panel stays empty for want of a field name that no event has.
func TestDatabaseDashboardOnCaptures(t *testing.T) {
	var dash *dashboard
	for i := range dashSpec {
		if dashSpec[i].id == "psmtap-databases" {
			dash = &dashSpec[i]
		}
	}
	if dash == nil {
		t.Fatal("no psmtap-databases dashboard in the spec")
	}
	var fields []string
	for _, v := range visSpec {
		if slices.Contains(dash.panels, v.id) {
			if v.view != activityDataView || !strings.Contains(v.query, "event.action:query") {
				t.Errorf("%s: view %q query %q, want query events", v.id, v.view, v.query)
			}
			for _, a := range v.aggs {
				fields = append(fields, a.field)
			}
		}
	}
	for _, s := range searchSpec {
		if slices.Contains(dash.panels, s.id) {
			fields = append(fields, s.columns...)
		}
	}
	if len(fields) < 12 {
		t.Fatalf("only %d fields in the dashboard's objects", len(fields))
	}

	// protocol -> field -> query events carrying it
	seen := map[string]map[string]int{"postgresql": {}, "mysql": {}}
	files, _ := filepath.Glob("../../pcaps/golden/*.ndjson")
	for _, f := range files {
		base := filepath.Base(f)
		if !strings.HasPrefix(base, "postgresql-") && !strings.HasPrefix(base, "mysql-") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			var d map[string]any
			if err := json.Unmarshal(line, &d); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if lookup(d, "event.action") != "query" {
				continue
			}
			p, _ := lookup(d, "network.protocol").(string)
			if seen[p] == nil {
				continue
			}
			for _, name := range fields {
				if lookup(d, name) != nil {
					seen[p][name]++
				}
			}
		}
	}
	for p, m := range seen {
		for _, name := range fields {
			if m[name] == 0 {
				t.Errorf("no %s query event in pcaps/golden carries %s", p, name)
			}
		}
	}
}

// lookup reads a dotted field of a nested document.
func lookup(d map[string]any, name string) any {
	var v any = d
	for _, k := range strings.Split(name, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
