package ssh

import (
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// Fields is the "ssh" object of the record (SCHEMA.md, SSH).
type Fields struct {
	Version        int      `json:"version,omitempty"`
	Client         *Side    `json:"client,omitempty"`
	Server         *Side    `json:"server,omitempty"`
	KexAlg         string   `json:"kex_alg,omitempty"`
	HostKeyAlg     string   `json:"host_key_alg,omitempty"`
	CipherAlg      string   `json:"cipher_alg,omitempty"`
	MacAlg         string   `json:"mac_alg,omitempty"`
	CompressionAlg string   `json:"compression_alg,omitempty"`
	HostKey        *HostKey `json:"host_key,omitempty"`
}

// Side is one endpoint's identification and algorithm offer.
type Side struct {
	Banner       string `json:"banner,omitempty"`
	Software     string `json:"software,omitempty"`
	Comments     string `json:"comments,omitempty"`
	HASSH        string `json:"hassh,omitempty"`
	HASSHString  string `json:"hassh_string,omitempty"`
	KexAlgs      string `json:"kex_algs,omitempty"`
	HostKeyAlgs  string `json:"host_key_algs,omitempty"`
	CipherAlgs   string `json:"cipher_algs,omitempty"`
	MacAlgs      string `json:"mac_algs,omitempty"`
	CompressAlgs string `json:"compression_algs,omitempty"`
}

// AddFacts implements record.FactSource: HASSH of both sides and the host
// key's fingerprints.
func (f *Fields) AddFacts(r *record.Facts) {
	for _, side := range []*Side{f.Client, f.Server} {
		if side != nil {
			r.Hashes = append(r.Hashes, side.HASSH)
		}
	}
	if k := f.HostKey; k != nil {
		r.Hashes = append(r.Hashes, k.FingerprintSHA256, k.FingerprintMD5)
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
	if f.HostKey != nil {
		s += " " + f.HostKey.Type
	}
	return s
}

// Close implements dissectors.Session: everything learned goes into r, and
// the events only the end can tell go out.
func (s *session) Close(r *record.Record) {
	s.fill(r, false)
	if s.ev != nil {
		s.closeEvents(r)
	}
}

// Snapshot implements dissectors.Snapshotter: what is known so far. fill
// reads the session and writes only r.
func (s *session) Snapshot(r *record.Record) { s.fill(r, true) }

// fill writes the record; open: the session goes on (a snapshot).
func (s *session) fill(r *record.Record, open bool) {
	f := &Fields{}
	client, server := dissectors.FromClient, dissectors.FromServer
	for _, dir := range []dissectors.Direction{client, server} {
		d := &s.d[dir]
		if d.banner == nil && d.kexinit == nil {
			continue
		}
		side := &Side{}
		if b := d.banner; b != nil {
			side.Banner, side.Software, side.Comments = b.Line, b.Software, b.Comments
			if v := b.Version(); v != 0 && (f.Version == 0 || v < f.Version) {
				f.Version = v // the lower of the two (RFC 4253 §5)
			}
		}
		if k := d.kexinit; k != nil {
			fp := k.AsClient
			// By SSH role, not TCP role: in a reversed connection the TCP client is the SSH server.
			if (dir == server) != s.reversed {
				fp = k.AsServer
			}
			side.HASSH, side.HASSHString = fp.Hash, fp.Input
			side.KexAlgs, side.HostKeyAlgs = k.Lists[listKex], k.Lists[listHostKey]
			side.CipherAlgs, side.MacAlgs, side.CompressAlgs = k.Lists[listEncCS], k.Lists[listMacCS], k.Lists[listCompCS]
			if (dir == server) != s.reversed {
				side.CipherAlgs, side.MacAlgs, side.CompressAlgs = k.Lists[listEncSC], k.Lists[listMacSC], k.Lists[listCompSC]
			}
		}
		if dir == client {
			f.Client = side
		} else {
			f.Server = side
		}
	}
	if c, sv := s.d[client].kexinit, s.d[server].kexinit; c != nil && sv != nil {
		if s.reversed {
			c, sv = sv, c
		}
		// RFC 4253 §7.1: the client's first choice that the server offers.
		f.KexAlg = Negotiate(c.Lists[listKex], sv.Lists[listKex])
		f.HostKeyAlg = Negotiate(c.Lists[listHostKey], sv.Lists[listHostKey])
		f.CipherAlg = Negotiate(c.Lists[listEncCS], sv.Lists[listEncCS])
		f.MacAlg = Negotiate(c.Lists[listMacCS], sv.Lists[listMacCS])
		f.CompressionAlg = Negotiate(c.Lists[listCompCS], sv.Lists[listCompCS])
	}
	f.HostKey = s.hostKey
	if s.reversed {
		r.AddAnomaly("ssh.roles_reversed")
	}
	if f.Client != nil || f.Server != nil {
		r.Set("ssh", f)
	}
	if s.d[client].banner == nil || s.d[server].banner == nil {
		r.AddAnomaly("ssh.one_side_only")
	}
	s.closeLogin(r, open)
}

// closeLogin writes the inferred login outcome and the session kind.
func (s *session) closeLogin(r *record.Record, open bool) {
	if !s.d[0].newKeys || !s.d[1].newKeys {
		return // no encrypted phase seen (SSH-1, cut short, one side only)
	}
	known, ok, attempts := s.auth.result()
	if known && !ok && (r.State == record.StateCaptureEnd || r.State == record.StatePartial || open) {
		// Failures were seen, but the capture stopped before the client gave
		// up or tried again (or, in a snapshot, the session goes on): the
		// outcome is open.
		known = false
	}
	if known || attempts > 0 {
		r.Login = &record.Login{Attempts: attempts, Inferred: true}
		if known {
			r.Login.Success = &ok
		}
	}
	switch {
	case known && !ok:
		r.Kind = "" // no session ran
	case known && ok:
		r.Kind = s.shape.kind(s.auth.done())
	default:
		r.Kind = s.shape.kind(false)
	}
}
