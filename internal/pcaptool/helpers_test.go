package pcaptool

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func randBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// sampleTrace builds an Ethernet trace with two interleaved TCP connections (one closed by
// FIN, one by RST), a DNS-like UDP exchange and an ARP frame.
func sampleTrace(t testing.TB) Trace {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	c1 := NewConversation(netip.MustParseAddrPort("192.0.2.10:50000"), netip.MustParseAddrPort("198.51.100.20:22"))
	f1 := c1.Synthesize(t0, []Message{
		{Dir: ToClient, At: 2 * time.Millisecond, Data: []byte("SSH-2.0-OpenSSH_9.6\r\n")},
		{Dir: ToServer, At: 3 * time.Millisecond, Data: []byte("SSH-2.0-OpenSSH_9.7\r\n")},
		{Dir: ToServer, At: 10 * time.Millisecond, Data: randBytes(r, 10000)},
		{Dir: ToClient, At: 20 * time.Millisecond, Data: randBytes(r, 5000)},
		{Dir: ToServer, At: 30 * time.Millisecond, Data: randBytes(r, 7)},
	})
	c2 := &Conversation{Client: netip.MustParseAddrPort("192.0.2.11:50001"), Server: netip.MustParseAddrPort("198.51.100.21:23"), Close: CloseRST, MSS: 536}
	f2 := c2.Synthesize(t0.Add(500*time.Microsecond), []Message{
		{Dir: ToClient, At: time.Millisecond, Data: []byte{0xff, 0xfd, 0x18}},
		{Dir: ToServer, At: 2 * time.Millisecond, Data: randBytes(r, 3000)},
		{Dir: ToClient, At: 5 * time.Millisecond, Data: randBytes(r, 2000)},
	})
	dns := Frame{
		Time: t0.Add(4 * time.Millisecond), EtherType: EtherTypeIPv4, L4: L4UDP,
		IP:      IP{Version: 4, Src: netip.MustParseAddr("192.0.2.10"), Dst: netip.MustParseAddr("192.0.2.53"), Proto: ProtoUDP, TTL: 64, ID: 7},
		UDP:     UDP{SrcPort: 40000, DstPort: 53},
		Payload: []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x01\x00\x01"),
	}
	arp := Frame{Time: t0.Add(time.Microsecond), EtherType: EtherTypeARP, Link: Link{Src: [6]byte{2, 0, 0, 0, 0, 1}, Dst: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		Payload: make([]byte, 28)}
	frames := append(append(f1, f2...), dns, arp)
	sort.SliceStable(frames, func(i, j int) bool { return frames[i].Time.Before(frames[j].Time) })
	return Trace{LinkType: LinkEthernet, Snaplen: DefaultSnaplen, Frames: frames}
}

// roundTrip encodes tr to a pcap file, reads it back and decodes it, checking every packet
// with gopacket and the checksums with a naive recomputation along the way.
func roundTrip(t *testing.T, tr Trace) Trace {
	t.Helper()
	c, _, err := tr.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Read(bytes.NewReader(c.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if back.LinkType != tr.LinkType || len(back.Packets) != len(c.Packets) {
		t.Fatalf("read back %v/%d packets, wrote %v/%d", back.LinkType, len(back.Packets), tr.LinkType, len(c.Packets))
	}
	for i, p := range back.Packets {
		if i > 0 && p.Time.Before(back.Packets[i-1].Time) {
			t.Fatalf("packet %d: time goes backwards", i)
		}
		checkPacket(t, tr.LinkType, p.Data)
	}
	return DecodeCapture(back)
}

// naiveSum is a 16-bit-word-at-a-time ones' complement sum, independent of sum32.
func naiveSum(chunks ...[]byte) uint16 {
	var s uint32
	for _, b := range chunks {
		for i := 0; i+1 < len(b); i += 2 {
			s += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			s += uint32(b[len(b)-1]) << 8
		}
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// checkPacket decodes data with gopacket and verifies IPv4 header and TCP/UDP checksums.
func checkPacket(t *testing.T, lt layers.LinkType, data []byte) {
	t.Helper()
	p := gopacket.NewPacket(data, lt, gopacket.Default)
	// Errors above the transport layer (payload that is not the protocol its port says) are fine.
	if el := p.ErrorLayer(); el != nil && p.TransportLayer() == nil {
		t.Fatalf("gopacket: %v\n%s", el.Error(), p.Dump())
	}
	var pseudo []byte
	if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		if naiveSum(ip4.Contents) != 0xffff {
			t.Fatalf("bad IPv4 header checksum in\n%s", p.Dump())
		}
		if ip4.Flags&layers.IPv4MoreFragments != 0 || ip4.FragOffset != 0 {
			return
		}
		pseudo = append(append([]byte{}, ip4.SrcIP.To4()...), ip4.DstIP.To4()...)
	}
	if ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		pseudo = append(append([]byte{}, ip6.SrcIP...), ip6.DstIP...)
	}
	check := func(proto byte, seg []byte) {
		ph := append(slices.Clone(pseudo), 0, proto, byte(len(seg)>>8), byte(len(seg)))
		if naiveSum(ph, seg) != 0xffff {
			t.Fatalf("bad transport checksum in\n%s", p.Dump())
		}
	}
	if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok {
		check(6, append(slices.Clone(tcp.Contents), tcp.Payload...))
	}
	if udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		check(17, append(slices.Clone(udp.Contents), udp.Payload...))
	}
}

// defragment reassembles IPv4 fragments back into TCP/UDP frames, checking offsets.
func defragment(t *testing.T, tr Trace) Trace {
	t.Helper()
	type key struct {
		src, dst netip.Addr
		id       uint16
	}
	pending := map[key][]Frame{}
	out := tr
	out.Frames = nil
	for _, f := range tr.Frames {
		if !f.IP.IsFragment() {
			out.Frames = append(out.Frames, f)
			continue
		}
		k := key{f.IP.Src, f.IP.Dst, f.IP.ID}
		pending[k] = append(pending[k], f)
		frags := slices.Clone(pending[k])
		sort.Slice(frags, func(i, j int) bool { return frags[i].IP.FragOff < frags[j].IP.FragOff })
		last := frags[len(frags)-1]
		if frags[0].IP.FragOff != 0 || last.IP.Flags&IPv4MoreFragments != 0 {
			continue
		}
		var data []byte
		for _, fr := range frags {
			if int(fr.IP.FragOff) != len(data) {
				break // a hole: wait for more
			}
			data = append(data, fr.Payload...)
		}
		if len(data) != int(last.IP.FragOff)+len(last.Payload) {
			continue
		}
		delete(pending, k)
		whole := last
		whole.IP.Flags, whole.IP.FragOff = 0, 0
		whole.Payload = data
		raw := whole.AppendNetwork(nil)
		f2 := Decode(LinkRaw, Packet{Time: f.Time, Data: raw})
		if naiveSum(raw[:20]) != 0xffff {
			t.Fatal("bad header after reassembly")
		}
		out.Frames = append(out.Frames, f2)
	}
	if len(pending) != 0 {
		t.Fatalf("%d datagrams left incomplete", len(pending))
	}
	return out
}

// stream is one direction of a connection, reassembled in sequence order.
type stream struct {
	data  []byte
	holes int // number of missing ranges
}

type dirKey struct{ src, dst netip.AddrPort }

// streams reassembles every TCP direction of tr by sequence number, failing when overlapping
// segments disagree. Addresses are those of the trace.
func streams(t *testing.T, tr Trace) map[dirKey]stream {
	t.Helper()
	type seg struct {
		rel  int64
		data []byte
	}
	segs := map[dirKey][]seg{}
	base := map[dirKey]uint32{}
	for _, f := range tr.Frames {
		if f.L4 != L4TCP {
			continue
		}
		src, dst := f.Flow()
		k := dirKey{src, dst}
		if f.TCP.Flags&SYN != 0 {
			base[k] = f.TCP.Seq + 1
		}
		if len(f.Payload) == 0 {
			continue
		}
		if _, ok := base[k]; !ok {
			base[k] = f.TCP.Seq // mid-stream: first data seen is the reference
		}
		segs[k] = append(segs[k], seg{rel: int64(int32(f.TCP.Seq - base[k])), data: f.Payload})
	}
	out := map[dirKey]stream{}
	for k, ss := range segs {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].rel < ss[j].rel })
		start := min(ss[0].rel, 0)
		var s stream
		for _, sg := range ss {
			at := sg.rel - start
			end := at + int64(len(sg.data))
			if at > int64(len(s.data)) {
				s.holes++
				s.data = append(s.data, make([]byte, at-int64(len(s.data)))...)
			}
			overlap := min(end, int64(len(s.data))) - at
			if overlap > 0 && !bytes.Equal(s.data[at:at+overlap], sg.data[:overlap]) {
				t.Fatalf("%v: overlapping bytes differ at %d", k, at)
			}
			if end > int64(len(s.data)) {
				s.data = append(s.data, sg.data[max(overlap, 0):]...)
			}
		}
		out[k] = s
	}
	return out
}

// sameStreams checks that b carries exactly the TCP bytes of a, without holes.
func sameStreams(t *testing.T, a, b map[dirKey]stream) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d directions, want %d", len(b), len(a))
	}
	for k, sa := range a {
		sb, ok := b[k]
		if !ok {
			t.Fatalf("direction %v missing", k)
		}
		if sb.holes != 0 || !bytes.Equal(sa.data, sb.data) {
			t.Fatalf("%v: %d bytes with %d holes, want %d bytes", k, len(sb.data), sb.holes, len(sa.data))
		}
	}
}

func monotonic(t *testing.T, tr Trace) {
	t.Helper()
	for i := 1; i < len(tr.Frames); i++ {
		if tr.Frames[i].Time.Before(tr.Frames[i-1].Time) {
			t.Fatalf("frame %d: time goes backwards", i)
		}
	}
}

func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
