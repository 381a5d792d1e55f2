package decode

import "testing"

// FuzzDecode: any bytes under any link type decode to a packet or an error,
// never a panic, and a decoded payload always lies inside the frame (or the
// defragmenter's buffer).
func FuzzDecode(f *testing.F) {
	seg := tcpSeg(40000, 22, 7, 9, FlagACK, "SSH-2.0-x\r\n")
	f.Add(uint16(LinkEthernet), ether(0x0800, nil, ipv4(a4, b4, ProtoTCP, 1, 0, seg)))                // plain
	f.Add(uint16(LinkEthernet), ether(0x86dd, []uint16{0x88a8, 0x8100}, ipv6(a6, b6, ProtoTCP, seg))) // QinQ IPv6
	f.Add(uint16(LinkRaw), ipv4(a4, b4, ProtoTCP, 5, 0x2000, seg[:16]))                               // first fragment
	f.Add(uint16(LinkRaw), ipv4(a4, b4, ProtoTCP, 5, 2, seg[16:]))                                    // last fragment
	f.Add(uint16(LinkSLL2), append(make([]byte, 20), 0x45))                                           // SLL2 header, cut IPv4
	f.Add(uint16(LinkIPv6), ipv6(a6, b6, 44, []byte{ProtoTCP, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3}))         // IPv6 fragment header
	f.Add(uint16(LinkNull), []byte{2, 0, 0, 0, 0x45, 0, 0, 20})
	f.Add(uint16(LinkRaw), ipv4(a4, b4, ProtoGRE, 1, 0, append([]byte{0x10, 0, 0x88, 0xbe, 0, 0, 0, 1}, make([]byte, 30)...))) // ERSPAN
	d := Decoder{Defrag: NewDefragmenter()}
	var p Packet
	f.Fuzz(func(t *testing.T, link uint16, frame []byte) {
		d.LinkType = int(link)
		PairHash(int(link), frame) // the workers' dispatcher reads the same bytes
		if err := d.Decode(frame, 0, &p); err != nil {
			return
		}
		if len(p.Payload) > 65535 {
			t.Fatalf("payload of %d bytes", len(p.Payload))
		}
	})
}
