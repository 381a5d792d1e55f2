package sigma

import (
	"encoding/base64"
	"encoding/json"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"
)

func ev(t *testing.T, js string) *FlatEvent {
	t.Helper()
	e, err := FromJSON([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func rule(t *testing.T, src string) *Rule {
	t.Helper()
	rs, err := Parse("test.yml", []byte(src), Options{FieldAliases: map[string]string{"CommandLine": "process.command_line", "User": "user.name"}})
	if err != nil {
		t.Fatal(err)
	}
	return rs[0]
}

// detection wraps a detection block in a minimal rule.
func detection(t *testing.T, det string) *Rule {
	return rule(t, "title: t\nlogsource:\n  product: psmtap\n  category: command\ndetection:\n"+det)
}

func TestYAMLSubset(t *testing.T) {
	src := `
# a comment
title: 'It''s a "title"'   # trailing comment
description: |
  two lines
  of text

  and a paragraph
folded: >-
  one
  line
tags: [attack.t1003, 'a, b', "c"]
detection:
  sel:
    - a: 1
      b: "x\ty"
    - c
  list:
  - x
  - y
  empty:
---
title: second
`
	docs, err := ParseYAML([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 || docs[1].Get("title").Value != "second" {
		t.Fatalf("documents: %d", len(docs))
	}
	d := docs[0]
	if got := d.Get("title").Value; got != `It's a "title"` {
		t.Errorf("title %q", got)
	}
	if got := d.Get("description").Value; got != "two lines\nof text\n\nand a paragraph\n" {
		t.Errorf("literal block %q", got)
	}
	if got := d.Get("folded").Value; got != "one line" {
		t.Errorf("folded block %q", got)
	}
	tags := d.Get("tags")
	if tags.Kind != SeqNode || len(tags.Values) != 3 || tags.Values[1].Value != "a, b" {
		t.Errorf("flow sequence %+v", tags)
	}
	sel := d.Get("detection").Get("sel")
	if sel.Kind != SeqNode || len(sel.Values) != 2 || sel.Values[0].Get("b").Value != "x\ty" || sel.Values[1].Value != "c" {
		t.Errorf("sequence of maps %+v", sel)
	}
	if sel.Values[0].Get("b").Line != 16 {
		t.Errorf("line of b: %d", sel.Values[0].Get("b").Line)
	}
	if l := d.Get("detection").Get("list"); l.Kind != SeqNode || len(l.Values) != 2 {
		t.Errorf("list at the key's indentation %+v", l)
	}
	if !d.Get("detection").Get("empty").IsNull() {
		t.Errorf("empty value is not null")
	}
}

func TestYAMLErrors(t *testing.T) {
	for _, c := range []struct {
		src  string
		line int
		msg  string
	}{
		{"a: 1\na: 2\n", 2, "twice"},
		{"a: 1\n  b: 2\n", 2, "indentation"},
		{"a: 'open\n", 1, "unterminated"},
		{"a: {b: 1}\n", 1, "flow maps"},
		{"a: &x 1\n", 1, "anchors"},
		{"a:\n\t- b\n", 2, "tab"},
		{"a: \"\\q\"\n", 1, "escape"},
		{"a: [1, [2]]\n", 1, "nested"},
		{"just text\nmore: 1\n", 2, "indentation"},
	} {
		_, err := ParseYAML([]byte(c.src))
		ye, ok := err.(*YAMLError)
		if !ok || ye.Line != c.line || !strings.Contains(ye.Msg, c.msg) {
			t.Errorf("%q: got %v, want line %d %q", c.src, err, c.line, c.msg)
		}
	}
	deep := strings.Repeat("- ", 0)
	for i := 0; i < 200; i++ {
		deep += strings.Repeat(" ", i) + "a:\n"
	}
	if _, err := ParseYAML([]byte(deep)); err == nil || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("deep nesting: %v", err)
	}
}

func TestDetectionMatching(t *testing.T) {
	cmd := func(s string) *FlatEvent {
		return ev(t, `{"process":{"command_line":`+quoteJSON(s)+`},"user":{"name":"alice"},"destination":{"ip":"10.1.2.3","port":22},"event":{"category":["process"]}}`)
	}
	cases := []struct {
		name, det string
		yes, no   []string
	}{
		{"plain is whole-value, case-insensitive", "  sel:\n    CommandLine: 'CAT /etc/shadow'\n  condition: sel\n",
			[]string{"cat /etc/shadow"}, []string{"cat /etc/shadow2", "sudo cat /etc/shadow"}},
		{"wildcards", "  sel:\n    process.command_line: 'cat /etc/sha?ow*'\n  condition: sel\n",
			[]string{"cat /etc/shadow", "cat /etc/shadow -n", "cat /etc/shaXow"}, []string{"cat /etc/shdow", "xcat /etc/shadow"}},
		{"escaped wildcard", "  sel:\n    process.command_line: 'echo \\*'\n  condition: sel\n",
			[]string{"echo *"}, []string{"echo x"}},
		{"contains list is OR", "  sel:\n    CommandLine|contains:\n      - shadow\n      - sudoers\n  condition: sel\n",
			[]string{"vi /etc/sudoers", "cat /etc/shadow"}, []string{"cat /etc/passwd"}},
		{"contains all is AND", "  sel:\n    CommandLine|contains|all:\n      - curl\n      - '| sh'\n  condition: sel\n",
			[]string{"curl http://x/i.sh | sh"}, []string{"curl http://x/i.sh", "wget x | sh"}},
		{"startswith endswith", "  a:\n    CommandLine|startswith: 'rm '\n  b:\n    CommandLine|endswith: '_history'\n  condition: a and b\n",
			[]string{"rm -f ~/.bash_history"}, []string{"rm -f x", "cat ~/.bash_history"}},
		{"re is case-sensitive", "  sel:\n    CommandLine|re: '^useradd\\s+\\w+'\n  condition: sel\n",
			[]string{"useradd bob"}, []string{"USERADD bob", "sudo useradd bob"}},
		{"re with i", "  sel:\n    CommandLine|re|i: '^useradd'\n  condition: sel\n",
			[]string{"USERADD bob"}, []string{"adduser bob"}},
		{"cased", "  sel:\n    CommandLine|cased: 'ID'\n  condition: sel\n",
			[]string{"ID"}, []string{"id"}},
		{"cidr", "  sel:\n    destination.ip|cidr: 10.0.0.0/8\n  condition: sel\n",
			[]string{"x"}, nil},
		{"numbers compare as text and with gt", "  a:\n    destination.port: 22\n  b:\n    destination.port|gte: 20\n  condition: a and b\n",
			[]string{"x"}, nil},
		{"windash", "  sel:\n    CommandLine|windash|contains: ' -enc '\n  condition: sel\n",
			[]string{"powershell -enc AAA", "powershell /enc AAA", "powershell \u2013enc AAA"}, []string{"powershell enc AAA"}},
		{"base64", "  sel:\n    CommandLine|base64|contains: 'cat /etc/shadow'\n  condition: sel\n",
			[]string{"echo " + base64.StdEncoding.EncodeToString([]byte("cat /etc/shadow")) + " | base64 -d | sh"}, []string{"cat /etc/shadow"}},
		{"keywords", "  keywords:\n    - 'shadow'\n    - '*nc -e*'\n  condition: keywords\n",
			[]string{"shadow", "nc -e /bin/sh 1.2.3.4"}, []string{"cat /etc/shadow"}},
		{"keywords all", "  keywords:\n    '|all':\n      - '*curl*'\n      - '*alice*'\n  condition: keywords\n",
			[]string{"curl x"}, nil},
		{"null means absent", "  sel:\n    CommandLine|contains: x\n  filter:\n    file.path: null\n  condition: sel and filter\n",
			[]string{"x"}, nil},
		{"exists", "  sel:\n    file.path|exists: false\n  condition: sel\n",
			[]string{"anything"}, nil},
		{"neq", "  sel:\n    User|neq: root\n  condition: sel\n",
			[]string{"anything"}, nil},
		{"fieldref", "  sel:\n    process.command_line|fieldref: user.name\n  condition: sel\n",
			[]string{"ALICE"}, []string{"bob"}},
		{"list of maps is OR", "  sel:\n    - CommandLine: a\n    - CommandLine: b\n  condition: sel\n",
			[]string{"a", "b"}, []string{"c"}},
		{"condition list is OR", "  a:\n    CommandLine: a\n  b:\n    CommandLine: b\n  condition:\n    - a\n    - b\n",
			[]string{"a", "b"}, []string{"c"}},
	}
	for _, c := range cases {
		r := detection(t, c.det)
		for _, s := range c.yes {
			if !r.Match(cmd(s)) {
				t.Errorf("%s: %q should match", c.name, s)
			}
		}
		for _, s := range c.no {
			if r.Match(cmd(s)) {
				t.Errorf("%s: %q should not match", c.name, s)
			}
		}
	}
	// user.name is alice: neq root holds, neq alice does not
	if detection(t, "  sel:\n    User|neq: alice\n  condition: sel\n").Match(cmd("x")) {
		t.Errorf("neq alice matched alice")
	}
	if detection(t, "  sel:\n    destination.ip|cidr: 192.168.0.0/16\n  condition: sel\n").Match(cmd("x")) {
		t.Errorf("cidr outside matched")
	}
	if detection(t, "  sel:\n    destination.port|gt: 22\n  condition: sel\n").Match(cmd("x")) {
		t.Errorf("22 > 22")
	}
}

// base64offset: whatever precedes and follows the value, one of its forms
// is inside the encoded text.
func TestBase64Offset(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, v := range []string{"/bin/bash", "http://", "a", "xyzzy!"} {
		forms := base64Offsets(v)
		for i := 0; i < 200; i++ {
			pre := make([]byte, rng.Intn(7))
			post := make([]byte, rng.Intn(7))
			rng.Read(pre)
			rng.Read(post)
			enc := base64.StdEncoding.EncodeToString(append(append(pre, v...), post...))
			found := false
			for _, f := range forms {
				if f != "" && strings.Contains(enc, f) {
					found = true
				}
			}
			if !found && len(v) >= 3 {
				t.Fatalf("%q at offset %d: none of %q in %q", v, len(pre), forms, enc)
			}
		}
	}
}

func TestConditions(t *testing.T) {
	det := "  sel_a:\n    CommandLine: a\n  sel_b:\n    CommandLine|contains: b\n  _hidden:\n    CommandLine: zzz\n  filter:\n    User: root\n  condition: %s\n"
	e := func(cmd, user string) *FlatEvent {
		return ev(t, `{"process":{"command_line":"`+cmd+`"},"user":{"name":"`+user+`"}}`)
	}
	for _, c := range []struct {
		cond string
		ev   *FlatEvent
		want bool
	}{
		{"sel_a or sel_b and filter", e("a", "bob"), true}, // and binds tighter
		{"(sel_a or sel_b) and filter", e("a", "bob"), false},
		{"sel_b and not filter", e("abc", "bob"), true},
		{"sel_b and not filter", e("abc", "root"), false},
		{"not not sel_a", e("a", "x"), true},
		{"1 of sel_*", e("xbx", "x"), true},
		{"all of sel_*", e("xbx", "x"), false},
		{"all of sel_* ", e("a", "x"), false}, // "a" does not contain b
		{"1 of them", e("zzz", "x"), false},   // _hidden is not part of them
		{"1 of them", e("q", "root"), true},
		{"all of them", e("q", "root"), false},
		{"1 of sel_* and not 1 of filter*", e("b", "root"), false},
	} {
		r := detection(t, strings.Replace(det, "%s", c.cond, 1))
		if got := r.Match(c.ev); got != c.want {
			t.Errorf("%q on %v: %v, want %v", c.cond, c.ev.fields, got, c.want)
		}
	}
}

func TestRuleErrors(t *testing.T) {
	opt := Options{Products: []string{"psmtap"}, Categories: []string{"command", "login", "session"}}
	head := "title: t\nlogsource:\n  product: psmtap\n  category: command\n"
	for _, c := range []struct {
		src  string
		line int
		msg  string
	}{
		{head + "detection:\n  sel:\n    a|bogus: x\n  condition: sel\n", 7, "unknown modifier"},
		{head + "detection:\n  sel:\n    a|re: '(['\n  condition: sel\n", 7, "regular expression"},
		{head + "detection:\n  sel:\n    a: x\n  condition: sel and other\n", 8, "does not define"},
		{head + "detection:\n  sel:\n    a: x\n  condition: sel | count() > 5\n", 8, "correlation"},
		{head + "detection:\n  sel:\n    a: x\n", 5, "no condition"},
		{"title: t\nlogsource:\n  product: psmtap\n  category: dns\ndetection:\n  sel:\n    a: x\n  condition: sel\n", 4, "category"},
		{"title: t\nlogsource:\n  product: windows\ndetection:\n  sel:\n    a: x\n  condition: sel\n", 3, "product"},
		{head + "detection:\n  sel:\n    a|cidr: 10.0.0.0/33\n  condition: sel\n", 7, "CIDR"},
		{head + "detection:\n  sel:\n    a|all: x\n  condition: sel\n", 7, "two or more"},
		{head + "detection:\n  sel:\n    a:\n      - x\n      - null\n  condition: sel\n", 9, "null"},
		{head + "level: severe\ndetection:\n  sel:\n    a: x\n  condition: sel\n", 5, "level"},
		{"logsource:\n  product: psmtap\n", 1, "title"},
		{head + "detection:\n  sel:\n    a|expand: '%Admins%'\n  condition: sel\n", 7, "placeholders"},
		{"title: c\ncorrelation:\n  type: event_count\n  rules: [x]\n  group-by: [user.name]\n  timespan: 5x\n  condition:\n    gte: 3\n", 6, "timespan"},
		{"title: c\ncorrelation:\n  type: value_count\n  rules: [x]\n  group-by: [user.name]\n  timespan: 5m\n  condition:\n    gte: 3\n", 7, "field"},
		{"title: c\ncorrelation:\n  type: magic\n  rules: [x]\n", 3, "not supported"},
		{"title: x\n  bad: indent\n", 2, "indentation"},
	} {
		_, err := Parse("r.yml", []byte(c.src), opt)
		e, ok := err.(*Error)
		if !ok || e.Line != c.line || !strings.Contains(e.Msg, c.msg) || !strings.HasPrefix(e.Error(), "r.yml:") {
			t.Errorf("%q:\n got %v, want line %d %q", c.src, err, c.line, c.msg)
		}
	}
}

// The correlation examples of the specification, on login events.
func TestCorrelations(t *testing.T) {
	src := `title: Failed login
name: failed_login
logsource:
  product: psmtap
  category: login
detection:
  sel:
    event.outcome: failure
  condition: sel
---
title: Successful login
name: successful_login
logsource:
  product: psmtap
  category: login
detection:
  sel:
    event.outcome: success
  condition: sel
---
title: Many failed logins from one source
name: many_failed
correlation:
  type: event_count
  rules:
    - failed_login
  group-by:
    - source.ip
  timespan: 5m
  condition:
    gte: 3
---
title: Failed logins for several users from one source
correlation:
  type: value_count
  rules: [failed_login]
  group-by: [source.ip]
  timespan: 10m
  condition:
    field: user.name
    gte: 2
---
title: Failure and success close together
correlation:
  type: temporal
  rules: [failed_login, successful_login]
  group-by: [user.name]
  timespan: 1m
---
title: Many failures, then a success
correlation:
  type: temporal_ordered
  rules: [many_failed, successful_login]
  group-by: [source.ip]
  timespan: 1h
`
	rules, err := Parse("c.yml", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := NewEngine(rules)
	if err != nil {
		t.Fatal(err)
	}
	// Rules named by correlations do not alert alone (generate defaults to
	// false); a correlation named by another still does.
	for _, r := range rules {
		wantQuiet := r.Name == "failed_login" || r.Name == "successful_login"
		if eng.Quiet(r) != wantQuiet {
			t.Errorf("%s: quiet %v", r.Title, eng.Quiet(r))
		}
	}
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	login := func(sec int, src, user, outcome string) []string {
		e := ev(t, `{"source":{"ip":"`+src+`"},"user":{"name":"`+user+`"},"event":{"outcome":"`+outcome+`"}}`)
		var names []string
		for _, h := range eng.Process(e, t0.Add(time.Duration(sec)*time.Second), "login", src+"/"+user) {
			names = append(names, h.Rule.Title)
		}
		return names
	}
	has := func(hits []string, title string) bool {
		for _, h := range hits {
			if h == title {
				return true
			}
		}
		return false
	}
	login(0, "10.0.0.1", "alice", "failure")
	if h := login(10, "10.0.0.1", "alice", "failure"); has(h, "Many failed logins from one source") {
		t.Fatalf("2 failures fired: %v", h)
	}
	// the third failure from another source does not count for the first
	if h := login(20, "10.0.0.2", "alice", "failure"); has(h, "Many failed logins from one source") {
		t.Fatalf("other source counted: %v", h)
	}
	h := login(30, "10.0.0.1", "bob", "failure")
	if !has(h, "Many failed logins from one source") || !has(h, "Failed logins for several users from one source") {
		t.Fatalf("third failure from 10.0.0.1: %v", h)
	}
	// more than 5 minutes later the window has moved on
	login(400, "10.0.0.3", "carol", "failure")
	login(500, "10.0.0.3", "carol", "failure")
	if h := login(720, "10.0.0.3", "carol", "failure"); has(h, "Many failed logins from one source") {
		t.Fatalf("failures 5 min apart fired: %v", h)
	}
	// a success for carol within a minute of her failure: temporal
	if h := login(730, "10.0.0.9", "carol", "success"); !has(h, "Failure and success close together") {
		t.Fatalf("temporal: %v", h)
	}
	// 10.0.0.1 had many failures (at 30 s): its success within the hour is the ordered chain
	if h := login(1000, "10.0.0.1", "alice", "success"); !has(h, "Many failures, then a success") {
		t.Fatalf("temporal_ordered: %v", h)
	}
	// a success before any failures does not make the ordered chain
	login(1100, "10.0.0.7", "dave", "success")
	for i := 0; i < 3; i++ {
		if h := login(1110+i, "10.0.0.7", "dave", "failure"); has(h, "Many failures, then a success") {
			t.Fatalf("out of order fired: %v", h)
		}
	}
}

func TestCorrelationLinkErrors(t *testing.T) {
	for _, c := range []struct{ src, msg string }{
		{"title: c\ncorrelation:\n  type: event_count\n  rules: [nope]\n  group-by: [a]\n  timespan: 1m\n  condition:\n    gte: 2\n", "not loaded"},
		{"title: c\nname: c\ncorrelation:\n  type: event_count\n  rules: [c]\n  group-by: [a]\n  timespan: 1m\n  condition:\n    gte: 2\n", "itself"},
		{"title: a\nname: a\ncorrelation:\n  type: event_count\n  rules: [b]\n  group-by: [x]\n  timespan: 1m\n  condition:\n    gte: 2\n---\ntitle: b\nname: b\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [x]\n  timespan: 1m\n  condition:\n    gte: 2\n", "loop"},
		{"title: b\nname: b\nlogsource:\n  category: x\ndetection:\n  s:\n    a: 1\n  condition: s\n---\ntitle: c\ncorrelation:\n  type: event_count\n  rules: [b]\n  group-by: [x]\n  timespan: 1m\n  condition:\n    lt: 2\n", "gt, gte or eq"},
	} {
		rules, err := Parse("l.yml", []byte(c.src), Options{})
		if err == nil {
			_, err = NewEngine(rules)
		}
		if err == nil || !strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "l.yml:") {
			t.Errorf("got %v, want %q", err, c.msg)
		}
	}
}

// A flood of distinct groups stays bounded.
func TestCorrelationGroupsBounded(t *testing.T) {
	rules, err := Parse("b.yml", []byte("title: f\nname: f\nlogsource:\n  category: login\ndetection:\n  s:\n    event.outcome: failure\n  condition: s\n---\ntitle: c\ncorrelation:\n  type: event_count\n  rules: [f]\n  group-by: [source.ip]\n  timespan: 1h\n  condition:\n    gte: 2\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := NewEngine(rules)
	t0 := time.Unix(0, 0)
	for i := 0; i < MaxGroups+1000; i++ {
		e := &FlatEvent{fields: map[string][]any{"event.outcome": {"failure"}, "source.ip": {itoa(i)}}}
		eng.Process(e, t0.Add(time.Duration(i)*time.Millisecond), "login", "")
	}
	if n := len(eng.corrs[0].groups); n > MaxGroups {
		t.Fatalf("%d groups", n)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
