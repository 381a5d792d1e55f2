package report

import (
	"encoding/json"
	"reflect"
	"testing"
)

// strip leaves the document the report reads unchanged: same decode with
// and without it, escaped quotes and backslashes inside the cut values and
// look-alike keys inside other strings included.
func TestStripSameDocument(t *testing.T) {
	lines := []string{
		`{"@timestamp":"2026-11-02T10:00:00Z","event":{"dataset":"psmtap.session","id":"a"},"ssh":{"client":{"kex_algs":"a,b\"c\\","hassh":"h","hassh_string":"x;y"},"cipher_alg":"aes128-ctr","mac_alg":"hmac-sha1"},"user":{"name":"u"}}`,
		`{"event":{"dataset":"psmtap.session","id":"b"},"psm":{"output_text":"login: \"kex_algs\":\"\\\\\" ok\\\\","commands":["echo \"output_text\":\"x\""]}}`,
		`{"event":{"dataset":"psmtap.session","id":"c"},"psm":{"commands":["echo \"kex_algs\":\"oops"]},"ssh":{"server":{"mac_algs":""}}}`,
		`{"event":{"dataset":"psmtap.session","id":"d"},"ssh":{"client":{"kex_algs":"unterminated`,
	}
	for _, l := range lines {
		var want, got Doc
		werr := json.Unmarshal([]byte(l), &want)
		s, _ := strip([]byte(l), nil)
		gerr := json.Unmarshal(s, &got)
		if (werr == nil) != (gerr == nil) || !reflect.DeepEqual(want, got) {
			t.Errorf("%s\nstripped to %s\nwant %+v (%v)\n got %+v (%v)", l, s, want, werr, got, gerr)
		}
	}
	s, _ := strip([]byte(lines[0]), nil)
	if len(s) >= len(lines[0])-10 {
		t.Errorf("nothing cut: %s", s)
	}
}

// FuzzStrip: whatever the line, when it decodes, it decodes the same after
// stripping. (The other way does not hold, on purpose: a line whose only
// fault is in a cut value, a bad escape or a raw control character, is
// read after stripping.) Seeds: the lines above, each a
// case (escaped quote and backslash in a cut value, look-alike keys in
// other strings, an empty value, an unterminated one).
func FuzzStrip(f *testing.F) {
	for _, l := range []string{
		`{"event":{"dataset":"psmtap.session"},"ssh":{"client":{"kex_algs":"a,b\"c\\","hassh_string":"x;y"}}}`,
		`{"psm":{"output_text":"login: \"kex_algs\":\"\\\\\" ok\\\\","commands":["echo \"output_text\":\"x\""]}}`,
		`{"psm":{"commands":["echo \"kex_algs\":\"oops"]},"ssh":{"server":{"mac_algs":""}}}`,
		`{"ssh":{"client":{"kex_algs":"unterminated`,
	} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, l string) {
		var want, got Doc
		werr := json.Unmarshal([]byte(l), &want)
		s, _ := strip([]byte(l), nil)
		gerr := json.Unmarshal(s, &got)
		if werr == nil && gerr != nil {
			t.Fatalf("%q: decodes before, not after strip: %v (%q)", l, gerr, s)
		}
		if werr == nil && !reflect.DeepEqual(want, got) {
			t.Fatalf("%q: decoded differently after strip (%q)", l, s)
		}
	})
}
