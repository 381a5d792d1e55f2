package standin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Ingest pipelines, as the Elasticsearch reference documents them (Ingest
// pipelines; Set processor; index.default_pipeline; the bulk API's pipeline
// parameter): PUT/GET/DELETE /_ingest/pipeline/<id>; a processor type the
// cluster does not have is refused when the pipeline is stored; a document
// written to an index whose settings name a default_pipeline goes through it
// unless the request names another pipeline or "_none"; a pipeline that does
// not exist fails the item. The document is stored as the pipeline leaves it:
// re-serialized, members in their order, new ones appended (what a real
// cluster does to _source). Only the processors psmtap uses are implemented;
// another valid type is refused here, loudly, not skipped.

type pipeline struct {
	raw        json.RawMessage
	processors []setProcessor
}

type setProcessor struct {
	field    string
	value    any // a string may hold a {{_ingest.timestamp}} template
	override bool
}

// processorTypes are Elasticsearch's processor names: a pipeline naming
// another is refused as the cluster refuses it.
var processorTypes = map[string]bool{
	"append": true, "attachment": true, "bytes": true, "circle": true, "community_id": true, "convert": true, "csv": true,
	"date": true, "date_index_name": true, "dissect": true, "dot_expander": true, "drop": true, "enrich": true, "fail": true,
	"fingerprint": true, "foreach": true, "geo_grid": true, "geoip": true, "grok": true, "gsub": true, "html_strip": true,
	"inference": true, "ip_location": true, "join": true, "json": true, "kv": true, "lowercase": true, "network_direction": true,
	"pipeline": true, "redact": true, "registered_domain": true, "remove": true, "rename": true, "reroute": true, "script": true,
	"set": true, "set_security_user": true, "sort": true, "split": true, "terminate": true, "trim": true, "uppercase": true,
	"uri_parts": true, "urldecode": true, "user_agent": true,
}

func (s *Server) ingestPipeline(w http.ResponseWriter, r *http.Request, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		b, _ := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		p, e := parsePipeline(b)
		if e != nil {
			writeErr(w, e)
			return
		}
		s.pipelines[id] = p
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	case http.MethodGet:
		p, ok := s.pipelines[id]
		if !ok {
			writeJSON(w, 404, map[string]any{})
			return
		}
		writeJSON(w, 200, map[string]any{id: p.raw})
	case http.MethodDelete:
		if _, ok := s.pipelines[id]; !ok {
			writeErr(w, &esError{404, "resource_not_found_exception", "pipeline [" + id + "] is missing"})
			return
		}
		delete(s.pipelines, id)
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	default:
		writeErr(w, &esError{405, "illegal_argument_exception", "method not allowed"})
	}
}

func parsePipeline(b []byte) (*pipeline, *esError) {
	var body struct {
		Processors []map[string]json.RawMessage `json:"processors"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, &esError{400, "parse_exception", "request body or source parameter is required: " + err.Error()}
	}
	if body.Processors == nil {
		return nil, &esError{400, "parse_exception", "[processors] required property is missing"}
	}
	p := &pipeline{raw: b}
	for _, proc := range body.Processors {
		if len(proc) != 1 {
			return nil, &esError{400, "parse_exception", "processor definition must have exactly one type"}
		}
		for typ, cfg := range proc {
			if !processorTypes[typ] {
				return nil, &esError{400, "parse_exception", "No processor type exists with name [" + typ + "]"}
			}
			if typ != "set" {
				return nil, &esError{400, "illegal_argument_exception", "processor [" + typ + "] is not used by psmtap and not implemented by the stand-in"}
			}
			var c map[string]any
			if err := json.Unmarshal(cfg, &c); err != nil {
				return nil, &esError{400, "parse_exception", err.Error()}
			}
			field, _ := c["field"].(string)
			if field == "" {
				return nil, &esError{400, "parse_exception", "[field] required property is missing"}
			}
			v, hasValue := c["value"]
			if !hasValue {
				return nil, &esError{400, "parse_exception", "[value] required property is missing"}
			}
			sp := setProcessor{field: field, value: v, override: true}
			if o, ok := c["override"].(bool); ok {
				sp.override = o
			}
			for k := range c {
				switch k {
				case "field", "value", "override", "tag", "description", "ignore_empty_value":
				default:
					return nil, &esError{400, "illegal_argument_exception", "set option [" + k + "] is not implemented by the stand-in"}
				}
			}
			p.processors = append(p.processors, sp)
		}
	}
	return p, nil
}

// runPipeline applies p to a document's source; now is _ingest.timestamp.
func runPipeline(p *pipeline, source []byte, now time.Time) ([]byte, error) {
	doc, err := parseOrdered(source)
	if err != nil {
		return nil, err
	}
	for _, sp := range p.processors {
		v := sp.value
		if s, ok := v.(string); ok {
			ts := now.UTC().Format("2006-01-02T15:04:05.000000000Z")
			for _, tmpl := range []string{"{{{_ingest.timestamp}}}", "{{_ingest.timestamp}}"} {
				s = strings.ReplaceAll(s, tmpl, ts)
			}
			v = s
		}
		doc.set(strings.Split(sp.field, "."), v, sp.override)
	}
	var b bytes.Buffer
	doc.encode(&b)
	return b.Bytes(), nil
}

// ordered is a JSON object that keeps its members' order.
type ordered struct {
	keys []string
	vals map[string]any // *ordered, or any other JSON value (json.Number for numbers)
}

func parseOrdered(b []byte) (*ordered, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("not an object")
	}
	return decodeObject(dec)
}

func decodeObject(dec *json.Decoder) (*ordered, error) {
	o := &ordered{vals: map[string]any{}}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k, _ := t.(string)
		v, err := decodeValue(dec)
		if err != nil {
			return nil, err
		}
		if _, dup := o.vals[k]; !dup {
			o.keys = append(o.keys, k)
		}
		o.vals[k] = v
	}
	_, err := dec.Token() // '}'
	return o, err
}

func decodeValue(dec *json.Decoder) (any, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch d := t.(type) {
	case json.Delim:
		switch d {
		case '{':
			return decodeObject(dec)
		case '[':
			var arr []any
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			_, err := dec.Token()
			if arr == nil {
				arr = []any{}
			}
			return arr, err
		}
	}
	return t, nil
}

func (o *ordered) set(path []string, v any, override bool) {
	k := path[0]
	if len(path) > 1 {
		next, ok := o.vals[k].(*ordered)
		if !ok {
			next = &ordered{vals: map[string]any{}}
			if _, had := o.vals[k]; !had {
				o.keys = append(o.keys, k)
			}
			o.vals[k] = next
		}
		next.set(path[1:], v, override)
		return
	}
	if _, had := o.vals[k]; had {
		if !override {
			return
		}
	} else {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *ordered) encode(b *bytes.Buffer) {
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		encodeValue(b, o.vals[k])
	}
	b.WriteByte('}')
}

func encodeValue(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case *ordered:
		x.encode(b)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			encodeValue(b, e)
		}
		b.WriteByte(']')
	default:
		enc := json.NewEncoder(b)
		enc.SetEscapeHTML(false)
		enc.Encode(x)
		b.Truncate(b.Len() - 1) // the encoder's newline
	}
}
