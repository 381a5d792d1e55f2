// Package telnet recognises the Telnet protocol (RFC 854, options RFC 855).
//
// A Telnet session opens with option negotiation: IAC (255) followed by WILL,
// WONT, DO, DONT (251-254) and an option code, or IAC SB (250) for a
// subnegotiation. Port 23 is only a hint; a plain-text service on port 23 that
// never negotiates is not claimed.
package telnet

import (
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

func init() { dissectors.Register(Dissector{}) }

// Telnet command bytes (RFC 854).
const (
	IAC  = 255
	DONT = 254
	DO   = 253
	WONT = 252
	WILL = 251
	SB   = 250
)

// Dissector is the Telnet protocol.
type Dissector struct{}

// Name implements dissectors.Dissector.
func (Dissector) Name() string { return "telnet" }

// Ports implements dissectors.Dissector: hints only.
func (Dissector) Ports() []uint16 { return []uint16{23} }

// opensWithNegotiation classifies one endpoint's first bytes.
func opensWithNegotiation(b []byte) dissectors.Verdict {
	if len(b) == 0 {
		return dissectors.NeedMore
	}
	if b[0] != IAC {
		return dissectors.NoMatch
	}
	if len(b) < 3 {
		return dissectors.NeedMore
	}
	if b[1] >= SB && b[1] <= DONT {
		return dissectors.Match
	}
	return dissectors.NoMatch
}

// Probe matches when either endpoint opens with option negotiation. The
// handshake or the port decides who is the client: both sides negotiate.
func (Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	v0, v1 := opensWithNegotiation(in.Data[0]), opensWithNegotiation(in.Data[1])
	if v0 == dissectors.Match || v1 == dissectors.Match {
		return dissectors.ProbeResult{Verdict: dissectors.Match, Client: dissectors.Unknown}
	}
	if v0 == dissectors.NoMatch && (v1 == dissectors.NoMatch || in.Done[1]) ||
		v1 == dissectors.NoMatch && in.Done[0] || in.Done[0] && in.Done[1] {
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
}

// NewSession implements dissectors.Dissector. The full decoder (options,
// login, commands, screen) comes with the Telnet issue.
func (Dissector) NewSession(*record.Record) dissectors.Session { return dissectors.CountOnly{} }
