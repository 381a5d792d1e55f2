package telnet

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/asciicast"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/term"
)

// session decodes one Telnet connection: both NVT streams, option state,
// subnegotiations, and the terminal pipeline (login, commands, screen,
// recording).
type session struct {
	ctx   *dissectors.Context
	dec   [2]Decoder
	side  [2]sideHandler
	term  term.Terminal
	ts    int64
	stop  bool // ENCRYPT or AUTHENTICATION began: content is no longer readable
	opts  options
	f     Fields
	speed string
	// commands: a Telnet command (negotiation included) was seen. A session
	// without any was claimed by port and shape (a mid-stream pickup).
	commands bool
}

type sideHandler struct {
	s   *session
	dir dissectors.Direction
}

// options follows each side's WILL/DO state without taking part in the
// negotiation (RFC 1143's Q method seen from outside): an option is in
// effect for side S when S said WILL and the peer said DO, and stops with
// either side's WONT or DONT. Loops of repeated requests change nothing.
type options struct {
	will [2][256]bool // side offered / agreed to perform
	do   [2][256]bool // side asked / agreed the peer performs
}

func (o *options) negotiate(from dissectors.Direction, cmd, opt byte) {
	switch cmd {
	case WILL:
		o.will[from][opt] = true
	case WONT:
		o.will[from][opt] = false
		o.do[1-from][opt] = false
	case DO:
		o.do[from][opt] = true
	case DONT:
		o.do[from][opt] = false
		o.will[1-from][opt] = false
	}
}

// enabled reports whether side performs opt.
func (o *options) enabled(side dissectors.Direction, opt byte) bool {
	return o.will[side][opt] && o.do[1-side][opt]
}

func newSession(ctx *dissectors.Context) *session {
	s := &session{ctx: ctx}
	s.side[0] = sideHandler{s, dissectors.FromClient}
	s.side[1] = sideHandler{s, dissectors.FromServer}
	if ctx != nil && ctx.Options != nil {
		s.term.Reveal = ctx.Options.RevealCredentials
		if ctx.Options.RecordingsDir != "" {
			s.term.Rec = &asciicast.Writer{}
		}
	}
	if ctx.Listening() {
		s.term.Events = ctx.Publish
	}
	s.term.Live = ctx.TermLive()
	return s
}

// Feed implements dissectors.Session.
func (s *session) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	if s.stop {
		return dissectors.Done
	}
	s.ts = ts
	if s.term.Rec != nil {
		s.term.Rec.Start(ts)
	}
	s.dec[dir].Feed(data, &s.side[dir])
	if s.stop {
		return dissectors.Done
	}
	return dissectors.Continue
}

// Gap implements dissectors.Session: a partial command is dropped, and the
// line being typed is no longer trustworthy.
func (s *session) Gap(dir dissectors.Direction, n int, ts int64) {
	s.dec[dir].Reset()
	if dir == dissectors.FromClient {
		s.term.Edit.Reset()
	}
}

func (h *sideHandler) Data(b []byte) {
	s := h.s
	if s.stop {
		return
	}
	if h.dir == dissectors.FromClient {
		s.term.Client(b, s.ts)
	} else {
		s.term.Server(b, s.ts)
	}
}

func (h *sideHandler) Negotiate(cmd, opt byte) {
	s := h.s
	s.commands = true
	s.opts.negotiate(h.dir, cmd, opt)
}

func (h *sideHandler) Command(byte) { h.s.commands = true }

func (h *sideHandler) Sub(opt byte, p []byte) {
	s := h.s
	s.commands = true
	switch opt {
	case OptTTYPE:
		if t, ok := ParseTerminalType(p); ok && h.dir == dissectors.FromClient {
			s.f.TerminalType = t
		}
	case OptNAWS:
		if cols, rows, ok := ParseNAWS(p); ok && h.dir == dissectors.FromClient {
			if s.f.Window == nil {
				s.f.Window = &Window{}
			}
			if s.f.Window.Cols != cols || s.f.Window.Rows != rows {
				s.f.Resizes++
			}
			s.f.Window.Cols, s.f.Window.Rows = cols, rows
			if s.term.Rec != nil {
				s.term.Rec.Resize(s.ts, cols, rows)
			}
		}
	case OptTSPEED:
		if v, ok := ParseTerminalSpeed(p); ok && h.dir == dissectors.FromClient {
			s.f.TerminalSpeed = v
		}
	case OptNewEnviron, OptEnviron:
		if h.dir == dissectors.FromClient {
			s.f.Environ = ParseEnviron(p, s.f.Environ)
		}
	case OptAuth:
		// IS from the client names the method. Authentication alone does not
		// hide the session: only ENCRYPT START does. It also fails and falls
		// back to a cleartext login (Windows Telnet Server after NTLM in
		// CredSLayer's telnet-raw2.pcap), so decoding goes on.
		if name, ok := ParseAuthIs(p); ok && h.dir == dissectors.FromClient && name != "null" {
			s.f.Authentication = name
		}
	case OptEncrypt:
		// ENCRYPT START (RFC 2946 section 2: IS 0, SUPPORT 1, REPLY 2,
		// START 3): from here that side's stream is ciphertext.
		if len(p) > 0 && p[0] == 3 {
			if !s.f.Encryption && s.ctx.Listening() {
				s.ctx.Publish(&record.Event{Time: time.Unix(0, s.ts), Action: record.ActionSecurity,
					Category: []string{"network"}, Type: []string{"info"},
					Reason:  "telnet encryption started; content no longer visible",
					Objects: map[string]any{"telnet": &Fields{Encryption: true, Authentication: s.f.Authentication}}})
			}
			s.f.Encryption = true
			s.stop = true
		}
	}
}

// Close implements dissectors.Session.
func (s *session) Close(r *record.Record) {
	for dir := range s.dec {
		d := &s.dec[dir]
		if d.SubTooLong {
			r.AddAnomaly("telnet.subnegotiation_too_long")
		}
		if d.BadSub || d.InSub() {
			r.AddAnomaly("telnet.unclosed_subnegotiation")
		}
		if d.BadCommand {
			r.AddAnomaly("telnet.bad_command")
		}
	}
	f := s.fields()
	s.term.Fill(r)
	if s.stop {
		r.AddAnomaly("telnet.encrypted")
	}
	if !s.commands {
		r.AddAnomaly("telnet.detected_by_port_and_shape")
	}
	if s.term.Rec != nil {
		s.term.Rec.Term = strings.ToLower(f.TerminalType)
		if w := f.Window; w != nil && s.term.Rec.Width == 0 {
			s.term.Rec.Width, s.term.Rec.Height = w.Cols, w.Rows
		}
		s.term.SaveRecording(r, s.ctx.Options.RecordingsDir, "telnet")
	}
	if !f.empty() {
		r.Set("telnet", f)
	}
}

// Snapshot implements dissectors.Snapshotter: user, login, commands so far
// and the telnet object, without changing the session.
func (s *session) Snapshot(r *record.Record) {
	s.term.Snapshot(r)
	if s.stop {
		r.AddAnomaly("telnet.encrypted")
	}
	if !s.commands {
		r.AddAnomaly("telnet.detected_by_port_and_shape")
	}
	if f := s.fields(); !f.empty() {
		r.Set("telnet", f)
	}
}

// fields is the telnet object as it stands: the options in effect now and
// the resizes after the first size. A copy: the session keeps its own.
func (s *session) fields() *Fields {
	f := s.f
	f.Options = nil
	for o := 0; o < 256; o++ {
		if s.opts.enabled(0, byte(o)) || s.opts.enabled(1, byte(o)) {
			f.Options = append(f.Options, OptionName(byte(o)))
		}
	}
	sort.Strings(f.Options)
	if f.Resizes <= 1 {
		f.Resizes = 0
	} else {
		f.Resizes-- // the first NAWS is the initial size, not a resize
	}
	if f.Window != nil {
		w := *f.Window
		f.Window = &w
	}
	f.Environ = slices.Clone(f.Environ)
	return &f
}
