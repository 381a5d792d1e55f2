package engine

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"testing"

	"github.com/psmtap/psmtap/capture/decode"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// ctl is a test protocol with a related connection, shaped like FTP's PASV:
// "CTL" opens it; "EXPECT <port>" from the server announces a data connection
// from the client to that port.
type ctl struct{}

func (ctl) Name() string    { return "ctl" }
func (ctl) Ports() []uint16 { return nil }
func (ctl) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	for i := 0; i < 2; i++ {
		if bytes.HasPrefix(in.Data[i], []byte("CTL")) {
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: i}
		}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
}
func (ctl) NewSession(ctx *dissectors.Context) dissectors.Session { return &ctlSession{ctx: ctx} }

type ctlSession struct {
	ctx       *dissectors.Context
	dataBytes int
}

func (s *ctlSession) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	if p, ok := bytes.CutPrefix(data, []byte("EXPECT ")); ok && dir == dissectors.FromServer {
		port, _ := strconv.Atoi(string(p))
		s.ctx.Expect(dissectors.Expectation{
			From:     netip.AddrPortFrom(s.ctx.Client.Addr(), 0),
			To:       netip.AddrPortFrom(s.ctx.Server.Addr(), uint16(port)),
			Deadline: ts + 10e9,
			Session:  func() dissectors.Session { return &dataSession{parent: s} },
		})
	}
	return dissectors.Continue
}
func (s *ctlSession) Gap(dissectors.Direction, int, int64) {}
func (s *ctlSession) Close(r *record.Record)               { r.UserName = "data=" + strconv.Itoa(s.dataBytes) }

type dataSession struct{ parent *ctlSession }

func (d *dataSession) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	d.parent.dataBytes += len(data)
	return dissectors.Continue
}
func (d *dataSession) Gap(dissectors.Direction, int, int64) {}
func (d *dataSession) Close(*record.Record)                 {}

func TestRelatedConnection(t *testing.T) {
	e, out := newEngine(true, ctl{})
	c := newConv(e, 40000, 2121, 1e9)
	c.handshake()
	c.send(true, 0, "CTL hello")
	c.send(false, 0, "EXPECT 50000")
	d := newConv(e, 40001, 50000, 1e9+5e6) // the announced data connection
	d.handshake()
	d.send(false, 0, "0123456789")
	d.close()
	other := newConv(e, 40002, 50001, 1e9+6e6) // not announced: a flow of its own
	other.handshake()
	other.close()
	c.close()
	e.Flush()
	if len(*out) != 2 {
		t.Fatalf("%d records, want the control session and the unannounced flow", len(*out))
	}
	if (*out)[0].UserName != "data=10" && (*out)[1].UserName != "data=10" {
		t.Fatalf("data bytes not reported to the control session: %q %q", (*out)[0].UserName, (*out)[1].UserName)
	}
	if e.Stats().Related != 1 {
		t.Fatalf("related = %d", e.Stats().Related)
	}
}

// dgram is a test UDP protocol: datagrams starting "DGRAM".
type dgram struct{}

func (dgram) Name() string    { return "dgram" }
func (dgram) Ports() []uint16 { return nil }
func (dgram) UDP() bool       { return true }
func (dgram) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	if !in.UDP {
		return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
	}
	for i := 0; i < 2; i++ {
		if bytes.HasPrefix(in.Data[i], []byte("DGRAM")) {
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: i}
		}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
}
func (dgram) NewSession(ctx *dissectors.Context) dissectors.Session {
	return &dgramSession{}
}

type dgramSession struct{ n int }

func (s *dgramSession) Feed(dissectors.Direction, []byte, int64) dissectors.Status {
	s.n++
	return dissectors.Continue
}
func (s *dgramSession) Gap(dissectors.Direction, int, int64) {}
func (s *dgramSession) Close(r *record.Record)               { r.UserName = strconv.Itoa(s.n) }

func udpFrame(src, dst byte, sport, dport uint16, payload string) []byte {
	b := make([]byte, 28+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8], b[9] = 64, decode.ProtoUDP
	copy(b[12:], []byte{192, 0, 2, src})
	copy(b[16:], []byte{192, 0, 2, dst})
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	copy(b[28:], payload)
	return b
}

func TestUDPSession(t *testing.T) {
	e, out := newEngine(true, dgram{}, boom{})
	send := func(ts int64, f []byte) { e.Packet(decode.LinkRaw, f, ts, len(f)) }
	send(1e9, udpFrame(1, 2, 5000, 3389, "DGRAM syn"))
	send(2e9, udpFrame(2, 1, 3389, 5000, "DGRAM synack"))
	send(3e9, udpFrame(1, 2, 5000, 3389, "data"))
	send(3e9, udpFrame(1, 2, 5353, 53, "dns query")) // of no interest: no record even with --all
	e.Flush()
	if len(*out) != 1 {
		t.Fatalf("%d records", len(*out))
	}
	r := (*out)[0]
	if r.Transport != "udp" || r.Protocol != "dgram" || r.UserName != "3" || r.Client.Port() != 5000 || r.State != record.StateCaptureEnd {
		t.Fatalf("record %+v", r)
	}
}
