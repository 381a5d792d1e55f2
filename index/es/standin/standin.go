// Package standin is an in-process stand-in for the parts of the
// Elasticsearch and Kibana REST APIs that psmtap uses. It exists because no
// Elasticsearch cluster can run on the machines that build and test psmtap;
// the integration suite in index/es (PSMTAP_ES_URL) runs the same scenarios
// against a real cluster where one is available.
//
// It follows the Elasticsearch 8 reference documentation, and enforces what
// psmtap depends on rather than being lenient:
//
//   - Every response carries X-Elastic-Product: Elasticsearch (the Go client
//     refuses a server without it) and errors have the documented shape
//     {"error":{"root_cause":[...],"type":...,"reason":...},"status":N}.
//   - _bulk (POST/PUT /_bulk and /<target>/_bulk): NDJSON action/source pairs,
//     the body must end with a newline; the answer is HTTP 200 with "took",
//     "errors" and one "items" entry per action, in order, each carrying its
//     own "status". create on an existing _id is 409
//     version_conflict_engine_exception; a value that does not fit the mapped
//     type is 400 document_parsing_exception; a data stream takes only create
//     (index is 400 illegal_argument_exception) and needs @timestamp; ids
//     are unique within a backing index (as in Elasticsearch, not across a
//     rollover).
//   - Writing to a name that does not exist creates it: a data stream when the
//     highest-priority matching index template has "data_stream":{}, with its
//     first backing index .ds-<name>-<yyyy.MM.dd>-000001; else an index. A
//     built-in "logs" template (logs-*-*, priority 100, data stream, dynamic
//     mappings) is present as in a default cluster.
//   - constant_keyword: every document of a backing index must carry the
//     mapping's "value", or, without one, the value of the first document
//     that had the field (a later different value is 400
//     document_parsing_exception).
//   - Ingest pipelines (ingest.go): PUT/GET/DELETE /_ingest/pipeline/<id>,
//     the set processor, index.default_pipeline, and the bulk pipeline
//     parameter ("_none" skips the default); _source is stored as the
//     pipeline re-serialized it.
//   - Mappings: explicit types are checked on every document (ip, long and
//     the other integer types, double/float, date, boolean, keyword, text,
//     multi-fields such as .keyword or .text, read from the parent's value
//     in queries; flattened takes any object of scalars below it);
//     "dynamic": false leaves unmapped fields unindexed, true
//     maps them by their first value, "strict" rejects them. Several index
//     templates side by side (psmtap's sessions and activity events): a
//     write goes to the highest-priority one whose pattern matches.
//   - _component_template, _index_template (composed_of must name existing
//     component templates; overlapping patterns at equal priority are
//     refused), _ilm/policy (phases hot/warm/cold/frozen/delete, and the
//     actions each phase allows), _data_stream (GET, PUT), _search with the
//     query DSL subset psmtap search sends (bool, term, terms, range, match,
//     match_phrase, exists, match_all; sort; size; search_after; _source
//     filtering), point in time (POST /<target>/_pit, DELETE /_pit),
//     _refresh, _count.
//   - Authentication when configured: Basic, ApiKey and Bearer (service
//     token); 401 security_exception otherwise.
//   - Kibana: POST /api/saved_objects/_import (multipart "file", kbn-xsrf
//     header required, every reference must resolve in the file or among
//     objects already imported), GET /api/status.
//
// Fault injection for tests: whole-request 429/5xx, per-item 429
// (es_rejected_execution_exception, as a busy write thread pool answers),
// slow answers, a server that dies in the middle of a bulk after applying
// part of it, and stop/start on the same address (documents survive, as
// they do on a real restart).
package standin

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the Elasticsearch stand-in.
type Server struct {
	mu         sync.Mutex
	components map[string]json.RawMessage
	templates  map[string]*indexTemplate
	policies   map[string]json.RawMessage
	streams    map[string]*dataStream
	indices    map[string]*index
	pits       map[string]*pit
	pipelines  map[string]*pipeline

	// Authentication: when any is set, a request must present one of them.
	Username, Password string
	APIKey             string // the value after "ApiKey "
	ServiceToken       string // the value after "Bearer "

	faults faults

	// Counters for tests.
	BulkRequests atomic.Int64
	BulkItems    atomic.Int64

	addr string
	srv  *http.Server
	ln   net.Listener
	wg   sync.WaitGroup
}

type faults struct {
	failRequests  int
	failStatus    int
	rejectEvery   int // per-item 429 for every n-th item
	itemCounter   int
	delay         time.Duration
	killMidBulk   int
	failTemplates bool
}

// New returns a stand-in with an empty cluster state (plus the built-in logs template).
func New() *Server {
	s := &Server{
		components: map[string]json.RawMessage{},
		templates:  map[string]*indexTemplate{},
		policies:   map[string]json.RawMessage{},
		streams:    map[string]*dataStream{},
		indices:    map[string]*index{},
		pipelines:  map[string]*pipeline{},
	}
	// Elastic's built-in component templates (x-pack stack templates), as a
	// default cluster has them: what they hold that the stand-in enforces.
	s.components["logs@mappings"] = json.RawMessage(`{"template":{"mappings":{"date_detection":false,"properties":{"@timestamp":{"type":"date"},"data_stream":{"properties":{"type":{"type":"constant_keyword","value":"logs"},"dataset":{"type":"constant_keyword"},"namespace":{"type":"constant_keyword"}}}}}},"_meta":{"managed":true}}`)
	s.components["logs@settings"] = json.RawMessage(`{"template":{"settings":{"index":{"lifecycle":{"name":"logs"},"codec":"best_compression","mapping":{"ignore_malformed":true},"default_pipeline":"logs@default-pipeline"}}},"_meta":{"managed":true}}`)
	s.components["ecs@mappings"] = json.RawMessage(`{"template":{"mappings":{"dynamic_templates":[{"ecs_ip":{"match":["ip","*_ip"],"mapping":{"type":"ip"}}}]}},"_meta":{"managed":true}}`)
	s.pipelines["logs@default-pipeline"] = &pipeline{raw: json.RawMessage(`{"processors":[]}`)}
	s.templates["logs"] = &indexTemplate{
		Name: "logs", Patterns: []string{"logs-*-*"}, Priority: 100, DataStream: true,
		ownMappings: map[string]any{"properties": map[string]any{"@timestamp": map[string]any{"type": "date"}}},
	}
	return s
}

// Start listens on a free loopback port (or the previous address after Stop)
// and returns the base URL.
func (s *Server) Start() (string, error) {
	addr := s.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old socket may linger a moment after Stop
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return "", err
	}
	s.addr = ln.Addr().String()
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.srv.Serve(ln) }()
	return "http://" + s.addr, nil
}

// URL is the base URL (after Start).
func (s *Server) URL() string { return "http://" + s.addr }

// Stop closes the listener and every connection, as a killed node would.
func (s *Server) Stop() {
	if s.srv != nil {
		s.srv.Close()
		s.wg.Wait()
		s.srv = nil
	}
}

// FailRequests makes the next n bulk requests fail as a whole with status
// (429 es_rejected_execution_exception, 503 unavailable, 500 ...).
func (s *Server) FailRequests(n, status int) {
	s.mu.Lock()
	s.faults.failRequests, s.faults.failStatus = n, status
	s.mu.Unlock()
}

// RejectEvery answers 429 for every n-th bulk item (0 turns it off).
func (s *Server) RejectEvery(n int) {
	s.mu.Lock()
	s.faults.rejectEvery = n
	s.mu.Unlock()
}

// Delay makes every answer wait d.
func (s *Server) Delay(d time.Duration) {
	s.mu.Lock()
	s.faults.delay = d
	s.mu.Unlock()
}

// KillMidBulk makes the next n bulk requests apply their first half and then
// drop the connection without an answer.
func (s *Server) KillMidBulk(n int) {
	s.mu.Lock()
	s.faults.killMidBulk = n
	s.mu.Unlock()
}

// --- cluster state ---

type indexTemplate struct {
	Name          string
	Patterns      []string
	ComposedOf    []string
	IgnoreMissing []string
	Priority      int
	DataStream    bool
	raw           json.RawMessage
	// The template's own mappings and settings, applied after its
	// component templates.
	ownMappings map[string]any
	ownSettings map[string]any
}

// resolve composes a template as Elasticsearch does when it creates an
// index: its component templates as they are now, in order (a later one's
// field or setting replaces an earlier one's), then its own. A component
// template that has since gone missing is skipped.
func (s *Server) resolve(t *indexTemplate) (*mapping, map[string]any) {
	m := &mapping{fields: map[string]string{}, dynamic: "true"}
	settings := map[string]any{}
	for _, c := range t.ComposedOf {
		raw, ok := s.components[c]
		if !ok {
			continue
		}
		var ct struct {
			Template struct {
				Mappings map[string]any `json:"mappings"`
				Settings map[string]any `json:"settings"`
			} `json:"template"`
		}
		json.Unmarshal(raw, &ct)
		parseMappings(ct.Template.Mappings, m)
		flattenSettings("", ct.Template.Settings, settings)
	}
	parseMappings(t.ownMappings, m)
	flattenSettings("", t.ownSettings, settings)
	if t.DataStream {
		if _, ok := m.fields["@timestamp"]; !ok {
			m.fields["@timestamp"] = "date"
		}
	}
	return m, settings
}

func (t *indexTemplate) matches(name string) bool {
	for _, p := range t.Patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

type dataStream struct {
	Name       string
	Template   string
	Generation int
	Indices    []string
	ILMPolicy  string
}

type index struct {
	Name     string
	UUID     string
	settings map[string]any // flattened index.* settings, from the template
	mapping  *mapping
	docs     map[string][]byte
	order    []string
	seq      int64
}

// mapping is a flattened view: field path -> type (multi-fields included as
// "field.sub").
type mapping struct {
	fields  map[string]string
	dynamic string // "true", "false", "strict"
	// constants are the values of constant_keyword fields: from the
	// mapping's "value", or else from the first document that has one.
	constants map[string]string
}

func (m *mapping) clone() *mapping {
	c := &mapping{fields: make(map[string]string, len(m.fields)), dynamic: m.dynamic, constants: map[string]string{}}
	for k, v := range m.fields {
		c.fields[k] = v
	}
	for k, v := range m.constants {
		c.constants[k] = v
	}
	return c
}

var knownTypes = map[string]bool{
	"keyword": true, "text": true, "match_only_text": true, "wildcard": true, "constant_keyword": true,
	"long": true, "integer": true, "short": true, "byte": true, "unsigned_long": true,
	"double": true, "float": true, "half_float": true, "scaled_float": true,
	"date": true, "date_nanos": true, "boolean": true, "ip": true, "object": true, "nested": true, "flattened": true,
}

// Aggregatable reports whether Kibana can aggregate on a field of this type.
func Aggregatable(typ string) bool {
	switch typ {
	case "text", "match_only_text", "object", "nested", "":
		return false
	}
	return true
}

// parseMappings flattens {"dynamic":..,"properties":{...}} into m.
func parseMappings(raw map[string]any, m *mapping) error {
	if d, ok := raw["dynamic"]; ok {
		m.dynamic = fmt.Sprint(d)
	}
	props, _ := raw["properties"].(map[string]any)
	return walkProps("", props, m)
}

func walkProps(prefix string, props map[string]any, m *mapping) error {
	for name, v := range props {
		def, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("mapper_parsing_exception: Expected map for property [%s]", name)
		}
		full := name
		if prefix != "" {
			full = prefix + "." + name
		}
		typ, _ := def["type"].(string)
		if sub, ok := def["properties"].(map[string]any); ok {
			if typ != "" && typ != "object" && typ != "nested" {
				return fmt.Errorf("mapper_parsing_exception: field [%s] of type [%s] cannot have properties", full, typ)
			}
			if err := walkProps(full, sub, m); err != nil {
				return err
			}
			continue
		}
		if typ == "" {
			typ = "object"
		}
		if !knownTypes[typ] {
			return fmt.Errorf("mapper_parsing_exception: No handler for type [%s] declared on field [%s]", typ, full)
		}
		m.fields[full] = typ
		if typ == "constant_keyword" {
			if v, ok := def["value"]; ok {
				sv, isStr := v.(string)
				if !isStr {
					return fmt.Errorf("mapper_parsing_exception: Failed to parse mapping: [value] must be a string for field [%s]", full)
				}
				if m.constants == nil {
					m.constants = map[string]string{}
				}
				m.constants[full] = sv
			}
		}
		if mf, ok := def["fields"].(map[string]any); ok {
			for sub, sv := range mf {
				sd, _ := sv.(map[string]any)
				st, _ := sd["type"].(string)
				if !knownTypes[st] {
					return fmt.Errorf("mapper_parsing_exception: No handler for type [%s] declared on field [%s]", st, full+"."+sub)
				}
				m.fields[full+"."+sub] = st
			}
		}
	}
	return nil
}

// Mapping returns the flattened field types an index template would give a
// new index named name (for tests of the template itself).
func (s *Server) Mapping(name string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ds, ok := s.streams[name]; ok {
		name = ds.Indices[len(ds.Indices)-1]
	}
	if ix, ok := s.indices[name]; ok {
		return ix.mapping.clone().fields
	}
	if t := s.matchTemplate(name); t != nil {
		m, _ := s.resolve(t)
		return m.fields
	}
	return nil
}

func (s *Server) matchTemplate(name string) *indexTemplate {
	var best *indexTemplate
	for _, t := range s.templates {
		if t.matches(name) && (best == nil || t.Priority > best.Priority) {
			best = t
		}
	}
	return best
}

func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:22]
}

// resolveWrite finds (or creates) the index a write to target goes to.
func (s *Server) resolveWrite(target string, now time.Time) (ix *index, isStream bool, err *esError) {
	if ds, ok := s.streams[target]; ok {
		return s.indices[ds.Indices[len(ds.Indices)-1]], true, nil
	}
	if ix, ok := s.indices[target]; ok {
		return ix, false, nil
	}
	if strings.HasPrefix(target, "_") || strings.ToLower(target) != target || strings.ContainsAny(target, `\/*?"<>| ,#`) {
		return nil, false, &esError{400, "invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s]", target)}
	}
	t := s.matchTemplate(target)
	if t != nil && t.DataStream {
		ds := s.createStream(target, t, now)
		return s.indices[ds.Indices[0]], true, nil
	}
	m := &mapping{fields: map[string]string{}, dynamic: "true"}
	var settings map[string]any
	if t != nil {
		m, settings = s.resolve(t)
	}
	ix = &index{Name: target, UUID: newUUID(), settings: settings, mapping: m, docs: map[string][]byte{}}
	s.indices[target] = ix
	return ix, false, nil
}

func (s *Server) createStream(name string, t *indexTemplate, now time.Time) *dataStream {
	ds := &dataStream{Name: name, Template: t.Name, Generation: 1}
	m, settings := s.resolve(t)
	if lc, ok := settings["index.lifecycle.name"].(string); ok {
		ds.ILMPolicy = lc
	}
	bi := fmt.Sprintf(".ds-%s-%s-%06d", name, now.UTC().Format("2006.01.02"), 1)
	ds.Indices = []string{bi}
	s.indices[bi] = &index{Name: bi, UUID: newUUID(), settings: settings, mapping: m, docs: map[string][]byte{}}
	s.streams[name] = ds
	return ds
}

// Rollover starts a new backing index for a data stream (as ILM would).
func (s *Server) Rollover(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ds := s.streams[name]
	if ds == nil {
		return
	}
	ds.Generation++
	bi := fmt.Sprintf(".ds-%s-%s-%06d", name, time.Now().UTC().Format("2006.01.02"), ds.Generation)
	old := s.indices[ds.Indices[len(ds.Indices)-1]]
	ds.Indices = append(ds.Indices, bi)
	// The new backing index takes the template as it is now (settings and
	// mappings, constant_keyword values unset), as a real rollover does.
	m, settings := old.mapping.clone(), old.settings
	if t := s.templates[ds.Template]; t != nil {
		m, settings = s.resolve(t)
	}
	s.indices[bi] = &index{Name: bi, UUID: newUUID(), settings: settings, mapping: m, docs: map[string][]byte{}}
}

// Docs returns every document stored under target (a data stream, an index,
// or a pattern), keyed by _id within each backing index, as "index/_id".
func (s *Server) Docs(target string) map[string][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for _, ix := range s.targetIndices(target) {
		for id, d := range ix.docs {
			out[ix.Name+"/"+id] = d
		}
	}
	return out
}

// Replace changes the _source of the stored document name ("index/_id",
// as Docs gives it) in place, as someone with write access to the cluster
// could (tests of psmtap verify); false when there is no such document.
func (s *Server) Replace(name string, src []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ix := range s.targetIndices("*") {
		if id, ok := strings.CutPrefix(name, ix.Name+"/"); ok {
			if _, ok := ix.docs[id]; ok {
				ix.docs[id] = src
				return true
			}
		}
	}
	return false
}

// Remove deletes the stored document name ("index/_id"); false when there
// is no such document.
func (s *Server) Remove(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ix := range s.targetIndices("*") {
		if id, ok := strings.CutPrefix(name, ix.Name+"/"); ok {
			if _, ok := ix.docs[id]; ok {
				delete(ix.docs, id)
				ix.order = slices.DeleteFunc(ix.order, func(x string) bool { return x == id })
				return true
			}
		}
	}
	return false
}

// Count is the number of documents under target.
func (s *Server) Count(target string) int { return len(s.Docs(target)) }

func (s *Server) targetIndices(target string) []*index {
	var out []*index
	seen := map[string]bool{}
	add := func(ix *index) {
		if ix != nil && !seen[ix.Name] {
			seen[ix.Name] = true
			out = append(out, ix)
		}
	}
	for _, t := range strings.Split(target, ",") {
		for name, ds := range s.streams {
			if ok, _ := path.Match(t, name); ok {
				for _, bi := range ds.Indices {
					add(s.indices[bi])
				}
			}
		}
		for name, ix := range s.indices {
			if ok, _ := path.Match(t, name); ok && (!strings.HasPrefix(name, ".") || strings.HasPrefix(t, ".")) {
				add(ix)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// --- HTTP ---

type esError struct {
	status int
	typ    string
	reason string
}

func (e *esError) body() map[string]any {
	c := map[string]any{"type": e.typ, "reason": e.reason}
	return map[string]any{"error": map[string]any{"root_cause": []any{c}, "type": e.typ, "reason": e.reason}, "status": e.status}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // _source comes back as it was sent, as Elasticsearch returns it
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, e *esError) { writeJSON(w, e.status, e.body()) }

func (s *Server) authorized(r *http.Request) bool {
	if s.Username == "" && s.APIKey == "" && s.ServiceToken == "" {
		return true
	}
	// Authentication schemes are case-insensitive (RFC 7235): the Go client
	// sends "APIKey", Elasticsearch's documentation writes "ApiKey".
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case s.APIKey != "" && strings.EqualFold(scheme, "ApiKey") && cred == s.APIKey:
		return true
	case s.ServiceToken != "" && strings.EqualFold(scheme, "Bearer") && cred == s.ServiceToken:
		return true
	case s.Username != "":
		u, p, ok := r.BasicAuth()
		return ok && u == s.Username && p == s.Password
	}
	return false
}

// ServeHTTP routes the Elasticsearch API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	s.mu.Lock()
	delay := s.faults.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="security" charset="UTF-8"`)
		writeErr(w, &esError{401, "security_exception", "missing authentication credentials for REST request [" + r.URL.Path + "]"})
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	switch {
	case len(parts) == 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		writeJSON(w, 200, map[string]any{
			"name": "standin", "cluster_name": "psmtap-standin", "cluster_uuid": "standin",
			"version": map[string]any{"number": "8.19.7", "build_flavor": "default", "lucene_version": "9.12.0",
				"minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0"},
			"tagline": "You Know, for Search",
		})
	case len(parts) >= 1 && parts[len(parts)-1] == "_bulk" && len(parts) <= 2 && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		target := ""
		if len(parts) == 2 {
			target = parts[0]
		}
		s.bulk(w, r, target)
	case len(parts) == 2 && parts[0] == "_component_template":
		s.componentTemplate(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "_index_template":
		s.indexTemplate(w, r, parts[1])
	case len(parts) == 3 && parts[0] == "_ilm" && parts[1] == "policy":
		s.ilmPolicy(w, r, parts[2])
	case len(parts) == 3 && parts[0] == "_ingest" && parts[1] == "pipeline":
		s.ingestPipeline(w, r, parts[2])
	case len(parts) == 2 && parts[0] == "_data_stream":
		s.dataStreamAPI(w, r, parts[1])
	case len(parts) == 2 && parts[1] == "_search" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.search(w, r, parts[0])
	case len(parts) == 1 && parts[0] == "_search" && (r.Method == http.MethodGet || r.Method == http.MethodPost):
		s.search(w, r, "")
	case len(parts) == 2 && parts[1] == "_pit" && r.Method == http.MethodPost:
		s.openPIT(w, r, parts[0])
	case len(parts) == 1 && parts[0] == "_pit" && r.Method == http.MethodDelete:
		s.closePIT(w, r)
	case len(parts) == 2 && parts[1] == "_count":
		s.mu.Lock()
		n := 0
		for _, ix := range s.targetIndices(parts[0]) {
			n += len(ix.docs)
		}
		s.mu.Unlock()
		writeJSON(w, 200, map[string]any{"count": n})
	case len(parts) == 2 && parts[1] == "_refresh":
		writeJSON(w, 200, map[string]any{"_shards": map[string]any{"total": 1, "successful": 1, "failed": 0}})
	default:
		writeErr(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("request [%s %s] is not supported by the psmtap stand-in", r.Method, r.URL.Path)})
	}
}

func readBody(r *http.Request) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r.Body, 100<<20))
}

func (s *Server) componentTemplate(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		b, _ := readBody(r)
		var body struct {
			Template *struct {
				Mappings map[string]any `json:"mappings"`
				Settings map[string]any `json:"settings"`
			} `json:"template"`
		}
		if err := json.Unmarshal(b, &body); err != nil || body.Template == nil {
			writeErr(w, &esError{400, "x_content_parse_exception", "[component_template] failed to parse: [template] is required"})
			return
		}
		if err := parseMappings(body.Template.Mappings, &mapping{fields: map[string]string{}}); err != nil {
			writeErr(w, &esError{400, "mapper_parsing_exception", err.Error()})
			return
		}
		s.components[name] = b
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	case http.MethodGet:
		raw, ok := s.components[name]
		if !ok {
			writeErr(w, &esError{404, "resource_not_found_exception", "component template matching [" + name + "] not found"})
			return
		}
		writeJSON(w, 200, map[string]any{"component_templates": []any{map[string]any{"name": name, "component_template": raw}}})
	default:
		writeErr(w, &esError{405, "illegal_argument_exception", "method not allowed"})
	}
}

func (s *Server) indexTemplate(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		b, _ := readBody(r)
		var body struct {
			IndexPatterns []string        `json:"index_patterns"`
			ComposedOf    []string        `json:"composed_of"`
			IgnoreMissing []string        `json:"ignore_missing_component_templates"`
			Priority      int             `json:"priority"`
			DataStream    json.RawMessage `json:"data_stream"`
			Template      *struct {
				Mappings map[string]any `json:"mappings"`
				Settings map[string]any `json:"settings"`
			} `json:"template"`
		}
		if err := json.Unmarshal(b, &body); err != nil {
			writeErr(w, &esError{400, "x_content_parse_exception", err.Error()})
			return
		}
		if len(body.IndexPatterns) == 0 {
			writeErr(w, &esError{400, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;"})
			return
		}
		var missing []string
		m := &mapping{fields: map[string]string{}, dynamic: "true"}
		settings := map[string]any{}
		// In order: a later component template's field or setting replaces
		// an earlier one's (the index template's own template last).
		for _, c := range body.ComposedOf {
			raw, ok := s.components[c]
			if !ok {
				if !slices.Contains(body.IgnoreMissing, c) {
					missing = append(missing, c)
				}
				continue
			}
			var ct struct {
				Template struct {
					Mappings map[string]any `json:"mappings"`
					Settings map[string]any `json:"settings"`
				} `json:"template"`
			}
			json.Unmarshal(raw, &ct)
			parseMappings(ct.Template.Mappings, m)
			flattenSettings("", ct.Template.Settings, settings)
		}
		if len(missing) > 0 {
			writeErr(w, &esError{400, "invalid_index_template_exception", fmt.Sprintf("index_template [%s] invalid, cause [index template [%s] specifies component templates %v that do not exist]", name, name, missing)})
			return
		}
		if body.Template != nil {
			if err := parseMappings(body.Template.Mappings, m); err != nil {
				writeErr(w, &esError{400, "mapper_parsing_exception", err.Error()})
				return
			}
			flattenSettings("", body.Template.Settings, settings)
		}
		t := &indexTemplate{Name: name, Patterns: body.IndexPatterns, ComposedOf: body.ComposedOf, IgnoreMissing: body.IgnoreMissing,
			Priority: body.Priority, DataStream: len(body.DataStream) > 0 && string(body.DataStream) != "null", raw: b}
		if body.Template != nil {
			t.ownMappings, t.ownSettings = body.Template.Mappings, body.Template.Settings
		}
		for on, o := range s.templates {
			if on == name || o.Priority != t.Priority {
				continue
			}
			for _, p := range t.Patterns {
				for _, q := range o.Patterns {
					if overlap(p, q) {
						writeErr(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("index template [%s] has index patterns %v matching patterns from existing templates [%s] with patterns (%s => %v) that have the same priority [%d], multiple index templates may not match during index creation, please use a different priority", name, t.Patterns, on, on, o.Patterns, t.Priority)})
						return
					}
				}
			}
		}
		s.templates[name] = t
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	case http.MethodGet:
		t, ok := s.templates[name]
		if !ok || t.raw == nil {
			writeErr(w, &esError{404, "resource_not_found_exception", "index template matching [" + name + "] not found"})
			return
		}
		writeJSON(w, 200, map[string]any{"index_templates": []any{map[string]any{"name": name, "index_template": json.RawMessage(t.raw)}}})
	default:
		writeErr(w, &esError{405, "illegal_argument_exception", "method not allowed"})
	}
}

// overlap is a conservative test of whether two index patterns can match one name.
func overlap(a, b string) bool {
	pa, pb := strings.SplitN(a, "*", 2)[0], strings.SplitN(b, "*", 2)[0]
	return strings.HasPrefix(pa, pb) || strings.HasPrefix(pb, pa)
}

func flattenSettings(prefix string, in map[string]any, out map[string]any) {
	for k, v := range in {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if m, ok := v.(map[string]any); ok {
			flattenSettings(key, m, out)
			continue
		}
		if !strings.HasPrefix(key, "index.") {
			key = "index." + key
		}
		out[key] = v
	}
}

var phaseActions = map[string]map[string]bool{
	"hot":    {"rollover": true, "set_priority": true, "forcemerge": true, "readonly": true, "shrink": true, "unfollow": true, "downsample": true, "searchable_snapshot": true},
	"warm":   {"set_priority": true, "allocate": true, "migrate": true, "forcemerge": true, "readonly": true, "shrink": true, "unfollow": true, "downsample": true},
	"cold":   {"set_priority": true, "allocate": true, "migrate": true, "readonly": true, "unfollow": true, "downsample": true, "searchable_snapshot": true},
	"frozen": {"searchable_snapshot": true, "unfollow": true},
	"delete": {"wait_for_snapshot": true, "delete": true},
}

func (s *Server) ilmPolicy(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		b, _ := readBody(r)
		var body struct {
			Policy *struct {
				Phases map[string]struct {
					MinAge  string                    `json:"min_age"`
					Actions map[string]map[string]any `json:"actions"`
				} `json:"phases"`
			} `json:"policy"`
		}
		if err := json.Unmarshal(b, &body); err != nil || body.Policy == nil {
			writeErr(w, &esError{400, "x_content_parse_exception", "[put_lifecycle_request] failed to parse: [policy] is required"})
			return
		}
		for ph, p := range body.Policy.Phases {
			allowed, ok := phaseActions[ph]
			if !ok {
				writeErr(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("Timeseries lifecycle does not support phase [%s]", ph)})
				return
			}
			if p.MinAge != "" {
				if _, err := parseESDuration(p.MinAge); err != nil {
					writeErr(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("failed to parse setting [min_age] with value [%s] as a time value", p.MinAge)})
					return
				}
			}
			for a, conf := range p.Actions {
				if !allowed[a] {
					writeErr(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("invalid action [%s] defined in phase [%s]", a, ph)})
					return
				}
				if a == "rollover" && len(conf) == 0 {
					writeErr(w, &esError{400, "action_request_validation_exception", "Validation Failed: 1: at least one max_* rollover condition must be set when using min_* conditions;"})
					return
				}
			}
		}
		s.policies[name] = b
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	case http.MethodGet:
		raw, ok := s.policies[name]
		if !ok {
			writeErr(w, &esError{404, "resource_not_found_exception", "Lifecycle policy not found: " + name})
			return
		}
		var body struct {
			Policy json.RawMessage `json:"policy"`
		}
		json.Unmarshal(raw, &body)
		writeJSON(w, 200, map[string]any{name: map[string]any{"version": 1, "modified_date": time.Now().UTC().Format(time.RFC3339), "policy": body.Policy}})
	default:
		writeErr(w, &esError{405, "illegal_argument_exception", "method not allowed"})
	}
}

// parseESDuration reads Elasticsearch time units (d, h, m, s, ms).
func parseESDuration(v string) (time.Duration, error) {
	for _, u := range []struct {
		suf string
		d   time.Duration
	}{{"ms", time.Millisecond}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if strings.HasSuffix(v, u.suf) {
			n, err := strconv.Atoi(strings.TrimSuffix(v, u.suf))
			if err != nil || n < 0 {
				return 0, fmt.Errorf("bad time value %q", v)
			}
			return time.Duration(n) * u.d, nil
		}
	}
	if v == "0" {
		return 0, nil
	}
	return 0, fmt.Errorf("bad time value %q", v)
}

func (s *Server) dataStreamAPI(w http.ResponseWriter, r *http.Request, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		var out []any
		for n, ds := range s.streams {
			if ok, _ := path.Match(name, n); !ok {
				continue
			}
			var idx []any
			for _, bi := range ds.Indices {
				idx = append(idx, map[string]any{"index_name": bi, "index_uuid": s.indices[bi].UUID})
			}
			d := map[string]any{"name": n, "timestamp_field": map[string]any{"name": "@timestamp"}, "indices": idx,
				"generation": ds.Generation, "status": "GREEN", "template": ds.Template, "hidden": false, "system": false}
			if ds.ILMPolicy != "" {
				d["ilm_policy"] = ds.ILMPolicy
			}
			out = append(out, d)
		}
		if len(out) == 0 && !strings.Contains(name, "*") {
			writeErr(w, &esError{404, "index_not_found_exception", "no such index [" + name + "]"})
			return
		}
		writeJSON(w, 200, map[string]any{"data_streams": out})
	case http.MethodPut:
		if _, ok := s.streams[name]; ok {
			writeErr(w, &esError{400, "resource_already_exists_exception", "data_stream [" + name + "] already exists"})
			return
		}
		t := s.matchTemplate(name)
		if t == nil || !t.DataStream {
			writeErr(w, &esError{400, "illegal_argument_exception", "no matching index template found for data stream [" + name + "]"})
			return
		}
		s.createStream(name, t, time.Now())
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	default:
		writeErr(w, &esError{405, "illegal_argument_exception", "method not allowed"})
	}
}

// --- bulk ---

type hijackKill struct{}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, pathTarget string) {
	s.BulkRequests.Add(1)
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "application/x-ndjson") && !strings.HasPrefix(ct, "application/vnd.elasticsearch+") {
		writeErr(w, &esError{406, "media_type_header_exception", "Content-Type header [" + ct + "] is not supported"})
		return
	}
	body, err := readBody(r)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.faults.failRequests > 0 {
		s.faults.failRequests--
		st := s.faults.failStatus
		s.mu.Unlock()
		typ := "es_rejected_execution_exception"
		if st != 429 {
			typ = "unavailable_shards_exception"
		}
		writeErr(w, &esError{st, typ, "injected failure"})
		return
	}
	kill := false
	if s.faults.killMidBulk > 0 {
		s.faults.killMidBulk--
		kill = true
	}
	s.mu.Unlock()
	if len(body) == 0 {
		writeErr(w, &esError{400, "action_request_validation_exception", "Validation Failed: 1: no requests added;"})
		return
	}
	if body[len(body)-1] != '\n' {
		writeErr(w, &esError{400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"})
		return
	}
	type op struct {
		action   string
		index    string
		id       string
		pipeline string // "" for the index's default_pipeline
		source   []byte
	}
	var ops []op
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 100<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var meta map[string]struct {
			Index    string `json:"_index"`
			ID       string `json:"_id"`
			Pipeline string `json:"pipeline"`
		}
		if err := json.Unmarshal(sc.Bytes(), &meta); err != nil || len(meta) != 1 {
			writeErr(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT", line)})
			return
		}
		var o op
		for a, m := range meta {
			o.action, o.index, o.id, o.pipeline = a, m.Index, m.ID, m.Pipeline
		}
		if o.pipeline == "" {
			o.pipeline = r.URL.Query().Get("pipeline")
		}
		switch o.action {
		case "create", "index":
		case "delete", "update":
			writeErr(w, &esError{400, "illegal_argument_exception", "action [" + o.action + "] is not used by psmtap and not implemented by the stand-in"})
			return
		default:
			writeErr(w, &esError{400, "illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", line, o.action)})
			return
		}
		if o.index == "" {
			o.index = pathTarget
		}
		if o.index == "" {
			writeErr(w, &esError{400, "action_request_validation_exception", "Validation Failed: 1: index is missing;"})
			return
		}
		if !sc.Scan() {
			writeErr(w, &esError{400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"})
			return
		}
		line++
		o.source = append([]byte(nil), sc.Bytes()...)
		ops = append(ops, o)
	}
	start := time.Now()
	items := make([]any, 0, len(ops))
	anyErr := false
	limit := len(ops)
	if kill {
		limit = len(ops) / 2
	}
	s.mu.Lock()
	for i, o := range ops[:limit] {
		s.BulkItems.Add(1)
		res, status := s.applyOne(o.action, o.index, o.id, o.pipeline, o.source, start)
		_ = i
		if status >= 300 {
			anyErr = true
		}
		res["status"] = status
		items = append(items, map[string]any{o.action: res})
	}
	s.mu.Unlock()
	if kill {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	writeJSON(w, 200, map[string]any{"took": time.Since(start).Milliseconds(), "errors": anyErr, "items": items})
}

// applyOne runs one create/index action; s.mu is held.
func (s *Server) applyOne(action, target, id, pipe string, source []byte, now time.Time) (map[string]any, int) {
	res := map[string]any{"_index": target}
	fail := func(e *esError) (map[string]any, int) {
		if id != "" {
			res["_id"] = id
		}
		res["error"] = map[string]any{"type": e.typ, "reason": e.reason, "index": target}
		return res, e.status
	}
	if s.faults.rejectEvery > 0 {
		s.faults.itemCounter++
		if s.faults.itemCounter%s.faults.rejectEvery == 0 {
			return fail(&esError{429, "es_rejected_execution_exception", "rejected execution of coordinating operation [shard_detail=[" + target + "][0][P], shard_coordinating_and_primary_bytes=0, shard_operation_bytes=0, max_coordinating_and_primary_bytes=0]"})
		}
	}
	ix, isStream, e := s.resolveWrite(target, now)
	if e != nil {
		return fail(e)
	}
	res["_index"] = ix.Name
	if isStream && action != "create" {
		return fail(&esError{400, "illegal_argument_exception", "only write ops with an op_type of create are allowed in data streams"})
	}
	if pipe == "" {
		pipe, _ = ix.settings["index.default_pipeline"].(string)
	}
	if pipe != "" && pipe != "_none" {
		p, ok := s.pipelines[pipe]
		if !ok {
			return fail(&esError{400, "illegal_argument_exception", "pipeline with id [" + pipe + "] does not exist"})
		}
		out, err := runPipeline(p, source, now)
		if err != nil {
			return fail(&esError{400, "document_parsing_exception", "[1:1] failed to parse: " + err.Error()})
		}
		source = out
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(source))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return fail(&esError{400, "document_parsing_exception", "[1:1] failed to parse: " + err.Error()})
	}
	if isStream {
		if _, ok := doc["@timestamp"]; !ok {
			return fail(&esError{400, "document_parsing_exception", "[1:2] failed to parse: data stream timestamp field [@timestamp] is missing"})
		}
	}
	if e := ix.mapping.check(doc, id, ix.settings["index.mapping.ignore_malformed"] == true); e != nil {
		return fail(e)
	}
	if id == "" {
		id = newUUID()[:20]
	}
	res["_id"] = id
	if _, exists := ix.docs[id]; exists && action == "create" {
		return fail(&esError{409, "version_conflict_engine_exception", fmt.Sprintf("[%s]: version conflict, document already exists (current version [1])", id)})
	}
	ix.docs[id] = source
	ix.order = append(ix.order, id)
	ix.seq++
	res["_version"] = 1
	res["result"] = "created"
	res["_shards"] = map[string]any{"total": 2, "successful": 1, "failed": 0}
	res["_seq_no"] = ix.seq - 1
	res["_primary_term"] = 1
	return res, 201
}

// check validates a document against the mapping, adding dynamic fields.
func (m *mapping) check(doc map[string]any, id string, ignoreMalformed bool) *esError {
	leaves := map[string][]any{}
	flatten("", doc, leaves)
	names := make([]string, 0, len(leaves))
	for k := range leaves {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, f := range names {
		typ, ok := m.fields[f]
		if !ok && m.underFlattened(f) {
			// A flattened field takes any object below it; its leaves
			// are indexed as keywords and add nothing to the mapping.
			typ, ok = "keyword", true
		}
		if !ok {
			switch m.dynamic {
			case "false":
				continue
			case "strict":
				return &esError{400, "strict_dynamic_mapping_exception", fmt.Sprintf("[1:2] mapping set to strict, dynamic introduction of [%s] within [_doc] is not allowed", f)}
			}
			typ = dynamicType(leaves[f])
			if typ == "" {
				continue
			}
			m.fields[f] = typ
			if typ == "text" {
				m.fields[f+".keyword"] = "keyword"
			}
		}
		for _, v := range leaves[f] {
			if v == nil {
				continue
			}
			if !fits(typ, v) {
				if ignoreMalformed && typ != "constant_keyword" {
					continue // index.mapping.ignore_malformed: kept in _source, not indexed
				}
				return &esError{400, "document_parsing_exception", fmt.Sprintf("[1:2] failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%v'", f, typ, id, v)}
			}
			if typ == "constant_keyword" {
				if e := m.constant(f, fmt.Sprint(v)); e != nil {
					return e
				}
			}
		}
	}
	return nil
}

// constant checks a constant_keyword value: every document of the index
// must have the mapping's value; without one in the mapping, the first
// document's value becomes it (a mapping update, as Elasticsearch does).
func (m *mapping) constant(f, v string) *esError {
	if m.constants == nil {
		m.constants = map[string]string{}
	}
	want, ok := m.constants[f]
	if !ok {
		m.constants[f] = v
		return nil
	}
	if v != want {
		return &esError{400, "document_parsing_exception", fmt.Sprintf("[1:2] failed to parse field [%s] of type [constant_keyword]: [constant_keyword] field [%s] only accepts values that are equal to the value defined in the mappings [%s], but got [%s]", f, f, want, v)}
	}
	return nil
}

// underFlattened reports whether a field path lies inside a field mapped
// as flattened.
func (m *mapping) underFlattened(f string) bool {
	for i := strings.LastIndexByte(f, '.'); i > 0; i = strings.LastIndexByte(f[:i], '.') {
		if m.fields[f[:i]] == "flattened" {
			return true
		}
	}
	return false
}

func flatten(prefix string, v any, out map[string][]any) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, c, out)
		}
	case []any:
		for _, c := range x {
			flatten(prefix, c, out)
		}
		if len(x) == 0 {
			out[prefix] = append(out[prefix], nil)
		}
	default:
		out[prefix] = append(out[prefix], x)
	}
}

func dynamicType(vs []any) string {
	for _, v := range vs {
		switch x := v.(type) {
		case string:
			if _, err := time.Parse(time.RFC3339Nano, x); err == nil {
				return "date"
			}
			return "text"
		case json.Number:
			if _, err := x.Int64(); err == nil {
				return "long"
			}
			return "float"
		case bool:
			return "boolean"
		}
	}
	return ""
}

func fits(typ string, v any) bool {
	switch typ {
	case "keyword", "wildcard", "constant_keyword", "text", "match_only_text":
		switch v.(type) {
		case string, json.Number, bool:
			return true
		}
		return false
	case "long", "integer", "short", "byte", "unsigned_long":
		var s string
		switch x := v.(type) {
		case json.Number:
			s = x.String()
		case string:
			s = x
		default:
			return false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if typ == "unsigned_long" {
				_, err = strconv.ParseUint(s, 10, 64)
				return err == nil
			}
			return false
		}
		switch typ {
		case "integer":
			return n >= -1<<31 && n < 1<<31
		case "short":
			return n >= -1<<15 && n < 1<<15
		case "byte":
			return n >= -128 && n < 128
		}
		return true
	case "double", "float", "half_float", "scaled_float":
		switch x := v.(type) {
		case json.Number:
			_, err := x.Float64()
			return err == nil
		case string:
			_, err := strconv.ParseFloat(x, 64)
			return err == nil
		}
		return false
	case "date", "date_nanos":
		switch x := v.(type) {
		case string:
			_, err := time.Parse(time.RFC3339Nano, x)
			return err == nil
		case json.Number:
			_, err := x.Int64()
			return err == nil
		}
		return false
	case "boolean":
		switch x := v.(type) {
		case bool:
			return true
		case string:
			return x == "true" || x == "false" || x == ""
		}
		return false
	case "ip":
		x, ok := v.(string)
		if !ok {
			return false
		}
		_, err := netip.ParseAddr(x)
		return err == nil
	case "object", "nested", "flattened":
		return false // a leaf value where an object is mapped
	}
	return true
}
