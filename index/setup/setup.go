// Package setup installs what psmtap's data needs in Elasticsearch and
// Kibana. For each of the four data streams, logs-psmtap.session-* (session
// records), logs-psmtap.activity-* (activity events), logs-psmtap.alert-*
// (alerts of the rules) and logs-psmtap.integrity-* (signed checkpoints,
// with --signing-key): a component template with an explicit mapping for
// every field (assets/fields.txt, assets/activity_fields.txt,
// assets/alert_fields.txt, assets/integrity_fields.txt), a component template with the settings, an
// index template that makes the pattern a data stream, and an ILM policy
// (rollover and retention). In Kibana: the data views and dashboards
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

	ActivityMappingsTemplate = "psmtap-activity-mappings"
	ActivitySettingsTemplate = "psmtap-activity-settings"
	ActivityIndexTemplate    = "psmtap-activity"
	// ActivityPolicy is a policy of its own: the events of a session are many
	// small documents that an operator may want to keep for another time than
	// the session records (the commands are the evidence); one policy per data
	// stream lets --activity-retention differ without touching the sessions.
	ActivityPolicy  = "psmtap-activity"
	ActivityPattern = "logs-psmtap.activity-*"

	AlertMappingsTemplate = "psmtap-alert-mappings"
	AlertSettingsTemplate = "psmtap-alert-settings"
	AlertIndexTemplate    = "psmtap-alert"
	// AlertPolicy is a policy of its own too: alerts are few and are what an
	// investigation starts from months later, so they are kept longer
	// (--alert-retention, a year by default) than the sessions and events.
	AlertPolicy  = "psmtap-alert"
	AlertPattern = "logs-psmtap.alert-*"

	IntegrityMappingsTemplate = "psmtap-integrity-mappings"
	IntegritySettingsTemplate = "psmtap-integrity-settings"
	IntegrityIndexTemplate    = "psmtap-integrity"
	// IntegrityPolicy has no delete phase by default: the checkpoints are a
	// few small documents a minute, and without them the documents they
	// cover can no longer be verified (docs/integrity.md).
	IntegrityPolicy  = "psmtap-integrity"
	IntegrityPattern = "logs-psmtap.integrity-*"

	// IngestPipeline is the default ingest pipeline of the session,
	// activity and alert data streams: it sets event.ingested, the time the
	// cluster took the document in (ECS; Elastic Security's rules look back
	// on it). Not on the checkpoints' stream.
	IngestPipeline = "psmtap-ingested"

	// Priority above the built-in logs-*-* template (100), and above 500 as
	// Elastic's documentation asks of templates overlapping built-in ones.
	// The patterns do not overlap each other, so they share it.
	Priority = 501
)

//go:embed assets/fields.txt
var fieldsTxt string

//go:embed assets/activity_fields.txt
var activityFieldsTxt string

//go:embed assets/alert_fields.txt
var alertFieldsTxt string

//go:embed assets/integrity_fields.txt
var integrityFieldsTxt string

//go:embed assets/kibana.ndjson
var KibanaObjects []byte

// Field is one mapped field.
type Field struct {
	Name string
	Type string // keyword, wildcard, long, ip, date, boolean, text, flattened
	Long bool   // keyword values may exceed 1024 characters
	// Text: a .text multi-field (match_only_text) for full-text search, as
	// ECS gives process.command_line.
	Text bool
}

// Fields lists the mapped fields of session records, in file order.
func Fields() []Field {
	fs, _ := parseFields(fieldsTxt)
	return fs
}

// ActivityFields lists the mapped fields of activity events: those of
// assets/activity_fields.txt, then the session fields of each protocol object
// its "objects" line names (events carry the same objects, e.g. rdp.* on a
// security event, and must map them with the same types).
func ActivityFields() []Field {
	fs, objects := parseFields(activityFieldsTxt)
	have := map[string]bool{}
	for _, f := range fs {
		have[f.Name] = true
	}
	for _, f := range Fields() {
		obj, _, _ := strings.Cut(f.Name, ".")
		if objects[obj] && !have[f.Name] {
			fs = append(fs, f)
		}
	}
	return fs
}

// AlertFields lists the mapped fields of alerts (assets/alert_fields.txt).
func AlertFields() []Field {
	fs, _ := parseFields(alertFieldsTxt)
	return fs
}

// IntegrityFields lists the mapped fields of checkpoint documents
// (assets/integrity_fields.txt).
func IntegrityFields() []Field {
	fs, _ := parseFields(integrityFieldsTxt)
	return fs
}

// parseFields reads a fields file: "name type [option...]" lines, and
// "objects name..." lines (activity_fields.txt only).
func parseFields(txt string) ([]Field, map[string]bool) {
	var out []Field
	objects := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(txt))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if f[0] == "objects" {
			for _, o := range f[1:] {
				objects[o] = true
			}
			continue
		}
		fd := Field{Name: f[0], Type: f[1]}
		for _, o := range f[2:] {
			switch o {
			case "long":
				fd.Long = true
			case "text":
				fd.Text = true
			}
		}
		out = append(out, fd)
	}
	return out, objects
}

func fieldMapping(f Field) map[string]any {
	var m map[string]any
	switch f.Type {
	case "text":
		m = map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 1024}}}
	case "keyword":
		if f.Long {
			m = map[string]any{"type": "keyword", "ignore_above": 8191}
		} else {
			m = map[string]any{"type": "keyword", "ignore_above": 1024}
		}
	default:
		// wildcard has no ignore_above here: it indexes n-grams, not one
		// term, so a long command line stays searchable in full.
		m = map[string]any{"type": f.Type}
	}
	if f.Text {
		m["fields"] = map[string]any{"text": map[string]any{"type": "match_only_text"}}
	}
	return m
}

// Mappings builds the nested "mappings" object of session records. dynamic
// is false: a field psmtap does not know yet stays in _source without
// changing the mapping (no guessed types to conflict with the real ones
// later).
func Mappings() map[string]any { return mappingsOf(Fields()) }

// ActivityMappings is the same for activity events (dynamic false too).
func ActivityMappings() map[string]any { return mappingsOf(ActivityFields()) }

// AlertMappings is the same for alerts (dynamic false too).
func AlertMappings() map[string]any { return mappingsOf(AlertFields()) }

func mappingsOf(fields []Field) map[string]any {
	root := map[string]any{}
	for _, f := range fields {
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
	// ActivityRetention is Retention for the activity events' data stream.
	ActivityRetention string
	// AlertRetention is Retention for the alerts' data stream.
	AlertRetention string
	// IntegrityRetention is Retention for the signed checkpoints ("" keeps
	// them: a document whose checkpoints are gone cannot be verified).
	IntegrityRetention string
	Shards             int
	Replicas           int // -1: leave the cluster default
}

// DefaultOptions: rollover at 30 days or 50 GB a primary shard, as
// Elastic's own logs policy (a small sensor's daily index would be tiny),
// 90 days kept after rollover (sessions and events), a year for alerts.
func DefaultOptions() Options {
	return Options{RolloverAge: "30d", RolloverSize: "50gb", Retention: "90d", ActivityRetention: "90d", AlertRetention: "365d", Shards: 1, Replicas: -1}
}

// Bodies returns the request bodies setup sends, by API path, in the order
// they must go: each policy and component template before the index template
// that names it.
func Bodies(o Options) (paths []string, bodies map[string]any) {
	bodies = map[string]any{}
	// The pipeline first: an index template's default_pipeline may name a
	// pipeline that does not exist yet, but every write would then fail.
	pp := "/_ingest/pipeline/" + IngestPipeline
	bodies[pp] = map[string]any{
		"description": "psmtap: event.ingested, when the cluster took the document in (ECS)",
		"processors": []any{map[string]any{"set": map[string]any{
			"field": "event.ingested", "value": "{{{_ingest.timestamp}}}"}}},
		"_meta": map[string]any{"managed_by": "psmtap"},
	}
	paths = append(paths, pp)
	add := func(policy, retention, mappingsT, settingsT, indexT, pattern, desc, pipeline string, mappings map[string]any) {
		meta := map[string]any{"managed_by": "psmtap", "description": desc}
		// Rollover on primary shard size, not document count: many small
		// events make a small shard, and the size is what search cost and
		// recovery follow; max_age keeps deletion a day at a time.
		hot := map[string]any{"rollover": map[string]any{"max_age": o.RolloverAge, "max_primary_shard_size": o.RolloverSize}}
		phases := map[string]any{"hot": map[string]any{"min_age": "0ms", "actions": hot}}
		if retention != "" {
			phases["delete"] = map[string]any{"min_age": retention, "actions": map[string]any{"delete": map[string]any{}}}
		}
		// Standard index mode: _source kept as sent, byte for byte (logsdb,
		// the default of logs-*-* streams in recent versions, rebuilds it,
		// and psmtap verify checks the bytes a leaf was made of).
		// ignore_malformed false: logs@settings turns it on, and psmtap
		// wants a mistyped field refused (dead-lettered), not dropped unseen.
		settings := map[string]any{"index.lifecycle.name": policy, "index.number_of_shards": o.Shards, "index.mode": "standard",
			"index.mapping.ignore_malformed": false}
		if o.Replicas >= 0 {
			settings["index.number_of_replicas"] = o.Replicas
		}
		if pipeline != "" {
			settings["index.default_pipeline"] = pipeline
		}
		bodies["/_ilm/policy/"+policy] = map[string]any{"policy": map[string]any{"phases": phases, "_meta": meta}}
		bodies["/_component_template/"+mappingsT] = map[string]any{"template": map[string]any{"mappings": mappings}, "_meta": meta}
		bodies["/_component_template/"+settingsT] = map[string]any{"template": map[string]any{"settings": settings}, "_meta": meta}
		// Composed as Fleet composes an integration's templates: Elastic's
		// logs@settings, logs@mappings and ecs@mappings first (later ones
		// win), psmtap's own, then the users' @custom templates, which may
		// be absent, for their own fields and settings without a fork.
		dataset := strings.TrimSuffix(strings.TrimPrefix(pattern, "logs-"), "-*")
		custom := []string{"logs@custom", "logs-psmtap@custom", "logs-" + dataset + "@custom"}
		bodies["/_index_template/"+indexT] = map[string]any{
			"index_patterns": []string{pattern}, "data_stream": map[string]any{}, "priority": Priority,
			"composed_of":                        append([]string{"logs@settings", "logs@mappings", "ecs@mappings", mappingsT, settingsT}, custom...),
			"ignore_missing_component_templates": custom, "_meta": meta,
		}
		paths = append(paths, "/_ilm/policy/"+policy, "/_component_template/"+mappingsT,
			"/_component_template/"+settingsT, "/_index_template/"+indexT)
	}
	add(Policy, o.Retention, MappingsTemplate, SettingsTemplate, IndexTemplate, Pattern,
		"psmtap session records (docs/fields.md)", IngestPipeline, Mappings())
	add(ActivityPolicy, o.ActivityRetention, ActivityMappingsTemplate, ActivitySettingsTemplate, ActivityIndexTemplate, ActivityPattern,
		"psmtap activity events (docs/fields.md, Activity events)", IngestPipeline, ActivityMappings())
	add(AlertPolicy, o.AlertRetention, AlertMappingsTemplate, AlertSettingsTemplate, AlertIndexTemplate, AlertPattern,
		"psmtap alerts of the Sigma rules (docs/fields.md, Alerts; docs/rules.md)", IngestPipeline, AlertMappings())
	add(IntegrityPolicy, o.IntegrityRetention, IntegrityMappingsTemplate, IntegritySettingsTemplate, IntegrityIndexTemplate, IntegrityPattern,
		"psmtap signed checkpoints of its output (docs/integrity.md)", "", mappingsOf(IntegrityFields()))
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
