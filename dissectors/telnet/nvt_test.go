package telnet

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// logHandler writes what the decoder reports as readable tokens.
type logHandler struct{ out []string }

func (h *logHandler) Data(b []byte) {
	if n := len(h.out); n > 0 && strings.HasPrefix(h.out[n-1], "data:") {
		h.out[n-1] += string(b) // adjacent data pieces are one token
		return
	}
	h.out = append(h.out, "data:"+string(b))
}
func (h *logHandler) Negotiate(cmd, opt byte) {
	h.out = append(h.out, fmt.Sprintf("%s %s", map[byte]string{WILL: "WILL", WONT: "WONT", DO: "DO", DONT: "DONT"}[cmd], OptionName(opt)))
}
func (h *logHandler) Sub(opt byte, p []byte) {
	h.out = append(h.out, fmt.Sprintf("SB %s %q", OptionName(opt), p))
}
func (h *logHandler) Command(c byte) { h.out = append(h.out, fmt.Sprintf("CMD %d", c)) }

// TestDecoder: annotated byte streams, each decoded whole, split at every
// byte boundary, and split into single bytes; all three must agree.
func TestDecoder(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []string
	}{
		// inetutils telnetd's opening: IAC DO TTYPE, IAC DO TSPEED
		{"negotiation", "\xff\xfd\x18\xff\xfd\x20", []string{"DO terminal-type", "DO terminal-speed"}},
		// IAC IAC is a data byte 255
		{"escaped IAC", "a\xff\xffb", []string{"data:a\xffb"}},
		// IAC SB TTYPE IS "XTERM" IAC SE
		{"terminal type", "\xff\xfa\x18\x00XTERM\xff\xf0", []string{`SB terminal-type "\x00XTERM"`}},
		// NAWS 80x24 with an escaped 255 inside the parameters (width 255)
		{"naws with IAC IAC", "\xff\xfa\x1f\x00\xff\xff\x00\x18\xff\xf0", []string{`SB naws "\x00\xff\x00\x18"`}},
		// data, then GA, NOP, then data: pipelined in one segment
		{"pipelined", "login: \xff\xf9\xff\xf1x", []string{"data:login: ", "CMD 249", "CMD 241", "data:x"}},
		// IAC inside SB followed by neither SE nor IAC: ends the SB, command read
		{"broken SB", "\xff\xfa\x18\x00ab\xff\xfb\x01z", []string{`SB terminal-type "\x00ab"`, "WILL echo", "data:z"}},
		// unknown command byte after IAC: dropped
		{"bad command", "a\xff\x10b", []string{"data:ab"}},
		// truncated in the middle of a negotiation: nothing yet
		{"truncated", "ok\xff\xfd", []string{"data:ok"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for split := 0; split <= len(c.in); split++ {
				var d Decoder
				h := &logHandler{}
				d.Feed([]byte(c.in[:split]), h)
				d.Feed([]byte(c.in[split:]), h)
				if !reflect.DeepEqual(h.out, c.want) {
					t.Fatalf("split at %d: %q, want %q", split, h.out, c.want)
				}
			}
			var d Decoder
			h := &logHandler{}
			for i := 0; i < len(c.in); i++ {
				d.Feed([]byte{c.in[i]}, h)
			}
			if !reflect.DeepEqual(h.out, c.want) {
				t.Fatalf("byte by byte: %q, want %q", h.out, c.want)
			}
		})
	}
}

func TestDecoderCaps(t *testing.T) {
	var d Decoder
	h := &logHandler{}
	d.Feed([]byte("\xff\xfa\x42"+strings.Repeat("A", 10*MaxSub)), h) // never closed (Zeek's unclosed-suboption trace)
	if !d.SubTooLong || !d.InSub() || len(d.sb) != MaxSub || len(h.out) != 0 {
		t.Fatalf("cap: tooLong=%v inSub=%v len=%d out=%q", d.SubTooLong, d.InSub(), len(d.sb), h.out)
	}
	d.Reset() // a gap: back to data
	d.Feed([]byte("x"), h)
	if !reflect.DeepEqual(h.out, []string{"data:x"}) {
		t.Fatalf("after reset: %q", h.out)
	}
}

func TestSubnegotiationParsers(t *testing.T) {
	if s, ok := ParseTerminalType([]byte("\x00XTERM")); !ok || s != "XTERM" {
		t.Errorf("ttype %q %v", s, ok)
	}
	if _, ok := ParseTerminalType([]byte("\x01")); ok { // SEND from the server
		t.Error("ttype SEND accepted")
	}
	if c, r, ok := ParseNAWS([]byte{0, 80, 0, 24}); !ok || c != 80 || r != 24 {
		t.Errorf("naws %d %d", c, r)
	}
	if _, _, ok := ParseNAWS([]byte{0, 80, 0}); ok {
		t.Error("short naws accepted")
	}
	if s, ok := ParseTerminalSpeed([]byte("\x0038400,38400")); !ok || s != "38400,38400" {
		t.Errorf("tspeed %q", s)
	}
	// NEW-ENVIRON IS VAR "USER" VALUE "alice" VAR "DISPLAY" VALUE "x:0" USERVAR "E\x02\x01SC" (escaped VALUE byte)
	env := ParseEnviron([]byte("\x00\x00USER\x01alice\x00DISPLAY\x01x:0\x03E\x02\x01SC"), nil)
	if !reflect.DeepEqual(env, []string{"USER=alice", "DISPLAY=x:0", "E\x01SC"}) {
		t.Errorf("environ %q", env)
	}
	if env := ParseEnviron([]byte("\x01\x00USER"), nil); env != nil { // SEND
		t.Errorf("SEND parsed: %q", env)
	}
	if a, ok := ParseAuthIs([]byte{0, 2, 0, 1}); !ok || a != "kerberos_v5" {
		t.Errorf("auth %q", a)
	}
	if _, ok := ParseAuthIs([]byte{0}); ok { // Zeek's telnet-auth-missing-name shape: cut short
		t.Error("short auth accepted")
	}
}
