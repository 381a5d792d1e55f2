package sigma

import (
	"testing"
	"time"
)

// FuzzParse: any bytes as a rule file give rules or an error with a line,
// never a panic or a hang; rules that load can be evaluated.
func FuzzParse(f *testing.F) {
	// a detection rule with most modifiers
	f.Add([]byte("title: t\nlogsource:\n  product: psmtap\n  category: command\ndetection:\n  sel:\n    CommandLine|contains|all:\n      - a\n      - 'b*'\n  re:\n    x|re|i: '^a.*b$'\n  k:\n    - kw\n  condition: 1 of sel* and not (re or k)\n"))
	// a correlation with aliases, in a second document
	f.Add([]byte("title: a\nname: a\nlogsource:\n  category: login\ndetection:\n  s:\n    event.outcome: failure\n  condition: s\n---\ntitle: c\ncorrelation:\n  type: temporal_ordered\n  rules: [a, a]\n  group-by: [ip]\n  aliases:\n    ip:\n      a: source.ip\n  timespan: 1h\n"))
	// block scalars, flow lists, quotes
	f.Add([]byte("title: \"q\\x41\"\ndescription: |\n  x\n\n  y\ntags: ['a', b]\n"))
	// broken: unterminated quote, tab, bad indentation
	f.Add([]byte("a: 'x\n\tb: c\n  d: e\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		rules, err := Parse("f.yml", src, Options{})
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		eng, err := NewEngine(rules)
		if err != nil {
			return
		}
		e := &FlatEvent{fields: map[string][]any{"a": {"x"}, "source.ip": {"10.0.0.1"}, "event.outcome": {"failure"}}, keys: []string{"a", "event.outcome", "source.ip"}}
		for i := 0; i < 3; i++ {
			eng.Process(e, time.Unix(int64(i), 0), "login", "r")
		}
	})
}
