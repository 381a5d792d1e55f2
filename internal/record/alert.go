package record

import (
	"encoding/json"
	"time"
)

// DatasetAlert is event.dataset of alerts.
const DatasetAlert = "psmtap.alert"

// Alert is a rule's hit: a document of its own (event.kind alert) that
// carries the rule, the context of the document that triggered it, and the
// sessions it is about.
type Alert struct {
	ID   string // event.id: stable (rule, trigger), so a re-read gives the same id
	Time time.Time

	RuleID, RuleName, RuleDescription, RuleRuleset, RuleLevel string
	RuleReferences, RuleAuthors, RuleTags                     []string
	Severity                                                  int    // event.severity: 21 low, 47 medium, 73 high, 99 critical, 1 informational
	Message                                                   string // message
	Correlation                                               string // psm.alert.correlation: the correlation type, empty for a single-event rule
	Count                                                     int    // psm.alert.count: a correlation's count
	Group                                                     map[string]string
	SessionIDs                                                []string // psm.session_id: the session(s) it is about
	TriggerID                                                 string   // psm.alert.trigger_id: event.id of the document that completed the rule
	TriggerDataset                                            string   // psm.alert.trigger_dataset

	// Context copied from the triggering document (source, destination,
	// network, observer, user, process, file): its JSON object minus the
	// fields an alert sets itself.
	Context map[string]any
}

// DocID implements Document.
func (a *Alert) DocID() string { return a.ID }

// Dataset implements Document.
func (a *Alert) Dataset() string { return DatasetAlert }

// Severity numbers for Sigma levels, as Elastic Security scores them.
func Severity(level string) int {
	switch level {
	case "low":
		return 21
	case "medium":
		return 47
	case "high":
		return 73
	case "critical":
		return 99
	}
	return 1
}

// MarshalJSON writes the alert as an ECS document.
func (a *Alert) MarshalJSON() ([]byte, error) {
	d := map[string]any{}
	for k, v := range a.Context {
		d[k] = v
	}
	ev := map[string]any{"kind": "alert", "module": Module, "dataset": DatasetAlert, "id": a.ID, "severity": a.Severity,
		"category": []string{"intrusion_detection"}, "type": []string{"info"}}
	if trig, ok := a.Context["event"].(map[string]any); ok {
		// the trigger's category (authentication, process, file...) tells what the alert is about
		if c, ok := trig["category"]; ok {
			ev["category"] = c
		}
		if o, ok := trig["outcome"]; ok {
			ev["outcome"] = o
		}
		if act, ok := trig["action"]; ok {
			ev["action"] = act
		}
	}
	d["@timestamp"] = ts(a.Time)
	d["ecs"] = ecsMeta{Version: ECSVersion}
	d["data_stream"] = newDataStream(DatasetAlert)
	d["event"] = ev
	rule := map[string]any{"name": a.RuleName}
	if a.RuleID != "" {
		rule["id"] = a.RuleID
	}
	if a.RuleDescription != "" {
		rule["description"] = a.RuleDescription
	}
	if a.RuleRuleset != "" {
		rule["ruleset"] = a.RuleRuleset
	}
	if len(a.RuleReferences) > 0 {
		rule["reference"] = a.RuleReferences
	}
	if len(a.RuleAuthors) > 0 {
		rule["author"] = a.RuleAuthors
	}
	d["rule"] = rule
	d["message"] = a.Message
	psmObj := map[string]any{}
	if p, ok := a.Context["psm"].(map[string]any); ok {
		for k, v := range p {
			psmObj[k] = v
		}
	}
	switch len(a.SessionIDs) {
	case 0:
		delete(psmObj, "session_id")
	case 1:
		psmObj["session_id"] = a.SessionIDs[0]
	default:
		psmObj["session_id"] = a.SessionIDs
	}
	al := map[string]any{"level": a.RuleLevel}
	if len(a.RuleTags) > 0 {
		al["tags"] = a.RuleTags
	}
	if a.Correlation != "" {
		al["correlation"] = a.Correlation
		al["count"] = a.Count
		if len(a.Group) > 0 {
			al["group"] = a.Group
		}
	}
	if a.TriggerID != "" {
		al["trigger_id"] = a.TriggerID
		al["trigger_dataset"] = a.TriggerDataset
	}
	psmObj["alert"] = al
	d["psm"] = psmObj
	return marshalWithObjects(d, nil)
}

// Contextual copies, from a triggering document's JSON, the fields an alert
// keeps: who, where, what (not the session's counters and bulk text).
func Contextual(doc []byte) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, k := range []string{"source", "destination", "client", "server", "network", "observer", "user", "related", "process", "file", "event"} {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	// Only the "who and where" of the endpoints: not their byte counters.
	for _, ep := range []string{"source", "destination", "client", "server"} {
		if e, ok := out[ep].(map[string]any); ok {
			keep := map[string]any{"ip": e["ip"], "port": e["port"]}
			for _, k := range []string{"domain", "user"} {
				if v, ok := e[k]; ok {
					keep[k] = v
				}
			}
			out[ep] = keep
		}
	}
	if n, ok := out["network"].(map[string]any); ok {
		delete(n, "bytes")
		delete(n, "packets")
	}
	if e, ok := out["event"].(map[string]any); ok {
		keep := map[string]any{}
		for _, k := range []string{"category", "outcome", "action"} {
			if v, ok := e[k]; ok {
				keep[k] = v
			}
		}
		out["event"] = keep
	}
	if p, ok := m["psm"].(map[string]any); ok {
		keep := map[string]any{}
		for _, k := range []string{"session_id", "kind", "login", "command", "file", "cleartext_credentials"} {
			if v, ok := p[k]; ok {
				keep[k] = v
			}
		}
		out["psm"] = keep
	}
	return out, nil
}
