package pcaptool

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// Decode splits a captured packet into a Frame. It never fails: whatever it cannot parse
// (unknown link or network protocols, packets cut by the snaplen) stays as opaque bytes so that
// encoding the frame again gives the same packet back, apart from recomputed checksums and
// dropped Ethernet padding. Payload and option slices alias p.Data.
func Decode(lt layers.LinkType, p Packet) Frame {
	f := Frame{Time: p.Time, Missing: p.OrigLen() - len(p.Data)}
	net, ok := f.decodeLink(lt, p.Data)
	if !ok {
		f.Payload = p.Data
		return f
	}
	f.Payload = net
	f.decodeIP(net)
	return f
}

// decodeLink fills the link fields and EtherType and returns the network-layer bytes.
func (f *Frame) decodeLink(lt layers.LinkType, b []byte) ([]byte, bool) {
	switch lt {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return nil, false
		}
		copy(f.Link.Dst[:], b[0:6])
		copy(f.Link.Src[:], b[6:12])
		et := binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		for (et == TPIDDot1Q || et == TPIDDot1AD || et == 0x9100) && len(b) >= 4 {
			f.Link.Tags = append(f.Link.Tags, VLAN{TPID: et, TCI: binary.BigEndian.Uint16(b)})
			et = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		}
		f.EtherType = et
		return b, true
	case layers.LinkTypeLinuxSLL2:
		if len(b) < 20 {
			return nil, false
		}
		f.EtherType = binary.BigEndian.Uint16(b)
		f.Link.IfIndex = binary.BigEndian.Uint32(b[4:])
		f.Link.PacketType = b[10]
		copy(f.Link.Src[:], b[12:18])
		return b[20:], true
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return nil, false
		}
		f.Link.PacketType = b[1]
		copy(f.Link.Src[:], b[6:12])
		f.EtherType = binary.BigEndian.Uint16(b[14:])
		return b[16:], true
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return b, f.setEtherTypeFromVersion(b)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(b) < 4 {
			return nil, false
		}
		af := binary.LittleEndian.Uint32(b)
		if lt == layers.LinkTypeLoop || af > 0xffff { // Loop is network order; so is Null from big-endian hosts
			af = binary.BigEndian.Uint32(b)
		}
		switch af {
		case nullAFInet:
			f.EtherType = EtherTypeIPv4
		case 10, 24, 28, 30: // AF_INET6 on Linux, the BSDs and Darwin
			f.EtherType = EtherTypeIPv6
		default:
			return nil, false
		}
		return b[4:], true
	}
	return nil, false
}

func (f *Frame) setEtherTypeFromVersion(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] >> 4 {
	case 4:
		f.EtherType = EtherTypeIPv4
	case 6:
		f.EtherType = EtherTypeIPv6
	default:
		return false
	}
	return true
}

// decodeIP parses an IPv4/IPv6 packet and its TCP/UDP header; on any inconsistency it leaves
// IP.Version at 0 so the bytes are kept as they are.
func (f *Frame) decodeIP(b []byte) {
	var payload []byte
	switch {
	case f.EtherType == EtherTypeIPv4 && len(b) >= 20 && b[0]>>4 == 4:
		hlen := int(b[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(b[2:]))
		if hlen < 20 || total < hlen || total > len(b) {
			return // truncated by the snaplen or malformed
		}
		fo := binary.BigEndian.Uint16(b[6:])
		f.IP = IP{
			Version: 4, TOS: b[1], ID: binary.BigEndian.Uint16(b[4:]),
			Flags: uint8(fo >> 13), FragOff: (fo & 0x1fff) * 8, TTL: b[8], Proto: b[9],
			Src: netip.AddrFrom4([4]byte(b[12:16])), Dst: netip.AddrFrom4([4]byte(b[16:20])),
			Options: b[20:hlen:hlen],
		}
		payload = b[hlen:total]
	case f.EtherType == EtherTypeIPv6 && len(b) >= 40 && b[0]>>4 == 6:
		plen := int(binary.BigEndian.Uint16(b[4:]))
		if plen == 0 || 40+plen > len(b) {
			return // jumbogram, truncated or malformed
		}
		vtf := binary.BigEndian.Uint32(b)
		f.IP = IP{
			Version: 6, TOS: uint8(vtf >> 20), FlowLabel: vtf & 0xfffff, Proto: b[6], TTL: b[7],
			Src: netip.AddrFrom16([16]byte(b[8:24])), Dst: netip.AddrFrom16([16]byte(b[24:40])),
		}
		payload = b[40 : 40+plen]
	default:
		return
	}
	f.L4, f.Payload = L4Raw, payload
	if f.IP.IsFragment() {
		return
	}
	switch f.IP.Proto {
	case ProtoTCP:
		if len(payload) < 20 {
			return
		}
		hlen := int(payload[12]>>4) * 4
		if hlen < 20 || hlen > len(payload) {
			return
		}
		f.L4 = L4TCP
		f.TCP = TCP{
			SrcPort: binary.BigEndian.Uint16(payload), DstPort: binary.BigEndian.Uint16(payload[2:]),
			Seq: binary.BigEndian.Uint32(payload[4:]), Ack: binary.BigEndian.Uint32(payload[8:]),
			Flags: TCPFlags(payload[13]), Window: binary.BigEndian.Uint16(payload[14:]),
			Urgent: binary.BigEndian.Uint16(payload[18:]), Options: payload[20:hlen:hlen],
		}
		f.Payload = payload[hlen:]
	case ProtoUDP:
		if len(payload) < 8 {
			return
		}
		ulen := int(binary.BigEndian.Uint16(payload[4:]))
		if ulen < 8 || ulen > len(payload) {
			ulen = len(payload) // trust the IP length over a bad UDP length
		}
		f.L4 = L4UDP
		f.UDP = UDP{SrcPort: binary.BigEndian.Uint16(payload), DstPort: binary.BigEndian.Uint16(payload[2:])}
		f.Payload = payload[8:ulen]
	}
}
