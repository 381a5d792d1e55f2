package ssh

import (
	"github.com/psmtap/psmtap/dissectors"
)

func init() { dissectors.Register(Dissector{}) }

// Dissector is the SSH protocol.
type Dissector struct{}

// Name implements dissectors.Dissector.
func (Dissector) Name() string { return "ssh" }

// Ports implements dissectors.Dissector: hints only.
func (Dissector) Ports() []uint16 { return []uint16{22} }

// Probe matches when both sides open with identification lines, or one side
// does and the other is silent (a half-duplex capture). Anything else from
// either side (HTTP to port 22, an HTTP client talking to an SSH server) is
// not an SSH session.
func (Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	var (
		st    [2]bannerState
		pre   [2]bool
		end   [2]int
		empty [2]bool
	)
	for i := 0; i < 2; i++ {
		empty[i] = len(in.Data[i]) == 0
		if empty[i] {
			continue
		}
		allowPre := in.Client != i // the client may not send lines before its banner
		st[i], _, end[i], pre[i] = scanBanner(in.Data[i], allowPre)
	}
	no := dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	if st[0] == bannerNotSSH || st[1] == bannerNotSSH {
		return no
	}
	found := [2]bool{!empty[0] && st[0] == bannerFound, !empty[1] && st[1] == bannerFound}
	switch {
	case found[0] && found[1]:
		if pre[0] && pre[1] {
			return no
		}
		client := dissectors.Unknown
		if pre[0] {
			client = 1
		} else if pre[1] {
			client = 0
		}
		return dissectors.ProbeResult{Verdict: dissectors.Match, Client: client}
	case found[0] && empty[1], found[1] && empty[0]:
		i := 0
		if found[1] {
			i = 1
		}
		// One side only so far: match once that side has moved past its banner
		// (binary packets follow) or the other side is known to stay silent.
		if in.Done[1-i] || len(in.Data[i]) > end[i] {
			client := dissectors.Unknown
			if pre[i] {
				client = 1 - i
			}
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: client}
		}
	}
	for i := 0; i < 2; i++ {
		if !empty[i] && !found[i] && in.Done[i] {
			return no // this side finished without an identification line
		}
	}
	if in.Done[0] && in.Done[1] {
		return no
	}
	return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
}

// NewSession implements dissectors.Dissector.
func (Dissector) NewSession(ctx *dissectors.Context) dissectors.Session {
	s := newSession(ctx.Record)
	if ctx.Listening() {
		s.ev = &events{ctx: ctx, watch: true}
	}
	return s
}
