// Package postgresql decodes PostgreSQL's frontend/backend protocol version
// 3 (PostgreSQL documentation, chapter 55 "Frontend/Backend Protocol":
// 55.2 "Message Flow", 55.7 "Message Formats", 55.8 "Error and Notice
// Message Fields"): the startup (user, database, application name), the
// SSLRequest and GSSENCRequest answers (then the TLS handshake, through
// dissectors/tls), the authentication method and outcome, server version and
// backend key, every statement of the simple and the extended query
// protocols with its parameters and result, COPY (counted, not kept),
// CancelRequest and Terminate.
//
// Detection is by content: the client's first message is a StartupMessage
// (protocol 3.x), an SSLRequest, a GSSENCRequest or a CancelRequest, whose
// codes sit at fixed offsets; the server's first message, when the client's
// was not seen, is an Authentication request ('R').
//
// A cleartext password (method password) and an MD5 response are never
// written (the MD5 response can be cracked offline with the salt); the
// former only with --reveal-credentials, in postgresql.password.
package postgresql

import (
	"encoding/binary"

	"github.com/psmtap/psmtap/dissectors"
)

func init() { dissectors.Register(Dissector{}) }

// Dissector is PostgreSQL.
type Dissector struct{}

// Name implements dissectors.Dissector.
func (Dissector) Name() string { return "postgresql" }

// Ports implements dissectors.Dissector: hints only.
func (Dissector) Ports() []uint16 { return []uint16{5432} }

// NewSession implements dissectors.Dissector.
func (Dissector) NewSession(ctx *dissectors.Context) dissectors.Session { return newSession(ctx) }

// clientFirst judges an endpoint's first bytes as a frontend's first message.
func clientFirst(b []byte) dissectors.Verdict {
	if len(b) == 0 {
		return dissectors.NeedMore
	}
	// The length of a first message is under 10000: its two high bytes are 0.
	if b[0] != 0 || len(b) > 1 && b[1] != 0 {
		return dissectors.NoMatch
	}
	if len(b) < 8 {
		return dissectors.NeedMore
	}
	n := binary.BigEndian.Uint32(b)
	switch binary.BigEndian.Uint32(b[4:]) {
	case codeSSL, codeGSSENC:
		if n == 8 {
			return dissectors.Match
		}
	case codeCancel:
		if n == 16 {
			return dissectors.Match
		}
	default:
		code := binary.BigEndian.Uint32(b[4:])
		if code>>16 != 3 || code&0xffff > 9 || n <= 9 || n > 10000 {
			return dissectors.NoMatch
		}
		// a parameter name follows: letters
		if c := b[8]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
			return dissectors.NoMatch
		}
		if len(b) >= int(n) && b[n-1] != 0 {
			return dissectors.NoMatch
		}
		return dissectors.Match
	}
	return dissectors.NoMatch
}

// serverFirst judges an endpoint's first bytes as a backend's first message:
// an Authentication request.
func serverFirst(b []byte) dissectors.Verdict {
	if len(b) == 0 {
		return dissectors.NeedMore
	}
	if b[0] != msgAuth {
		return dissectors.NoMatch
	}
	if len(b) < 9 {
		return dissectors.NeedMore
	}
	n := binary.BigEndian.Uint32(b[1:])
	switch binary.BigEndian.Uint32(b[5:]) {
	case authOk, authKerberos, authCleartext, authGSS, authSSPI:
		if n == 8 {
			return dissectors.Match
		}
	case authMD5:
		if n == 12 {
			return dissectors.Match
		}
	case authSASL:
		if n > 8 && n < 1024 {
			return dissectors.Match
		}
	}
	return dissectors.NoMatch
}

// Probe implements dissectors.Dissector.
func (Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	if c := in.Client; c != dissectors.Unknown && len(in.Data[c]) == 0 && len(in.Data[1-c]) > 0 {
		// The frontend speaks first and waits: a server that spoke first is no PostgreSQL server.
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	need := false
	for c := 0; c < 2; c++ {
		if in.Client != dissectors.Unknown && in.Client != c {
			continue
		}
		switch clientFirst(in.Data[c]) {
		case dissectors.Match:
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: c}
		case dissectors.NeedMore:
			need = need || !in.Done[c]
		}
	}
	if in.Client == dissectors.Unknown {
		// Picked up after the client's first message: the server's request.
		for sv := 0; sv < 2; sv++ {
			switch serverFirst(in.Data[sv]) {
			case dissectors.Match:
				return dissectors.ProbeResult{Verdict: dissectors.Match, Client: 1 - sv}
			case dissectors.NeedMore:
				need = need || !in.Done[sv]
			}
		}
	}
	if need {
		return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
}
