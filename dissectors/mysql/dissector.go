// Package mysql decodes the MySQL and MariaDB client/server protocol, after
// the MySQL Client/Server Protocol documentation and MariaDB's "Clients &
// Connectors / Client/Server Protocol" pages (the section names are cited at
// each structure): packet framing with 16 MB continuation packets, the
// Initial Handshake v10, SSLRequest (then the TLS handshake through
// dissectors/tls, nothing more), HandshakeResponse41 with connection
// attributes, AuthSwitchRequest and AuthMoreData, OK/ERR/EOF, the text
// protocol (COM_QUERY with multi-statements, COM_INIT_DB, ...), prepared
// statements (COM_STMT_PREPARE, COM_STMT_EXECUTE with parameters decoded
// from the binary protocol, COM_STMT_CLOSE/RESET/SEND_LONG_DATA/FETCH),
// result sets (columns skipped, rows counted; EOF or OK terminators per
// CLIENT_DEPRECATE_EOF), LOCAL INFILE requests, COM_CHANGE_USER and the
// compressed protocol (zlib).
//
// Detection: the server speaks first with a Handshake v10 in a packet of
// sequence 0: protocol version 10, a printable version string ending in
// NUL, a connection id, 8 bytes of scramble and a zero filler. That layout
// decides on any port; the client has nothing to say before it.
package mysql

import (
	"github.com/psmtap/psmtap/dissectors"
)

func init() { dissectors.Register(Dissector{}) }

// Dissector is MySQL / MariaDB.
type Dissector struct{}

// Name implements dissectors.Dissector.
func (Dissector) Name() string { return "mysql" }

// Ports implements dissectors.Dissector: hints only.
func (Dissector) Ports() []uint16 { return []uint16{3306} }

// greeting classifies what a server sent first.
func greeting(b []byte) dissectors.Verdict {
	if len(b) < 5 {
		if len(b) >= 4 && b[3] != 0 {
			return dissectors.NoMatch
		}
		return dissectors.NeedMore
	}
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if b[3] != 0 || b[4] != 10 || n < 1+2+4+8+1+2 || n > 1024 {
		return dissectors.NoMatch
	}
	// The version string: printable up to its NUL.
	for i := 5; i < len(b) && i < 4+n; i++ {
		switch c := b[i]; {
		case c == 0:
			if i == 5 || 4+n < i+1+4+8+1+2 {
				return dissectors.NoMatch
			}
			if len(b) < i+1+4+8+1 {
				return dissectors.NeedMore
			}
			if b[i+1+4+8] != 0 { // the filler after auth-plugin-data-part-1
				return dissectors.NoMatch
			}
			return dissectors.Match
		case c < 0x20 || c >= 0x7f || i-5 > 128:
			return dissectors.NoMatch
		}
	}
	return dissectors.NeedMore
}

// Probe matches a Handshake v10 greeting from the server (the endpoint that
// is not the TCP client, when that is known); the client is the other one.
func (Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	need := false
	for s := 0; s < 2; s++ {
		if in.Client == s {
			continue
		}
		switch greeting(in.Data[s]) {
		case dissectors.Match:
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: 1 - s}
		case dissectors.NeedMore:
			if !in.Done[s] {
				need = true
			}
		}
	}
	// The client waits for the greeting: a known client that spoke first is not ours.
	if in.Client != dissectors.Unknown && len(in.Data[in.Client]) > 0 && len(in.Data[1-in.Client]) == 0 {
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	if need {
		return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
}

// NewSession implements dissectors.Dissector.
func (Dissector) NewSession(ctx *dissectors.Context) dissectors.Session { return newSession(ctx) }
