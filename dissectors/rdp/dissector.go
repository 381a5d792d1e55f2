// Package rdp recognises the Remote Desktop Protocol by its first PDU
// (MS-RDPBCGR 2.2.1.1 Client X.224 Connection Request, carried in TPKT,
// RFC 1006 / ITU-T T.123, and X.224 class 0, ITU-T X.224 §13.3), or by the
// server's answer (2.2.1.2 Server X.224 Connection Confirm), on any port, and
// RDP over UDP by the MS-RDPEUDP SYN datagram (MS-RDPEUDP 2.2.2.1, 3.1.5.1.1).
//
// A session reads the negotiation (cookie, routing token, RDP_NEG_REQ,
// RDP_NEG_RSP / RDP_NEG_FAILURE), then either the TLS handshake of the
// negotiated security protocol (through dissectors/tls) or, with Standard RDP
// Security, the MCS Connect Initial and Connect Response (T.125 BER, T.124
// GCC PER) with the client's and server's data blocks (2.2.1.3, 2.2.1.4).
//
// Other ISO-on-TCP users (S7comm, MMS, ...) send the same TPKT and X.224 CR
// but with TSAP parameters (codes 0xC0-0xC2) where RDP has a cookie or an
// RDP_NEG_REQ; that difference keeps them out.
package rdp

import (
	"encoding/binary"

	"github.com/psmtap/psmtap/dissectors"
)

func init() { dissectors.Register(Dissector{}) }

// X.224 TPDU codes (upper nibble).
const (
	tpduConnectionRequest = 0xE0
	tpduConnectionConfirm = 0xD0
)

// RDP negotiation structure types (MS-RDPBCGR 2.2.1.1.1, 2.2.1.2.1, 2.2.1.2.2).
const (
	typeNegReq     = 0x01
	typeNegRsp     = 0x02
	typeNegFailure = 0x03
)

// Dissector is RDP.
type Dissector struct{}

// Name implements dissectors.Dissector.
func (Dissector) Name() string { return "rdp" }

// Ports implements dissectors.Dissector: hints only.
func (Dissector) Ports() []uint16 { return []uint16{3389} }

// x224 checks a TPKT + X.224 header of the given TPDU code and returns the
// variable part, or a verdict when the bytes cannot (yet) be one.
func x224(b []byte, code byte) ([]byte, dissectors.Verdict) {
	if len(b) == 0 {
		return nil, dissectors.NeedMore
	}
	if b[0] != 3 || len(b) > 1 && b[1] != 0 {
		return nil, dissectors.NoMatch
	}
	if len(b) < 7 {
		return nil, dissectors.NeedMore
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	// TPKT length covers its own 4 bytes; X.224 LI excludes itself.
	if n < 11 || n > 8192 || int(b[4]) != n-5 || b[5]&0xF0 != code {
		return nil, dissectors.NoMatch
	}
	if len(b) < n {
		return nil, dissectors.NeedMore
	}
	return b[11:n], dissectors.Match
}

// classifyRequest checks the Connection Request's variable part: nothing,
// a routing token or cookie ("Cookie: ..."), or an RDP_NEG_REQ.
func classifyRequest(v []byte) dissectors.Verdict {
	switch {
	case len(v) == 0:
		return dissectors.Match
	case len(v) >= 8 && string(v[:8]) == "Cookie: ":
		return dissectors.Match
	case len(v) >= 8 && v[0] == typeNegReq && binary.LittleEndian.Uint16(v[2:4]) == 8:
		return dissectors.Match
	}
	return dissectors.NoMatch
}

// classifyConfirm checks the Connection Confirm's variable part: nothing, or an
// RDP_NEG_RSP / RDP_NEG_FAILURE of length 8.
func classifyConfirm(v []byte) dissectors.Verdict {
	switch {
	case len(v) == 0:
		return dissectors.Match
	case len(v) >= 8 && (v[0] == typeNegRsp || v[0] == typeNegFailure) && binary.LittleEndian.Uint16(v[2:4]) == 8:
		return dissectors.Match
	}
	return dissectors.NoMatch
}

// Probe matches a Connection Request from one endpoint (who is then the
// client), or a Confirm when the request side was not captured.
func (Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	if in.UDP {
		return probeUDP(in)
	}
	verdict := [2]dissectors.Verdict{dissectors.NoMatch, dissectors.NoMatch}
	for i := 0; i < 2; i++ {
		if in.Client != dissectors.Unknown && in.Client != i {
			continue // only the client sends the request
		}
		v, vd := x224(in.Data[i], tpduConnectionRequest)
		if vd == dissectors.Match {
			if classifyRequest(v) == dissectors.Match {
				return dissectors.ProbeResult{Verdict: dissectors.Match, Client: i}
			}
			vd = dissectors.NoMatch
		}
		verdict[i] = vd
	}
	// No request seen: accept a lone confirm from one side of a half-duplex capture.
	for i := 0; i < 2; i++ {
		if len(in.Data[1-i]) != 0 || !in.Done[1-i] {
			continue
		}
		if v, vd := x224(in.Data[i], tpduConnectionConfirm); vd == dissectors.Match && classifyConfirm(v) == dissectors.Match {
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: 1 - i}
		}
	}
	if verdict[0] == dissectors.NoMatch && verdict[1] == dissectors.NoMatch || in.Done[0] && in.Done[1] {
		// Neither sent a request. One side might still hold a lone confirm; that
		// case was handled above.
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	if verdict[0] == dissectors.NoMatch && in.Done[1] || verdict[1] == dissectors.NoMatch && in.Done[0] {
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
}

// NewSession implements dissectors.Dissector.
func (Dissector) NewSession(ctx *dissectors.Context) dissectors.Session {
	if ctx.Transport == "udp" {
		return &udpSession{}
	}
	s := newSession(ctx.Record)
	s.ctx = ctx
	return s
}

// UDP implements dissectors.DatagramDissector: RDP over UDP (MS-RDPEUDP).
func (Dissector) UDP() bool { return true }

// probeUDP matches a SYN datagram from one endpoint (who is then the client);
// the other endpoint's first datagram, when there is one, must be the
// SYN+ACK that acknowledges it. Port 3389 plays no part.
func probeUDP(in *dissectors.ProbeInput) dissectors.ProbeResult {
	for i := 0; i < 2; i++ {
		syn, ok := ParseUDPSyn(in.Data[i], false)
		if !ok {
			continue
		}
		other := in.Data[1-i]
		if len(other) == 0 {
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: i}
		}
		if sa, ok := ParseUDPSyn(other, true); ok && sa.SourceAck == syn.InitialSeq {
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: i}
		}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
}
