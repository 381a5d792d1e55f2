// Package ftp recognises and decodes the FTP control connection (RFC 959,
// with RFC 2228 AUTH, RFC 4217 AUTH TLS, RFC 2428 EPRT/EPSV, RFC 3659 SIZE
// and MDTM, RFC 7151 HOST): greeting, login and outcome, every command with
// its replies, files transferred or removed, and the data connections that
// PASV, EPSV, PORT and EPRT announce, tied to their control connection.
//
// The server speaks first with a reply ("220 ..." greeting, or "120" / "421"),
// and the client's first command is one only FTP clients send first: USER,
// AUTH, HOST, FEAT, SYST, OPTS. SMTP servers also greet with 220, but SMTP
// clients say EHLO/HELO, so the pair decides. A greeting alone (the client
// never spoke) is accepted on port 21 only.
package ftp

import (
	"github.com/psmtap/psmtap/dissectors"
)

func init() { dissectors.Register(Dissector{}) }

// Dissector is FTP.
type Dissector struct{}

// Name implements dissectors.Dissector.
func (Dissector) Name() string { return "ftp" }

// Ports implements dissectors.Dissector: hints only.
func (Dissector) Ports() []uint16 { return []uint16{21} }

// greeting classifies a server's first line: "220", "120" or "421" followed by
// space or '-'.
func greeting(b []byte) dissectors.Verdict {
	if len(b) < 4 {
		for _, p := range []string{"220", "120", "421"} {
			if m, _ := dissectors.HasPrefixFold(b, p); m {
				return dissectors.NeedMore
			}
		}
		return dissectors.NoMatch
	}
	code := string(b[:3])
	if (code == "220" || code == "120" || code == "421") && (b[3] == ' ' || b[3] == '-') {
		return dissectors.Match
	}
	return dissectors.NoMatch
}

// firstCommands are the commands an FTP client may open with.
var firstCommands = []string{"USER ", "AUTH ", "HOST ", "FEAT\r", "FEAT\n", "SYST\r", "SYST\n", "OPTS "}

func firstCommand(b []byte) dissectors.Verdict {
	need := false
	for _, c := range firstCommands {
		m, short := dissectors.HasPrefixFold(b, c)
		if m && !short {
			return dissectors.Match
		}
		need = need || m
	}
	if need {
		return dissectors.NeedMore
	}
	return dissectors.NoMatch
}

// Probe matches a greeting from one endpoint (the server) and an FTP opening
// command from the other.
func (d Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	// The client waits for the greeting: a known client that speaks while the
	// server has said nothing is not an FTP client.
	if in.Client != dissectors.Unknown && len(in.Data[in.Client]) > 0 && len(in.Data[1-in.Client]) == 0 {
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	for s := 0; s < 2; s++ {
		c := 1 - s
		if in.Client == s {
			continue // the handshake says this endpoint is the client
		}
		if greeting(in.Data[s]) != dissectors.Match {
			continue
		}
		if len(in.Data[c]) == 0 {
			if in.Done[c] && (in.Port[s] == 21) {
				return dissectors.ProbeResult{Verdict: dissectors.Match, Client: c}
			}
			if !in.Done[c] {
				return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
			}
			continue
		}
		switch firstCommand(in.Data[c]) {
		case dissectors.Match:
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: c}
		case dissectors.NeedMore:
			if !in.Done[c] {
				return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
			}
		}
	}
	// Nobody greeted. Wait while a side that could still greet is silent or short.
	for s := 0; s < 2; s++ {
		if in.Client == s || in.Done[s] {
			continue
		}
		if len(in.Data[s]) == 0 || greeting(in.Data[s]) == dissectors.NeedMore {
			return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
		}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
}

// NewSession implements dissectors.Dissector.
func (Dissector) NewSession(ctx *dissectors.Context) dissectors.Session { return newSession(ctx) }
