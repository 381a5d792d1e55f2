package decode

import (
	"encoding/binary"
	"testing"
)

func udpDgram(sport, dport uint16, payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint16(b[4:], uint16(8+len(payload)))
	return append(b, payload...)
}

func TestTunnels(t *testing.T) {
	inner4 := ipv4(a4, b4, ProtoTCP, 1, 0, tcpSeg(40000, 22, 1, 2, FlagACK, "SSH-2.0-x\r\n"))
	innerEth := ether(0x0800, []uint16{0x8100}, inner4)
	outerA, outerB := [4]byte{198, 51, 100, 1}, [4]byte{198, 51, 100, 2}
	gre := func(flags, etype uint16, extra []byte, payload []byte) []byte {
		h := binary.BigEndian.AppendUint16(nil, flags)
		h = binary.BigEndian.AppendUint16(h, etype)
		h = append(h, extra...)
		return ipv4(outerA, outerB, ProtoGRE, 9, 0, append(h, payload...))
	}
	erspan2 := append([]byte{0x10, 0x00, 0x00, 0x01, 0, 0, 0, 0}, innerEth...)
	erspan3 := append(make([]byte, 12), innerEth...)
	vxlan := append([]byte{0x08, 0, 0, 0, 0, 0, 1, 0}, innerEth...)
	geneve := append([]byte{0x01, 0, 0x65, 0x58, 0, 0, 1, 0, 1, 2, 3, 4}, innerEth...) // one 4-byte option
	cases := []struct {
		name string
		b    []byte
	}{
		{"IPv4 in IPv4", ipv4(outerA, outerB, ProtoIPIP, 9, 0, inner4)},
		{"GRE IPv4", gre(0, 0x0800, nil, inner4)},
		{"GRE with key and sequence", gre(0x3000, 0x0800, make([]byte, 8), inner4)},
		{"GRE transparent Ethernet", gre(0, 0x6558, nil, innerEth)},
		{"ERSPAN type II", gre(0x1000, 0x88be, make([]byte, 4), erspan2)},
		{"ERSPAN type III", gre(0x1000, 0x22eb, make([]byte, 4), erspan3)},
		{"VXLAN", ipv4(outerA, outerB, ProtoUDP, 9, 0, udpDgram(5555, 4789, vxlan))},
		{"Geneve", ipv4(outerA, outerB, ProtoUDP, 9, 0, udpDgram(5555, 6081, geneve))},
	}
	for _, c := range cases {
		d := Decoder{LinkType: LinkRaw}
		var p Packet
		if err := d.Decode(c.b, 0, &p); err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Proto != ProtoTCP || p.DstPort != 22 || p.Src[3] != 10 || string(p.Payload) != "SSH-2.0-x\r\n" {
			t.Errorf("%s: decoded %+v", c.name, p)
		}
	}
	// Nesting beyond the limit is refused, not followed.
	pkt := inner4
	for i := 0; i < maxTunnelDepth+1; i++ {
		pkt = ipv4(outerA, outerB, ProtoIPIP, 9, 0, pkt)
	}
	d := Decoder{LinkType: LinkRaw}
	var p Packet
	if err := d.Decode(pkt, 0, &p); err != ErrTunnel {
		t.Fatalf("deep nesting: %v", err)
	}
	// UDP to 4789 that is not VXLAN stays plain UDP.
	if err := d.Decode(ipv4(outerA, outerB, ProtoUDP, 9, 0, udpDgram(1, 4789, []byte("hello world"))), 0, &p); err != nil || p.Proto != ProtoUDP {
		t.Fatalf("plain UDP on 4789: %v %+v", err, p)
	}
}
