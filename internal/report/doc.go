// Package report gathers the numbers of a period from session records,
// activity events and alerts (rotated NDJSON files or Elasticsearch) and
// writes them for an auditor: one self-contained HTML page (inline CSS and
// SVG, no script, nothing fetched), CSV, or JSON.
//
// Every number comes from the documents as docs/fields.md defines them; the
// definitions are in docs/report.md and next to the code that counts.
package report

import (
	"encoding/json"
	"time"
)

// Doc is what the report reads of one document, whatever its dataset: a
// session record (psmtap.session), an activity event (psmtap.activity) or an
// alert (psmtap.alert). Unknown fields are skipped by the decoder.
type Doc struct {
	Timestamp time.Time `json:"@timestamp"`
	Event     struct {
		Kind     string    `json:"kind"`
		Dataset  string    `json:"dataset"`
		Action   string    `json:"action"`
		Outcome  string    `json:"outcome"`
		Reason   string    `json:"reason"`
		ID       string    `json:"id"`
		Type     []string  `json:"type"`
		Severity int       `json:"severity"`
		End      time.Time `json:"end"`
	} `json:"event"`
	Source struct {
		IP string `json:"ip"`
	} `json:"source"`
	Destination struct {
		IP   string `json:"ip"`
		Port int    `json:"port"`
	} `json:"destination"`
	Network struct {
		Protocol string `json:"protocol"`
	} `json:"network"`
	Observer struct {
		Hostname string `json:"hostname"`
	} `json:"observer"`
	User struct {
		Name string `json:"name"`
	} `json:"user"`
	Message string `json:"message"`
	Rule    struct {
		Name string `json:"name"`
	} `json:"rule"`
	Process struct {
		CommandLine string `json:"command_line"`
	} `json:"process"`
	Psm struct {
		SessionID json.RawMessage `json:"session_id"` // an alert may name several
		Login     struct {
			Success  *bool `json:"success"`
			Attempts int   `json:"attempts"`
		} `json:"login"`
		Kind                 string   `json:"kind"`
		Commands             []string `json:"commands"`
		CleartextCredentials bool     `json:"cleartext_credentials"`
		Alert                struct {
			Level string `json:"level"`
		} `json:"alert"`
	} `json:"psm"`
	SSH struct {
		Version int `json:"version"`
		Client  struct {
			Software string `json:"software"`
			HASSH    string `json:"hassh"`
		} `json:"client"`
		KexAlg     string `json:"kex_alg"`
		HostKeyAlg string `json:"host_key_alg"`
		CipherAlg  string `json:"cipher_alg"`
		MacAlg     string `json:"mac_alg"`
	} `json:"ssh"`
	RDP struct {
		SelectedProtocol string `json:"selected_protocol"`
		StandardSecurity bool   `json:"standard_security"`
		Client           struct {
			Name string `json:"name"`
		} `json:"client"`
	} `json:"rdp"`
}

// Datasets.
const (
	DatasetSession  = "psmtap.session"
	DatasetActivity = "psmtap.activity"
	DatasetAlert    = "psmtap.alert"
)

// SessionIDs returns psm.session_id as a list (one, several for a
// correlation alert, or none).
func (d *Doc) SessionIDs() []string {
	if len(d.Psm.SessionID) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(d.Psm.SessionID, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var many []string
	json.Unmarshal(d.Psm.SessionID, &many)
	return many
}

// Final says whether a session record is the session's final one
// (event.type end) rather than an interim snapshot (start, info).
func (d *Doc) Final() bool {
	for _, t := range d.Event.Type {
		if t == "end" {
			return true
		}
	}
	return false
}

// Fields the report reads: what an Elasticsearch search asks for in
// _source, so that bulky fields (psm.output_text) stay on the cluster.
var Fields = []string{"@timestamp", "event.kind", "event.dataset", "event.action", "event.outcome", "event.reason",
	"event.id", "event.type", "event.severity", "event.end", "source.ip", "destination.ip", "destination.port",
	"network.protocol", "observer.hostname", "user.name", "message", "rule.name", "process.command_line",
	"psm.session_id", "psm.login.success", "psm.login.attempts", "psm.kind", "psm.commands",
	"psm.cleartext_credentials", "psm.alert.level", "ssh.version", "ssh.client.software", "ssh.client.hassh",
	"ssh.kex_alg", "ssh.host_key_alg", "ssh.cipher_alg", "ssh.mac_alg", "rdp.selected_protocol",
	"rdp.standard_security", "rdp.client.name"}
