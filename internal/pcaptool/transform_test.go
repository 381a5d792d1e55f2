package pcaptool

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// dataSegs lists (seq, len) of TCP data segments per direction in trace order.
func dataSegs(tr Trace) map[dirKey][][2]uint32 {
	m := map[dirKey][][2]uint32{}
	for _, f := range tr.Frames {
		if f.IsTCPData() {
			src, dst := f.Flow()
			m[dirKey{src, dst}] = append(m[dirKey{src, dst}], [2]uint32{f.TCP.Seq, uint32(len(f.Payload))})
		}
	}
	return m
}

func TestReorder(t *testing.T) {
	in := sampleTrace(t)
	out, err := Reorder(in)
	if err != nil {
		t.Fatal(err)
	}
	back := roundTrip(t, out)
	if len(back.Frames) != len(in.Frames) {
		t.Fatalf("%d frames, want %d", len(back.Frames), len(in.Frames))
	}
	monotonic(t, back)
	sameStreams(t, streams(t, in), streams(t, back))
	backwards := 0
	for _, segs := range dataSegs(back) {
		for i := 1; i < len(segs); i++ {
			if int32(segs[i][0]-segs[i-1][0]) < 0 {
				backwards++
			}
		}
	}
	if backwards != 2 { // one swap in each of the two connections
		t.Fatalf("%d out-of-order segments, want 2", backwards)
	}
	// The swapped pair was in flight together: no ACK covers the late segment before it arrives.
	for _, c := range back.Conns() {
		var prev *Frame
		for _, i := range c.Frames {
			f := &back.Frames[i]
			if !f.IsTCPData() || c.Dir(f) != ToServer {
				continue
			}
			if prev != nil && int32(f.TCP.Seq-prev.TCP.Seq) < 0 {
				for _, k := range c.Frames {
					g := &back.Frames[k]
					if g.Time.Before(f.Time) && c.Dir(g) == ToClient && int32(g.TCP.Ack-f.TCP.Seq) > 0 {
						t.Fatalf("ACK %d precedes the late segment %d", g.TCP.Ack, f.TCP.Seq)
					}
				}
			}
			prev = f
		}
	}
}

func TestRetransmit(t *testing.T) {
	in := sampleTrace(t)
	out, err := Retransmit(in)
	if err != nil {
		t.Fatal(err)
	}
	back := roundTrip(t, out)
	monotonic(t, back)
	sameStreams(t, streams(t, in), streams(t, back)) // streams() fails on any disagreeing overlap
	orig := dataSegs(in)
	dups, partial := 0, 0
	for k, segs := range dataSegs(back) {
		starts := map[uint32]uint32{}
		for _, s := range orig[k] {
			starts[s[0]] = s[1]
		}
		seen := map[[2]uint32]bool{}
		for _, s := range segs {
			if seen[s] {
				dups++
			}
			seen[s] = true
			if _, ok := starts[s[0]]; !ok {
				partial++ // starts inside an original segment
				end := s[0] + s[1]
				if _, ok := starts[end]; ok {
					t.Fatal("overlap should end inside the next segment")
				}
			}
		}
	}
	if dups == 0 || partial != 2 {
		t.Fatalf("%d duplicates, %d partial overlaps (want >0, 2)", dups, partial)
	}
}

func TestGap(t *testing.T) {
	in := sampleTrace(t)
	out, err := Gap(in)
	if err != nil {
		t.Fatal(err)
	}
	back := roundTrip(t, out)
	if len(back.Frames) != len(in.Frames)-2 {
		t.Fatalf("%d frames, want %d", len(back.Frames), len(in.Frames)-2)
	}
	want := streams(t, in)
	holes := 0
	for k, s := range streams(t, back) {
		holes += s.holes
		if len(s.data) != len(want[k].data) {
			t.Fatalf("%v: %d bytes, want %d", k, len(s.data), len(want[k].data))
		}
		// Bytes outside the hole are intact; the hole itself reads as zeros.
		for i := range s.data {
			if s.data[i] != want[k].data[i] && s.data[i] != 0 {
				t.Fatalf("%v: byte %d differs", k, i)
			}
		}
	}
	if holes != 2 {
		t.Fatalf("%d holes, want 2", holes)
	}
}

func TestMidstream(t *testing.T) {
	in := sampleTrace(t)
	out, err := Midstream(in)
	if err != nil {
		t.Fatal(err)
	}
	back := roundTrip(t, out)
	for _, c := range back.Conns() {
		if !back.Frames[c.Frames[0]].IsTCPData() {
			t.Fatal("connection does not start with data")
		}
		for _, i := range c.Frames {
			if back.Frames[i].TCP.Flags&SYN != 0 {
				t.Fatal("SYN left")
			}
		}
	}
	sameStreams(t, streams(t, in), streams(t, back))
	if n := len(in.Frames) - len(back.Frames); n != 6 { // two handshakes
		t.Fatalf("dropped %d frames, want 6", n)
	}
}

func TestFragmentIPv4(t *testing.T) {
	in := sampleTrace(t)
	out, err := FragmentIPv4(in)
	if err != nil {
		t.Fatal(err)
	}
	back := roundTrip(t, out)
	type key struct {
		src, dst netip.Addr
		id       uint16
	}
	frags := map[key][]Frame{}
	var order []key
	for _, f := range back.Frames {
		if f.IP.IsFragment() {
			k := key{f.IP.Src, f.IP.Dst, f.IP.ID}
			if frags[k] == nil {
				order = append(order, k)
			}
			frags[k] = append(frags[k], f)
		}
	}
	if want := len(dataSegs2(in)); len(order) != want {
		t.Fatalf("%d fragmented datagrams, want %d", len(order), want)
	}
	reversed, three := 0, 0
	for _, k := range order {
		fs := frags[k]
		if len(fs) < 2 || len(fs) > 3 {
			t.Fatalf("%d fragments", len(fs))
		}
		if len(fs) == 3 {
			three++
		}
		if fs[0].IP.FragOff != 0 {
			reversed++
		}
		slices.SortFunc(fs, func(a, b Frame) int { return int(a.IP.FragOff) - int(b.IP.FragOff) })
		total := 0
		for i, f := range fs {
			if int(f.IP.FragOff) != total || f.IP.FragOff%8 != 0 {
				t.Fatalf("fragment %d at offset %d, want %d", i, f.IP.FragOff, total)
			}
			if more := f.IP.Flags&IPv4MoreFragments != 0; more != (i < len(fs)-1) {
				t.Fatalf("fragment %d: MF=%v", i, more)
			}
			if f.IP.Flags&IPv4DontFragment != 0 {
				t.Fatal("DF on a fragment")
			}
			total += len(f.Payload)
		}
		// The fragments add up to a whole TCP segment with a valid checksum.
		seg := bytes.Join([][]byte{fs[0].Payload, fs[1].Payload, nil}, nil)
		if len(fs) == 3 {
			seg = append(seg, fs[2].Payload...)
		}
		if len(seg) != total || TransportChecksum(k.src, k.dst, ProtoTCP, seg) != 0 {
			t.Fatalf("reassembled segment: %d bytes, checksum over it %#x", len(seg), TransportChecksum(k.src, k.dst, ProtoTCP, seg))
		}
	}
	if reversed == 0 || three == 0 {
		t.Fatalf("%d out-of-order datagrams, %d in three fragments", reversed, three)
	}
	sameStreams(t, streams(t, in), streams(t, defragment(t, back)))
}

// dataSegs2 counts IPv4 TCP data segments.
func dataSegs2(tr Trace) []int {
	var n []int
	for i, f := range tr.Frames {
		if f.IsTCPData() && f.IP.Version == 4 {
			n = append(n, i)
		}
	}
	return n
}

func TestFragmentSize(t *testing.T) {
	for _, c := range []struct{ l, parts, hdr, want int }{
		{1468, 2, 20, 736}, {1468, 3, 20, 496}, {25, 2, 20, 24}, {21, 2, 20, 16}, {40, 3, 32, 32},
	} {
		if got := fragmentSize(c.l, c.parts, c.hdr); got != c.want {
			t.Errorf("fragmentSize(%d,%d,%d)=%d, want %d", c.l, c.parts, c.hdr, got, c.want)
		}
	}
}

func TestVLANAndQinQ(t *testing.T) {
	in := sampleTrace(t)
	for _, tc := range []struct {
		apply func(Trace) (Trace, error)
		tpids []layers.EthernetType
		ids   []uint16
	}{
		{VLAN802, []layers.EthernetType{0x8100}, []uint16{100}},
		{QinQ, []layers.EthernetType{0x88a8, 0x8100}, []uint16{200, 300}},
	} {
		out, _ := tc.apply(in)
		c, _, _ := out.Encode()
		for _, p := range c.Packets {
			data := p.Data
			if got := []layers.EthernetType{layers.EthernetType(be16(data[12:]))}; got[0] != tc.tpids[0] {
				t.Fatalf("outer TPID %v", got)
			}
			if len(tc.tpids) == 2 && be16(data[16:]) != uint16(tc.tpids[1]) {
				t.Fatalf("inner TPID %#x", be16(data[16:]))
			}
			pk := gopacket.NewPacket(data, LinkEthernet, gopacket.Default)
			var ids []uint16
			for _, l := range pk.Layers() {
				if q, ok := l.(*layers.Dot1Q); ok {
					ids = append(ids, q.VLANIdentifier)
				}
			}
			if !slices.Equal(ids, tc.ids) {
				t.Fatalf("VLAN ids %v, want %v", ids, tc.ids)
			}
		}
		sameStreams(t, streams(t, in), streams(t, roundTrip(t, out)))
	}
}

func TestToIPv6(t *testing.T) {
	in := sampleTrace(t)
	out, err := ToIPv6(in)
	if err != nil {
		t.Fatal(err)
	}
	back := roundTrip(t, out)
	prefix := netip.MustParsePrefix("2001:db8::/32")
	for _, f := range back.Frames {
		if f.L4 == L4Raw || f.IP.Version == 0 {
			continue
		}
		if f.IP.Version != 6 || !prefix.Contains(f.IP.Src) || !prefix.Contains(f.IP.Dst) {
			t.Fatalf("frame not moved to IPv6: %+v", f.IP)
		}
	}
	// Same bytes once the addresses are mapped.
	want := map[dirKey]stream{}
	for k, s := range streams(t, in) {
		m := func(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(IPv6Of(a.Addr()), a.Port()) }
		want[dirKey{m(k.src), m(k.dst)}] = s
	}
	sameStreams(t, want, streams(t, back))
}

func TestSLL2(t *testing.T) {
	in := sampleTrace(t)
	out, _ := SLL2(in)
	c, _, _ := out.Encode()
	client := netip.MustParseAddr("192.0.2.10")
	for _, p := range c.Packets {
		pk := gopacket.NewPacket(p.Data, LinkSLL2, gopacket.Default)
		sll, ok := pk.Layer(layers.LayerTypeLinuxSLL2).(*layers.LinuxSLL2)
		if !ok {
			t.Fatalf("no SLL2 layer:\n%s", pk.Dump())
		}
		if sll.ARPHardwareType != 1 || sll.AddrLength != 6 || sll.InterfaceIndex != 2 {
			t.Fatalf("%+v", sll)
		}
		if ip, ok := pk.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			outgoing := sll.PacketType == layers.LinuxSLL2PacketTypeOutgoing
			if src, _ := netip.AddrFromSlice(ip.SrcIP.To4()); outgoing != (src == client || src == netip.MustParseAddr("192.0.2.11")) {
				t.Fatalf("packet type %v for %v", sll.PacketType, src)
			}
		}
	}
	sameStreams(t, streams(t, in), streams(t, roundTrip(t, out)))
}

func TestRawIP(t *testing.T) {
	in := sampleTrace(t)
	out, _ := RawIP(in)
	c, skipped, err := out.Encode()
	if err != nil || skipped != 1 || c.LinkType != 101 { // the ARP frame has no place there
		t.Fatalf("err %v, skipped %d, link %d", err, skipped, c.LinkType)
	}
	for _, p := range c.Packets {
		if v := p.Data[0] >> 4; v != 4 && v != 6 {
			t.Fatalf("packet starts with version %d", v)
		}
	}
	sameStreams(t, streams(t, in), streams(t, roundTrip(t, out)))
}

func TestTruncate(t *testing.T) {
	in := sampleTrace(t)
	c, _, _ := in.Encode()
	file := c.Bytes()
	cut, err := Truncate(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(bytes.NewReader(cut))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want unexpected EOF", err)
	}
	if want := len(c.Packets) / 2; len(got.Packets) != want {
		t.Fatalf("%d whole packets, want %d", len(got.Packets), want)
	}
	if _, err := Truncate(file[:24]); err != ErrNoRecord {
		t.Fatalf("err %v", err)
	}
}

func TestEdgeProducesEveryVariant(t *testing.T) {
	in := sampleTrace(t)
	c, _, _ := in.Encode()
	files := Edge(c)
	if len(files) != len(Variants()) {
		t.Fatalf("%d files", len(files))
	}
	for _, e := range files {
		if e.Err != nil {
			t.Fatalf("%s: %v", e.Variant, e.Err)
		}
		got, err := Read(bytes.NewReader(e.Data))
		if e.Variant == "truncate" {
			if err == nil || len(got.Packets) != e.Packets {
				t.Fatalf("truncate: %v after %d packets, want %d", err, len(got.Packets), e.Packets)
			}
			continue
		}
		if err != nil || len(got.Packets) != e.Packets {
			t.Fatalf("%s: %v, %d packets, want %d", e.Variant, err, len(got.Packets), e.Packets)
		}
	}
}

func TestNotApplicable(t *testing.T) {
	in := sampleTrace(t)
	var udpOnly Trace
	udpOnly.LinkType = LinkEthernet
	for _, f := range in.Frames {
		if f.L4 != L4TCP {
			udpOnly.Frames = append(udpOnly.Frames, f)
		}
	}
	for _, v := range Variants() {
		if strings.Contains("reorder retransmit gap midstream fragment", v.Name) {
			if _, err := v.Apply(udpOnly); !errors.Is(err, ErrNotApplicable) {
				t.Errorf("%s: err %v", v.Name, err)
			}
		}
	}
}
