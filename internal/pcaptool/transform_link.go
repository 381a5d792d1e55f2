package pcaptool

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
)

// WithTags returns t encoded as Ethernet with the given VLAN tags (outermost first) on every
// frame. MAC addresses missing from the original link layer are derived from IP addresses.
func WithTags(t Trace, tags ...VLAN) Trace {
	out := t
	out.LinkType = LinkEthernet
	out.Frames = slices.Clone(t.Frames)
	for i := range out.Frames {
		out.Frames[i].Link.Tags = tags
	}
	return out
}

// VLAN802 tags every frame with 802.1Q VLAN 100.
func VLAN802(t Trace) (Trace, error) {
	return WithTags(t, VLAN{TPID: TPIDDot1Q, TCI: 100}), nil
}

// QinQ tags every frame with an outer 802.1ad tag 200 and an inner 802.1Q tag 300.
func QinQ(t Trace) (Trace, error) {
	return WithTags(t, VLAN{TPID: TPIDDot1AD, TCI: 200}, VLAN{TPID: TPIDDot1Q, TCI: 300}), nil
}

// SLL2 rewrites the link layer as `tcpdump -i any` writes it (LINKTYPE_LINUX_SLL2): no VLAN
// tags (the kernel strips them), the sender's MAC, and the capturing host taken to be the TCP
// clients' side, so their packets are "outgoing" and the rest "host".
func SLL2(t Trace) (Trace, error) {
	local := map[netip.Addr]bool{}
	for _, c := range t.Conns() {
		local[c.Client.Addr()] = true
	}
	out := t
	out.LinkType = LinkSLL2
	out.Frames = slices.Clone(t.Frames)
	for i := range out.Frames {
		f := &out.Frames[i]
		f.Link.Tags = nil
		f.Link.PacketType = PacketHost
		if f.IP.Version != 0 && local[f.IP.Src] {
			f.Link.PacketType = PacketOutgoing
		}
	}
	return out, nil
}

// RawIP sets the link type to raw IP (101); frames that are not IP are left out when encoding.
func RawIP(t Trace) (Trace, error) {
	out := t
	out.LinkType = LinkRaw
	return out, nil
}

// ErrNoRecord is returned by Truncate for a file without any packet record.
var ErrNoRecord = errors.New("pcaptool: no packet record to cut")

// Truncate cuts a pcap file (as written by Write) half-way through the data of its middle
// record, as a capture interrupted while being written; records before it stay whole.
func Truncate(file []byte) ([]byte, error) {
	if len(file) < 24 {
		return nil, ErrNoRecord
	}
	var order binary.ByteOrder = binary.LittleEndian
	if m := binary.BigEndian.Uint32(file); m == 0xa1b2c3d4 || m == 0xa1b23c4d {
		order = binary.BigEndian
	}
	var starts []int // offset and captured length of every record
	var lens []int
	for off := 24; off+16 <= len(file); {
		caplen := int(order.Uint32(file[off+8:]))
		starts, lens = append(starts, off), append(lens, caplen)
		off += 16 + caplen
	}
	if len(starts) == 0 {
		return nil, ErrNoRecord
	}
	k := len(starts) / 2
	cut := starts[k] + 16 + lens[k]/2
	if lens[k] < 2 {
		cut = starts[k] + 8 // in the record header
	}
	return file[:cut], nil
}
