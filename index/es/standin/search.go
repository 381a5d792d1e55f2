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
// as documented) and "from"; "search_after"; "_source" filtering; "pit" (a
// point in time, pit.go: then the target is the PIT's and the sort values
// end with the implicit _shard_doc tiebreaker). A query type outside that subset is refused
// with 400 parsing_exception, as Elasticsearch refuses unknown queries.
func (s *Server) search(w http.ResponseWriter, r *http.Request, target string) {
	b, _ := readBody(r)
	var req struct {
		Query       map[string]any  `json:"query"`
		Size        *int            `json:"size"`
		From        int             `json:"from"`
		Sort        json.RawMessage `json:"sort"`
		SearchAfter []any           `json:"search_after"`
		Source      json.RawMessage `json:"_source"`
		PIT         *struct {
			ID string `json:"id"`
		} `json:"pit"`
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
	var ixs []*index
	var orders [][]string
	switch {
	case req.PIT != nil && target != "":
		s.mu.Unlock()
		writeErr(w, &esError{400, "action_request_validation_exception", "Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any index with point in time.;"})
		return
	case req.PIT != nil:
		p, ok := s.pits[req.PIT.ID]
		if !ok {
			s.mu.Unlock()
			writeErr(w, &esError{404, "search_context_missing_exception", "No search context found for id [" + req.PIT.ID + "]"})
			return
		}
		ixs, orders = p.indices, p.order
	default:
		if target == "" {
			target = "*"
		}
		ixs = s.targetIndices(target)
		if len(ixs) == 0 && !strings.ContainsAny(target, "*,") {
			s.mu.Unlock()
			writeErr(w, &esError{404, "index_not_found_exception", "no such index [" + target + "]"})
			return
		}
		for _, ix := range ixs {
			orders = append(orders, ix.order)
		}
	}
	type hit struct {
		index, id string
		src       json.RawMessage
		doc       map[string][]any
		shardDoc  int64
	}
	var hits []hit
	var qerr error
	for n, ix := range ixs {
		for pos, id := range orders[n] {
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
				hits = append(hits, hit{ix.Name, id, src, flat, int64(n)<<32 | int64(pos)})
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
	// cmp orders two hits by the sort field, then (with a PIT) by _shard_doc.
	cmp := func(af string, ad int64, bf string, bd int64) int {
		if sortField != "" && af != bf {
			if (af < bf) != desc {
				return -1
			}
			return 1
		}
		if req.PIT == nil || ad == bd {
			return 0
		}
		if ad < bd {
			return -1
		}
		return 1
	}
	sort.SliceStable(hits, func(i, j int) bool {
		return cmp(firstString(hits[i].doc[sortField]), hits[i].shardDoc, firstString(hits[j].doc[sortField]), hits[j].shardDoc) < 0
	})
	total := len(hits)
	if len(req.SearchAfter) > 0 {
		// The values a previous page's last hit carried in "sort".
		var af string
		var ad int64
		vals := req.SearchAfter
		if sortField != "" {
			af, vals = fmt.Sprint(vals[0]), vals[1:]
		}
		if req.PIT != nil && len(vals) > 0 {
			if f, ok := vals[0].(float64); ok {
				ad = int64(f)
			}
		}
		i := 0
		for i < len(hits) && cmp(firstString(hits[i].doc[sortField]), hits[i].shardDoc, af, ad) <= 0 {
			i++
		}
		hits = hits[i:]
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
		o := map[string]any{"_index": h.index, "_id": h.id, "_score": nil}
		if src := filterSource(h.src, req.Source); src != nil {
			o["_source"] = src
		}
		var sv []any
		if sortField != "" {
			sv = append(sv, firstString(h.doc[sortField]))
		}
		if req.PIT != nil {
			sv = append(sv, h.shardDoc)
		}
		if sv != nil {
			o["sort"] = sv
		}
		out = append(out, o)
	}
	resp := map[string]any{"took": 1, "timed_out": false,
		"_shards": map[string]any{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0},
		"hits":    map[string]any{"total": map[string]any{"value": total, "relation": "eq"}, "max_score": nil, "hits": out}}
	if req.PIT != nil {
		resp["pit_id"] = req.PIT.ID
	}
	writeJSON(w, 200, resp)
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
