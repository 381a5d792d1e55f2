// Package telnet recognises and decodes the Telnet protocol: the NVT and
// its commands (RFC 854), option negotiation (RFC 855, followed passively as
// RFC 1143's Q method describes), TERMINAL-TYPE (RFC 1091), NAWS (RFC 1073),
// TERMINAL-SPEED (RFC 1079), NEW-ENVIRON (RFC 1572), LINEMODE (RFC 1184),
// AUTHENTICATION (RFC 2941, the method is noted; decoding goes on, since a
// failed one falls back to a cleartext login) and ENCRYPT (RFC 2946: after
// ENCRYPT START the content is no longer decoded). The data
// goes through the terminal pipeline of package term (login, commands,
// screen text, recording).
//
// A Telnet session opens with option negotiation: IAC (255) followed by WILL,
// WONT, DO, DONT (251-254) and an option code, or IAC SB (250) for a
// subnegotiation. Port 23 is only a hint; a plain-text service on port 23 that
// never negotiates is not claimed.
package telnet

import (
	"bytes"

	"github.com/psmtap/psmtap/dissectors"
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

// opensWithCommand is the lenient check used on port 23: IAC followed by a
// negotiation command.
func opensWithCommand(b []byte) dissectors.Verdict {
	switch {
	case len(b) == 0:
		return dissectors.NeedMore
	case b[0] != IAC:
		return dissectors.NoMatch
	case len(b) < 2:
		return dissectors.NeedMore
	case b[1] >= SB && b[1] <= DONT:
		return dissectors.Match
	}
	return dissectors.NoMatch
}

// SE ends a subnegotiation.
const SE = 240

// knownOption reports option codes that are assigned (IANA telnet-options:
// 0-50, 138-140, 255 EXOPL). Random bytes that happen to start with IAC
// rarely name one, and never keep looking like Telnet for long.
func knownOption(o byte) bool { return o <= 50 || o >= 138 && o <= 140 || o == 255 }

// probeWindow is how much of an opening is checked.
const probeWindow = 64

// opensWithNegotiation classifies one endpoint's first bytes: one or more
// well-formed negotiations (IAC WILL/WONT/DO/DONT option, IAC SB ... IAC SE)
// on known options, followed only by text.
func opensWithNegotiation(b []byte) dissectors.Verdict {
	if len(b) == 0 {
		return dissectors.NeedMore
	}
	if b[0] != IAC {
		return dissectors.NoMatch
	}
	if len(b) > probeWindow {
		b = b[:probeWindow]
	}
	i, commands := 0, 0
	for i < len(b) && b[i] == IAC {
		if i+1 >= len(b) {
			break // cut inside a command
		}
		switch cmd := b[i+1]; {
		case cmd >= WILL && cmd <= DONT:
			if i+2 >= len(b) {
				i = len(b)
				continue
			}
			if !knownOption(b[i+2]) {
				return dissectors.NoMatch
			}
			i += 3
		case cmd == SB:
			if i+2 < len(b) && !knownOption(b[i+2]) {
				return dissectors.NoMatch
			}
			end := -1
			for j := i + 2; j+1 < len(b); j++ {
				if b[j] == IAC && b[j+1] == SE {
					end = j + 2
					break
				}
			}
			if end < 0 {
				i = len(b) // the subnegotiation runs past the window
				continue
			}
			i = end
		case cmd >= SE && cmd <= 249: // SE, NOP, DM, BRK, IP, AO, AYT, EC, EL, GA
			if commands == 0 {
				return dissectors.NoMatch // a session does not open with these
			}
			i += 2
		default:
			return dissectors.NoMatch
		}
		commands++
	}
	if commands == 0 {
		return dissectors.NeedMore // IAC and the start of a command, cut
	}
	for _, c := range b[min(i, len(b)):] {
		if c < 0x20 && c != '\r' && c != '\n' && c != '\t' && c != 0 && c != 0x1b && c != 0x07 && c != 0x08 {
			return dissectors.NoMatch // binary after the negotiation: not a terminal stream
		}
	}
	return dissectors.Match
}

// Probe matches when either endpoint opens with option negotiation. The
// handshake or the port decides who is the client: both sides negotiate.
//
// On port 23 a single negotiation command is enough (crafted and broken
// clients still deserve a record there); on other ports the opening must be
// well-formed negotiation on assigned options followed by text, so that bulk
// data that happens to begin with IAC is not taken for Telnet.
func (Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	check := opensWithNegotiation
	if in.Port[0] == 23 || in.Port[1] == 23 {
		check = opensWithCommand
		if in.Client == dissectors.Unknown && !opensWithIAC(in.Data[0]) && !opensWithIAC(in.Data[1]) {
			return probeMidstream(in)
		}
	}
	// Either side opening with binary rules Telnet out at once (a bulk
	// transfer would otherwise keep the flow in detection).
	if binaryOpening(in.Data[0]) || binaryOpening(in.Data[1]) {
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	v0, v1 := check(in.Data[0]), check(in.Data[1])
	if v0 == dissectors.Match || v1 == dissectors.Match {
		return dissectors.ProbeResult{Verdict: dissectors.Match, Client: dissectors.Unknown}
	}
	if v0 == dissectors.NoMatch && (v1 == dissectors.NoMatch || in.Done[1]) ||
		v1 == dissectors.NoMatch && in.Done[0] || in.Done[0] && in.Done[1] {
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
}

// NewSession implements dissectors.Dissector.
func (Dissector) NewSession(ctx *dissectors.Context) dissectors.Session { return newSession(ctx) }

// binaryOpening reports an opening that is neither negotiation nor text: its
// first bytes hold control characters a terminal stream does not start with.
func binaryOpening(b []byte) bool {
	if len(b) == 0 || b[0] == IAC {
		return false
	}
	for _, c := range b[:min(len(b), probeWindow)] {
		if c < 0x20 && c != '\r' && c != '\n' && c != '\t' && c != 0x08 && c != 0x1b && c != 0x07 && c != 0 || c == 0x7f {
			return true
		}
	}
	return false
}

func opensWithIAC(b []byte) bool { return len(b) > 0 && b[0] == IAC }

// Mid-stream pickup without negotiation.
//
// A Telnet session picked up after its option negotiation (the capture
// started late, or the flow table lost it) shows only what was typed, its
// echo and the output. With the TCP handshake missing and one endpoint on
// port 23, such a flow is claimed when it looks like a terminal session:
// the client sends text a person types (printable, with Enter, erase and
// control keys, never IAC) and the server sends text in which the client's
// first typed word comes back (the echo). The record then says
// telnet.detected_by_port_and_shape. A connection whose start was captured
// must still open with negotiation.
const (
	echoWord     = 8    // at most this many typed characters are looked for in the echo
	midstreamCap = 2048 // server bytes without the echo: not a terminal session
)

func probeMidstream(in *dissectors.ProbeInput) dissectors.ProbeResult {
	no := dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	sv := 0
	if in.Port[1] == 23 {
		sv = 1
	}
	if in.Port[0] == in.Port[1] {
		return no // both on port 23: no side to call the server
	}
	cl := 1 - sv
	c, s := in.Data[cl], in.Data[sv]
	if !typed(c) || !terminalText(s) {
		return no
	}
	word := firstWord(c)
	switch {
	case word != nil && bytes.Contains(s, word):
		return dissectors.ProbeResult{Verdict: dissectors.Match, Client: cl}
	case len(s) >= midstreamCap || len(c) >= probeWindow || in.Done[0] && in.Done[1]:
		return no
	}
	return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
}

// typed reports whether b could be keys a person typed: printable text and
// control keys (Enter, erase, ^C, ESC sequences...), no IAC, and at least
// half of it printable.
func typed(b []byte) bool {
	b = b[:min(len(b), probeWindow)]
	printable := 0
	for _, c := range b {
		switch {
		case c == IAC:
			return false
		case c >= 0x20 && c < 0x7f:
			printable++
		}
	}
	return printable*2 >= len(b)
}

// terminalText reports whether b looks like what a shell sends to a
// terminal: mostly text, line ends and escape sequences, no IAC.
func terminalText(b []byte) bool {
	b = b[:min(len(b), 512)]
	bad := 0
	for _, c := range b {
		if c == IAC {
			return false
		}
		if c < 0x20 && c != '\r' && c != '\n' && c != '\t' && c != 0x08 && c != 0x1b && c != 0x07 && c != 0 {
			bad++
		}
	}
	return bad*16 <= len(b)
}

// firstWord is the client's first run of two or more printable characters
// (up to echoWord of them), nil while there is none.
func firstWord(b []byte) []byte {
	b = b[:min(len(b), probeWindow)]
	start := -1
	for i := 0; i <= len(b); i++ {
		if i < len(b) && b[i] > 0x20 && b[i] < 0x7f {
			if start < 0 {
				start = i
			}
			if i-start+1 == echoWord {
				return b[start : i+1]
			}
			continue
		}
		if start >= 0 && i-start >= 2 && i < len(b) {
			return b[start:i] // a word ended by a space or a key: complete
		}
		start = -1
	}
	return nil
}
