package vnc

import (
	"fmt"
	"slices"
	"strings"

	"github.com/psmtap/psmtap/internal/record"
)

// Fields is the "vnc" object of the record (docs/fields.md, VNC).
type Fields struct {
	Version     *Versions    `json:"version,omitempty"`
	Security    *Security    `json:"security,omitempty"`
	Auth        *Auth        `json:"auth,omitempty"`
	Shared      *bool        `json:"shared,omitempty"`
	Desktop     *Desktop     `json:"desktop,omitempty"`
	PixelFormat *PixelFormat `json:"pixel_format,omitempty"`
	Encodings   []string     `json:"encodings,omitempty"`
	Keys        *Keys        `json:"keys,omitempty"`
	Pointer     *Pointer     `json:"pointer,omitempty"`
	Clipboard   *Clipboard   `json:"clipboard,omitempty"`
	Updates     int          `json:"updates,omitempty"`
	Rectangles  int          `json:"rectangles,omitempty"`
	Bells       int          `json:"bells,omitempty"`
	XVP         []string     `json:"xvp,omitempty"`
	Stopped     string       `json:"stopped,omitempty"`
}

// Versions are the ProtocolVersion each side sent ("3.8", "3.889", "4.1").
type Versions struct {
	Server string `json:"server,omitempty"`
	Client string `json:"client,omitempty"`
}

// Security is the security negotiation.
type Security struct {
	Offered         []string `json:"offered,omitempty"`
	Chosen          string   `json:"chosen,omitempty"`
	Subtypes        []string `json:"subtypes,omitempty"` // VeNCrypt subtypes or Tight authentication capabilities offered
	Subtype         string   `json:"subtype,omitempty"`
	Tunnels         []string `json:"tunnels,omitempty"` // Tight tunnel capabilities
	VeNCryptVersion string   `json:"vencrypt_version,omitempty"`
}

// Auth is the authentication's outcome.
type Auth struct {
	Method  string `json:"method,omitempty"`
	Outcome string `json:"outcome,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Desktop is what ServerInit said, with the size at the end when it changed.
type Desktop struct {
	Name    string `json:"name,omitempty"`
	Width   int    `json:"width,omitempty"`
	Height  int    `json:"height,omitempty"`
	Resizes int    `json:"resizes,omitempty"`
}

// PixelFormat is the server's format and the one the client asked for.
type PixelFormat struct {
	Server string `json:"server,omitempty"`
	Client string `json:"client,omitempty"`
}

// Keys sums up the keyboard.
type Keys struct {
	Count     int    `json:"count"`
	Text      string `json:"text,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
}

// Pointer sums up the mouse.
type Pointer struct {
	Events    int      `json:"events"`
	Clicks    int      `json:"clicks"`
	Buttons   []string `json:"buttons,omitempty"`
	Positions []string `json:"positions,omitempty"`
	Wheel     int      `json:"wheel,omitempty"`
}

// Clipboard counts the clipboard transfers each way.
type Clipboard struct {
	ToServer      int `json:"to_server,omitempty"`
	ToClient      int `json:"to_client,omitempty"`
	BytesToServer int `json:"bytes_to_server,omitempty"`
	BytesToClient int `json:"bytes_to_client,omitempty"`
}

// Summary is a short human description for the table output.
func (f *Fields) Summary() string {
	var p []string
	if f.Security != nil && f.Security.Chosen != "" {
		sec := f.Security.Chosen
		if f.Security.Subtype != "" {
			sec += "/" + f.Security.Subtype
		}
		p = append(p, sec)
	}
	if f.Auth != nil && f.Auth.Outcome != "" {
		p = append(p, "auth "+f.Auth.Outcome)
	}
	if d := f.Desktop; d != nil && d.Width > 0 {
		p = append(p, fmt.Sprintf("%dx%d", d.Width, d.Height))
	}
	if f.Keys != nil {
		p = append(p, fmt.Sprintf("%d keys", f.Keys.Count))
	}
	if f.Pointer != nil && f.Pointer.Clicks > 0 {
		p = append(p, fmt.Sprintf("%d clicks", f.Pointer.Clicks))
	}
	return strings.Join(p, " ")
}

// Close implements dissectors.Session.
func (s *session) Close(r *record.Record) {
	if s.login.started && !s.login.published {
		s.publishLogin() // outcome unknown: the session ended, or TLS hid it
	}
	if s.st[1] == stMessages && s.inRect && len(s.pend[1]) > 0 {
		// A rectangle waiting for its length to be asked again: ask now.
		s.retryAt = 0
		s.in[0], s.in[1] = nil, s.pend[1]
		s.run()
		s.in[1] = nil
	}
	if s.scr != nil && s.fbOpen {
		s.scr.send(job{kind: jobFrame, ts: s.now}) // the last update, cut short
	}
	s.scr.save(r)
	if s.tls != nil {
		for _, a := range s.tls.Anomalies() {
			r.AddAnomaly(a)
		}
		if tf, anomalies := s.tls.Fields(); tf != nil {
			r.Set("tls", tf)
			for _, a := range anomalies {
				r.AddAnomaly(a)
			}
		}
	}
	s.fill(r)
}

// Snapshot implements dissectors.Snapshotter.
func (s *session) Snapshot(r *record.Record) { s.fill(r) }

// fill writes the record from copies: the session goes on after a Snapshot.
func (s *session) fill(r *record.Record) {
	if s.user != "" {
		r.UserName = s.user
	}
	if s.creds {
		yes := true
		r.CleartextCredentials = &yes
	}
	if s.login.started {
		l := &record.Login{Attempts: 1}
		switch s.login.outcome {
		case record.OutcomeSuccess:
			ok := true
			l.Success = &ok
		case record.OutcomeFailure:
			ok := false
			l.Success = &ok
		}
		r.Login = l
	}
	if len(s.commands) > 0 {
		r.Commands = s.commandLines()
	}
	if s.login.outcome == record.OutcomeSuccess && (s.typ.presses > 0 || s.clicks > 0) {
		r.Kind = "interactive"
	}
	f := &Fields{Stopped: s.stopped, Encodings: slices.Clone(s.encs), Updates: s.updates,
		Rectangles: s.rects, Bells: s.bells, XVP: slices.Clone(s.xvp), Shared: s.shared}
	if s.haveSV || s.haveCV {
		f.Version = &Versions{}
		if s.haveSV {
			f.Version.Server = s.sv.String()
		}
		if s.haveCV {
			f.Version.Client = s.cv.String()
		}
	}
	if sec := s.security(); sec.Chosen != "" || len(sec.Offered) > 0 {
		f.Security = sec
	}
	if s.login.started {
		f.Auth = &Auth{Method: s.login.method, Outcome: s.login.outcome, Reason: s.login.reason}
		if f.Auth.Outcome == "" {
			f.Auth.Outcome = record.OutcomeUnknown
		}
	}
	if s.si != nil {
		f.Desktop = &Desktop{Name: s.name, Width: s.width, Height: s.height, Resizes: s.resizes}
		f.PixelFormat = &PixelFormat{Server: s.pfSrv, Client: s.pfCli}
	}
	if s.typ.presses > 0 {
		f.Keys = &Keys{Count: s.typ.presses, Text: s.typ.transcript.String(), Truncated: s.typ.transcriptCut}
	}
	if s.pointer > 0 {
		f.Pointer = &Pointer{Events: s.pointer, Clicks: s.clicks, Buttons: buttonNames(s.used),
			Positions: slices.Clone(s.clickPos), Wheel: s.wheel}
	}
	if s.clip[0].n+s.clip[1].n > 0 {
		f.Clipboard = &Clipboard{ToServer: s.clip[0].n, ToClient: s.clip[1].n,
			BytesToServer: s.clip[0].bytes, BytesToClient: s.clip[1].bytes}
	}
	r.Set("vnc", f)
}

// security is the negotiation so far, as fresh values.
func (s *session) security() *Security {
	sec := &Security{VeNCryptVersion: s.veVersion}
	for _, t := range s.offered {
		sec.Offered = append(sec.Offered, SecurityName(t))
	}
	if s.haveChosen {
		sec.Chosen = SecurityName(s.chosen)
	}
	for _, t := range s.veOffered {
		sec.Subtypes = append(sec.Subtypes, VeNCryptName(t))
	}
	if s.haveVe {
		sec.Subtype = VeNCryptName(s.veChosen)
	}
	for _, c := range s.tightTun {
		sec.Tunnels = append(sec.Tunnels, c.Name())
	}
	for _, c := range s.tightAuth {
		sec.Subtypes = append(sec.Subtypes, c.Name())
	}
	if s.chosen == SecTight && s.tightStep >= 2 && len(s.tightAuth) > 0 && s.st[0] != stTightAuths {
		sec.Subtype = tightAuthName(s.tightAuth, s.tightAuCh)
	}
	return sec
}
