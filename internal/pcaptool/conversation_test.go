package pcaptool

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

func TestConversationHandshakeDataAndClose(t *testing.T) {
	cl, sv := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:21")
	up := bytes.Repeat([]byte("u"), 3000)
	down := bytes.Repeat([]byte("d"), 100)
	for _, close := range []Close{CloseFIN, CloseRST, CloseNone} {
		c := &Conversation{Client: cl, Server: sv, MSS: 1000, Close: close}
		fs := c.Synthesize(t0, []Message{
			{Dir: ToClient, Data: down},
			{Dir: ToServer, At: time.Second, Data: up},
		})
		want := []TCPFlags{SYN, SYN | ACK, ACK}
		for i, w := range want {
			if fs[i].TCP.Flags != w {
				t.Fatalf("packet %d flags %v, want %v", i, fs[i].TCP.Flags, w)
			}
		}
		if fs[1].TCP.Ack != fs[0].TCP.Seq+1 || fs[2].TCP.Ack != fs[1].TCP.Seq+1 {
			t.Fatal("handshake acks")
		}
		for _, f := range fs {
			if len(f.Payload) > 1000 {
				t.Fatalf("segment of %d bytes over the MSS", len(f.Payload))
			}
		}
		tr := Trace{LinkType: LinkEthernet, Frames: fs}
		monotonic(t, tr)
		s := streams(t, roundTrip(t, tr))
		if !bytes.Equal(s[dirKey{cl, sv}].data, up) || !bytes.Equal(s[dirKey{sv, cl}].data, down) {
			t.Fatal("streams differ from messages")
		}
		if !fs[len(fs)-1].Time.After(t0.Add(time.Second)) {
			t.Fatal("message time not honoured")
		}
		last := fs[len(fs)-1].TCP
		switch close {
		case CloseFIN:
			if fs[len(fs)-3].TCP.Flags != FIN|ACK || fs[len(fs)-2].TCP.Flags != FIN|ACK || last.Flags != ACK {
				t.Fatal("FIN exchange")
			}
			if last.Ack != fs[len(fs)-2].TCP.Seq+1 {
				t.Fatal("last ACK does not cover the server FIN")
			}
		case CloseRST:
			if last.Flags != RST|ACK {
				t.Fatal("no RST")
			}
		case CloseNone:
			if last.Flags&(FIN|RST) != 0 {
				t.Fatal("closed")
			}
		}
	}
}

func TestConversationSegmentAcksPeer(t *testing.T) {
	c := NewConversation(netip.MustParseAddrPort("[2001:db8::1]:1000"), netip.MustParseAddrPort("[2001:db8::2]:22"))
	syn := *c.Segment(t0, ToServer, SYN, nil)
	if syn.IP.Version != 6 || len(syn.TCP.Options) != 4 {
		t.Fatalf("%+v", syn)
	}
	c.Segment(t0, ToClient, SYN|ACK, nil)
	c.Segment(t0, ToServer, ACK|PSH, []byte("abc"))
	f := c.Segment(t0, ToClient, ACK, nil)
	if f.TCP.Ack != syn.TCP.Seq+4 {
		t.Fatalf("ack %d, want %d", f.TCP.Ack, syn.TCP.Seq+4)
	}
}
