package sigma

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Event is what a rule looks at: the values of a field by its dotted name
// (ECS style, "process.command_line"). A field holding a list has several
// values. Values are string, float64 or bool.
type Event interface {
	Values(field string) []any
	// All calls fn with every string value of the event (keyword search).
	All(fn func(string) bool) bool
}

// fieldMatch is one "field|modifiers: values" item of a selection.
type fieldMatch struct {
	field   string   // "" for keywords (any string value of the event)
	all     bool     // every value must match (|all)
	exists  *bool    // |exists: true/false
	null    bool     // value null: the field is absent
	neq     bool     // |neq: the field differs from every value
	extract string   // a time modifier: minute, hour, day, week, month, year
	ref     []string // |fieldref: compare with these other fields of the event
	values  []valueMatcher
}

// valueMatcher tests one field value.
type valueMatcher interface {
	match(v any) bool
}

// matchField applies m to ev.
func (m *fieldMatch) matchEvent(ev Event) bool {
	if m.field == "" {
		return m.matchKeywords(ev)
	}
	vals := ev.Values(m.field)
	if m.exists != nil {
		return (len(vals) > 0) == *m.exists
	}
	if m.null {
		return len(vals) == 0
	}
	if len(vals) == 0 {
		return false
	}
	if m.extract != "" {
		vals = extractTime(vals, m.extract)
	}
	if len(m.ref) > 0 {
		return m.matchRef(ev, vals)
	}
	if m.neq {
		for _, vm := range m.values {
			for _, v := range vals {
				if vm.match(v) {
					return false
				}
			}
		}
		return true
	}
	if m.all {
		for _, vm := range m.values {
			if !anyValue(vm, vals) {
				return false
			}
		}
		return true
	}
	for _, vm := range m.values {
		if anyValue(vm, vals) {
			return true
		}
	}
	return false
}

// matchRef: the field equals (neq: differs from) the other fields' values.
func (m *fieldMatch) matchRef(ev Event, vals []any) bool {
	eq := func(other string) bool {
		for _, o := range ev.Values(other) {
			for _, v := range vals {
				if strings.EqualFold(text(o), text(v)) {
					return true
				}
			}
		}
		return false
	}
	for _, other := range m.ref {
		hit := eq(other)
		switch {
		case m.neq && hit:
			return false
		case !m.neq && m.all && !hit:
			return false
		case !m.neq && !m.all && hit:
			return true
		}
	}
	return m.neq || m.all
}

func anyValue(vm valueMatcher, vals []any) bool {
	for _, v := range vals {
		if vm.match(v) {
			return true
		}
	}
	return false
}

func (m *fieldMatch) matchKeywords(ev Event) bool {
	if m.all {
		for _, vm := range m.values {
			if !ev.All(func(s string) bool { return vm.match(s) }) {
				return false
			}
		}
		return true
	}
	return ev.All(func(s string) bool {
		for _, vm := range m.values {
			if vm.match(s) {
				return true
			}
		}
		return false
	})
}

// text renders a field value as Sigma compares it: as a string.
func text(v any) string {
	switch x := v.(type) {
	case *Str:
		return x.S
	case string:
		return x
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case *Str:
		f, err := strconv.ParseFloat(strings.TrimSpace(x.S), 64)
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

// extractTime turns date values into one of their parts (the time modifiers).
func extractTime(vals []any, part string) []any {
	out := make([]any, 0, len(vals))
	for _, v := range vals {
		t, err := time.Parse(time.RFC3339Nano, text(v))
		if err != nil {
			continue
		}
		t = t.UTC()
		var n int
		switch part {
		case "minute":
			n = t.Minute()
		case "hour":
			n = t.Hour()
		case "day":
			n = t.Day()
		case "week":
			_, n = t.ISOWeek()
		case "month":
			n = int(t.Month())
		case "year":
			n = t.Year()
		}
		out = append(out, float64(n))
	}
	return out
}

// glob is a Sigma string value: * and ? wildcards, \ escapes, case-
// insensitive unless cased; windash makes every dash character match any
// of the dashes Windows accepts.
type glob struct {
	toks  []gtok
	cased bool
	// shape: a pattern that is one literal with stars only at its ends
	// is matched with strings functions (most rules are contains,
	// startswith, endswith or equals).
	shape gshape
	lit   string
}

type gshape uint8

const (
	gGeneral gshape = iota
	gEquals
	gPrefix
	gSuffix
	gContains
)

type gtokKind uint8

const (
	gLit gtokKind = iota
	gStar
	gOne
	gDash
)

type gtok struct {
	kind gtokKind
	lit  string // gLit, lower-cased unless cased
}

var dashes = []rune{'-', '/', '\u2013', '\u2014', '\u2015'}

func isDash(r rune) bool {
	for _, d := range dashes {
		if r == d {
			return true
		}
	}
	return false
}

// compileGlob parses a Sigma value with wildcards and escapes.
func compileGlob(s string, cased, windash bool) *glob {
	g := &glob{cased: cased}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			l := lit.String()
			if !cased {
				l = strings.ToLower(l)
			}
			g.toks = append(g.toks, gtok{kind: gLit, lit: l})
			lit.Reset()
		}
	}
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == '\\':
			// \* \? are literal wildcards, \\ a backslash; a lone \ is itself.
			if i+1 < len(rs) && (rs[i+1] == '*' || rs[i+1] == '?' || rs[i+1] == '\\') {
				lit.WriteRune(rs[i+1])
				i++
			} else {
				lit.WriteRune(r)
			}
		case r == '*':
			flush()
			if n := len(g.toks); n == 0 || g.toks[n-1].kind != gStar {
				g.toks = append(g.toks, gtok{kind: gStar})
			}
		case r == '?':
			flush()
			g.toks = append(g.toks, gtok{kind: gOne})
		case windash && isDash(r):
			flush()
			g.toks = append(g.toks, gtok{kind: gDash})
		default:
			lit.WriteRune(r)
		}
	}
	flush()
	g.shape = gGeneral
	switch t := g.toks; {
	case len(t) == 0:
		g.shape = gEquals
	case len(t) == 1 && t[0].kind == gLit:
		g.shape, g.lit = gEquals, t[0].lit
	case len(t) == 2 && t[0].kind == gLit && t[1].kind == gStar:
		g.shape, g.lit = gPrefix, t[0].lit
	case len(t) == 2 && t[0].kind == gStar && t[1].kind == gLit:
		g.shape, g.lit = gSuffix, t[1].lit
	case len(t) == 3 && t[0].kind == gStar && t[1].kind == gLit && t[2].kind == gStar:
		g.shape, g.lit = gContains, t[1].lit
	}
	return g
}

func (g *glob) match(v any) bool {
	var s string
	if str, ok := v.(*Str); ok && !g.cased {
		s = str.Lower()
	} else {
		s = text(v)
		if !g.cased {
			s = strings.ToLower(s)
		}
	}
	switch g.shape {
	case gEquals:
		return s == g.lit
	case gPrefix:
		return strings.HasPrefix(s, g.lit)
	case gSuffix:
		return strings.HasSuffix(s, g.lit)
	case gContains:
		return strings.Contains(s, g.lit)
	}
	return globMatch(g.toks, s)
}

// globMatch matches tokens against s; a star backtracks to its last
// position only (linear in practice, quadratic at worst, never exponential).
func globMatch(toks []gtok, s string) bool {
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti < len(toks) {
			t := toks[ti]
			switch t.kind {
			case gStar:
				starTi, starSi = ti, si
				ti++
				continue
			case gLit:
				if strings.HasPrefix(s[si:], t.lit) {
					ti++
					si += len(t.lit)
					continue
				}
			case gOne:
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					ti++
					si += n
					continue
				}
			case gDash:
				if si < len(s) {
					r, n := utf8.DecodeRuneInString(s[si:])
					if isDash(r) {
						ti++
						si += n
						continue
					}
				}
			}
		} else if si == len(s) {
			return true
		}
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		ti, si = starTi+1, starSi
	}
}

type regexMatcher struct{ re *regexp.Regexp }

func (m regexMatcher) match(v any) bool { return m.re.MatchString(text(v)) }

type cidrMatcher struct{ p netip.Prefix }

func (m cidrMatcher) match(v any) bool {
	a, err := netip.ParseAddr(text(v))
	return err == nil && m.p.Contains(a.Unmap())
}

type numMatcher struct {
	op string
	n  float64
}

func (m numMatcher) match(v any) bool {
	x, ok := number(v)
	if !ok {
		return false
	}
	switch m.op {
	case "lt":
		return x < m.n
	case "lte":
		return x <= m.n
	case "gt":
		return x > m.n
	case "gte":
		return x >= m.n
	}
	return x == m.n
}

// transform applies a value-transforming modifier to each value.
func transform(mod string, vals []string) []string {
	var out []string
	for _, v := range vals {
		switch mod {
		case "base64":
			out = append(out, base64.StdEncoding.EncodeToString([]byte(v)))
		case "base64offset":
			out = append(out, base64Offsets(v)...)
		case "wide", "utf16le":
			out = append(out, utf16String(v, false, false))
		case "utf16be":
			out = append(out, utf16String(v, true, false))
		case "utf16":
			out = append(out, utf16String(v, false, true))
		}
	}
	return out
}

// base64Offsets returns the three base64 forms of s as it would appear at
// byte offsets 0, 1 and 2 of a longer encoded text, keeping only the
// characters that do not depend on the bytes around it.
func base64Offsets(s string) []string {
	out := make([]string, 0, 3)
	for shift := 0; shift < 3; shift++ {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, shift), s...))
		drop := [3]int{0, 2, 3}[shift] // characters that mix in the bytes before
		enc = strings.TrimRight(enc, "=")
		if (shift+len(s))%3 != 0 {
			enc = enc[:len(enc)-1] // the last character mixes in the bytes after
		}
		if drop < len(enc) {
			out = append(out, enc[drop:])
		}
	}
	return out
}

func utf16String(s string, bigEndian, bom bool) string {
	u := utf16.Encode([]rune(s))
	var b []byte
	if bom {
		b = append(b, 0xff, 0xfe)
	}
	for _, c := range u {
		if bigEndian {
			b = append(b, byte(c>>8), byte(c))
		} else {
			b = append(b, byte(c), byte(c>>8))
		}
	}
	return string(b)
}
