package proxy

import (
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

func init() { dissectors.Register(Dissector{}) }

// Dissector is the proxy handshakes; it implements dissectors.Tunnel.
type Dissector struct{}

// Name implements dissectors.Dissector (--disable proxy turns unwrapping off).
func (Dissector) Name() string { return "proxy" }

// Ports implements dissectors.Dissector: the usual SOCKS and HTTP proxy
// ports, hints only.
func (Dissector) Ports() []uint16 { return []uint16{1080, 3128, 8080} }

// handshake is both sides' parse.
type handshake struct {
	req    Request
	rep    Reply
	client int
}

// look parses what each endpoint sent: verdict Match when an accepted
// handshake is complete.
func look(in *dissectors.ProbeInput) (handshake, dissectors.Verdict) {
	var h handshake
	var none [2]bool
	for i := 0; i < 2; i++ {
		if in.Client != dissectors.Unknown && in.Client != i || len(in.Data[i]) == 0 && len(in.Data[1-i]) > 0 {
			none[i] = true
			continue // only the client opens with a request: a proxy never speaks first
		}
		// A first pass without the proxy's method choice says which type
		// this is; SOCKS 5 is parsed again with the method once known.
		req, st := ParseClient(in.Data[i], -1)
		switch st {
		case invalid:
			none[i] = true
			continue
		case needMore:
			if in.Done[i] || len(in.Data[i]) == 0 && in.Done[1-i] {
				none[i] = true
				continue
			}
			if req.Type == "" {
				req.Type = guessType(in.Data[i])
			}
			if req.Type == "" {
				continue // nothing yet from this side
			}
		}
		h.client = i
		rep, rst := ParseReply(in.Data[1-i], req.Type)
		if req.Type == TypeSOCKS5 && rep.Method >= 0 {
			req, st = ParseClient(in.Data[i], rep.Method)
			if st == invalid {
				none[i] = true
				continue
			}
		}
		switch {
		case rst == invalid || rst == complete && !rep.OK:
			none[i] = true // not a proxy's answer, or refused: no session inside
		case st == complete && rst == complete:
			h.req, h.rep = req, rep
			return h, dissectors.Match
		case in.Done[1-i] && rst == needMore || in.Done[i] && st == needMore:
			none[i] = true
		default:
			return h, dissectors.NeedMore
		}
	}
	if none[0] && none[1] {
		return h, dissectors.NoMatch
	}
	return h, dissectors.NeedMore
}

// guessType names the request type from its first bytes, "" when empty.
func guessType(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	switch b[0] {
	case 4:
		return TypeSOCKS4
	case 5:
		return TypeSOCKS5
	}
	return TypeHTTP
}

// Probe implements dissectors.Dissector: Match when a client's request and
// the proxy's acceptance are complete.
func (Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	h, v := look(in)
	if v == dissectors.Match {
		return dissectors.ProbeResult{Verdict: v, Client: h.client}
	}
	return dissectors.ProbeResult{Verdict: v}
}

// Unwrap implements dissectors.Tunnel.
func (Dissector) Unwrap(in *dissectors.ProbeInput) dissectors.Unwrapped {
	h, v := look(in)
	if v != dissectors.Match {
		return dissectors.Unwrapped{Client: dissectors.Unknown}
	}
	var u dissectors.Unwrapped
	u.Client = h.client
	u.Consumed[h.client] = h.req.Len
	u.Consumed[1-h.client] = h.rep.Len
	u.TargetPort = h.req.Port
	u.Proxy = record.Proxy{Type: h.req.Type, Target: h.req.Target(), User: h.req.User}
	return u
}

// NewSession implements dissectors.Dissector; the engine never calls it for
// a Tunnel (the session inside gets the flow).
func (Dissector) NewSession(*dissectors.Context) dissectors.Session { return dissectors.CountOnly{} }
