package ssh

import (
	"slices"
	"strings"
	"time"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// events is what a session needs to publish activity events; a session
// has one only when someone listens (dissectors.Context.Listening).
type events struct {
	ctx   *dissectors.Context
	watch bool // the encrypted records may still settle a login or the kind
	// logins published: live while the session runs, the rest at Close
	logins  int
	success bool      // a successful login was published: nothing more to watch
	buf     []attempt // reused by each look at the login
	kind    string    // the session_kind published, or ""
}

// progress looks at the login and the kind after an encrypted record.
// notable: the record can change the kind (shape.chunk).
func (s *session) progress(notable bool, ts int64) {
	e := s.ev
	if !e.success && !s.auth.lostTrack && s.auth.stage >= 2 {
		s.publishLogins(true, ts)
	}
	if notable && e.kind == "" {
		if k := s.shape.early(); k != "" {
			s.publishKind(k, ts)
		}
	}
	e.watch = !(e.success || s.auth.lostTrack) || e.kind == ""
}

// publishLogins publishes the attempts counted so far that are not out yet.
func (s *session) publishLogins(live bool, now int64) {
	e := s.ev
	list, _, _ := s.auth.attempts(e.buf[:0], live)
	e.buf = list[:0]
	for ; e.logins < len(list); e.logins++ {
		a := list[e.logins]
		outcome, ts := record.OutcomeFailure, a.ts
		if a.success {
			outcome = record.OutcomeSuccess
			e.success = true
		}
		if ts == 0 {
			ts = now
		}
		ev := record.LoginEvent(ts, "", outcome, "", true)
		ev.Login.Attempt = e.logins + 1
		e.ctx.Publish(ev)
	}
}

func (s *session) publishKind(kind string, ts int64) {
	s.ev.kind = kind
	s.ev.ctx.Publish(record.KindEvent(ts, kind, kindReasons[kind]))
}

var kindReasons = map[string]string{
	KindInteractive:  "many small records each way, the client starting after pauses",
	KindExec:         "a few records and done",
	KindFileTransfer: "one-way bulk without pauses",
	KindTunnel:       "bursts of bulk started by the client after silences",
	KindReverse:      "the server side starts the exchanges after silences",
}

// closeEvents publishes at the end what the session did not say yet: the
// login attempts only the end tells, an attempt left unanswered, and the
// kind when none went out or the end says otherwise (with a file event for
// a file transfer).
func (s *session) closeEvents(r *record.Record) {
	e := s.ev
	now := r.End.UnixNano()
	if r.End.IsZero() {
		now = s.shape.last
	}
	if !s.d[0].newKeys || !s.d[1].newKeys {
		return // as closeLogin: no encrypted phase, nothing inferred
	}
	if !e.success {
		s.publishLogins(false, now)
		if !e.success && s.auth.unanswered() {
			ev := record.LoginEvent(now, "", record.OutcomeUnknown, "", true)
			ev.Login.Attempt = e.logins + 1
			e.ctx.Publish(ev)
		}
	}
	if r.Kind != "" && r.Kind != KindUnknown && r.Kind != e.kind {
		ts := s.shape.lastPost
		if ts == 0 || ts > now {
			ts = now
		}
		s.publishKind(r.Kind, ts)
	}
	if r.Kind == KindFileTransfer {
		dir, n := s.shape.bulk()
		typ, direction := "access", record.Download
		if dir == dissectors.FromClient {
			typ, direction = "creation", record.Upload
		}
		ts := s.shape.lastPost
		if ts == 0 || ts > now {
			ts = now
		}
		e.ctx.Publish(record.FileEvent(ts, typ, "", n, direction))
	}
}

// Weak or legacy algorithms (a security event when negotiated): no
// encryption or integrity at all, ciphers with known practical breaks or
// 64-bit blocks, MD5 and truncated SHA-1 MACs, 1024-bit groups and SHA-1
// key exchanges that RFC 9142 says not to use, 1024-bit DSA host keys.
var weak = map[string]bool{
	"none": true,
	// ciphers
	"arcfour": true, "arcfour128": true, "arcfour256": true, "des-cbc": true, "3des-cbc": true, "3des-ctr": true,
	"blowfish-cbc": true, "blowfish-ctr": true, "cast128-cbc": true, "cast128-ctr": true, "idea-cbc": true, "idea-ctr": true,
	// MACs
	"hmac-md5": true, "hmac-md5-96": true, "hmac-md5-etm@openssh.com": true, "hmac-md5-96-etm@openssh.com": true,
	"hmac-sha1-96": true, "hmac-sha1-96-etm@openssh.com": true,
	// key exchanges
	"diffie-hellman-group1-sha1": true, "diffie-hellman-group-exchange-sha1": true, "rsa1024-sha1": true,
	// host keys
	"ssh-dss": true,
}

// Weak says whether an algorithm name is on the weak list above (psmtap
// report checks negotiated algorithms of session records with it).
func Weak(alg string) bool { return weak[alg] }

// AEAD says whether a cipher brings its own integrity (its MAC is unused).
func AEAD(cipher string) bool { return aead(cipher) }

// aead ciphers bring their own integrity: the negotiated MAC is not used.
func aead(cipher string) bool {
	return cipher == "chacha20-poly1305@openssh.com" || strings.HasSuffix(cipher, "-gcm@openssh.com")
}

// weakAlgorithms runs when both KEXINITs are in: it publishes a security
// event when what they negotiate is on the weak list.
func (s *session) weakAlgorithms(ts int64) {
	c, sv := s.d[0].kexinit, s.d[1].kexinit
	if s.reversed {
		c, sv = sv, c
	}
	var found []string
	obj := map[string]string{}
	check := func(field, label string, client, server string) string {
		alg := Negotiate(client, server)
		if alg != "" && weak[alg] {
			found = append(found, label+" "+alg)
			obj[field] = alg
		}
		return alg
	}
	check("kex_alg", "kex", c.Lists[listKex], sv.Lists[listKex])
	check("host_key_alg", "host key", c.Lists[listHostKey], sv.Lists[listHostKey])
	for _, d := range [][2]int{{listEncCS, listMacCS}, {listEncSC, listMacSC}} {
		enc := check("cipher_alg", "cipher", c.Lists[d[0]], sv.Lists[d[0]])
		if !aead(enc) {
			check("mac_alg", "mac", c.Lists[d[1]], sv.Lists[d[1]])
		}
	}
	if len(found) == 0 {
		return
	}
	found = dedup(found)
	ev := &record.Event{Time: time.Unix(0, ts), Action: record.ActionSecurity, Category: []string{"network"},
		Type: []string{"info"}, Reason: "weak SSH algorithms negotiated: " + strings.Join(found, ", "),
		Objects: map[string]any{"ssh": obj}}
	s.ev.ctx.Publish(ev)
}

func dedup(l []string) []string {
	var out []string
	for _, x := range l {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// ssh1Event: the two identification lines settle on SSH protocol 1.
func (s *session) ssh1Event(ts int64) {
	s.ev.ctx.Publish(&record.Event{Time: time.Unix(0, ts), Action: record.ActionSecurity, Category: []string{"network"},
		Type: []string{"info"}, Reason: "SSH protocol version 1 (broken; no integrity protection)",
		Objects: map[string]any{"ssh": map[string]int{"version": 1}}})
}
