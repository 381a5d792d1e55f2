// Package rlogin recognises and decodes BSD rlogin (RFC 1282): the
// handshake, the server's acknowledgement or refusal, the client's
// window-size control messages, and the terminal stream through package
// term (login, commands, screen text, recording).
//
// The client opens with four NUL-terminated strings: an empty one, the client
// user name, the server user name, and "terminal-type/speed"; the server
// answers with a single zero byte. That shape, not port 513, decides.
package rlogin

import (
	"bytes"

	"github.com/psmtap/psmtap/dissectors"
)

func init() { dissectors.Register(Dissector{}) }

// maxField bounds each handshake string; real user names and terminal types
// are far shorter, and a longer one is not an rlogin handshake we trust.
const maxField = 1024

// Handshake is the client's opening (RFC 1282 "Connection Establishment").
type Handshake struct {
	ClientUser   string
	ServerUser   string
	TerminalType string
	Speed        string
	Len          int // bytes consumed
}

// ParseHandshake parses the client's opening. ok is false when b cannot be
// one; complete is false when more bytes are needed.
func ParseHandshake(b []byte) (h Handshake, complete, ok bool) {
	if len(b) == 0 {
		return h, false, true
	}
	if b[0] != 0 {
		return h, false, false
	}
	var buf [3][]byte
	f, complete, ok := dissectors.NULFields(b[1:], 3, maxField, buf[:0])
	if !ok {
		return h, false, false
	}
	if !complete {
		return h, false, true
	}
	term := f[2]
	slash := bytes.IndexByte(term, '/')
	if slash < 0 || !digits(term[slash+1:]) || len(f[0]) == 0 && len(f[1]) == 0 {
		return h, false, false
	}
	h = Handshake{ClientUser: string(f[0]), ServerUser: string(f[1]),
		TerminalType: string(term[:slash]), Speed: string(term[slash+1:])}
	for _, x := range f {
		h.Len += len(x) + 1
	}
	h.Len++ // the leading NUL
	return h, true, true
}

func digits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Dissector is rlogin.
type Dissector struct{}

// Name implements dissectors.Dissector.
func (Dissector) Name() string { return "rlogin" }

// Ports implements dissectors.Dissector: hints only.
func (Dissector) Ports() []uint16 { return []uint16{513} }

// Probe matches a complete client handshake; its sender is the client.
func (Dissector) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	return dissectors.ProbeClientOpening(in, func(b []byte) (bool, bool) {
		_, complete, ok := ParseHandshake(b)
		return complete, ok
	})
}

// NewSession implements dissectors.Dissector.
func (Dissector) NewSession(ctx *dissectors.Context) dissectors.Session { return newSession(ctx) }
