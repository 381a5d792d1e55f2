// Package vnc decodes the Remote Framebuffer protocol (RFB, RFC 6143) that
// VNC viewers and servers speak, found by content on any port: the server
// opens with "RFB xxx.yyy\n".
//
// A session reads the handshake (versions, security types offered and
// chosen, VNC authentication's outcome and failure reason, VeNCrypt and its
// subtypes, Tight's capability lists, ClientInit and ServerInit), then the
// client's messages (pixel format, encodings, every key and pointer event,
// the clipboard) and frames the server's (framebuffer updates rectangle by
// rectangle, the clipboard, bells). When the security type wraps the rest
// in TLS (VeNCrypt's TLS and X509 subtypes, type 18), dissectors/tls reads
// the TLS handshake and decoding stops there.
//
// Keystrokes are X11 keysyms sent to whatever window has focus on the
// server: the lines typed up to a Return are what someone typed, not
// necessarily commands a shell ran, and nothing on the wire says a password
// prompt had focus (the screen is pixels), so they are recorded as typed.
package vnc

import (
	"github.com/psmtap/psmtap/dissectors"
)

func init() { dissectors.Register(Dissector{}) }

// Dissector is VNC (RFB).
type Dissector struct{}

// Name implements dissectors.Dissector.
func (Dissector) Name() string { return "vnc" }

// Ports implements dissectors.Dissector: hints only (display :0 to :9 and
// the Java viewer's reverse-connection port).
func (Dissector) Ports() []uint16 {
	return []uint16{5900, 5901, 5902, 5903, 5904, 5905, 5906, 5907, 5908, 5909, 5500}
}

// Probe matches the server's ProtocolVersion, the first bytes of every RFB
// connection: the endpoint that sent it is the server. When both endpoints
// sent one and the TCP handshake was not seen, the ports decide.
func (Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	var v [2]int
	for i := 0; i < 2; i++ {
		v[i] = VersionPrefix(in.Data[i])
		if len(in.Data[i]) == 0 {
			v[i] = prefixShort
			if in.Done[i] {
				v[i] = prefixNo
			}
		}
	}
	if in.Client != dissectors.Unknown {
		srv := dissectors.Other(in.Client)
		switch {
		case v[srv] == prefixComplete:
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: in.Client}
		case v[srv] == prefixNo:
			return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
		case in.Done[srv]:
			return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
		}
		// The client of RFB says nothing before the server's version.
		if len(in.Data[in.Client]) > 0 && len(in.Data[srv]) == 0 {
			return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
		}
		return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
	}
	switch {
	case v[0] == prefixComplete && v[1] == prefixComplete:
		return dissectors.ProbeResult{Verdict: dissectors.Match, Client: dissectors.Unknown}
	case v[0] == prefixComplete && (v[1] == prefixNo || len(in.Data[1]) == 0):
		return dissectors.ProbeResult{Verdict: dissectors.Match, Client: 1}
	case v[1] == prefixComplete && (v[0] == prefixNo || len(in.Data[0]) == 0):
		return dissectors.ProbeResult{Verdict: dissectors.Match, Client: 0}
	case v[0] == prefixNo && v[1] == prefixNo:
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	case v[0] == prefixNo && in.Done[1] || v[1] == prefixNo && in.Done[0]:
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
}

// NewSession implements dissectors.Dissector.
func (Dissector) NewSession(ctx *dissectors.Context) dissectors.Session {
	return newSession(ctx)
}
