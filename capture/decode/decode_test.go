package decode

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// Hand-built frames, annotated. Checksums are not verified by the decoder
// (captures on the sending host carry offloaded, wrong checksums), so they are
// left zero here.

func tcpSeg(sport, dport uint16, seq, ack uint32, flags uint8, payload string) []byte {
	b := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(b[0:], sport)
	binary.BigEndian.PutUint16(b[2:], dport)
	binary.BigEndian.PutUint32(b[4:], seq)
	binary.BigEndian.PutUint32(b[8:], ack)
	b[12] = 5 << 4 // data offset: 5 words
	b[13] = flags
	binary.BigEndian.PutUint16(b[14:], 65535)
	return append(b, payload...)
}

func ipv4(src, dst [4]byte, proto byte, id uint16, fragField uint16, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45 // version 4, IHL 5
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], fragField)
	b[8] = 64
	b[9] = proto
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	return append(b, payload...)
}

func ipv6(src, dst [16]byte, next byte, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = next
	b[7] = 64
	copy(b[8:], src[:])
	copy(b[24:], dst[:])
	return append(b, payload...)
}

func ether(etype uint16, tags []uint16, payload []byte) []byte {
	b := make([]byte, 12, 64)
	for _, t := range tags { // each tag: TPID then TCI
		b = binary.BigEndian.AppendUint16(b, t)
		b = binary.BigEndian.AppendUint16(b, 100)
	}
	b = binary.BigEndian.AppendUint16(b, etype)
	return append(b, payload...)
}

var (
	a4 = [4]byte{192, 0, 2, 10}
	b4 = [4]byte{192, 0, 2, 20}
	a6 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x10}
	b6 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x20}
)

func TestDecodeLinkLayers(t *testing.T) {
	seg := tcpSeg(40000, 22, 7, 9, FlagACK|FlagPSH, "SSH-2.0-x\r\n")
	ip4 := ipv4(a4, b4, ProtoTCP, 1, 0, seg)
	ip6 := ipv6(a6, b6, ProtoTCP, seg)
	sll := append([]byte{0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00}, ip4...)
	sll2 := append([]byte{0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0}, ip6...)
	null := append([]byte{2, 0, 0, 0}, ip4...)                   // AF_INET, little endian
	null6 := append([]byte{0, 0, 0, 30}, ip6...)                 // AF_INET6 (macOS), big endian
	padded := append(ether(0x0800, nil, ip4), 0, 0)              // Ethernet padding after the IP packet
	hbh := append([]byte{ProtoTCP, 0, 1, 4, 0, 0, 0, 0}, seg...) // hop-by-hop options header, 8 bytes
	ip6ext := ipv6(a6, b6, 0, hbh)

	cases := []struct {
		name string
		link int
		b    []byte
		v6   bool
	}{
		{"ethernet", LinkEthernet, ether(0x0800, nil, ip4), false},
		{"ethernet padding", LinkEthernet, padded, false},
		{"802.1Q", LinkEthernet, ether(0x0800, []uint16{0x8100}, ip4), false},
		{"QinQ", LinkEthernet, ether(0x86dd, []uint16{0x88a8, 0x8100}, ip6), true},
		{"SLL", LinkSLL, sll, false},
		{"SLL2", LinkSLL2, sll2, true},
		{"raw IPv4", LinkRaw, ip4, false},
		{"raw IPv6", LinkRaw, ip6, true},
		{"IPv6 hop-by-hop", LinkIPv6, ip6ext, true},
		{"null", LinkNull, null, false},
		{"null IPv6 big-endian family", LinkNull, null6, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decoder{LinkType: c.link}
			var p Packet
			if err := d.Decode(c.b, 0, &p); err != nil {
				t.Fatal(err)
			}
			if p.IPv6 != c.v6 || p.Proto != ProtoTCP || p.SrcPort != 40000 || p.DstPort != 22 || p.Seq != 7 || p.Ack != 9 {
				t.Fatalf("decoded %+v", p)
			}
			if string(p.Payload) != "SSH-2.0-x\r\n" {
				t.Fatalf("payload %q", p.Payload)
			}
			wantSrc := a4[:]
			if c.v6 {
				wantSrc = a6[:]
			}
			if !bytes.Equal(p.Src[:len(wantSrc)], wantSrc) {
				t.Fatalf("src %x", p.Src)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	seg := tcpSeg(1, 2, 0, 0, FlagSYN, "")
	ip4 := ipv4(a4, b4, ProtoTCP, 1, 0, seg)
	cases := []struct {
		name string
		link int
		b    []byte
		want error
	}{
		{"empty", LinkEthernet, nil, ErrTruncated},
		{"arp", LinkEthernet, ether(0x0806, nil, make([]byte, 28)), ErrNotIP},
		{"short IPv4", LinkEthernet, ether(0x0800, nil, ip4[:12]), ErrTruncated},
		{"bad IHL", LinkRaw, append([]byte{0x41}, ip4[1:]...), ErrBadIP},
		{"ICMP", LinkRaw, ipv4(a4, b4, 1, 1, 0, make([]byte, 8)), ErrNotTCPUDP},
		{"TCP offset past end", LinkRaw, ipv4(a4, b4, ProtoTCP, 1, 0, append(seg[:12:12], 0xf0, 0, 0, 0, 0, 0, 0, 0)), ErrBadL4},
		{"unknown link", 9999, ip4, ErrUnknownLink},
		{"vlan cut", LinkEthernet, ether(0x8100, nil, []byte{0, 1}), ErrTruncated},
	}
	for _, c := range cases {
		d := Decoder{LinkType: c.link}
		var p Packet
		if err := d.Decode(c.b, 0, &p); err != c.want {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestSnaplenTruncation(t *testing.T) {
	seg := tcpSeg(1, 2, 0, 0, FlagACK, "0123456789")
	ip4 := ipv4(a4, b4, ProtoTCP, 1, 0, seg)
	d := Decoder{LinkType: LinkRaw}
	var p Packet
	if err := d.Decode(ip4[:len(ip4)-4], 0, &p); err != nil {
		t.Fatal(err)
	}
	if !p.Truncated || string(p.Payload) != "012345" {
		t.Fatalf("truncated=%v payload=%q", p.Truncated, p.Payload)
	}
}

func TestIPv4Fragments(t *testing.T) {
	seg := tcpSeg(40000, 23, 1, 1, FlagACK, "fragmented telnet payload, 40 bytes long")
	// Three fragments, offsets in 8-byte units: [0,24) [24,48) [48,60), sent out of order.
	f1 := ipv4(a4, b4, ProtoTCP, 77, 0x2000|0, seg[:24])
	f2 := ipv4(a4, b4, ProtoTCP, 77, 0x2000|3, seg[24:48])
	f3 := ipv4(a4, b4, ProtoTCP, 77, 6, seg[48:])
	d := Decoder{LinkType: LinkRaw, Defrag: NewDefragmenter()}
	var p Packet
	if err := d.Decode(f3, 1, &p); err != ErrFragment {
		t.Fatalf("last fragment alone: %v", err)
	}
	if err := d.Decode(f1, 2, &p); err != ErrFragment {
		t.Fatalf("first fragment: %v", err)
	}
	if err := d.Decode(f2, 3, &p); err != nil {
		t.Fatalf("completing fragment: %v", err)
	}
	if !p.Reassembled || string(p.Payload) != "fragmented telnet payload, 40 bytes long" || p.DstPort != 23 {
		t.Fatalf("reassembled %v payload %q", p.Reassembled, p.Payload)
	}
	// Overlap (a classic evasion): refused, counted.
	g1 := ipv4(a4, b4, ProtoTCP, 78, 0x2000|0, seg[:24])
	g2 := ipv4(a4, b4, ProtoTCP, 78, 2, seg[16:])
	d.Decode(g1, 4, &p)
	if err := d.Decode(g2, 5, &p); err != ErrFragment || d.Defrag.Stats.Dropped != 1 {
		t.Fatalf("overlap: err %v dropped %d", err, d.Defrag.Stats.Dropped)
	}
	// Incomplete datagrams expire on packet time.
	d.Decode(ipv4(a4, b4, ProtoTCP, 79, 0x2000, seg[:8]), 10, &p)
	d.Decode(ipv4(a4, b4, ProtoTCP, 80, 0x2000, seg[:8]), 10+31e9+2e9, &p)
	if d.Defrag.Stats.Expired < 2 {
		t.Fatalf("expired = %d", d.Defrag.Stats.Expired)
	}
}

func TestDecodeAllocations(t *testing.T) {
	frame := ether(0x0800, []uint16{0x8100}, ipv4(a4, b4, ProtoTCP, 1, 0, tcpSeg(1, 2, 3, 4, FlagACK, "payload")))
	d := Decoder{LinkType: LinkEthernet, Defrag: NewDefragmenter()}
	var p Packet
	if n := testing.AllocsPerRun(1000, func() { d.Decode(frame, 0, &p) }); n != 0 {
		t.Fatalf("Decode allocates %.1f times per frame", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	frame := ether(0x0800, nil, ipv4(a4, b4, ProtoTCP, 1, 0, tcpSeg(1, 2, 3, 4, FlagACK, string(make([]byte, 1448)))))
	d := Decoder{LinkType: LinkEthernet, Defrag: NewDefragmenter()}
	var p Packet
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		d.Decode(frame, 0, &p)
	}
}

// TestFragmentPastEnd: a fragment that lies past the end announced later by
// the last fragment must not be copied (FuzzDecode found the out-of-range
// copy; its input is kept in testdata/fuzz/FuzzDecode).
func TestFragmentPastEnd(t *testing.T) {
	seg := tcpSeg(1, 2, 0, 0, FlagACK, "0123456789abcdef")
	d := Decoder{LinkType: LinkRaw, Defrag: NewDefragmenter()}
	var p Packet
	d.Decode(ipv4(a4, b4, ProtoTCP, 9, 0x2000|5000, seg[:8]), 1, &p) // offset 40000, before the total is known
	d.Decode(ipv4(a4, b4, ProtoTCP, 9, 0x2000|0, seg[:16]), 2, &p)
	if err := d.Decode(ipv4(a4, b4, ProtoTCP, 9, 2, seg[16:]), 3, &p); err != ErrFragment {
		t.Fatalf("err = %v", err)
	}
}
