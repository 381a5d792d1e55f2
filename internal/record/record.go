// Package record defines the session record: one document per session, with
// the field names of SCHEMA.md (Elastic Common Schema where ECS has a field).
// Dissectors fill it; the sinks in index/ write it.
//
// A field that is not known stays absent from the JSON: pointers and omitempty
// make "unknown" distinct from a real zero.
package record

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"sort"
	"time"
)

// States: how a session ended (psm.state).
const (
	StateClosed     = "closed"
	StateReset      = "reset"
	StateTimeout    = "timeout"
	StateCaptureEnd = "capture_end"
	StatePartial    = "partial"
)

// Login is what is known about authentication (psm.login.*).
type Login struct {
	Success  *bool `json:"success,omitempty"`
	Attempts int   `json:"attempts,omitempty"`
	Inferred bool  `json:"inferred,omitempty"`
}

// Recording is a session's timed recording (psm.recording.*).
type Recording struct {
	Format string `json:"format"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// Record is one session.
type Record struct {
	ID          string
	Start, End  time.Time
	EventType   string // "end" for the final record
	Client      netip.AddrPort
	Server      netip.AddrPort
	ClientBytes uint64
	ClientPkts  uint64
	ServerBytes uint64
	ServerPkts  uint64
	Transport   string
	Protocol    string // empty for flows of no interest (--all)
	CommunityID string
	Observer    string
	Interface   string

	UserName             string
	State                string
	MissedBytes          uint64
	Anomalies            []string
	Login                *Login
	CleartextCredentials *bool
	Kind                 string
	Commands             []string
	OutputText           string
	Recording            *Recording

	// Objects holds protocol-specific objects written at the top level under
	// their names (e.g. "ssh", "rdp", "tls"); values must marshal to JSON objects.
	Objects map[string]any
}

// AddAnomaly records an anomaly once (psm.anomalies is a set, kept sorted).
func (r *Record) AddAnomaly(name string) {
	i := sort.SearchStrings(r.Anomalies, name)
	if i < len(r.Anomalies) && r.Anomalies[i] == name {
		return
	}
	r.Anomalies = append(r.Anomalies, "")
	copy(r.Anomalies[i+1:], r.Anomalies[i:])
	r.Anomalies[i] = name
}

// Set stores a protocol object under name.
func (r *Record) Set(name string, v any) {
	if r.Objects == nil {
		r.Objects = make(map[string]any, 2)
	}
	r.Objects[name] = v
}

type endpoint struct {
	IP      string `json:"ip"`
	Port    uint16 `json:"port"`
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
}

type event struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Dataset  string   `json:"dataset"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Duration int64    `json:"duration"`
	ID       string   `json:"id"`
}

type network struct {
	Transport   string `json:"transport"`
	Protocol    string `json:"protocol,omitempty"`
	CommunityID string `json:"community_id,omitempty"`
	Bytes       uint64 `json:"bytes"`
	Packets     uint64 `json:"packets"`
}

type observer struct {
	Hostname string `json:"hostname,omitempty"`
	Ingress  *struct {
		Interface struct {
			Name string `json:"name"`
		} `json:"interface"`
	} `json:"ingress,omitempty"`
}

type psm struct {
	State                string     `json:"state"`
	MissedBytes          uint64     `json:"missed_bytes"`
	Anomalies            []string   `json:"anomalies,omitempty"`
	Login                *Login     `json:"login,omitempty"`
	CleartextCredentials *bool      `json:"cleartext_credentials,omitempty"`
	Kind                 string     `json:"kind,omitempty"`
	Commands             []string   `json:"commands,omitempty"`
	OutputText           string     `json:"output_text,omitempty"`
	Recording            *Recording `json:"recording,omitempty"`
}

type user struct {
	Name string `json:"name"`
}

type doc struct {
	Timestamp   string    `json:"@timestamp"`
	Event       event     `json:"event"`
	Source      endpoint  `json:"source"`
	Destination endpoint  `json:"destination"`
	Network     network   `json:"network"`
	Observer    *observer `json:"observer,omitempty"`
	User        *user     `json:"user,omitempty"`
	PSM         psm       `json:"psm"`
}

// TimeFormat is RFC 3339 with nanoseconds, always in UTC.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func ts(t time.Time) string { return t.UTC().Format(TimeFormat) }

// MarshalJSON writes the record as one ECS-shaped JSON object.
func (r *Record) MarshalJSON() ([]byte, error) {
	typ := r.EventType
	if typ == "" {
		typ = "end"
	}
	d := doc{
		Timestamp: ts(r.Start),
		Event: event{
			Kind: "event", Category: []string{"network", "session"}, Type: []string{typ},
			Dataset: "psmtap.session", Start: ts(r.Start), End: ts(r.End),
			Duration: r.End.Sub(r.Start).Nanoseconds(), ID: r.ID,
		},
		Source:      endpoint{IP: r.Client.Addr().String(), Port: r.Client.Port(), Bytes: r.ClientBytes, Packets: r.ClientPkts},
		Destination: endpoint{IP: r.Server.Addr().String(), Port: r.Server.Port(), Bytes: r.ServerBytes, Packets: r.ServerPkts},
		Network: network{Transport: r.Transport, Protocol: r.Protocol, CommunityID: r.CommunityID,
			Bytes: r.ClientBytes + r.ServerBytes, Packets: r.ClientPkts + r.ServerPkts},
		PSM: psm{State: r.State, MissedBytes: r.MissedBytes, Anomalies: r.Anomalies, Login: r.Login,
			CleartextCredentials: r.CleartextCredentials, Kind: r.Kind, Commands: r.Commands, OutputText: r.OutputText, Recording: r.Recording},
	}
	if r.Observer != "" || r.Interface != "" {
		d.Observer = &observer{Hostname: r.Observer}
		if r.Interface != "" {
			d.Observer.Ingress = &struct {
				Interface struct {
					Name string `json:"name"`
				} `json:"interface"`
			}{}
			d.Observer.Ingress.Interface.Name = r.Interface
		}
	}
	if r.UserName != "" {
		d.User = &user{Name: r.UserName}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&d); err != nil {
		return nil, err
	}
	out := append([]byte(nil), bytes.TrimRight(b.Bytes(), "\n")...)
	if len(r.Objects) == 0 {
		return out, nil
	}
	out = out[:len(out)-1] // reopen the object
	names := make([]string, 0, len(r.Objects))
	for n := range r.Objects {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		b.Reset()
		if err := enc.Encode(r.Objects[n]); err != nil {
			return nil, err
		}
		out = append(out, ',', '"')
		out = append(out, n...)
		out = append(out, '"', ':')
		out = append(out, bytes.TrimRight(b.Bytes(), "\n")...)
	}
	return append(out, '}'), nil
}
