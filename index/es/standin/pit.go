package standin

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// A point in time (POST /<target>/_pit?keep_alive=1m, DELETE /_pit) freezes
// the documents a later search with "pit":{"id":...} sees: the backing
// indices the target resolved to and the documents each held then. Searches
// with a PIT go to /_search without an index, and get an implicit
// _shard_doc tiebreaker as the last sort value, so search_after pages
// through them without skipping or repeating, as the reference describes
// ("Paginate search results"). keep_alive is accepted, not enforced: the
// stand-in lives as long as a test.
type pit struct {
	indices []*index
	order   [][]string
}

func (s *Server) openPIT(w http.ResponseWriter, r *http.Request, target string) {
	if r.URL.Query().Get("keep_alive") == "" {
		writeErr(w, &esError{400, "action_request_validation_exception", "Validation Failed: 1: [keep_alive] is not specified;"})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ixs := s.targetIndices(target)
	if len(ixs) == 0 && !strings.ContainsAny(target, "*,") {
		writeErr(w, &esError{404, "index_not_found_exception", "no such index [" + target + "]"})
		return
	}
	p := &pit{indices: ixs}
	for _, ix := range ixs {
		p.order = append(p.order, append([]string(nil), ix.order...))
	}
	b := make([]byte, 24)
	rand.Read(b)
	id := base64.RawURLEncoding.EncodeToString(b)
	if s.pits == nil {
		s.pits = map[string]*pit{}
	}
	s.pits[id] = p
	writeJSON(w, 200, map[string]any{"id": id, "_shards": map[string]any{"total": len(ixs), "successful": len(ixs), "skipped": 0, "failed": 0}})
}

func (s *Server) closePIT(w http.ResponseWriter, r *http.Request) {
	b, _ := readBody(r)
	var req struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &req); err != nil || req.ID == "" {
		writeErr(w, &esError{400, "action_request_validation_exception", "Validation Failed: 1: no pit ids specified;"})
		return
	}
	s.mu.Lock()
	_, ok := s.pits[req.ID]
	delete(s.pits, req.ID)
	s.mu.Unlock()
	if !ok {
		writeJSON(w, 404, map[string]any{"succeeded": true, "num_freed": 0})
		return
	}
	writeJSON(w, 200, map[string]any{"succeeded": true, "num_freed": 1})
}

// PITs open (for tests that check a client closes what it opens).
func (s *Server) OpenPITs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pits)
}

// filterSource applies the _source parameter of a search: false, a field
// pattern or a list of them, or {"includes":[...],"excludes":[...]};
// patterns may end in * (as "ssh.*").
func filterSource(src json.RawMessage, spec json.RawMessage) json.RawMessage {
	if len(spec) == 0 || string(spec) == "true" {
		return src
	}
	if string(spec) == "false" {
		return nil
	}
	var inc, exc []string
	var one string
	var obj struct {
		Includes []string `json:"includes"`
		Excludes []string `json:"excludes"`
	}
	switch {
	case json.Unmarshal(spec, &one) == nil:
		inc = []string{one}
	case json.Unmarshal(spec, &inc) == nil:
	case json.Unmarshal(spec, &obj) == nil:
		inc, exc = obj.Includes, obj.Excludes
	}
	var d map[string]any
	if json.Unmarshal(src, &d) != nil {
		return src
	}
	out := pick("", d, inc, exc)
	b, _ := json.Marshal(out)
	return b
}

func fieldMatches(field string, pats []string) bool {
	for _, p := range pats {
		if p == field || strings.HasPrefix(field, p+".") || (strings.HasSuffix(p, "*") && strings.HasPrefix(field, strings.TrimSuffix(p, "*"))) {
			return true
		}
	}
	return false
}

// under says whether some include pattern lies below field (keep descending).
func under(field string, pats []string) bool {
	for _, p := range pats {
		if strings.HasPrefix(strings.TrimSuffix(p, "*"), field+".") {
			return true
		}
	}
	return false
}

func pick(prefix string, d map[string]any, inc, exc []string) map[string]any {
	out := map[string]any{}
	for k, v := range d {
		f := k
		if prefix != "" {
			f = prefix + "." + k
		}
		if fieldMatches(f, exc) {
			continue
		}
		if len(inc) == 0 || fieldMatches(f, inc) {
			if m, ok := v.(map[string]any); ok && len(exc) > 0 {
				out[k] = pick(f, m, nil, exc)
			} else {
				out[k] = v
			}
			continue
		}
		if m, ok := v.(map[string]any); ok && under(f, inc) {
			if sub := pick(f, m, inc, exc); len(sub) > 0 {
				out[k] = sub
			}
		}
	}
	return out
}
