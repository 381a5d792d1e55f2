package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestFieldsDocumented: every field and anomaly that psmtap writes for the
// bundled captures (records, activity events, and the alerts of the built-in
// rules) is listed in docs/fields.md.
func TestFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "docs", "fields.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	anomalies := map[string]bool{}
	for _, c := range captures(t) {
		for _, r := range records(t, run(t, "read", "--all", "--events", "--rules", "builtin", c).stdout) {
			leaves("", r, seen)
			if as, ok := field(r, "psm.anomalies").([]any); ok {
				for _, a := range as {
					anomalies[a.(string)] = true
				}
			}
		}
	}
	var missing []string
	for f := range seen {
		if !strings.Contains(string(doc), "`"+f+"`") {
			missing = append(missing, f)
		}
	}
	for a := range anomalies {
		if !strings.Contains(string(doc), "`"+a+"`") {
			missing = append(missing, "anomaly "+a)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("not documented in docs/fields.md: %v", missing)
	}
	if len(seen) < 25 {
		t.Fatalf("only %d fields seen: the captures did not run?", len(seen))
	}
}

func leaves(prefix string, v any, out map[string]bool) {
	if prefix == "psm.alert.group" {
		// An alert's group is one field (flattened): its keys are the rule's
		// group-by fields, not fields of their own.
		out[prefix] = true
		return
	}
	if arr, ok := v.([]any); ok && len(arr) > 0 {
		if _, objects := arr[0].(map[string]any); objects {
			for _, x := range arr { // an array of objects: its fields are the leaves
				leaves(prefix, x, out)
			}
			return
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		out[prefix] = true
		return
	}
	for k, x := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leaves(p, x, out)
	}
}
