package rdp

import (
	"slices"
	"strings"
	"time"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/dissectors/tls"
	"github.com/psmtap/psmtap/internal/record"
)

type phase uint8

const (
	phaseX224 phase = iota // Connection Request / Confirm (2.2.1.1, 2.2.1.2)
	phaseNext              // after it: TLS (a negotiated security protocol) or MCS Connect (Standard RDP Security)
	phaseTLS               // the TLS handshake, handed to dissectors/tls
	phaseDone              // nothing more to read in clear
)

// session follows one RDP connection over TCP: the X.224 negotiation, then
// either the TLS handshake (TLS, CredSSP/NLA, RDSTLS) or, with Standard RDP
// Security, the MCS Connect Initial / Response with the client's and the
// server's data blocks in clear. Everything after is encrypted.
type session struct {
	rec   *record.Record
	phase [2]phase
	buf   [2][]byte // a TPKT across segments, capped at maxTPKT
	f     Fields
	cc    bool // a Connection Confirm was seen
	tls   *tls.Stream
	certs [][]byte // Standard RDP Security X.509 chain (copied)
	ctx   *dissectors.Context
	now   int64 // packet time of the bytes being parsed
}

func newSession(r *record.Record) *session { return &session{rec: r} }

// Feed implements dissectors.Session.
func (s *session) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	s.now = ts
	for len(data) > 0 {
		switch s.phase[dir] {
		case phaseTLS:
			s.tls.Feed(int(dir), data)
			if s.tls.Done() {
				s.phase[0], s.phase[1] = phaseDone, phaseDone
			}
			data = nil
		case phaseDone:
			data = nil
		default:
			data = s.tpkt(dir, data)
		}
	}
	if s.phase[0] == phaseDone && s.phase[1] == phaseDone {
		return dissectors.Done
	}
	return dissectors.Continue
}

// tpkt frames TPKTs and hands each whole one to pdu; it returns bytes that
// belong to the next phase (TLS after the negotiation).
func (s *session) tpkt(dir dissectors.Direction, data []byte) []byte {
	for len(data) > 0 && (s.phase[dir] == phaseX224 || s.phase[dir] == phaseNext) {
		if len(s.buf[dir]) == 0 {
			if s.phase[dir] == phaseNext && data[0] != 3 {
				return s.afterNegotiation(dir, data)
			}
			p, n, err := CutTPKT(data)
			if err != nil {
				s.malformed(dir, "rdp.bad_tpkt")
				return nil
			}
			if n > 0 {
				s.pdu(dir, p)
				data = data[n:]
				continue
			}
		}
		// A TPKT across segments.
		need := 4
		if len(s.buf[dir]) >= 4 {
			need = int(s.buf[dir][2])<<8 | int(s.buf[dir][3])
		}
		take := min(max(need-len(s.buf[dir]), 0), len(data))
		s.buf[dir] = append(s.buf[dir], data[:take]...)
		data = data[take:]
		p, n, err := CutTPKT(s.buf[dir])
		if err != nil {
			s.malformed(dir, "rdp.bad_tpkt")
			return nil
		}
		if n > 0 {
			s.pdu(dir, p)
			s.buf[dir] = s.buf[dir][:0]
		}
	}
	return data
}

// afterNegotiation: the first non-TPKT bytes after the X.224 exchange.
func (s *session) afterNegotiation(dir dissectors.Direction, data []byte) []byte {
	// A TLS handshake record (0x16 0x03 ...); decided on what has arrived, which may be one byte.
	if data[0] == 0x16 && (len(data) < 2 || data[1] == 3) || s.tls != nil {
		if s.tls == nil {
			s.tls = &tls.Stream{}
		}
		s.phase[dir] = phaseTLS
		if s.f.SelectedProtocol == "" || s.f.SelectedProtocol == "rdp" {
			s.rec.AddAnomaly("rdp.unexpected_tls")
		}
		return data
	}
	// Fast-path or encrypted PDUs: nothing more in clear from this side.
	s.phase[dir] = phaseDone
	return nil
}

func (s *session) malformed(dir dissectors.Direction, anomaly string) {
	s.rec.AddAnomaly(anomaly)
	s.phase[dir], s.buf[dir] = phaseDone, nil
}

// pdu handles one whole TPKT.
func (s *session) pdu(dir dissectors.Direction, p []byte) {
	if s.phase[dir] == phaseX224 {
		s.phase[dir] = phaseNext
		if dir == dissectors.FromClient {
			s.request(p)
		} else {
			s.confirm(p)
		}
		return
	}
	// phaseNext: MCS Connect over X.224 Data (Standard RDP Security, 2.2.1.3 / 2.2.1.4).
	d, ok := X224Data(p)
	if !ok {
		s.malformed(dir, "rdp.bad_x224")
		return
	}
	s.phase[dir] = phaseDone // one MCS Connect PDU per side; what follows is of no interest or encrypted
	if dir == dissectors.FromClient {
		s.connectInitial(d)
	} else {
		s.connectResponse(d)
	}
}

func (s *session) request(p []byte) {
	cr, err := ParseConnectionRequest(p)
	if err != nil {
		s.rec.AddAnomaly("rdp.bad_connection_request")
	}
	if cr == nil {
		return
	}
	s.f.Cookie, s.f.RoutingToken = cr.Cookie, cr.RoutingToken
	if cr.HasNegReq {
		s.f.RequestedProtocols = ProtocolList(cr.Requested)
		s.f.RequestFlags = flagNames(uint32(cr.NegFlags), negReqFlags)
	}
	if cr.Correlation != nil {
		s.f.CorrelationID = guid(cr.Correlation)
	}
}

func (s *session) confirm(p []byte) {
	cc, err := ParseConnectionConfirm(p)
	if err != nil {
		s.rec.AddAnomaly("rdp.bad_connection_confirm")
	}
	if cc == nil {
		return
	}
	s.cc = true
	switch {
	case cc.Failure:
		s.f.Result = FailureName(cc.FailureCode)
		s.phase[0], s.phase[1] = phaseDone, phaseDone
	case cc.HasNeg:
		s.f.SelectedProtocol = ProtocolName(cc.Selected)
		s.f.ResponseFlags = flagNames(uint32(cc.Flags), negRspFlags)
	default:
		s.f.SelectedProtocol = "rdp" // no negotiation: Standard RDP Security (2.2.1.2)
	}
	if s.ctx.Listening() {
		s.ctx.Publish(s.securityEvent())
	}
}

// securityEvent says how the negotiation settled: the security protocol the
// server selected (Standard RDP Security: RC4 and a server key the client
// cannot verify, no NLA), or why it failed.
func (s *session) securityEvent() *record.Event {
	f := &s.f
	obj := map[string]any{}
	if len(f.RequestedProtocols) > 0 {
		obj["requested_protocols"] = f.RequestedProtocols
	}
	ev := &record.Event{Time: time.Unix(0, s.now), Action: record.ActionSecurity, Category: []string{"network"},
		Type: []string{"info"}, Outcome: record.OutcomeSuccess, Objects: map[string]any{"rdp": obj}}
	if f.SelectedProtocol == "" {
		ev.Outcome = record.OutcomeFailure
		ev.Reason = "RDP security negotiation failed: " + f.Result
		obj["result"] = f.Result
		return ev
	}
	obj["selected_protocol"] = f.SelectedProtocol
	std := f.SelectedProtocol == "rdp"
	obj["standard_security"] = std
	switch {
	case std && len(f.RequestedProtocols) > 0 && !slices.Equal(f.RequestedProtocols, []string{"rdp"}):
		ev.Reason = "Standard RDP Security selected, though the client offered " + strings.Join(f.RequestedProtocols, ", ")
	case std:
		ev.Reason = "Standard RDP Security selected"
	default:
		ev.Reason = "security protocol " + f.SelectedProtocol + " selected"
	}
	return ev
}

func (s *session) connectInitial(d []byte) {
	ud, err := ParseConnectInitial(d)
	if err == nil {
		ud, err = GCCUserData(ud, "Duca")
	}
	if err != nil {
		s.rec.AddAnomaly("rdp.bad_mcs_connect_initial")
		return
	}
	blocks, err := Blocks(ud)
	if err != nil {
		s.rec.AddAnomaly("rdp.bad_client_data")
	}
	c := &Client{}
	for _, b := range blocks {
		if err := c.block(b, &s.f); err != nil {
			s.rec.AddAnomaly("rdp.bad_client_data")
		}
	}
	s.f.Client = c
}

func (s *session) connectResponse(d []byte) {
	result, ud, err := ParseConnectResponse(d)
	if err == nil {
		ud, err = GCCUserData(ud, "McDn")
	}
	if err != nil {
		s.rec.AddAnomaly("rdp.bad_mcs_connect_response")
		return
	}
	if result != 0 {
		s.f.Result = "mcs_" + MCSResultName(result)
	}
	blocks, err := Blocks(ud)
	if err != nil {
		s.rec.AddAnomaly("rdp.bad_server_data")
	}
	for _, b := range blocks {
		if b.Type != scSecurity {
			continue
		}
		sec, err := ParseServerSecurity(b.Data)
		if err != nil {
			s.rec.AddAnomaly("rdp.bad_server_certificate")
		}
		if sec == nil {
			continue
		}
		s.f.EncryptionMethod = EncryptionMethodName(sec.EncryptionMethod)
		s.f.EncryptionLevel = EncryptionLevelName(sec.EncryptionLevel)
		if sec.CertType != "" {
			perm := sec.CertPermanent
			s.f.Certificate = &Certificate{Type: sec.CertType, Count: sec.CertCount, Permanent: &perm}
		}
		for _, c := range sec.Certs {
			s.certs = append(s.certs, append([]byte(nil), c...))
		}
	}
}

// Gap implements dissectors.Session: that side's framing is lost.
func (s *session) Gap(dir dissectors.Direction, n int, ts int64) {
	if s.phase[dir] == phaseTLS {
		s.tls.Gap(int(dir))
		return
	}
	if s.phase[dir] != phaseDone {
		s.rec.AddAnomaly("rdp.gap")
	}
	s.phase[dir], s.buf[dir] = phaseDone, nil
}
