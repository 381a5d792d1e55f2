// Package rsh recognises and decodes BSD rsh (the rshd/rcmd protocol,
// rshd(8)): the request, the server's answer, the command's output on the
// connection and on the stderr back-connection, which is tied to the session
// (dissectors.Context.Expect) and gets no record of its own.
//
// The client opens with the decimal port for a stderr back-connection (empty
// or "0" for none), then the client user, the server user and the command,
// each NUL-terminated; the server answers with a zero byte, or 1 and an
// error message. That shape, not port 514, decides; rlogin's opening (whose
// third string is "terminal/speed") is left to rlogin.
package rsh

import (
	"bytes"

	"github.com/psmtap/psmtap/dissectors"
)

func init() { dissectors.Register(Dissector{}) }

const (
	maxUser    = 1024
	maxCommand = 16 << 10
)

// Request is the client's opening.
type Request struct {
	StderrPort string
	ClientUser string
	ServerUser string
	Command    string
}

// ParseRequest parses the client's opening.
func ParseRequest(b []byte) (r Request, complete, ok bool) {
	if len(b) == 0 {
		return r, false, true
	}
	// Port: up to five digits, then NUL.
	i := 0
	for i < len(b) && i < 6 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == len(b) {
		return r, false, i < 6
	}
	if b[i] != 0 || i > 5 {
		return r, false, false
	}
	port := b[:i]
	var buf [3][]byte
	f, complete, ok := dissectors.NULFields(b[i+1:], 2, maxUser, buf[:0])
	if !ok {
		return r, false, false
	}
	if !complete {
		return r, false, true
	}
	rest := b[i+1+len(f[0])+1+len(f[1])+1:]
	cmd, cdone, cok := dissectors.NULFields(rest, 1, maxCommand, buf[2:2])
	if !cok {
		return r, false, false
	}
	if !cdone {
		return r, false, true
	}
	if len(f[0]) == 0 || len(f[1]) == 0 {
		return r, false, false
	}
	// rlogin's third field is "term/speed": leave that to rlogin when no port was sent.
	if len(port) == 0 && looksLikeTermSpeed(cmd[0]) {
		return r, false, false
	}
	return Request{StderrPort: string(port), ClientUser: string(f[0]), ServerUser: string(f[1]), Command: string(cmd[0])}, true, true
}

func looksLikeTermSpeed(b []byte) bool {
	i := bytes.IndexByte(b, '/')
	if i < 0 || i == len(b)-1 || bytes.IndexByte(b, ' ') >= 0 {
		return false
	}
	for _, c := range b[i+1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Dissector is rsh.
type Dissector struct{}

// Name implements dissectors.Dissector.
func (Dissector) Name() string { return "rsh" }

// Ports implements dissectors.Dissector: hints only.
func (Dissector) Ports() []uint16 { return []uint16{514} }

// Probe matches a complete request; its sender is the client.
func (Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	var ok [2]bool
	for i := 0; i < 2; i++ {
		if in.Client != dissectors.Unknown && in.Client != i {
			continue // only the client opens with the handshake
		}
		_, complete, good := ParseRequest(in.Data[i])
		if complete {
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: i}
		}
		// rcmd(3) sends the stderr port alone and waits for the server to
		// connect back before it sends the rest: on port 514, from the
		// handshake's client, "digits NUL" decides, so that the session
		// exists in time to claim the back-connection.
		if _, ok := StderrPort(in.Data[i]); ok && good && in.Client == i && in.Port[1-i] == 514 && len(in.Data[1-i]) == 0 {
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: i}
		}
		ok[i] = good && !in.Done[i]
	}
	if !ok[0] && !ok[1] {
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NeedMore}
}

// NewSession implements dissectors.Dissector.
func (Dissector) NewSession(ctx *dissectors.Context) dissectors.Session { return newSession(ctx) }
