package rules

import (
	"encoding/json"
	"fmt"

	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/sigma"
)

// flatten gives the rules a document's fields by their dotted names. An
// activity event is read field by field (events are many and rules run on
// every one); anything else through its JSON. TestFlattenMatchesJSON keeps
// the two ways in step for every event the bundled captures produce.
func flatten(d record.Document) (*sigma.FlatEvent, error) {
	e, ok := d.(*record.Event)
	if !ok {
		body, err := d.MarshalJSON()
		if err != nil {
			return nil, err
		}
		return sigma.FromJSON(body)
	}
	f := sigma.NewFlatEvent()
	f.Add("@timestamp", e.Time.UTC().Format(record.TimeFormat))
	f.Add("ecs.version", record.ECSVersion)
	f.Add("data_stream.type", "logs")
	f.Add("data_stream.dataset", record.DatasetActivity)
	f.Add("data_stream.namespace", record.Namespace())
	f.Add("event.kind", "event")
	f.Add("event.module", record.Module)
	for _, c := range e.Category {
		f.Add("event.category", c)
	}
	for _, t := range e.Type {
		f.Add("event.type", t)
	}
	f.Add("event.action", e.Action)
	addNonEmpty(f, "event.outcome", e.Outcome)
	addNonEmpty(f, "event.reason", e.Reason)
	f.Add("event.dataset", record.DatasetActivity)
	f.Add("event.id", e.ID)
	f.Add("event.sequence", e.Sequence)
	rel, domain := e.RelatedFields()
	for _, side := range []string{"source", "client"} {
		f.Add(side+".ip", e.Client.Addr().String())
		f.Add(side+".port", e.Client.Port())
	}
	for _, side := range []string{"destination", "server"} {
		f.Add(side+".ip", e.Server.Addr().String())
		f.Add(side+".port", e.Server.Port())
		addNonEmpty(f, side+".domain", domain)
	}
	f.Add("network.transport", e.Transport)
	if a := e.Client.Addr(); a.IsValid() {
		if a.Unmap().Is4() {
			f.Add("network.type", "ipv4")
		} else {
			f.Add("network.type", "ipv6")
		}
	}
	addNonEmpty(f, "network.protocol", e.Protocol)
	addNonEmpty(f, "network.community_id", e.CommunityID)
	addNonEmpty(f, "observer.hostname", e.Observer)
	f.Add("observer.type", "sensor")
	f.Add("observer.vendor", record.Module)
	f.Add("observer.product", record.Module)
	addNonEmpty(f, "observer.ingress.interface.name", e.Interface)
	addNonEmpty(f, "user.name", e.UserName)
	for name, vs := range map[string][]string{"related.ip": rel.IP, "related.user": rel.User, "related.hosts": rel.Hosts, "related.hash": rel.Hash} {
		for _, v := range vs {
			f.Add(name, v)
		}
	}
	f.Add("psm.session_id", e.SessionID)
	if l := e.Login; l != nil {
		addNonEmpty(f, "psm.login.method", l.Method)
		if l.Inferred {
			f.Add("psm.login.inferred", true)
		}
		if l.Attempt != 0 {
			f.Add("psm.login.attempt", l.Attempt)
		}
	}
	if c := e.Command; c != nil {
		f.Add("process.command_line", c.Line)
		if len(c.Programs) > 0 {
			f.Add("process.name", c.Programs[0])
		}
		for _, a := range c.Args {
			f.Add("process.args", a)
		}
		if len(c.Args) > 0 {
			f.Add("process.args_count", len(c.Args))
		}
		if c.ReplyCode != 0 {
			f.Add("psm.command.reply_code", c.ReplyCode)
		}
		addNonEmpty(f, "psm.command.reply", c.Reply)
		addNonEmpty(f, "psm.command.normalized", c.Normalized)
		for _, p := range c.Programs {
			f.Add("psm.command.programs", p)
		}
	}
	if fl := e.File; fl != nil {
		addNonEmpty(f, "file.path", fl.Path)
		addNonEmpty(f, "file.name", fl.Name)
		if fl.Size >= 0 {
			f.Add("file.size", fl.Size)
		}
		addNonEmpty(f, "psm.file.direction", fl.Direction)
		addNonEmpty(f, "psm.file.target_path", fl.NewPath)
	}
	if q := e.Query; q != nil {
		if q.Duration != 0 {
			f.Add("event.duration", q.Duration)
		}
		addNonEmpty(f, "db.system.name", q.System)
		addNonEmpty(f, "db.namespace", q.Namespace)
		addNonEmpty(f, "db.query.text", q.Text)
		addNonEmpty(f, "db.operation.name", q.Operation)
		addNonEmpty(f, "db.response.status_code", q.StatusCode)
		if q.ReturnedRows >= 0 {
			f.Add("db.response.returned_rows", q.ReturnedRows)
		}
		if q.AffectedRows >= 0 {
			f.Add("psm.query.affected_rows", q.AffectedRows)
		}
		for _, p := range q.Parameters {
			f.Add("psm.query.parameters", p)
		}
		addNonEmpty(f, "psm.query.error", q.Error)
		addNonEmpty(f, "psm.query.statement", q.Statement)
	}
	addNonEmpty(f, "psm.kind", e.Kind)
	if e.CleartextCredentials {
		f.Add("psm.cleartext_credentials", true)
	}
	for name, obj := range e.Objects {
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("event %s: %s: %w", e.ID, name, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("event %s: %s: %w", e.ID, name, err)
		}
		f.AddMap(name, m)
	}
	return f, nil
}

func addNonEmpty(f *sigma.FlatEvent, field, v string) {
	if v != "" {
		f.Add(field, v)
	}
}

// recordEvent is a session record as the rules see it. Session rules test
// network.protocol or psm.kind first and most records fail there, so those
// two (and psm.session_id, which Evaluate always reads) come straight from
// the record; any other field, or a keyword search, flattens the record
// through its JSON once, as for any document. Flattening every record that
// way was two thirds of what the rules cost on the benchmark capture
// (docs/PERFORMANCE.md, "Rules: latency and cost").
// TestRecordEventMatchesJSON keeps the direct fields in step with the JSON.
type recordEvent struct {
	r      *record.Record
	direct bool // the direct fields can be trusted (no object shadows them)
	flat   *sigma.FlatEvent
	err    error
}

// recordFields are the fields recordEvent answers without the JSON.
var recordFields = []string{"network.protocol", "psm.kind", "psm.session_id"}

func newRecordEvent(r *record.Record) *recordEvent {
	r.Complete() // deferred work may add fields; MarshalJSON would run it too
	_, n := r.Objects["network"]
	_, p := r.Objects["psm"]
	return &recordEvent{r: r, direct: !n && !p}
}

// Values implements sigma.Event.
func (e *recordEvent) Values(field string) []any {
	if e.direct && e.flat == nil {
		switch field {
		case "network.protocol":
			return strValue(e.r.Protocol, true)
		case "psm.kind":
			return strValue(e.r.Kind, true)
		case "psm.session_id":
			return strValue(e.r.ID, false) // not omitempty in the JSON
		}
	}
	if f := e.full(); f != nil {
		return f.Values(field)
	}
	return nil
}

// All implements sigma.Event (keyword search): every value, so the JSON.
func (e *recordEvent) All(fn func(string) bool) bool {
	if f := e.full(); f != nil {
		return f.All(fn)
	}
	return false
}

func (e *recordEvent) full() *sigma.FlatEvent {
	if e.flat == nil && e.err == nil {
		e.flat, e.err = flatten(e.r)
	}
	return e.flat
}

func strValue(s string, omitEmpty bool) []any {
	if s == "" && omitEmpty {
		return nil
	}
	return []any{&sigma.Str{S: s}}
}
