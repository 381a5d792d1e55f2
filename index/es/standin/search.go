package standin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"time"
	"unicode"
)

// search implements _search for the query DSL subset psmtap search sends:
// bool (filter, must, should with minimum_should_match, must_not), term,
// terms, range (gt/gte/lt/lte on dates and numbers), match (operator and/or,
// text and match_only_text fields analysed by lower-casing and splitting on
// non-letters/digits; other types compared whole, as a term query),
// match_phrase, exists, match_all; "sort" on one field; "size" (default 10,
// as documented), "from" and "search_after" (one value, compared as a string). A query type outside that subset is refused
// with 400 parsing_exception, as Elasticsearch refuses unknown queries.
func (s *Server) search(w http.ResponseWriter, r *http.Request, target string) {
	b, _ := readBody(r)
	var req struct {
		Query map[string]any  `json:"query"`
		Size  *int            `json:"size"`
		From  int             `json:"from"`
		Sort  json.RawMessage `json:"sort"`
		// SearchAfter: the sort value of the last hit of the page before.
		SearchAfter []any `json:"search_after"`
	}
	if len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &req); err != nil {
			writeErr(w, &esError{400, "x_content_parse_exception", err.Error()})
			return
		}
	}
	size := 10
	if req.Size != nil {
		size = *req.Size
	}
	s.mu.Lock()
	ixs := s.targetIndices(target)
	if len(ixs) == 0 && !strings.ContainsAny(target, "*,") {
		s.mu.Unlock()
		writeErr(w, &esError{404, "index_not_found_exception", "no such index [" + target + "]"})
		return
	}
	type hit struct {
		index, id string
		src       json.RawMessage
		doc       map[string][]any
	}
	var hits []hit
	var qerr error
	for _, ix := range ixs {
		for _, id := range ix.order {
			src := ix.docs[id]
			var d map[string]any
			dec := json.NewDecoder(bytes.NewReader(src))
			dec.UseNumber()
			dec.Decode(&d)
			flat := map[string][]any{}
			flatten("", d, flat)
			ok, err := matchQuery(req.Query, flat, ix.mapping)
			if err != nil {
				qerr = err
				break
			}
			if ok {
				hits = append(hits, hit{ix.Name, id, src, flat})
			}
		}
	}
	s.mu.Unlock()
	if qerr != nil {
		writeErr(w, &esError{400, "parsing_exception", qerr.Error()})
		return
	}
	sortField, desc := "", false
	if len(req.Sort) > 0 {
		var sl []map[string]any
		if json.Unmarshal(req.Sort, &sl) == nil && len(sl) > 0 {
			for f, v := range sl[0] {
				sortField = f
				if m, ok := v.(map[string]any); ok {
					desc = m["order"] == "desc"
				} else {
					desc = v == "desc"
				}
			}
		}
	}
	if sortField != "" {
		sort.SliceStable(hits, func(i, j int) bool {
			a, b := firstString(hits[i].doc[sortField]), firstString(hits[j].doc[sortField])
			if desc {
				return a > b
			}
			return a < b
		})
	}
	total := len(hits)
	if sortField != "" && len(req.SearchAfter) > 0 {
		after := fmt.Sprint(req.SearchAfter[0])
		k := 0
		for k < len(hits) {
			v := firstString(hits[k].doc[sortField])
			if desc && v < after || !desc && v > after {
				break
			}
			k++
		}
		hits = hits[k:]
	}
	if req.From < len(hits) {
		hits = hits[req.From:]
	} else {
		hits = nil
	}
	if len(hits) > size {
		hits = hits[:size]
	}
	out := make([]any, 0, len(hits))
	for _, h := range hits {
		o := map[string]any{"_index": h.index, "_id": h.id, "_score": nil, "_source": h.src}
		if sortField != "" {
			o["sort"] = []any{firstString(h.doc[sortField])}
		}
		out = append(out, o)
	}
	writeJSON(w, 200, map[string]any{"took": 1, "timed_out": false,
		"_shards": map[string]any{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0},
		"hits":    map[string]any{"total": map[string]any{"value": total, "relation": "eq"}, "max_score": nil, "hits": out}})
}

func firstString(vs []any) string {
	for _, v := range vs {
		if v != nil {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// values returns a field's values. Only mapped fields are indexed: a field
// that a "dynamic": false mapping left out is in _source but no query finds
// it, as in Elasticsearch. A multi-field ("x.keyword" of a text field,
// "process.command_line.text" of a wildcard one) indexes its parent's value.
func values(doc map[string][]any, field string, m *mapping) []any {
	typ, ok := m.fields[field]
	if !ok && m.underFlattened(field) {
		return doc[field] // a key inside a flattened field: its own values
	}
	if !ok || typ == "object" || typ == "nested" {
		return nil
	}
	if v, ok := doc[field]; ok {
		return v
	}
	if i := strings.LastIndexByte(field, '.'); i > 0 {
		if pt, ok := m.fields[field[:i]]; ok && pt != "object" && pt != "nested" {
			return doc[field[:i]]
		}
	}
	return nil
}

// analysed says whether a match query analyses the field's values into
// words. On keyword-family, numeric, ip, date and boolean fields it does not:
// the query text must equal the whole value, as Elasticsearch's match query
// on a keyword field is a term query.
func analysed(typ string) bool {
	switch typ {
	case "text", "match_only_text", "":
		return true
	}
	return false
}

func one(q map[string]any) (string, any, error) {
	if len(q) != 1 {
		return "", nil, fmt.Errorf("[%d] query malformed, expected one field", len(q))
	}
	for k, v := range q {
		return k, v, nil
	}
	return "", nil, nil
}

func matchQuery(q map[string]any, doc map[string][]any, m *mapping) (bool, error) {
	if len(q) == 0 {
		return true, nil
	}
	if len(q) != 1 {
		return false, fmt.Errorf("[_na] query malformed, no start_object after query name")
	}
	for typ, body := range q {
		bm, _ := body.(map[string]any)
		switch typ {
		case "match_all":
			return true, nil
		case "bool":
			return matchBool(bm, doc, m)
		case "term", "terms":
			field, v, err := one(bm)
			if err != nil {
				return false, err
			}
			var wants []any
			switch x := v.(type) {
			case []any:
				wants = x
			case map[string]any:
				wants = []any{x["value"]}
			default:
				wants = []any{x}
			}
			ftype := m.fields[field]
			for _, have := range values(doc, field, m) {
				for _, want := range wants {
					if termEquals(ftype, have, want) {
						return true, nil
					}
				}
			}
			return false, nil
		case "exists":
			f, _ := bm["field"].(string)
			for _, v := range values(doc, f, m) {
				if v != nil {
					return true, nil
				}
			}
			return false, nil
		case "range":
			field, v, err := one(bm)
			if err != nil {
				return false, err
			}
			cond, _ := v.(map[string]any)
			for _, have := range values(doc, field, m) {
				if inRange(have, cond) {
					return true, nil
				}
			}
			return false, nil
		case "match", "match_phrase":
			field, v, err := one(bm)
			if err != nil {
				return false, err
			}
			query, op := "", "or"
			switch x := v.(type) {
			case string:
				query = x
			case map[string]any:
				query, _ = x["query"].(string)
				if o, ok := x["operator"].(string); ok {
					op = strings.ToLower(o)
				}
			}
			qt := tokens(query)
			if ft := m.fields[field]; !analysed(ft) {
				for _, have := range values(doc, field, m) {
					if termEquals(ft, have, query) {
						return true, nil
					}
				}
				return false, nil
			}
			for _, have := range values(doc, field, m) {
				ht := tokens(fmt.Sprint(have))
				if typ == "match_phrase" {
					if containsSeq(ht, qt) {
						return true, nil
					}
					continue
				}
				n := 0
				for _, t := range qt {
					for _, h := range ht {
						if h == t {
							n++
							break
						}
					}
				}
				if (op == "and" && n == len(qt) && n > 0) || (op != "and" && n > 0) {
					return true, nil
				}
			}
			return false, nil
		default:
			return false, fmt.Errorf("unknown query [%s]", typ)
		}
	}
	return false, nil
}

func matchBool(b map[string]any, doc map[string][]any, m *mapping) (bool, error) {
	list := func(k string) []map[string]any {
		switch x := b[k].(type) {
		case map[string]any:
			return []map[string]any{x}
		case []any:
			var out []map[string]any
			for _, e := range x {
				if mm, ok := e.(map[string]any); ok {
					out = append(out, mm)
				}
			}
			return out
		}
		return nil
	}
	for _, k := range []string{"filter", "must"} {
		for _, q := range list(k) {
			ok, err := matchQuery(q, doc, m)
			if err != nil || !ok {
				return false, err
			}
		}
	}
	for _, q := range list("must_not") {
		ok, err := matchQuery(q, doc, m)
		if err != nil || ok {
			return false, err
		}
	}
	should := list("should")
	if len(should) == 0 {
		return true, nil
	}
	need := 0
	if len(list("filter"))+len(list("must")) == 0 {
		need = 1
	}
	if msm, ok := b["minimum_should_match"]; ok {
		fmt.Sscan(fmt.Sprint(msm), &need)
	}
	n := 0
	for _, q := range should {
		ok, err := matchQuery(q, doc, m)
		if err != nil {
			return false, err
		}
		if ok {
			n++
		}
	}
	return n >= need, nil
}

func termEquals(ftype string, have, want any) bool {
	if ftype == "ip" {
		h, err := netip.ParseAddr(fmt.Sprint(have))
		if err != nil {
			return false
		}
		ws := fmt.Sprint(want)
		if p, err := netip.ParsePrefix(ws); err == nil {
			return p.Contains(h)
		}
		w, err := netip.ParseAddr(ws)
		return err == nil && w == h
	}
	return fmt.Sprint(have) == fmt.Sprint(want)
}

func inRange(have any, cond map[string]any) bool {
	hs := fmt.Sprint(have)
	ht, herr := time.Parse(time.RFC3339Nano, hs)
	cmp := func(bound any) int {
		bs := fmt.Sprint(bound)
		if herr == nil {
			bt, err := time.Parse(time.RFC3339Nano, bs)
			if err != nil {
				return 0
			}
			return ht.Compare(bt)
		}
		var a, b float64
		fmt.Sscan(hs, &a)
		fmt.Sscan(bs, &b)
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	}
	for op, bound := range cond {
		c := cmp(bound)
		switch op {
		case "gt":
			if c <= 0 {
				return false
			}
		case "gte":
			if c < 0 {
				return false
			}
		case "lt":
			if c >= 0 {
				return false
			}
		case "lte":
			if c > 0 {
				return false
			}
		}
	}
	return true
}

func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func containsSeq(h, q []string) bool {
	if len(q) == 0 {
		return false
	}
	for i := 0; i+len(q) <= len(h); i++ {
		ok := true
		for j := range q {
			if h[i+j] != q[j] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
