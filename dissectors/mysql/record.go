package mysql

import (
	"sort"

	"github.com/psmtap/psmtap/internal/record"
)

// Fields is the record's "mysql" object (docs/fields.md, MySQL and MariaDB).
type Fields struct {
	Server           *Server  `json:"server,omitempty"`
	Client           *Client  `json:"client,omitempty"`
	Database         string   `json:"database,omitempty"`           // asked for in the handshake
	ClientAuthPlugin string   `json:"client_auth_plugin,omitempty"` // the client's choice in its handshake
	AuthPlugin       string   `json:"auth_plugin,omitempty"`        // in effect when the login was settled
	LoginError       string   `json:"login_error,omitempty"`
	Capabilities     []string `json:"capabilities,omitempty"`
	TLS              bool     `json:"tls,omitempty"`
	Compression      bool     `json:"compression,omitempty"`
	Statements       int      `json:"statements,omitempty"` // COM_QUERY
	Prepared         int      `json:"prepared,omitempty"`   // COM_STMT_PREPARE
	Executed         int      `json:"executed,omitempty"`   // COM_STMT_EXECUTE
	Errors           int      `json:"errors,omitempty"`     // ERR answers to commands
	LocalInfile      []string `json:"local_infile,omitempty"`
	Replication      bool     `json:"replication,omitempty"`
	Quit             bool     `json:"quit,omitempty"`
}

// Server is what the greeting said.
type Server struct {
	Version      string  `json:"version,omitempty"`
	ConnectionID *uint32 `json:"connection_id,omitempty"`
	AuthPlugin   string  `json:"auth_plugin,omitempty"`
}

// Client is what the client's connection attributes said.
type Client struct {
	Name    string `json:"name,omitempty"`    // _client_name
	Version string `json:"version,omitempty"` // _client_version
	Program string `json:"program,omitempty"` // program_name
	OS      string `json:"os,omitempty"`      // _os
}

// Close implements dissectors.Session. Commands still waiting for their
// response get their events now, without a result; a login still waiting
// for its outcome is published with outcome unknown.
func (s *session) Close(r *record.Record) {
	ts := r.End.UnixNano()
	if s.authOpen && s.ctx.Listening() {
		ev := record.LoginEvent(ts, s.authUser, record.OutcomeUnknown, s.plugin, false)
		ev.Login.Attempt = s.attempts + 1
		ev.CleartextCredentials = s.cleartext
		s.ctx.Publish(ev)
	}
	s.authOpen = false
	for _, c := range s.pending {
		s.complete(c, ts)
	}
	s.pending = nil
	s.fill(r)
	names := make([]string, 0, len(s.anomalies))
	for a := range s.anomalies {
		names = append(names, a)
	}
	sort.Strings(names)
	for _, a := range names {
		r.AddAnomaly(a)
	}
	if s.tls != nil {
		for _, a := range s.tls.Anomalies() {
			r.AddAnomaly(a)
		}
	}
}

// Snapshot implements dissectors.Snapshotter.
func (s *session) Snapshot(r *record.Record) { s.fill(r) }

// fill writes what is known into r without changing s.
func (s *session) fill(r *record.Record) {
	if s.user != "" {
		r.UserName = s.user
	}
	if s.attempts > 0 {
		l := &record.Login{Attempts: s.attempts}
		if s.success != 0 {
			ok := s.success > 0
			l.Success = &ok
		}
		r.Login = l
	}
	if s.cleartext {
		yes := true
		r.CleartextCredentials = &yes
	}
	if len(s.commands) > 0 {
		r.Commands = append([]string(nil), s.commands...)
	}
	f := s.f
	f.LocalInfile = append([]string(nil), s.f.LocalInfile...)
	if len(f.LocalInfile) == 0 {
		f.LocalInfile = nil
	}
	if g := s.greet; g != nil {
		id := g.ConnectionID
		f.Server = &Server{Version: g.Version, ConnectionID: &id, AuthPlugin: g.AuthPlugin}
	}
	if s.phase > phHandshake || s.caps != 0 {
		f.Capabilities = CapabilityNames(s.caps)
	}
	if f.Client != nil {
		c := *f.Client
		f.Client = &c
	}
	r.Set("mysql", &f)
	if s.tls != nil {
		if tf, _ := s.tls.Fields(); tf != nil {
			r.Set("tls", tf)
		}
	}
}
