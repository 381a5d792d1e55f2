// Package record defines the session record: one document per session, with
// the field names of docs/fields.md (Elastic Common Schema where ECS has a field).
// Dissectors fill it; the sinks in index/ write it.
//
// A field that is not known stays absent from the JSON: pointers and omitempty
// make "unknown" distinct from a real zero.
package record

import (
	"net/netip"
	"sort"
	"strconv"
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

// Proxy is the proxy a session went through (psm.proxy.*): SOCKS or HTTP
// CONNECT. The record's destination is the proxy; Target is what the client
// asked it for.
type Proxy struct {
	Type   string `json:"type"`
	Target string `json:"target"`
	User   string `json:"user,omitempty"`
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

	UserName string // user.name: the user of a login seen on the wire, nothing claimed before it
	// SourceUserName is source.user.name (and client.user.name): the user on
	// the client's side, as rlogin and rsh send it.
	SourceUserName       string
	State                string
	MissedBytes          uint64
	Anomalies            []string
	Login                *Login
	CleartextCredentials *bool
	Kind                 string
	Commands             []string
	OutputText           string
	Recording            *Recording
	Proxy                *Proxy
	Response             *Response // psm.response: a response psmtap took (docs/response.md)

	// Objects holds protocol-specific objects written at the top level under
	// their names (e.g. "ssh", "rdp", "tls"); values must marshal to JSON objects.
	Objects map[string]any

	// Deferred is work the output stage does before writing the record, off
	// the packet path (compressing and saving a recording); it may add fields
	// and anomalies. Complete runs it once.
	Deferred func(r *Record)
}

// Defer adds work for the output stage, after any already deferred.
func (r *Record) Defer(f func(r *Record)) {
	if prev := r.Deferred; prev != nil {
		r.Deferred = func(r *Record) { prev(r); f(r) }
		return
	}
	r.Deferred = f
}

// Complete runs the deferred work, once. Sinks call it before they encode.
func (r *Record) Complete() {
	if f := r.Deferred; f != nil {
		r.Deferred = nil
		f(r)
	}
}

// DocID implements Document: the final record of a session has _id =
// event.id; an interim snapshot (event.type start or info) gets event.id +
// "." + type + "." + event.end in nanoseconds, so each is kept once, next to
// the final one.
func (r *Record) DocID() string {
	if r.EventType != "" && r.EventType != "end" {
		return r.ID + "." + r.EventType + "." + strconv.FormatInt(r.End.UnixNano(), 10)
	}
	return r.ID
}

// Dataset implements Document.
func (r *Record) Dataset() string { return DatasetSession }

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
	Domain  string `json:"domain,omitempty"`
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
	User    *user  `json:"user,omitempty"`
}

type event struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Action   string   `json:"action"`
	Outcome  string   `json:"outcome,omitempty"`
	Module   string   `json:"module"`
	Dataset  string   `json:"dataset"`
	Start    string   `json:"start"`
	End      string   `json:"end"`
	Duration int64    `json:"duration"`
	ID       string   `json:"id"`
}

type network struct {
	Transport   string `json:"transport"`
	Type        string `json:"type,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	CommunityID string `json:"community_id,omitempty"`
	Bytes       uint64 `json:"bytes"`
	Packets     uint64 `json:"packets"`
}

type observer struct {
	Hostname string   `json:"hostname,omitempty"`
	Type     string   `json:"type"`
	Vendor   string   `json:"vendor"`
	Product  string   `json:"product"`
	Ingress  *ingress `json:"ingress,omitempty"`
}

type ingress struct {
	Interface struct {
		Name string `json:"name"`
	} `json:"interface"`
}

type psm struct {
	SessionID            string     `json:"session_id"`
	State                string     `json:"state,omitempty"`
	MissedBytes          uint64     `json:"missed_bytes"`
	Anomalies            []string   `json:"anomalies,omitempty"`
	Login                *Login     `json:"login,omitempty"`
	CleartextCredentials *bool      `json:"cleartext_credentials,omitempty"`
	Kind                 string     `json:"kind,omitempty"`
	Commands             []string   `json:"commands,omitempty"`
	OutputText           string     `json:"output_text,omitempty"`
	Recording            *Recording `json:"recording,omitempty"`
	Proxy                *Proxy     `json:"proxy,omitempty"`
	Response             *Response  `json:"response,omitempty"`
}

type user struct {
	Name string `json:"name"`
}

type doc struct {
	Timestamp   string     `json:"@timestamp"`
	ECS         ecsMeta    `json:"ecs"`
	DataStream  dataStream `json:"data_stream"`
	Event       event      `json:"event"`
	Source      endpoint   `json:"source"`
	Destination endpoint   `json:"destination"`
	// Client and Server repeat Source and Destination: psmtap's source is
	// always the side that opened the connection (ECS client/server).
	Client   endpoint  `json:"client"`
	Server   endpoint  `json:"server"`
	Network  network   `json:"network"`
	Observer *observer `json:"observer,omitempty"`
	User     *user     `json:"user,omitempty"`
	Related  *Related  `json:"related,omitempty"`
	PSM      psm       `json:"psm"`
}

// TimeFormat is RFC 3339 with nanoseconds, always in UTC.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func ts(t time.Time) string { return t.UTC().Format(TimeFormat) }

// MarshalJSON writes the record as one ECS-shaped JSON object.
func (r *Record) MarshalJSON() ([]byte, error) {
	r.Complete()
	typ := r.EventType
	if typ == "" {
		typ = "end"
	}
	cat, action, outcome := []string{"network", "session"}, "session", ""
	if l := r.Login; l != nil {
		// A login seen on the wire (not a name claimed before one, like an
		// RDP cookie): Elastic Security reads it as authentication.
		cat, action, outcome = []string{"authentication", "network", "session"}, ActionLogin, OutcomeUnknown
		if l.Success != nil {
			outcome = OutcomeFailure
			if *l.Success {
				outcome = OutcomeSuccess
			}
		}
	}
	d := doc{
		Timestamp:  ts(r.Start),
		ECS:        ecsMeta{Version: ECSVersion},
		DataStream: newDataStream(DatasetSession),
		Event: event{
			Kind: "event", Category: cat, Type: []string{typ}, Action: action, Outcome: outcome, Module: Module,
			Dataset: DatasetSession, Start: ts(r.Start), End: ts(r.End),
			Duration: r.End.Sub(r.Start).Nanoseconds(), ID: r.ID,
		},
		Source:      endpoint{IP: r.Client.Addr().String(), Port: r.Client.Port(), Bytes: r.ClientBytes, Packets: r.ClientPkts},
		Destination: endpoint{IP: r.Server.Addr().String(), Port: r.Server.Port(), Bytes: r.ServerBytes, Packets: r.ServerPkts},
		Network: network{Transport: r.Transport, Type: networkType(r.Client.Addr()), Protocol: r.Protocol, CommunityID: r.CommunityID,
			Bytes: r.ClientBytes + r.ServerBytes, Packets: r.ClientPkts + r.ServerPkts},
		PSM: psm{SessionID: r.ID, State: r.State, MissedBytes: r.MissedBytes, Anomalies: r.Anomalies, Login: r.Login,
			CleartextCredentials: r.CleartextCredentials, Kind: r.Kind, Commands: r.Commands, OutputText: r.OutputText, Recording: r.Recording,
			Proxy: r.Proxy, Response: r.Response},
	}
	d.Observer = newObserver(r.Observer, r.Interface)
	if r.UserName != "" {
		d.User = &user{Name: r.UserName}
	}
	if r.SourceUserName != "" {
		d.Source.User = &user{Name: r.SourceUserName}
	}
	d.Related, d.Destination.Domain = relatedOf(r.Client, r.Server, []string{r.UserName, r.SourceUserName}, r.Proxy, r.Objects)
	d.Client, d.Server = d.Source, d.Destination
	return marshalWithObjects(&d, r.Objects)
}

// newObserver builds observer.*: psmtap is the sensor that saw the traffic.
func newObserver(hostname, iface string) *observer {
	o := &observer{Hostname: hostname, Type: "sensor", Vendor: Module, Product: Module}
	if iface != "" {
		o.Ingress = &ingress{}
		o.Ingress.Interface.Name = iface
	}
	return o
}
