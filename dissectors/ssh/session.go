package ssh

import (
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// lineCap bounds what is buffered while looking for an identification line.
const lineCap = maxPreBanner + maxLine

// session reads both identification lines. The key exchange and the
// encrypted phase come with the SSH issue; today the session is Done once
// both banners are known, so the engine stops reassembling the stream.
type session struct {
	rec    *record.Record
	buf    [2][]byte
	banner [2]*Banner
	done   [2]bool
}

func newSession(r *record.Record) *session { return &session{rec: r} }

func (s *session) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	if !s.done[dir] {
		s.buf[dir] = append(s.buf[dir], data...)
		st, start, end, _ := scanBanner(s.buf[dir], dir == dissectors.FromServer)
		switch st {
		case bannerFound:
			b := ParseBanner(s.buf[dir][start:end])
			if end-start > maxLine {
				s.rec.AddAnomaly("ssh.banner_too_long")
			}
			s.banner[dir] = &b
			s.done[dir] = true
			s.buf[dir] = nil
		case bannerNotSSH:
			s.rec.AddAnomaly("ssh.bad_banner")
			s.done[dir] = true
			s.buf[dir] = nil
		default:
			if len(s.buf[dir]) > lineCap {
				s.rec.AddAnomaly("ssh.banner_too_long")
				s.done[dir] = true
				s.buf[dir] = nil
			}
		}
	}
	if s.done[0] && s.done[1] {
		return dissectors.Done
	}
	return dissectors.Continue
}

func (s *session) Gap(dir dissectors.Direction, n int, ts int64) {
	if !s.done[dir] {
		s.rec.AddAnomaly("ssh.gap_before_banner")
		s.done[dir] = true
		s.buf[dir] = nil
	}
}

// Fields is the "ssh" object of the record (SCHEMA.md, SSH).
type Fields struct {
	Version int   `json:"version,omitempty"`
	Client  *Side `json:"client,omitempty"`
	Server  *Side `json:"server,omitempty"`
}

// Side is one endpoint's identification.
type Side struct {
	Banner   string `json:"banner,omitempty"`
	Software string `json:"software,omitempty"`
}

func (s *session) Close(r *record.Record) {
	f := Fields{}
	side := func(b *Banner) *Side {
		if b == nil {
			return nil
		}
		return &Side{Banner: b.Line, Software: b.Software}
	}
	f.Client, f.Server = side(s.banner[0]), side(s.banner[1])
	// The protocol version in use is the lower of the two sides' (RFC 4253 §5).
	for _, b := range s.banner {
		if b == nil {
			continue
		}
		if v := b.Version(); v != 0 && (f.Version == 0 || v < f.Version) {
			f.Version = v
		}
	}
	if f.Client != nil || f.Server != nil {
		r.Set("ssh", &f)
	}
	if s.banner[0] == nil || s.banner[1] == nil {
		r.AddAnomaly("ssh.one_side_only")
	}
}

// Summary is a short human description for the table output.
func (f *Fields) Summary() string {
	s := ""
	if f.Client != nil {
		s = f.Client.Software
	}
	if f.Server != nil {
		s += " -> " + f.Server.Software
	}
	return s
}
