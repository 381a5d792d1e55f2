// Package pcaptool crafts and transforms packet captures for psmtap's tests and benchmarks.
//
// It reads pcap/pcapng files, decodes frames down to TCP/UDP into plain structs (Frame),
// re-encodes them with correct lengths and checksums on any supported link type, synthesizes
// whole TCP conversations (Conversation) and derives edge-case variants of a capture
// (reordering, retransmission, gaps, mid-stream pickup, IPv4 fragments, VLAN/QinQ, IPv6,
// SLL2, raw IP, truncated files) that keep the TCP payload intact.
//
// It is test tooling: the decoder is deliberately simple and lossless rather than complete,
// and anything it does not understand is carried through as opaque bytes.
package pcaptool

import (
	"net/netip"
	"time"
)

// EtherTypes and IP protocol numbers used by the builders.
const (
	EtherTypeIPv4 uint16 = 0x0800
	EtherTypeARP  uint16 = 0x0806
	EtherTypeIPv6 uint16 = 0x86dd
	TPIDDot1Q     uint16 = 0x8100 // 802.1Q customer tag
	TPIDDot1AD    uint16 = 0x88a8 // 802.1ad service (outer QinQ) tag

	ProtoTCP uint8 = 6
	ProtoUDP uint8 = 17
)

// SLL2 / SLL packet types (who the capturing host thinks the packet was for).
const (
	PacketHost     uint8 = 0 // addressed to this host
	PacketOutgoing uint8 = 4 // sent by this host
)

// TCPFlags holds the eight classic TCP flag bits as they appear in byte 13 of the header.
type TCPFlags uint8

// TCP flag bits.
const (
	FIN TCPFlags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// IPv4 header flag bits (the 3-bit field above the fragment offset).
const (
	IPv4MoreFragments uint8 = 1
	IPv4DontFragment  uint8 = 2
)

// L4 says how Frame.Payload is to be read.
type L4 uint8

// Transport kinds of a Frame.
const (
	L4Raw L4 = iota // Payload is the IP payload as is (fragments, ICMP, IPv6 extension headers...)
	L4TCP           // TCP header in Frame.TCP, Payload is the segment data
	L4UDP           // UDP header in Frame.UDP, Payload is the datagram data
)

// VLAN is one 802.1Q/802.1ad tag.
type VLAN struct {
	TPID uint16 // TPIDDot1Q or TPIDDot1AD
	TCI  uint16 // priority (3 bits), DEI (1 bit), VLAN ID (12 bits)
}

// ID returns the 12-bit VLAN identifier.
func (v VLAN) ID() uint16 { return v.TCI & 0x0fff }

// Link is what a frame carries below IP. Fields a link type does not have are ignored when
// encoding; absent MAC addresses are derived from the IP addresses.
type Link struct {
	Src, Dst   [6]byte
	Tags       []VLAN // outermost first; Ethernet only
	PacketType uint8  // SLL/SLL2 packet type
	IfIndex    uint32 // SLL2 interface index
}

// IP is an IPv4 or IPv6 header. Lengths and the IPv4 header checksum are computed when encoding.
type IP struct {
	Version   uint8 // 4 or 6; 0 when the frame holds no decoded IP packet
	Src, Dst  netip.Addr
	Proto     uint8 // IPv4 protocol / IPv6 next header
	TOS       uint8 // IPv4 type of service / IPv6 traffic class
	TTL       uint8 // IPv4 TTL / IPv6 hop limit
	ID        uint16
	Flags     uint8  // IPv4MoreFragments | IPv4DontFragment
	FragOff   uint16 // fragment offset in bytes (a multiple of 8)
	FlowLabel uint32
	Options   []byte // IPv4 options, a multiple of 4 bytes
}

// IsFragment reports whether the packet is an IPv4 fragment (not a whole datagram).
func (ip *IP) IsFragment() bool {
	return ip.Version == 4 && (ip.Flags&IPv4MoreFragments != 0 || ip.FragOff != 0)
}

// TCP is a TCP header; the data offset and checksum are computed when encoding.
type TCP struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            TCPFlags
	Window, Urgent   uint16
	Options          []byte // padded to a multiple of 4 when encoding
}

// UDP is a UDP header; length and checksum are computed when encoding.
type UDP struct {
	SrcPort, DstPort uint16
}

// Frame is one packet decoded into editable parts. Encoding it again yields a valid packet
// with recomputed lengths and checksums.
type Frame struct {
	Time      time.Time
	Link      Link
	EtherType uint16 // network protocol above the link layer
	IP        IP
	L4        L4
	TCP       TCP
	UDP       UDP
	// Payload is the transport payload (L4TCP/L4UDP), the IP payload (L4Raw), or the whole
	// network-layer packet when IP.Version is 0 (ARP, truncated or unparsable packets).
	Payload []byte
	// Missing counts bytes of the original packet that were not captured (snaplen).
	Missing int
}

// Flow returns the frame's source and destination transport endpoints (ports are 0 for L4Raw).
func (f *Frame) Flow() (src, dst netip.AddrPort) {
	var sp, dp uint16
	switch f.L4 {
	case L4TCP:
		sp, dp = f.TCP.SrcPort, f.TCP.DstPort
	case L4UDP:
		sp, dp = f.UDP.SrcPort, f.UDP.DstPort
	}
	return netip.AddrPortFrom(f.IP.Src, sp), netip.AddrPortFrom(f.IP.Dst, dp)
}

// IsTCPData reports whether the frame is a TCP segment carrying payload.
func (f *Frame) IsTCPData() bool { return f.L4 == L4TCP && len(f.Payload) > 0 }

// Clone returns a deep copy whose slices may be changed without touching f.
func (f *Frame) Clone() Frame {
	c := *f
	c.Link.Tags = append([]VLAN(nil), f.Link.Tags...)
	c.IP.Options = append([]byte(nil), f.IP.Options...)
	c.TCP.Options = append([]byte(nil), f.TCP.Options...)
	c.Payload = append([]byte(nil), f.Payload...)
	return c
}

// MACFor derives a locally administered MAC address from an IP address (02:00 + last 4 bytes),
// so synthesized Ethernet frames get stable, distinct addresses per host.
func MACFor(a netip.Addr) [6]byte {
	var m [6]byte
	m[0] = 0x02
	s := a.AsSlice()
	if len(s) >= 4 {
		copy(m[2:], s[len(s)-4:])
	}
	return m
}
