package postgresql

import (
	"strconv"

	"github.com/psmtap/psmtap/internal/record"
)

// Fields is the "postgresql" object of the record.
type Fields struct {
	ProtocolVersion   string   `json:"protocol_version,omitempty"`
	Database          string   `json:"database,omitempty"`
	ApplicationName   string   `json:"application_name,omitempty"`
	ClientEncoding    string   `json:"client_encoding,omitempty"`
	Options           string   `json:"options,omitempty"`
	Replication       string   `json:"replication,omitempty"`
	ServerVersion     string   `json:"server_version,omitempty"`
	BackendPID        int64    `json:"backend_pid,omitempty"`
	AuthMethod        string   `json:"auth_method,omitempty"`
	SASLMechanisms    []string `json:"sasl_mechanisms,omitempty"`
	SASLMechanism     string   `json:"sasl_mechanism,omitempty"`
	Password          string   `json:"password,omitempty"` // --reveal-credentials, cleartext method only
	SSLRequest        string   `json:"ssl_request,omitempty"`
	GSSENCRequest     string   `json:"gssenc_request,omitempty"`
	Cancel            *Cancel  `json:"cancel_request,omitempty"`
	Statements        int      `json:"statements,omitempty"`
	Errors            int      `json:"errors,omitempty"`
	Notices           int      `json:"notices,omitempty"`
	RowsReturned      int64    `json:"rows_returned,omitempty"`
	RowsAffected      int64    `json:"rows_affected,omitempty"`
	Copy              *Copy    `json:"copy,omitempty"`
	Error             *Error   `json:"error,omitempty"`
	TransactionStatus string   `json:"transaction_status,omitempty"`
	Terminated        bool     `json:"terminated,omitempty"`
}

// Cancel is a CancelRequest: this connection asked the server to cancel
// the running query of another one.
type Cancel struct {
	BackendPID int64 `json:"backend_pid"`
}

// Copy sums the session's COPY transfers: the data is counted, not kept.
type Copy struct {
	InRows   int64 `json:"in_rows,omitempty"`
	InBytes  int64 `json:"in_bytes,omitempty"`
	OutRows  int64 `json:"out_rows,omitempty"`
	OutBytes int64 `json:"out_bytes,omitempty"`
}

// Error is the FATAL (or PANIC) error that ended the login or the session.
type Error struct {
	Severity string `json:"severity,omitempty"`
	Code     string `json:"code,omitempty"`
	Message  string `json:"message,omitempty"`
}

func (f *Fields) copyBytes(dir byte, n int64) {
	if f.Copy == nil {
		f.Copy = &Copy{}
	}
	if dir == 'i' {
		f.Copy.InBytes += n
	} else {
		f.Copy.OutBytes += n
	}
}

func (f *Fields) copyRows(dir byte, n int64) {
	if f.Copy == nil {
		f.Copy = &Copy{}
	}
	if dir == 'i' {
		f.Copy.InRows += n
	} else {
		f.Copy.OutRows += n
	}
}

// Summary is a short human description for the table output.
func (f *Fields) Summary() string {
	s := strconv.Itoa(f.Statements) + " statements"
	if f.Errors > 0 {
		s += ", " + strconv.Itoa(f.Errors) + " errors"
	}
	if f.SSLRequest == "accepted" {
		s += ", TLS"
	}
	return s
}

// Close implements dissectors.Session. Statements still waiting for their
// result, and a login never settled, are published now with outcome
// unknown.
func (s *session) Close(r *record.Record) {
	if s.ctx.Listening() {
		ts := r.End.UnixNano()
		if !s.loginDone && s.user != "" && s.f.Cancel == nil && s.rd[0].mode != modeTLS {
			ev := record.LoginEvent(ts, s.user, record.OutcomeUnknown, s.method, false)
			ev.Login.Attempt = 1
			ev.CleartextCredentials = s.creds
			s.ctx.Publish(ev)
		}
		for i := s.head; i < len(s.ops); i++ {
			o := s.ops[i]
			if (o.kind == opSimple || o.kind == opExecute) && o.q != nil {
				ev := s.event(o.q, ts)
				ev.Outcome = record.OutcomeUnknown
				ev.Reason = "no result before the session ended"
				s.ctx.Publish(ev)
			}
		}
	}
	s.fill(r)
	if s.tls != nil {
		for _, a := range s.tls.Anomalies() {
			r.AddAnomaly(a)
		}
		if tf, anomalies := s.tls.Fields(); tf != nil {
			r.Set("tls", tf)
			for _, a := range anomalies {
				r.AddAnomaly(a)
			}
		}
	}
	for a := range s.anomalies {
		r.AddAnomaly(a)
	}
	if s.tooMany {
		r.AddAnomaly("postgresql.too_many_commands")
	}
}

// Snapshot implements dissectors.Snapshotter: what Close would write, so
// far, leaving the session as it is.
func (s *session) Snapshot(r *record.Record) { s.fill(r) }

// fill writes user, login, statements and the "postgresql" object into r;
// it shares no slice that s goes on appending to.
func (s *session) fill(r *record.Record) {
	if s.user != "" {
		r.UserName = s.user
	}
	if s.loginDone {
		ok := s.ready
		r.Login = &record.Login{Attempts: s.attempts, Success: &ok}
	}
	if s.creds {
		yes := true
		r.CleartextCredentials = &yes
	}
	if len(s.commands) > 0 {
		r.Commands = append([]string(nil), s.commands...)
	}
	f := s.f
	if s.loginDone || s.authOk {
		f.AuthMethod = s.method
	}
	f.SASLMechanisms = append([]string(nil), s.f.SASLMechanisms...)
	if len(f.SASLMechanisms) == 0 {
		f.SASLMechanisms = nil
	}
	if s.f.Copy != nil {
		c := *s.f.Copy
		f.Copy = &c
	}
	if s.f.Error != nil {
		e := *s.f.Error
		f.Error = &e
	}
	f.Password = s.password
	r.Set("postgresql", &f)
}
