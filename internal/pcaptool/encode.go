package pcaptool

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gopacket/gopacket/layers"
)

// Link types the encoder writes.
const (
	LinkEthernet = layers.LinkTypeEthernet  // 1
	LinkRaw      = layers.LinkTypeRaw       // 101, IPv4 or IPv6 without link header
	LinkSLL2     = layers.LinkTypeLinuxSLL2 // 276, tcpdump -i any
	LinkNull     = layers.LinkTypeNull      // 0, BSD loopback
	LinkSLL      = layers.LinkTypeLinuxSLL  // 113, old tcpdump -i any
)

// ErrNotIP is returned when a link type without an EtherType (raw IP, loopback) is asked to
// carry a frame that is not IPv4 or IPv6.
var ErrNotIP = errors.New("pcaptool: link type carries only IP packets")

// Null/loopback address families (host byte order, written little-endian). IPv6 uses the
// Darwin value because macOS lo0 captures are where DLT_NULL files come from nowadays.
const (
	nullAFInet  = 2
	nullAFInet6 = 30
)

// Append encodes the frame for link type lt onto b and returns the extended slice.
// Lengths and checksums are computed; b is not modified on error.
func (f *Frame) Append(b []byte, lt layers.LinkType) ([]byte, error) {
	start := len(b)
	b, err := f.appendLink(b, lt)
	if err != nil {
		return b[:start], err
	}
	return f.AppendNetwork(b), nil
}

// appendLink writes the link-layer header for lt.
func (f *Frame) appendLink(b []byte, lt layers.LinkType) ([]byte, error) {
	src, dst := f.Link.Src, f.Link.Dst
	if src == ([6]byte{}) && f.IP.Version != 0 {
		src = MACFor(f.IP.Src)
	}
	if dst == ([6]byte{}) && f.IP.Version != 0 {
		dst = MACFor(f.IP.Dst)
	}
	switch lt {
	case LinkEthernet:
		b = append(b, dst[:]...)
		b = append(b, src[:]...)
		for _, t := range f.Link.Tags {
			b = binary.BigEndian.AppendUint16(b, t.TPID)
			b = binary.BigEndian.AppendUint16(b, t.TCI)
		}
		return binary.BigEndian.AppendUint16(b, f.EtherType), nil
	case LinkSLL2:
		b = binary.BigEndian.AppendUint16(b, f.EtherType)
		b = append(b, 0, 0) // reserved
		ifIndex := f.Link.IfIndex
		if ifIndex == 0 {
			ifIndex = 2 // first real interface on a typical Linux host
		}
		b = binary.BigEndian.AppendUint32(b, ifIndex)
		b = binary.BigEndian.AppendUint16(b, 1) // ARPHRD_ETHER
		b = append(b, f.Link.PacketType, 6)
		b = append(b, src[:]...)
		return append(b, 0, 0), nil
	case LinkSLL:
		b = binary.BigEndian.AppendUint16(b, uint16(f.Link.PacketType))
		b = binary.BigEndian.AppendUint16(b, 1) // ARPHRD_ETHER
		b = binary.BigEndian.AppendUint16(b, 6)
		b = append(b, src[:]...)
		b = append(b, 0, 0)
		return binary.BigEndian.AppendUint16(b, f.EtherType), nil
	case LinkRaw:
		if f.EtherType != EtherTypeIPv4 && f.EtherType != EtherTypeIPv6 {
			return b, ErrNotIP
		}
		return b, nil
	case LinkNull:
		switch f.EtherType {
		case EtherTypeIPv4:
			return binary.LittleEndian.AppendUint32(b, nullAFInet), nil
		case EtherTypeIPv6:
			return binary.LittleEndian.AppendUint32(b, nullAFInet6), nil
		}
		return b, ErrNotIP
	}
	return b, fmt.Errorf("pcaptool: cannot encode link type %v", lt)
}

// AppendNetwork encodes the frame from the IP header on (what raw IP captures hold).
func (f *Frame) AppendNetwork(b []byte) []byte {
	switch f.IP.Version {
	case 4:
		return f.appendIPv4(b)
	case 6:
		return f.appendIPv6(b)
	}
	return append(b, f.Payload...)
}

func (f *Frame) transportLen() int {
	switch f.L4 {
	case L4TCP:
		return 20 + (len(f.TCP.Options)+3)&^3 + len(f.Payload)
	case L4UDP:
		return 8 + len(f.Payload)
	}
	return len(f.Payload)
}

func (f *Frame) appendIPv4(b []byte) []byte {
	ip := &f.IP
	hlen := 20 + (len(ip.Options)+3)&^3
	h := len(b)
	src, dst := ip.Src.As4(), ip.Dst.As4()
	b = append(b, byte(0x40|hlen/4), ip.TOS)
	b = binary.BigEndian.AppendUint16(b, uint16(hlen+f.transportLen()))
	b = binary.BigEndian.AppendUint16(b, ip.ID)
	b = binary.BigEndian.AppendUint16(b, uint16(ip.Flags&7)<<13|(ip.FragOff/8)&0x1fff)
	b = append(b, ip.TTL, ip.Proto, 0, 0)
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	b = appendPadded(b, ip.Options)
	binary.BigEndian.PutUint16(b[h+10:], Checksum(b[h:]))
	return f.appendTransport(b)
}

func (f *Frame) appendIPv6(b []byte) []byte {
	ip := &f.IP
	src, dst := ip.Src.As16(), ip.Dst.As16()
	b = binary.BigEndian.AppendUint32(b, 6<<28|uint32(ip.TOS)<<20|ip.FlowLabel&0xfffff)
	b = binary.BigEndian.AppendUint16(b, uint16(f.transportLen()))
	b = append(b, ip.Proto, ip.TTL)
	b = append(b, src[:]...)
	b = append(b, dst[:]...)
	return f.appendTransport(b)
}

func (f *Frame) appendTransport(b []byte) []byte {
	h := len(b)
	switch f.L4 {
	case L4TCP:
		t := &f.TCP
		hlen := 20 + (len(t.Options)+3)&^3
		b = binary.BigEndian.AppendUint16(b, t.SrcPort)
		b = binary.BigEndian.AppendUint16(b, t.DstPort)
		b = binary.BigEndian.AppendUint32(b, t.Seq)
		b = binary.BigEndian.AppendUint32(b, t.Ack)
		b = append(b, byte(hlen/4)<<4, byte(t.Flags))
		b = binary.BigEndian.AppendUint16(b, t.Window)
		b = append(b, 0, 0) // checksum
		b = binary.BigEndian.AppendUint16(b, t.Urgent)
		b = appendPadded(b, t.Options)
		b = append(b, f.Payload...)
		binary.BigEndian.PutUint16(b[h+16:], TransportChecksum(f.IP.Src, f.IP.Dst, ProtoTCP, b[h:]))
	case L4UDP:
		b = binary.BigEndian.AppendUint16(b, f.UDP.SrcPort)
		b = binary.BigEndian.AppendUint16(b, f.UDP.DstPort)
		b = binary.BigEndian.AppendUint16(b, uint16(8+len(f.Payload)))
		b = append(b, 0, 0)
		b = append(b, f.Payload...)
		c := TransportChecksum(f.IP.Src, f.IP.Dst, ProtoUDP, b[h:])
		if c == 0 {
			c = 0xffff // 0 means "no checksum" in UDP (RFC 768)
		}
		binary.BigEndian.PutUint16(b[h+6:], c)
	default:
		b = append(b, f.Payload...)
	}
	return b
}

// appendPadded appends options padded with zero bytes (end-of-option-list) to 4 bytes.
func appendPadded(b, opts []byte) []byte {
	b = append(b, opts...)
	for i := len(opts); i%4 != 0; i++ {
		b = append(b, 0)
	}
	return b
}
