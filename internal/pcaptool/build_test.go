package pcaptool

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3 example: the words sum to 0xddf2, so the checksum is its complement.
	if got := Checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); got != ^uint16(0xddf2) {
		t.Fatalf("got %#04x", got)
	}
}

func TestChecksumMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 200; n++ {
		b := randBytes(r, n)
		if got, want := Checksum(b), ^naiveSum(b); got != want {
			t.Fatalf("len %d: %#04x, want %#04x", n, got, want)
		}
	}
}

func TestFramesDecodeWithGopacket(t *testing.T) {
	v4 := Frame{
		EtherType: EtherTypeIPv4, L4: L4TCP,
		Link:    Link{Tags: []VLAN{{TPID: TPIDDot1AD, TCI: 200}, {TPID: TPIDDot1Q, TCI: 300}}},
		IP:      IP{Version: 4, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: ProtoTCP, TTL: 63, ID: 0x1234, Flags: IPv4DontFragment, Options: []byte{1, 1, 1}},
		TCP:     TCP{SrcPort: 1234, DstPort: 22, Seq: 0xfffffff0, Ack: 7, Flags: ACK | PSH, Window: 501, Options: []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}},
		Payload: []byte("hello"),
	}
	data, err := v4.Append(nil, LinkEthernet)
	if err != nil {
		t.Fatal(err)
	}
	checkPacket(t, LinkEthernet, data)
	p := gopacket.NewPacket(data, LinkEthernet, gopacket.Default)
	var tags []uint16
	for _, l := range p.Layers() {
		if q, ok := l.(*layers.Dot1Q); ok {
			tags = append(tags, q.VLANIdentifier)
		}
	}
	if len(tags) != 2 || tags[0] != 200 || tags[1] != 300 {
		t.Fatalf("tags %v", tags)
	}
	ip := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ip.Id != 0x1234 || ip.Flags != layers.IPv4DontFragment || ip.TTL != 63 || ip.IHL != 6 {
		t.Fatalf("ip %+v", ip)
	}
	if tcp.Seq != 0xfffffff0 || tcp.Ack != 7 || !tcp.ACK || !tcp.PSH || tcp.SYN || tcp.Window != 501 || string(tcp.Payload) != "hello" {
		t.Fatalf("tcp %+v", tcp)
	}

	v6 := Frame{
		EtherType: EtherTypeIPv6, L4: L4UDP,
		IP:      IP{Version: 6, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("2001:db8::2"), Proto: ProtoUDP, TTL: 64, TOS: 0x20, FlowLabel: 0x12345},
		UDP:     UDP{SrcPort: 5353, DstPort: 53},
		Payload: []byte("query"),
	}
	for _, lt := range []layers.LinkType{LinkEthernet, LinkRaw, LinkSLL2, LinkNull, LinkSLL} {
		data, err := v6.Append(nil, lt)
		if err != nil {
			t.Fatal(err)
		}
		checkPacket(t, lt, data)
		p := gopacket.NewPacket(data, lt, gopacket.Default)
		ip6, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if ip6 == nil || udp == nil || ip6.FlowLabel != 0x12345 || ip6.TrafficClass != 0x20 || udp.DstPort != 53 || string(udp.Payload) != "query" {
			t.Fatalf("%v: %s", lt, p.Dump())
		}
		// Decoding our own output gives the frame back.
		back := Decode(lt, Packet{Data: data})
		if back.IP.Src != v6.IP.Src || back.UDP != v6.UDP || !bytes.Equal(back.Payload, v6.Payload) || back.IP.FlowLabel != v6.IP.FlowLabel {
			t.Fatalf("%v: decoded %+v", lt, back)
		}
	}
}

func TestRawLinkRefusesARP(t *testing.T) {
	arp := Frame{EtherType: EtherTypeARP, Payload: make([]byte, 28)}
	if _, err := arp.Append(nil, LinkRaw); err != ErrNotIP {
		t.Fatalf("err %v", err)
	}
}

func TestEncodeDecodeIsLossless(t *testing.T) {
	tr := sampleTrace(t)
	c, _, err := tr.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, lt := range []layers.LinkType{LinkEthernet, LinkSLL2, LinkSLL, LinkNull, LinkRaw} {
		t.Run(lt.String(), func(t *testing.T) {
			x := tr
			x.LinkType = lt
			back := roundTrip(t, x)
			if lt == LinkEthernet {
				c2, _, _ := back.Encode()
				if !bytes.Equal(c.Bytes(), c2.Bytes()) {
					t.Fatal("decode+encode changed the capture")
				}
			}
			sameStreams(t, streams(t, tr), streams(t, back))
		})
	}
}

func TestDecodeKeepsTruncatedPacketsOpaque(t *testing.T) {
	tr := sampleTrace(t)
	data, _ := tr.Frames[5].Append(nil, LinkEthernet)
	f := Decode(LinkEthernet, Packet{Data: data[:40], Len: len(data)})
	if f.IP.Version != 0 || f.Missing != len(data)-40 || len(f.Payload) != 26 {
		t.Fatalf("%+v", f)
	}
	again, _ := f.Append(nil, LinkEthernet)
	if !bytes.Equal(again, data[:40]) {
		t.Fatal("opaque frame not kept as is")
	}
}

func BenchmarkAppendTCP(b *testing.B) {
	f := Frame{
		EtherType: EtherTypeIPv4, L4: L4TCP,
		IP:      IP{Version: 4, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: ProtoTCP, TTL: 64},
		TCP:     TCP{SrcPort: 40000, DstPort: 443, Flags: ACK, Window: 501},
		Payload: make([]byte, 1448),
	}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(1514)
	for range b.N {
		buf, _ = f.Append(buf[:0], LinkEthernet)
	}
}
