package tls

import (
	"encoding/binary"
)

// Side of a TLS connection.
const (
	SideClient = 0
	SideServer = 1
)

// half is one direction: TLS records are cut from the byte stream, handshake
// fragments are joined into messages (a record may hold several messages, a
// message may span several records).
type half struct {
	rec  []byte // partial record (header included), capped at maxRecord+5
	hs   []byte // partial handshake message, capped at maxHandshake+4
	done bool   // nothing more to read in clear from this side
}

// Stream follows one TLS connection's handshake in clear. Feed it each
// direction's bytes in order; it reports when the handshake facts are known.
type Stream struct {
	h         [2]half
	Hello     *ClientHello
	Server    *ServerHello
	Certs     [][]byte // server certificate chain (DER, copied), TLS 1.2 and older
	anomalies []string
	seenCCS   [2]bool
	fatal     bool // a fatal alert was seen in clear
}

// Anomalies returns the anomaly names seen so far (e.g. "tls.bad_record").
func (s *Stream) Anomalies() []string { return s.anomalies }

func (s *Stream) anomaly(name string) {
	for _, a := range s.anomalies {
		if a == name {
			return
		}
	}
	s.anomalies = append(s.anomalies, name)
}

// Done reports whether nothing more is to be learned from either side.
func (s *Stream) Done() bool { return s.h[SideClient].done && s.h[SideServer].done }

// Gap tells the stream that bytes of side were lost: that side's framing is gone.
func (s *Stream) Gap(side int) {
	h := &s.h[side&1]
	if !h.done {
		s.anomaly("tls.gap")
	}
	h.done, h.rec, h.hs = true, nil, nil
}

// Feed gives the next bytes side sent. It returns true when the stream is Done.
func (s *Stream) Feed(side int, data []byte) bool {
	side &= 1
	h := &s.h[side]
	for len(data) > 0 && !h.done {
		if len(h.rec) == 0 {
			// Whole records straight from data, without copying.
			hd, ok, err := ParseRecordHeader(data)
			if err != nil {
				s.anomaly("tls.bad_record")
				h.done = true
				break
			}
			if ok && len(data) >= 5+hd.Length {
				s.record(side, hd, data[5:5+hd.Length])
				data = data[5+hd.Length:]
				continue
			}
		}
		// A record across segments: buffer it.
		need := 5
		if len(h.rec) >= 5 {
			need += int(binary.BigEndian.Uint16(h.rec[3:5]))
		}
		n := min(need-len(h.rec), len(data))
		h.rec = append(h.rec, data[:n]...)
		data = data[n:]
		if len(h.rec) < 5 {
			continue
		}
		hd, _, err := ParseRecordHeader(h.rec)
		if err != nil {
			s.anomaly("tls.bad_record")
			h.done, h.rec = true, nil
			break
		}
		if len(h.rec) == 5+hd.Length { // complete (also an empty record)
			s.record(side, hd, h.rec[5:])
			h.rec = h.rec[:0]
		}
	}
	if h.done {
		h.rec, h.hs = nil, nil
	}
	return s.Done()
}

func (s *Stream) record(side int, hd RecordHeader, body []byte) {
	h := &s.h[side]
	switch hd.Type {
	case recHandshake:
		// Encrypted Finished and beyond; but a server's TLS 1.3 compatibility
		// ChangeCipherSpec after a HelloRetryRequest comes before its real
		// ServerHello, which is still in clear.
		if s.seenCCS[side] && (side == SideClient || s.Server != nil) {
			h.done = true
			return
		}
		s.handshake(side, body)
	case recChangeCipherSpec:
		s.seenCCS[side] = true
		if s.Server != nil && s.Server.ChosenVersion() != 0x0304 {
			h.done = true // TLS 1.2: everything after is encrypted
		}
	case recApplicationData:
		h.done = true
	case recAlert:
		if len(body) == 2 && body[0] == 2 {
			s.fatal = true
			s.anomaly("tls.fatal_alert")
		}
	}
}

// handshake joins fragments into messages and reads each whole one.
func (s *Stream) handshake(side int, frag []byte) {
	h := &s.h[side]
	for len(frag) > 0 && !h.done {
		if len(h.hs) == 0 && len(frag) >= 4 {
			n := int(frag[1])<<16 | int(frag[2])<<8 | int(frag[3])
			if len(frag) >= 4+n {
				s.message(side, frag[0], frag[4:4+n])
				frag = frag[4+n:]
				continue
			}
		}
		need := 4
		if len(h.hs) >= 4 {
			need += int(h.hs[1])<<16 | int(h.hs[2])<<8 | int(h.hs[3])
		}
		if need > maxHandshake+4 {
			s.anomaly("tls.message_too_long")
			h.done, h.hs = true, nil
			return
		}
		n := min(need-len(h.hs), len(frag))
		h.hs = append(h.hs, frag[:n]...)
		frag = frag[n:]
		if len(h.hs) >= 4 {
			m := int(h.hs[1])<<16 | int(h.hs[2])<<8 | int(h.hs[3])
			if m > maxHandshake {
				s.anomaly("tls.message_too_long")
				h.done, h.hs = true, nil
				return
			}
			if len(h.hs) == 4+m {
				s.message(side, h.hs[0], h.hs[4:])
				h.hs = h.hs[:0]
			}
		}
	}
}

func (s *Stream) message(side int, typ byte, body []byte) {
	h := &s.h[side]
	switch {
	case side == SideClient && typ == hsClientHello:
		if s.Hello != nil {
			return // the second hello after a HelloRetryRequest: the first one fingerprints the client
		}
		ch, err := ParseClientHello(body)
		if err != nil {
			s.anomaly("tls.bad_client_hello")
		}
		s.Hello = ch
		if s.Hello == nil {
			h.done = true
		}
	case side == SideClient:
		// ClientKeyExchange, client Certificate...: nothing the record wants.
		h.done = s.Hello != nil
	case typ == hsServerHello:
		sh, err := ParseServerHello(body)
		if err != nil {
			s.anomaly("tls.bad_server_hello")
		}
		if sh == nil {
			h.done = true
			return
		}
		if sh.HelloRetryRequest {
			return
		}
		s.Server = sh
		if sh.ChosenVersion() == 0x0304 {
			h.done = true // TLS 1.3: the rest of the server's handshake is encrypted
		}
	case typ == hsCertificate:
		certs, err := ParseCertificateList(body)
		if err != nil {
			s.anomaly("tls.bad_certificate")
		}
		for _, c := range certs {
			s.Certs = append(s.Certs, append([]byte(nil), c...))
		}
	case typ == hsServerHelloDone:
		h.done = true
	}
	if side == SideClient && s.Hello != nil {
		h.done = true // the ClientHello is all the client shows
	}
}
