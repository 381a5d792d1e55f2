// Package decode turns a captured frame into the few facts the flow table needs:
// addresses, ports, TCP sequence numbers and flags, and the transport payload.
//
// It is written for speed rather than generality: one pass over the bytes, no
// allocation, no interface calls. It understands the link layers met on SPAN
// ports and in captures (Ethernet with 802.1Q/802.1ad/QinQ tags, Linux SLL and
// SLL2 as `tcpdump -i any` writes them, raw IP, BSD null/loopback), IPv4 (RFC 791)
// and IPv6 (RFC 8200) with its extension headers, TCP (RFC 9293) and UDP (RFC 768).
// IPv4 and IPv6 fragments are handed to a Defragmenter (see defrag.go).
package decode

import (
	"encoding/binary"
	"errors"
)

// Link types, as numbered by tcpdump.org's LINKTYPE_ registry.
const (
	LinkNull     = 0   // BSD loopback: 4-byte address family in host order
	LinkEthernet = 1   // IEEE 802.3
	LinkRaw      = 101 // raw IPv4 or IPv6
	LinkRawAlt12 = 12  // DLT_RAW on some BSDs
	LinkRawAlt14 = 14  // DLT_RAW on OpenBSD
	LinkLoop     = 108 // OpenBSD loopback: family in network order
	LinkSLL      = 113 // Linux cooked capture v1
	LinkIPv4     = 228
	LinkIPv6     = 229
	LinkSLL2     = 276 // Linux cooked capture v2
)

// IP protocol numbers used here.
const (
	ProtoIPIP     = 4
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoIPv6inIP = 41
	ProtoGRE      = 47
)

// TCP flags (RFC 9293 §3.1).
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
)

// Reasons a frame is not decoded. They are values, not wrapped errors, so the
// hot path can count them without allocating.
var (
	ErrTruncated   = errors.New("truncated frame")
	ErrNotIP       = errors.New("not IP")
	ErrBadIP       = errors.New("malformed IP header")
	ErrNotTCPUDP   = errors.New("neither TCP nor UDP")
	ErrBadL4       = errors.New("malformed TCP/UDP header")
	ErrFragment    = errors.New("IP fragment held for reassembly")
	ErrUnknownLink = errors.New("unsupported link type")
)

// Packet is filled in place by Decoder.Decode. Payload aliases the frame (or
// the defragmenter's buffer): copy what you keep.
type Packet struct {
	IPv6    bool
	Src     [16]byte // IPv4 in the first 4 bytes
	Dst     [16]byte
	Proto   uint8
	SrcPort uint16
	DstPort uint16
	Seq     uint32
	Ack     uint32
	Flags   uint8
	Window  uint16
	Payload []byte
	// WireLen is the IP packet length (header included) as the sender sent it.
	WireLen int
	// Truncated is true when the capture cut the payload short (snaplen).
	Truncated bool
	// Reassembled is true when the packet was rebuilt from IP fragments.
	Reassembled bool
}

// Decoder decodes frames of one link type. It is not safe for concurrent use.
type Decoder struct {
	LinkType int
	Defrag   *Defragmenter // nil: fragments are dropped
	depth    int           // tunnels unwrapped for the current frame
}

// Decode parses frame into p. ts (packet time, ns) only matters for fragment expiry.
func (d *Decoder) Decode(frame []byte, ts int64, p *Packet) error {
	var (
		ip    []byte
		isV6  bool
		known bool
	)
	switch d.LinkType {
	case LinkEthernet:
		var err error
		if ip, isV6, known, err = ethernet(frame); err != nil {
			return err
		}
	case LinkSLL:
		if len(frame) < 16 {
			return ErrTruncated
		}
		ip, isV6, known = etherIP(binary.BigEndian.Uint16(frame[14:16]), frame[16:])
	case LinkSLL2:
		if len(frame) < 20 {
			return ErrTruncated
		}
		ip, isV6, known = etherIP(binary.BigEndian.Uint16(frame[0:2]), frame[20:])
	case LinkRaw, LinkRawAlt12, LinkRawAlt14, LinkIPv4, LinkIPv6:
		if len(frame) < 1 {
			return ErrTruncated
		}
		ip, isV6, known = frame, frame[0]>>4 == 6, frame[0]>>4 == 4 || frame[0]>>4 == 6
	case LinkNull, LinkLoop:
		if len(frame) < 4 {
			return ErrTruncated
		}
		// The family's byte order depends on the writer; accept both. AF_INET is 2
		// everywhere; AF_INET6 is 10, 24, 28 or 30 depending on the OS.
		fam := binary.LittleEndian.Uint32(frame[:4])
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(frame[:4])
		}
		switch fam {
		case 2:
			ip, known = frame[4:], true
		case 10, 24, 28, 30:
			ip, isV6, known = frame[4:], true, true
		}
	default:
		return ErrUnknownLink
	}
	if !known {
		return ErrNotIP
	}
	d.depth = 0
	if isV6 {
		return d.ipv6(ip, ts, p)
	}
	return d.ipv4(ip, ts, p)
}

// ethernet strips an Ethernet II header and up to four stacked VLAN tags
// (802.1Q, 802.1ad, the older QinQ 0x9100).
func ethernet(frame []byte) (ip []byte, isV6, known bool, err error) {
	if len(frame) < 14 {
		return nil, false, false, ErrTruncated
	}
	etype := binary.BigEndian.Uint16(frame[12:14])
	rest := frame[14:]
	for i := 0; i < 4 && (etype == 0x8100 || etype == 0x88a8 || etype == 0x9100); i++ {
		if len(rest) < 4 {
			return nil, false, false, ErrTruncated
		}
		etype = binary.BigEndian.Uint16(rest[2:4])
		rest = rest[4:]
	}
	ip, isV6, known = etherIP(etype, rest)
	return ip, isV6, known, nil
}

func etherIP(etype uint16, rest []byte) ([]byte, bool, bool) {
	switch etype {
	case 0x0800:
		return rest, false, true
	case 0x86dd:
		return rest, true, true
	}
	return nil, false, false
}

func (d *Decoder) ipv4(b []byte, ts int64, p *Packet) error {
	if len(b) < 20 {
		return ErrTruncated
	}
	if b[0]>>4 != 4 {
		return ErrBadIP
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < 20 || total < ihl {
		return ErrBadIP
	}
	if len(b) < ihl {
		return ErrTruncated
	}
	p.IPv6 = false
	p.Src = [16]byte{}
	p.Dst = [16]byte{}
	copy(p.Src[:4], b[12:16])
	copy(p.Dst[:4], b[16:20])
	p.Proto = b[9]
	p.WireLen = total
	p.Reassembled = false
	payload := b[ihl:]
	truncated := false
	if len(b) >= total {
		payload = b[ihl:total] // drop Ethernet padding
	} else {
		truncated = true
	}
	fragField := binary.BigEndian.Uint16(b[6:8])
	if fragField&0x3fff != 0 { // MF set or offset non-zero
		if d.Defrag == nil || truncated {
			return ErrFragment
		}
		whole, ok := d.Defrag.Add(fragKey4(b), int(fragField&0x1fff)*8, fragField&0x2000 != 0, payload, ts)
		if !ok {
			return ErrFragment
		}
		payload = whole
		p.Reassembled = true
		p.WireLen = ihl + len(whole)
	}
	return d.transport(p, payload, truncated, ts)
}

func (d *Decoder) ipv6(b []byte, ts int64, p *Packet) error {
	if len(b) < 40 {
		return ErrTruncated
	}
	if b[0]>>4 != 6 {
		return ErrBadIP
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	p.IPv6 = true
	copy(p.Src[:], b[8:24])
	copy(p.Dst[:], b[24:40])
	p.WireLen = 40 + plen
	p.Reassembled = false
	payload := b[40:]
	truncated := false
	if len(payload) >= plen {
		payload = payload[:plen]
	} else {
		truncated = true
	}
	next := b[6]
	// Walk extension headers (RFC 8200 §4). Bounded: at most 8 of them.
	for i := 0; i < 8; i++ {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(payload) < 8 {
				return ErrTruncated
			}
			n := (int(payload[1]) + 1) * 8
			if len(payload) < n {
				return ErrTruncated
			}
			next = payload[0]
			payload = payload[n:]
			continue
		case 44: // fragment
			if len(payload) < 8 {
				return ErrTruncated
			}
			off := int(binary.BigEndian.Uint16(payload[2:4]) &^ 7)
			more := payload[3]&1 != 0
			id := binary.BigEndian.Uint32(payload[4:8])
			next = payload[0]
			frag := payload[8:]
			if off == 0 && !more { // atomic fragment (RFC 6946)
				payload = frag
				continue
			}
			if d.Defrag == nil || truncated {
				return ErrFragment
			}
			whole, ok := d.Defrag.Add(fragKey6(b, id, next), off, more, frag, ts)
			if !ok {
				return ErrFragment
			}
			payload = whole
			p.Reassembled = true
			continue
		}
		break
	}
	p.Proto = next
	return d.transport(p, payload, truncated, ts)
}

func (d *Decoder) transport(p *Packet, b []byte, truncated bool, ts int64) error {
	p.Truncated = truncated
	switch p.Proto {
	case ProtoIPIP, ProtoIPv6inIP, ProtoGRE:
		return d.tunnel(p, b, ts)
	case ProtoTCP:
		if len(b) < 20 {
			return ErrBadL4
		}
		off := int(b[12]>>4) * 4
		if off < 20 || off > len(b) {
			return ErrBadL4
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.Seq = binary.BigEndian.Uint32(b[4:8])
		p.Ack = binary.BigEndian.Uint32(b[8:12])
		p.Flags = b[13]
		p.Window = binary.BigEndian.Uint16(b[14:16])
		p.Payload = b[off:]
		return nil
	case ProtoUDP:
		if len(b) < 8 {
			return ErrBadL4
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		ulen := int(binary.BigEndian.Uint16(b[4:6]))
		p.Seq, p.Ack, p.Flags, p.Window = 0, 0, 0, 0
		if ulen >= 8 && ulen <= len(b) {
			p.Payload = b[8:ulen]
		} else {
			p.Payload = b[8:]
		}
		if p.DstPort == portVXLAN || p.DstPort == portGeneve {
			if err := d.udpTunnel(p, ts); err != errNotTunnel {
				return err
			}
		}
		return nil
	}
	return ErrNotTCPUDP
}
