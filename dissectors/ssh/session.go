package ssh

import (
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// lineCap bounds what is buffered while looking for an identification line.
const lineCap = maxPreBanner + maxLine

type phase uint8

const (
	phaseBanner    phase = iota // identification line (RFC 4253 §4.2)
	phaseClear                  // binary packets before NEWKEYS (§6, §7)
	phaseEncrypted              // after NEWKEYS: sizes and timing only
	phaseSSH1                   // SSH-1 packets until the key is known
	phaseOpaque                 // nothing more to parse: count only
)

type direction struct {
	phase   phase
	buf     []byte // partial line or packet, capped
	banner  *Banner
	pre     bool // lines came before the banner
	kexinit *KexInit
	newKeys bool // this side sent NEWKEYS
}

// session follows one SSH connection: the identification lines and key
// exchange in clear, then only the sizes and timing of the encrypted
// records, from which the login outcome and the kind of session are inferred.
type session struct {
	rec      *record.Record
	d        [2]direction
	kexAlg   string
	hostKey  *HostKey
	reversed bool // the key exchange reply came from the TCP client
	auth     authInference
	shape    shape
	ev       *events // nil when nobody listens: the encrypted path then does no more than before
}

func newSession(r *record.Record) *session { return &session{rec: r} }

// Feed implements dissectors.Session.
func (s *session) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	d := &s.d[dir]
	for len(data) > 0 {
		switch d.phase {
		case phaseBanner:
			data = s.banner(dir, data, ts)
		case phaseClear:
			data = s.clear(dir, data, ts)
		case phaseSSH1:
			data = s.ssh1(dir, data)
		case phaseEncrypted:
			s.auth.chunk(dir, len(data), ts)
			notable := s.shape.chunk(dir, len(data), ts, s.auth.done())
			if s.ev != nil && s.ev.watch {
				s.progress(notable, ts)
			}
			data = nil
		default:
			s.shape.chunk(dir, len(data), ts, false)
			data = nil
		}
	}
	return dissectors.Continue
}

// take appends data to the direction's buffer up to limit, returning what did
// not fit. The buffer is only used while a line or packet spans segments.
func (d *direction) take(data []byte, limit int) []byte {
	room := limit - len(d.buf)
	if room <= 0 {
		return data
	}
	n := min(room, len(data))
	d.buf = append(d.buf, data[:n]...)
	return data[n:]
}

func (s *session) banner(dir dissectors.Direction, data []byte, ts int64) []byte {
	d := &s.d[dir]
	before := len(d.buf)
	rest := d.take(data, lineCap)
	st, start, end, pre := scanBanner(d.buf, dir == dissectors.FromServer || s.reversed)
	switch st {
	case bannerFound:
		b := ParseBanner(d.buf[start:end])
		if end-start > maxLine {
			s.rec.AddAnomaly("ssh.banner_too_long")
		}
		if !printableLine(d.buf[start:end]) {
			s.rec.AddAnomaly("ssh.bad_banner")
		}
		d.banner, d.pre = &b, pre
		// Bytes after the line belong to the binary packet layer.
		consumed := end - before
		left := data[consumed:]
		d.buf = d.buf[:0]
		d.phase = phaseClear
		other := &s.d[1-dir]
		if s.ev != nil && other.banner != nil && min(b.Version(), other.banner.Version()) == 1 {
			s.ssh1Event(ts)
		}
		switch {
		case b.Version() == 1:
			d.phase = phaseSSH1
			// A "1.99" peer speaks SSH-1 with an SSH-1 client (RFC 4253 §5.1).
			if other.banner != nil && other.banner.Proto == "1.99" && other.phase == phaseClear && other.kexinit == nil {
				other.phase = phaseSSH1
			}
		case b.Proto == "1.99" && other.banner != nil && other.banner.Version() == 1:
			d.phase = phaseSSH1
		}
		return left
	case bannerNotSSH:
		s.rec.AddAnomaly("ssh.bad_banner")
		d.phase, d.buf = phaseOpaque, nil
		return rest
	}
	if len(d.buf) >= lineCap {
		s.rec.AddAnomaly("ssh.banner_too_long")
		d.phase, d.buf = phaseOpaque, nil
	}
	return rest
}

// clear handles binary packets before NEWKEYS.
func (s *session) clear(dir dissectors.Direction, data []byte, ts int64) []byte {
	d := &s.d[dir]
	var src []byte
	if len(d.buf) == 0 {
		src = data // the common case: parse in place
	} else {
		data = d.take(data, maxPacket+5)
		src = d.buf
	}
	for len(src) > 0 {
		p, n, err := cutPacket(src)
		if err != nil {
			s.rec.AddAnomaly("ssh.bad_packet")
			d.phase, d.buf = phaseOpaque, nil
			return nil
		}
		if n == 0 {
			break
		}
		src = src[n:]
		s.message(dir, p, ts)
		if d.newKeys {
			// Everything after NEWKEYS is encrypted, even in this same segment.
			d.phase = phaseEncrypted
			var rest []byte
			if len(d.buf) == 0 {
				rest = src
			} else {
				rest = append(append([]byte(nil), src...), data...)
				data = nil
			}
			d.buf = nil
			if len(rest) > 0 {
				s.auth.chunk(dir, len(rest), ts)
				s.shape.chunk(dir, len(rest), ts, false)
				if s.ev != nil && s.ev.watch {
					s.progress(false, ts)
				}
			}
			return data
		}
	}
	// Keep an incomplete packet for the next segment.
	if len(d.buf) == 0 {
		if len(src) > 0 {
			d.buf = append(d.buf[:0], src...)
		}
		return nil
	}
	d.buf = append(d.buf[:0], src...)
	if len(d.buf) > maxPacket+5 {
		s.rec.AddAnomaly("ssh.bad_packet")
		d.phase, d.buf = phaseOpaque, nil
	}
	return data
}

// message handles one cleartext message.
func (s *session) message(dir dissectors.Direction, p []byte, ts int64) {
	if len(p) == 0 {
		return
	}
	d := &s.d[dir]
	switch p[0] {
	case msgKexInit:
		if d.kexinit != nil {
			return // a second KEXINIT in clear: keep the first
		}
		k, err := ParseKexInit(p)
		if err != nil {
			s.rec.AddAnomaly("ssh.bad_kexinit")
			return
		}
		if k.Capped {
			s.rec.AddAnomaly("ssh.kexinit_too_long")
		}
		d.kexinit = &k
		if c, sv := s.d[0].kexinit, s.d[1].kexinit; c != nil && sv != nil {
			s.kexAlg = Negotiate(c.Lists[listKex], sv.Lists[listKex])
			if s.ev != nil {
				s.weakAlgorithms(ts)
			}
		}
	case msgNewKeys:
		d.newKeys = true
	case msgKexDHReply, msgKexDHGexReply:
		if s.hostKey != nil || s.kexAlg == "" || isGSSKex(s.kexAlg) || p[0] != replyMessage(s.kexAlg) {
			return
		}
		k, err := ParseKexReply(p)
		if err != nil {
			s.rec.AddAnomaly("ssh.bad_kex_reply")
			return
		}
		s.hostKey = &k
		if dir == dissectors.FromClient {
			s.reversed = true // the TCP client acts as SSH server
		}
	}
}

// ssh1 looks for the server's public key in SSH-1, then stops parsing.
func (s *session) ssh1(dir dissectors.Direction, data []byte) []byte {
	d := &s.d[dir]
	rest := d.take(data, maxPacket+16)
	typ, body, n, err := cutPacket1(d.buf)
	if err != nil {
		s.rec.AddAnomaly("ssh.bad_packet")
		d.phase, d.buf = phaseOpaque, nil
		return rest
	}
	if n == 0 {
		if len(d.buf) >= maxPacket+16 {
			d.phase, d.buf = phaseOpaque, nil
		}
		return rest
	}
	if typ == ssh1PublicKey && s.hostKey == nil {
		if k, err := ParsePublicKey1(body); err == nil {
			s.hostKey = &k
		} else {
			s.rec.AddAnomaly("ssh.bad_public_key")
		}
	}
	// The client's next message (SESSION_KEY) turns on encryption; SSH-1 has
	// nothing else in clear that we record.
	d.phase, d.buf = phaseOpaque, nil
	return rest
}

// Gap implements dissectors.Session.
func (s *session) Gap(dir dissectors.Direction, n int, ts int64) {
	d := &s.d[dir]
	switch d.phase {
	case phaseBanner:
		s.rec.AddAnomaly("ssh.gap_before_banner")
	case phaseClear, phaseSSH1:
		s.rec.AddAnomaly("ssh.gap_in_key_exchange")
	case phaseEncrypted:
		s.auth.gap()
	}
	if d.phase != phaseEncrypted {
		d.phase, d.buf = phaseOpaque, nil
	}
}
