package telnet

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
	"github.com/psmtap/psmtap/internal/term/termtest"
)

// FuzzDecoder: the NVT decoder never panics, reports data no longer than its
// input, and keeps subnegotiations within MaxSub.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("\xff\xfd\x18\xff\xfd\x20"))                 // inetutils opening: DO TTYPE, DO TSPEED
	f.Add([]byte("\xff\xfa\x18\x00XTERM\xff\xf0login: "))     // TTYPE IS, then text
	f.Add([]byte("\xff\xfa\x1f\x00\xff\xff\x00\x18\xff\xf0")) // NAWS with an escaped 255
	f.Add([]byte("\xff\xfa\x42AAAA"))                         // unclosed subnegotiation (Zeek's trace)
	f.Add([]byte("\xff\xfa\x18\x00ab\xff\xfb\x01z"))          // IAC WILL inside SB
	f.Add([]byte("a\xff\xffb\xff"))                           // escaped IAC, then a cut command
	f.Fuzz(func(t *testing.T, in []byte) {
		var d Decoder
		h := &countHandler{}
		d.Feed(in, h)
		if h.data > len(in) || len(d.sb) > MaxSub {
			t.Fatalf("data %d of %d, sb %d", h.data, len(in), len(d.sb))
		}
	})
}

type countHandler struct{ data int }

func (h *countHandler) Data(b []byte)        { h.data += len(b) }
func (h *countHandler) Negotiate(byte, byte) {}
func (h *countHandler) Sub(o byte, p []byte) {
	ParseEnviron(p, nil)
	ParseNAWS(p)
	ParseTerminalType(p)
	ParseAuthIs(p)
}
func (h *countHandler) Command(byte) {}

// FuzzSession: a whole session (the first byte of each chunk picks the
// direction) never panics, keeps its caps, and publishes the events its
// record counts.
func FuzzSession(f *testing.F) {
	f.Add([]byte("\x01\xff\xfb\x01login: \x00alice\r\x01Password: \x00pw\r\x01$ \x00id\r")) // a login, split by direction bytes
	f.Add([]byte("\x00\x1b[A\x7f\x15\x17\x03\r\x00\r\n"))                                   // editing keys
	f.Add([]byte("\x01\x1b]0;title\x07\x1b[2J\x1b[H\x1b[1;32mgreen\x1b[K"))                 // escapes on screen
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &dissectors.Context{Record: &record.Record{}, Options: &dissectors.Options{}}
		var evs []*record.Event
		c.Events = func(ev *record.Event) { evs = append(evs, ev) }
		s := newSession(c)
		dir := dissectors.FromClient
		start := 0
		for i, b := range in {
			if b <= 1 {
				s.Feed(dir, in[start:i], int64(i))
				dir, start = dissectors.Direction(b), i+1
			}
		}
		s.Feed(dir, in[start:], int64(len(in)))
		var snap record.Record
		s.Snapshot(&snap)
		s.Close(c.Record)
		if err := termtest.Consistent(c.Record, evs); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range c.Record.Commands {
			if len(cmd) > 4*4096 {
				t.Fatalf("command of %d bytes", len(cmd))
			}
		}
	})
}
