package record

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"sort"
	"strconv"
	"time"

	"github.com/psmtap/psmtap/internal/shell"
)

// Datasets (event.dataset), also the middle of the Elasticsearch data stream
// names (logs-<dataset>-<namespace>).
const (
	DatasetSession  = "psmtap.session"
	DatasetActivity = "psmtap.activity"
)

// Document is what the sinks write: a session record or an activity event.
type Document interface {
	MarshalJSON() ([]byte, error)
	// DocID is the document's Elasticsearch _id: stable, so re-reading a
	// capture or re-sending after a crash does not store it twice.
	DocID() string
	// Dataset is event.dataset.
	Dataset() string
}

// Activity event actions (event.action): docs/fields.md, "Activity events".
const (
	ActionLogin       = "login"        // an authentication attempt and its outcome
	ActionCommand     = "command"      // a command as the server received it
	ActionFile        = "file"         // a file uploaded, downloaded, deleted or renamed
	ActionSessionKind = "session_kind" // what the session turned out to be (tunnel, reverse shell, file transfer...)
	ActionSecurity    = "security"     // a protection negotiated or lost (RDP security protocol, TLS/encryption starting)
	ActionQuery       = "query"        // a database statement and its result
	ActionClipboard   = "clipboard"    // clipboard content sent across the session (VNC)
)

// Outcomes (event.outcome).
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeUnknown = "unknown"
)

// Event is one thing that happened in a session, published by its dissector
// when it happened (packet time): a login attempt, a command, a file... A
// dissector fills what it knows; the engine adds the session's context
// (addresses, protocol, session id, user, sequence) before it leaves.
type Event struct {
	Time     time.Time
	Action   string
	Outcome  string   // event.outcome: success, failure, unknown; empty when it does not apply
	Category []string // event.category
	Type     []string // event.type
	Reason   string   // event.reason: why, in a few words (a reply text, what the shape showed)
	UserName string   // user.name; the engine fills the session's user when empty

	Login     *EventLogin     // ActionLogin: psm.login.*
	Command   *EventCommand   // ActionCommand: process.command_line, psm.command.*
	File      *EventFile      // ActionFile: file.*, psm.file.direction
	Query     *EventQuery     // ActionQuery: db.*, psm.query.*, event.duration
	Kind      string          // ActionSessionKind: psm.kind
	Clipboard *EventClipboard // ActionClipboard: psm.clipboard.*
	Response  *Response       // ActionResponse: psm.response.*

	// CleartextCredentials: a password crossed the wire in clear (masked).
	CleartextCredentials bool

	// Objects are protocol objects written at the top level under their
	// names (e.g. "rdp"), as in a session record.
	Objects map[string]any

	// Set by the engine.
	ID          string // event.id: <session id>-<sequence>
	SessionID   string // psm.session_id
	Sequence    int    // event.sequence: 1, 2, ... within the session
	Client      netip.AddrPort
	Server      netip.AddrPort
	Transport   string
	Protocol    string
	CommunityID string
	Observer    string
	Interface   string
	Proxy       *Proxy // psm.proxy: the session runs through a SOCKS or HTTP CONNECT proxy
}

// EventLogin is a login attempt's detail (psm.login.* on a login event).
type EventLogin struct {
	// Method: password, publickey, keyboard-interactive, none, trusted_host
	// (rlogin/rsh .rhosts), ... empty when not known.
	Method string `json:"method,omitempty"`
	// Inferred: the outcome comes from encrypted record sizes (SSH).
	Inferred bool `json:"inferred,omitempty"`
	// Attempt numbers the attempt within the session (1, 2, ...).
	Attempt int `json:"attempt,omitempty"`
}

// EventCommand is a command's detail.
type EventCommand struct {
	Line      string // process.command_line
	ReplyCode int    // psm.command.reply_code (FTP); 0 when none
	Reply     string // psm.command.reply: the reply text, first line, bounded

	// A shell command line read as the shell splits it (ShellCommandEvent):
	Args       []string // process.args: words and operators, quotes removed
	Programs   []string // process.name is the first; psm.command.programs all of them
	Normalized string   // psm.command.normalized: the words joined, paths cleaned
}

// EventQuery is a database statement's detail, named after OpenTelemetry's
// database semantic conventions (db.*) where they have a name.
type EventQuery struct {
	System       string   // db.system.name: postgresql, mysql, mariadb
	Namespace    string   // db.namespace: the database
	Text         string   // db.query.text, as sent (bounded by the dissector)
	Operation    string   // db.operation.name: SELECT, UPDATE, DROP...
	StatusCode   string   // db.response.status_code: SQLSTATE or error number; empty on success
	ReturnedRows int64    // db.response.returned_rows; -1 when not known
	AffectedRows int64    // psm.query.affected_rows; -1 when not known
	Parameters   []string // psm.query.parameters: bound values, as text
	Error        string   // psm.query.error: the server's message
	Statement    string   // psm.query.statement: the prepared statement's name
	Duration     int64    // event.duration: ns from the request to its completion; 0 when not known
}

// QueryEvent builds a query event; the dissector fills q (outcome is
// failure when q has a status code).
func QueryEvent(ts int64, q *EventQuery) *Event {
	outcome := OutcomeSuccess
	if q.StatusCode != "" || q.Error != "" {
		outcome = OutcomeFailure
	}
	return &Event{Time: time.Unix(0, ts), Action: ActionQuery, Outcome: outcome,
		Category: []string{"database"}, Type: []string{"access"}, Query: q}
}

// File event directions (psm.file.direction).
const (
	Upload   = "upload"
	Download = "download"
)

// EventFile is a file operation's detail.
type EventFile struct {
	Path      string // file.path as the client named it
	Name      string // file.name: the last element of Path
	Size      int64  // file.size; -1 when not known
	Direction string // psm.file.direction: upload, download; empty for delete/rename
	NewPath   string // psm.file.target_path: a rename's new name
}

// Clipboard directions (psm.clipboard.direction).
const (
	ToServer = "to_server"
	ToClient = "to_client"
)

// EventClipboard is a clipboard transfer (psm.clipboard.*).
type EventClipboard struct {
	Direction string `json:"direction"`      // to_server (the client's clipboard), to_client
	Length    int    `json:"length"`         // bytes of the whole clipboard text
	Text      string `json:"text,omitempty"` // its beginning, bounded by the dissector; absent when the operator turned content off
	Truncated bool   `json:"truncated,omitempty"`
}

// ClipboardEvent builds a clipboard event.
func ClipboardEvent(ts int64, direction string, length int, text string, truncated bool) *Event {
	return &Event{Time: time.Unix(0, ts), Action: ActionClipboard, Outcome: OutcomeSuccess,
		Category: []string{"session"}, Type: []string{"info"},
		Clipboard: &EventClipboard{Direction: direction, Length: length, Text: text, Truncated: truncated}}
}

// LoginEvent builds a login attempt event.
func LoginEvent(ts int64, user, outcome, method string, inferred bool) *Event {
	if outcome == "" {
		outcome = OutcomeUnknown
	}
	return &Event{Time: time.Unix(0, ts), Action: ActionLogin, Outcome: outcome, UserName: user,
		Category: []string{"authentication"}, Type: []string{"start"},
		Login: &EventLogin{Method: method, Inferred: inferred}}
}

// CommandEvent builds a command event.
func CommandEvent(ts int64, line string) *Event {
	return &Event{Time: time.Unix(0, ts), Action: ActionCommand,
		Category: []string{"process"}, Type: []string{"start"}, Command: &EventCommand{Line: line}}
}

// ShellCommandEvent builds the event of a command line typed at a shell
// (Telnet, rlogin, rsh): with the words a shell would see, so that quoting
// and spelling tricks do not hide what ran.
func ShellCommandEvent(ts int64, line string) *Event {
	ev := CommandEvent(ts, line)
	words := shell.Words(line)
	ev.Command.Args = words
	ev.Command.Programs = shell.Programs(words)
	ev.Command.Normalized = shell.Normalize(words)
	return ev
}

// FileEvent builds a file event. typ is the ECS event.type: creation
// (upload), access (download), deletion, change (rename).
func FileEvent(ts int64, typ, path string, size int64, direction string) *Event {
	name := path
	if i := lastSlash(path); i >= 0 && i < len(path)-1 {
		name = path[i+1:]
	}
	return &Event{Time: time.Unix(0, ts), Action: ActionFile, Outcome: OutcomeSuccess,
		Category: []string{"file"}, Type: []string{typ},
		File: &EventFile{Path: path, Name: name, Size: size, Direction: direction}}
}

// KindEvent says what the session turned out to be (psm.kind).
func KindEvent(ts int64, kind, reason string) *Event {
	return &Event{Time: time.Unix(0, ts), Action: ActionSessionKind, Kind: kind, Reason: reason,
		Category: []string{"network"}, Type: []string{"info"}}
}

func lastSlash(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' || s[i] == '\\' {
			return i
		}
	}
	return -1
}

// DocID implements Document.
func (e *Event) DocID() string { return e.ID }

// Dataset implements Document.
func (e *Event) Dataset() string { return DatasetActivity }

type eventMeta struct {
	Kind     string   `json:"kind"`
	Category []string `json:"category"`
	Type     []string `json:"type"`
	Action   string   `json:"action"`
	Outcome  string   `json:"outcome,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Module   string   `json:"module"`
	Dataset  string   `json:"dataset"`
	ID       string   `json:"id"`
	Sequence int      `json:"sequence"`
	Duration int64    `json:"duration,omitempty"`
}

type addr struct {
	IP     string `json:"ip"`
	Port   uint16 `json:"port"`
	Domain string `json:"domain,omitempty"`
}

type eventNetwork struct {
	Transport   string `json:"transport"`
	Type        string `json:"type,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	CommunityID string `json:"community_id,omitempty"`
}

type process struct {
	CommandLine string   `json:"command_line"`
	Name        string   `json:"name,omitempty"`
	Args        []string `json:"args,omitempty"`
	ArgsCount   int      `json:"args_count,omitempty"`
}

type file struct {
	Path string `json:"path,omitempty"`
	Name string `json:"name,omitempty"`
	Size *int64 `json:"size,omitempty"`
}

type eventCommand struct {
	ReplyCode  int      `json:"reply_code,omitempty"`
	Reply      string   `json:"reply,omitempty"`
	Normalized string   `json:"normalized,omitempty"`
	Programs   []string `json:"programs,omitempty"`
}

type eventFile struct {
	Direction  string `json:"direction,omitempty"`
	TargetPath string `json:"target_path,omitempty"`
}

type db struct {
	System    *dbSystem    `json:"system,omitempty"`
	Namespace string       `json:"namespace,omitempty"`
	Query     *dbQuery     `json:"query,omitempty"`
	Operation *dbOperation `json:"operation,omitempty"`
	Response  *dbResponse  `json:"response,omitempty"`
}

type dbSystem struct {
	Name string `json:"name"`
}

type dbQuery struct {
	Text string `json:"text"`
}

type dbOperation struct {
	Name string `json:"name"`
}

type dbResponse struct {
	StatusCode   string `json:"status_code,omitempty"`
	ReturnedRows *int64 `json:"returned_rows,omitempty"`
}

type eventQuery struct {
	AffectedRows *int64   `json:"affected_rows,omitempty"`
	Parameters   []string `json:"parameters,omitempty"`
	Error        string   `json:"error,omitempty"`
	Statement    string   `json:"statement,omitempty"`
}

type eventPSM struct {
	SessionID            string          `json:"session_id"`
	Query                *eventQuery     `json:"query,omitempty"`
	Login                *EventLogin     `json:"login,omitempty"`
	Command              *eventCommand   `json:"command,omitempty"`
	File                 *eventFile      `json:"file,omitempty"`
	Kind                 string          `json:"kind,omitempty"`
	Clipboard            *EventClipboard `json:"clipboard,omitempty"`
	CleartextCredentials bool            `json:"cleartext_credentials,omitempty"`
	Response             *Response       `json:"response,omitempty"`
	Proxy                *Proxy          `json:"proxy,omitempty"`
}

type eventDoc struct {
	Timestamp   string       `json:"@timestamp"`
	ECS         ecsMeta      `json:"ecs"`
	DataStream  dataStream   `json:"data_stream"`
	Event       eventMeta    `json:"event"`
	Source      addr         `json:"source"`
	Destination addr         `json:"destination"`
	Client      addr         `json:"client"`
	Server      addr         `json:"server"`
	Network     eventNetwork `json:"network"`
	Observer    *observer    `json:"observer,omitempty"`
	User        *user        `json:"user,omitempty"`
	Related     *Related     `json:"related,omitempty"`
	Process     *process     `json:"process,omitempty"`
	File        *file        `json:"file,omitempty"`
	DB          *db          `json:"db,omitempty"`
	PSM         eventPSM     `json:"psm"`
}

// MarshalJSON writes the event as one ECS-shaped JSON object.
func (e *Event) MarshalJSON() ([]byte, error) {
	d := eventDoc{
		Timestamp:  ts(e.Time),
		ECS:        ecsMeta{Version: ECSVersion},
		DataStream: newDataStream(DatasetActivity),
		Event: eventMeta{Kind: "event", Category: e.Category, Type: e.Type, Action: e.Action, Outcome: e.Outcome,
			Reason: e.Reason, Module: Module, Dataset: DatasetActivity, ID: e.ID, Sequence: e.Sequence},
		Source:      addr{IP: e.Client.Addr().String(), Port: e.Client.Port()},
		Destination: addr{IP: e.Server.Addr().String(), Port: e.Server.Port()},
		Network:     eventNetwork{Transport: e.Transport, Type: networkType(e.Client.Addr()), Protocol: e.Protocol, CommunityID: e.CommunityID},
		Observer:    newObserver(e.Observer, e.Interface),
		PSM: eventPSM{SessionID: e.SessionID, Login: e.Login, Kind: e.Kind, Clipboard: e.Clipboard,
			CleartextCredentials: e.CleartextCredentials, Response: e.Response, Proxy: e.Proxy},
	}
	if e.UserName != "" {
		d.User = &user{Name: e.UserName}
	}
	d.Related, d.Destination.Domain = e.RelatedFields()
	d.Client, d.Server = d.Source, d.Destination
	if c := e.Command; c != nil {
		d.Process = &process{CommandLine: c.Line, Args: c.Args, ArgsCount: len(c.Args)}
		if len(c.Programs) > 0 {
			d.Process.Name = c.Programs[0]
		}
		if c.ReplyCode != 0 || c.Reply != "" || c.Normalized != "" || len(c.Programs) > 0 {
			d.PSM.Command = &eventCommand{ReplyCode: c.ReplyCode, Reply: c.Reply, Normalized: c.Normalized, Programs: c.Programs}
		}
	}
	if f := e.File; f != nil {
		d.File = &file{Path: f.Path, Name: f.Name}
		if f.Size >= 0 {
			size := f.Size
			d.File.Size = &size
		}
		if f.Direction != "" || f.NewPath != "" {
			d.PSM.File = &eventFile{Direction: f.Direction, TargetPath: f.NewPath}
		}
	}
	if q := e.Query; q != nil {
		d.Event.Duration = q.Duration
		d.DB = &db{Namespace: q.Namespace}
		if q.System != "" {
			d.DB.System = &dbSystem{Name: q.System}
		}
		if q.Text != "" {
			d.DB.Query = &dbQuery{Text: q.Text}
		}
		if q.Operation != "" {
			d.DB.Operation = &dbOperation{Name: q.Operation}
		}
		if q.StatusCode != "" || q.ReturnedRows >= 0 {
			d.DB.Response = &dbResponse{StatusCode: q.StatusCode}
			if q.ReturnedRows >= 0 {
				n := q.ReturnedRows
				d.DB.Response.ReturnedRows = &n
			}
		}
		if q.AffectedRows >= 0 || len(q.Parameters) > 0 || q.Error != "" || q.Statement != "" {
			d.PSM.Query = &eventQuery{Parameters: q.Parameters, Error: q.Error, Statement: q.Statement}
			if q.AffectedRows >= 0 {
				n := q.AffectedRows
				d.PSM.Query.AffectedRows = &n
			}
		}
	}
	return marshalWithObjects(&d, e.Objects)
}

// marshalWithObjects encodes d, then appends each protocol object at the top
// level under its name, in name order.
func marshalWithObjects(d any, objects map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	out := append([]byte(nil), bytes.TrimRight(b.Bytes(), "\n")...)
	if len(objects) == 0 {
		return out, nil
	}
	out = out[:len(out)-1] // reopen the object
	for _, n := range sortedNames(objects) {
		b.Reset()
		if err := enc.Encode(objects[n]); err != nil {
			return nil, err
		}
		out = append(out, ',', '"')
		out = append(out, n...)
		out = append(out, '"', ':')
		out = append(out, bytes.TrimRight(b.Bytes(), "\n")...)
	}
	return append(out, '}'), nil
}

func sortedNames(objects map[string]any) []string {
	names := make([]string, 0, len(objects))
	for n := range objects {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// EventID is the id of a session's n-th event.
func EventID(sessionID string, n int) string { return sessionID + "-" + strconv.Itoa(n) }
