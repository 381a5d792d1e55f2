package decode

import "testing"

// TestPairHash: both directions and every fragment of a datagram hash alike;
// other pairs (usually) differ; frames without IP say so.
func TestPairHash(t *testing.T) {
	seg := tcpSeg(40000, 22, 1, 2, FlagACK, "x")
	ab := ether(0x0800, []uint16{0x8100}, ipv4(a4, b4, ProtoTCP, 1, 0, seg))
	ba := ether(0x0800, nil, ipv4(b4, a4, ProtoTCP, 1, 0, seg))
	frag := ether(0x0800, nil, ipv4(a4, b4, ProtoTCP, 9, 3, seg[:8])) // a later fragment: no ports
	other := ether(0x0800, nil, ipv4(a4, [4]byte{192, 0, 2, 99}, ProtoTCP, 1, 0, seg))
	h1, ok1 := PairHash(LinkEthernet, ab)
	h2, _ := PairHash(LinkEthernet, ba)
	h3, _ := PairHash(LinkEthernet, frag)
	h4, _ := PairHash(LinkEthernet, other)
	if !ok1 || h1 != h2 || h1 != h3 || h1 == h4 {
		t.Fatalf("hashes %x %x %x %x", h1, h2, h3, h4)
	}
	if v6a, _ := PairHash(LinkRaw, ipv6(a6, b6, ProtoTCP, seg)); v6a == 0 {
		t.Fatal("IPv6 hash is zero")
	}
	if _, ok := PairHash(LinkEthernet, ether(0x0806, nil, make([]byte, 28))); ok {
		t.Fatal("ARP hashed as IP")
	}
}
