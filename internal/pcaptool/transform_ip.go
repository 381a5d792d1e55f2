package pcaptool

import (
	"net/netip"
	"slices"
)

// FragmentIPv4 splits every IPv4 packet carrying TCP payload into fragments: two and three in
// turn (fewer when the packet is small), at 8-byte aligned offsets, keeping the TCP header in
// the first fragment when it fits. Every third fragmented packet sends its fragments in reverse
// order. Each fragmented packet gets a fresh IP ID so that fragments of different packets never
// mix, and DF is cleared.
func FragmentIPv4(t Trace) (Trace, error) {
	out := t
	out.Frames = make([]Frame, 0, len(t.Frames)*2)
	var id uint16 = 0x8000
	n := 0
	for _, f := range t.Frames {
		if f.IP.Version != 4 || f.IP.IsFragment() || !f.IsTCPData() {
			out.Frames = append(out.Frames, f)
			continue
		}
		seg := f.appendTransport(nil) // TCP header with its checksum, plus payload
		chunk := fragmentSize(len(seg), 2+n%2, 20+len(f.TCP.Options))
		frags := make([]Frame, 0, 3)
		for off := 0; off < len(seg); off += chunk {
			end := min(off+chunk, len(seg))
			fr := f
			fr.L4, fr.Payload = L4Raw, seg[off:end]
			fr.IP.ID, fr.IP.FragOff, fr.IP.Flags = id, uint16(off), 0
			if end < len(seg) {
				fr.IP.Flags = IPv4MoreFragments
			}
			if off > 0 {
				fr.IP.Options = nil // options are not copied into later fragments here
			}
			frags = append(frags, fr)
		}
		if n%3 == 2 {
			slices.Reverse(frags)
		}
		out.Frames = append(out.Frames, frags...)
		id++
		n++
	}
	if n == 0 {
		return t, ErrNotApplicable
	}
	return out, nil
}

// fragmentSize returns the fragment payload size for splitting l bytes into about parts pieces:
// a multiple of 8, at least the TCP header when that still leaves a second fragment.
func fragmentSize(l, parts, tcpHeader int) int {
	up8 := func(x int) int { return (x + 7) &^ 7 }
	chunk := max(up8((l+parts-1)/parts), up8(tcpHeader))
	if chunk >= l {
		chunk = (l - 1) &^ 7 // header split across fragments: only for tiny segments
	}
	return max(chunk, 8)
}

// IPv6Of maps an IPv4 address into the documentation prefix: a.b.c.d -> 2001:db8::a.b.c.d.
func IPv6Of(a netip.Addr) netip.Addr {
	v4 := a.As4()
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 12: v4[0], v4[1], v4[2], v4[3]})
}

// ToIPv6 rewrites every unfragmented IPv4 TCP/UDP packet as IPv6 between the mapped addresses
// (IPv6Of); TOS becomes the traffic class and TTL the hop limit. Encoding recomputes lengths and
// checksums. Other packets (ICMP, fragments, ARP) stay as they are.
func ToIPv6(t Trace) (Trace, error) {
	out := t
	out.Frames = slices.Clone(t.Frames)
	n := 0
	for i := range out.Frames {
		f := &out.Frames[i]
		if f.IP.Version != 4 || f.IP.IsFragment() || f.L4 == L4Raw {
			continue
		}
		f.IP = IP{Version: 6, Src: IPv6Of(f.IP.Src), Dst: IPv6Of(f.IP.Dst), Proto: f.IP.Proto, TOS: f.IP.TOS, TTL: f.IP.TTL}
		f.EtherType = EtherTypeIPv6
		n++
	}
	if n == 0 {
		return t, ErrNotApplicable
	}
	return out, nil
}
