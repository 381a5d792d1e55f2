// Package setup installs what psmtap's data needs in Elasticsearch and
// Kibana: a component template with an explicit mapping for every record field
// (assets/fields.txt), a component template with the settings, an index
// template that makes logs-psmtap.session-* a data stream, an ILM policy
// (rollover and retention), and in Kibana the data view and dashboards
// (assets/kibana.ndjson) through the saved-objects import API.
package setup

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// Names of what setup installs.
const (
	MappingsTemplate = "psmtap-session-mappings"
	SettingsTemplate = "psmtap-session-settings"
	IndexTemplate    = "psmtap-session"
	Policy           = "psmtap-session"
	Pattern          = "logs-psmtap.session-*"
	// Priority above the built-in logs-*-* template (100), and above 500 as
	// Elastic's documentation asks of templates overlapping built-in ones.
	Priority = 501
)

//go:embed assets/fields.txt
var fieldsTxt string

//go:embed assets/kibana.ndjson
var KibanaObjects []byte

// Field is one mapped field.
type Field struct {
	Name string
	Type string // keyword, long, ip, date, boolean, text
	Long bool   // keyword values may exceed 1024 characters
}

// Fields lists the mapped fields, in file order.
func Fields() []Field {
	var out []Field
	sc := bufio.NewScanner(strings.NewReader(fieldsTxt))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		fd := Field{Name: f[0], Type: f[1]}
		for _, o := range f[2:] {
			if o == "long" {
				fd.Long = true
			}
		}
		out = append(out, fd)
	}
	return out
}

func fieldMapping(f Field) map[string]any {
	switch f.Type {
	case "text":
		return map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 1024}}}
	case "keyword":
		if f.Long {
			return map[string]any{"type": "keyword", "ignore_above": 8191}
		}
		return map[string]any{"type": "keyword", "ignore_above": 1024}
	}
	return map[string]any{"type": f.Type}
}

// Mappings builds the nested "mappings" object. dynamic is false: a field
// psmtap does not know yet stays in _source without changing the mapping (no
// guessed types to conflict with the real ones later).
func Mappings() map[string]any {
	root := map[string]any{}
	for _, f := range Fields() {
		parts := strings.Split(f.Name, ".")
		cur := root
		for _, p := range parts[:len(parts)-1] {
			next, ok := cur[p].(map[string]any)
			if !ok {
				next = map[string]any{"properties": map[string]any{}}
				cur[p] = next
			}
			cur = next["properties"].(map[string]any)
		}
		cur[parts[len(parts)-1]] = fieldMapping(f)
	}
	return map[string]any{"dynamic": false, "properties": root}
}

// Options of an installation.
type Options struct {
	RolloverAge  string // hot-phase rollover max_age, e.g. "1d"
	RolloverSize string // max_primary_shard_size, e.g. "50gb"
	Retention    string // delete phase min_age (after rollover), e.g. "90d"; "" keeps data forever
	Shards       int
	Replicas     int // -1: leave the cluster default
}

// DefaultOptions: daily-ish rollover, 90 days kept.
func DefaultOptions() Options {
	return Options{RolloverAge: "1d", RolloverSize: "50gb", Retention: "90d", Shards: 1, Replicas: -1}
}

// Bodies returns the request bodies setup sends, by API path.
func Bodies(o Options) (paths []string, bodies map[string]any) {
	meta := map[string]any{"managed_by": "psmtap", "description": "psmtap session records (SCHEMA.md)"}
	hot := map[string]any{"rollover": map[string]any{"max_age": o.RolloverAge, "max_primary_shard_size": o.RolloverSize}}
	phases := map[string]any{"hot": map[string]any{"min_age": "0ms", "actions": hot}}
	if o.Retention != "" {
		phases["delete"] = map[string]any{"min_age": o.Retention, "actions": map[string]any{"delete": map[string]any{}}}
	}
	settings := map[string]any{"index.lifecycle.name": Policy, "index.number_of_shards": o.Shards}
	if o.Replicas >= 0 {
		settings["index.number_of_replicas"] = o.Replicas
	}
	bodies = map[string]any{
		"/_ilm/policy/" + Policy:                   map[string]any{"policy": map[string]any{"phases": phases, "_meta": meta}},
		"/_component_template/" + MappingsTemplate: map[string]any{"template": map[string]any{"mappings": Mappings()}, "_meta": meta},
		"/_component_template/" + SettingsTemplate: map[string]any{"template": map[string]any{"settings": settings}, "_meta": meta},
		"/_index_template/" + IndexTemplate: map[string]any{
			"index_patterns": []string{Pattern}, "data_stream": map[string]any{}, "priority": Priority,
			"composed_of": []string{MappingsTemplate, SettingsTemplate}, "_meta": meta,
		},
	}
	// Order matters: the policy and component templates before the index template.
	paths = []string{"/_ilm/policy/" + Policy, "/_component_template/" + MappingsTemplate,
		"/_component_template/" + SettingsTemplate, "/_index_template/" + IndexTemplate}
	return paths, bodies
}

// Elasticsearch installs (or updates) the policy and templates.
func Elasticsearch(ctx context.Context, c *elasticsearch.Client, o Options) ([]string, error) {
	paths, bodies := Bodies(o)
	var done []string
	for _, p := range paths {
		b, _ := json.Marshal(bodies[p])
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, p, bytes.NewReader(b))
		if err != nil {
			return done, err
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := c.Perform(req)
		if err != nil {
			return done, fmt.Errorf("PUT %s: %w", p, err)
		}
		r := &esapi.Response{StatusCode: res.StatusCode, Body: res.Body, Header: res.Header}
		if r.IsError() {
			msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
			res.Body.Close()
			return done, fmt.Errorf("PUT %s: %s: %s", p, res.Status, strings.TrimSpace(string(msg)))
		}
		res.Body.Close()
		done = append(done, "PUT "+p)
	}
	return done, nil
}

// KibanaAuth is how setup authenticates to Kibana (the same credentials as
// Elasticsearch: basic or API key).
type KibanaAuth struct {
	Username, Password, APIKey string
}

// ImportResult is Kibana's answer to _import.
type ImportResult struct {
	Success      bool `json:"success"`
	SuccessCount int  `json:"successCount"`
	Errors       []struct {
		ID    string `json:"id"`
		Type  string `json:"type"`
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	} `json:"errors"`
}

// Kibana imports the data view and dashboards (overwriting earlier copies).
func Kibana(ctx context.Context, hc *http.Client, kibanaURL string, auth KibanaAuth) (ImportResult, error) {
	var res ImportResult
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "psmtap.ndjson")
	fw.Write(KibanaObjects)
	mw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(kibanaURL, "/")+"/api/saved_objects/_import?overwrite=true", &body)
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("kbn-xsrf", "psmtap")
	switch {
	case auth.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+auth.APIKey)
	case auth.Username != "":
		req.SetBasicAuth(auth.Username, auth.Password)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return res, fmt.Errorf("Kibana: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != 200 {
		return res, fmt.Errorf("Kibana import: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return res, fmt.Errorf("Kibana import: %w", err)
	}
	if !res.Success {
		var errs []string
		for _, e := range res.Errors {
			errs = append(errs, e.Type+"/"+e.ID+": "+e.Error.Type)
		}
		sort.Strings(errs)
		return res, fmt.Errorf("Kibana import: %d objects failed: %s", len(res.Errors), strings.Join(errs, ", "))
	}
	return res, nil
}
