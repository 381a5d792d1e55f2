package rdp

import "encoding/binary"

// RDP over UDP (MS-RDPEUDP): the connection starts with a SYN datagram from
// the client and a SYN+ACK from the server (3.1.5.1.1, 3.1.5.1.2). All
// fields are in network byte order.

// RDPUDP_FEC_HEADER uFlags (2.2.2.1).
const (
	udpFlagSYN           = 0x0001
	udpFlagACK           = 0x0004
	udpFlagSYNLossy      = 0x0200
	udpFlagCorrelationID = 0x0800
	udpFlagSYNEx         = 0x1000
)

// MTU bounds of RDPUDP_SYNDATA_PAYLOAD (2.2.2.5).
const (
	udpMinMTU = 1132
	udpMaxMTU = 1232
)

// UDPSyn is what a SYN or SYN+ACK datagram says.
type UDPSyn struct {
	SourceAck  uint32
	Flags      uint16
	InitialSeq uint32
	UpMTU      uint16
	DownMTU    uint16
	Version    uint16 // RDPUDP_SYNDATAEX_PAYLOAD uUdpVer (2.2.2.9), 0 when absent
}

// ParseUDPSyn reads a SYN (ack false) or SYN+ACK (ack true) datagram and
// reports whether its shape is right: the flags, snSourceAck -1 for a SYN,
// MTUs within 1132..1232 (2.2.2.5).
func ParseUDPSyn(d []byte, ack bool) (*UDPSyn, bool) {
	if len(d) < 16 {
		return nil, false
	}
	s := &UDPSyn{
		SourceAck: binary.BigEndian.Uint32(d[0:4]), Flags: binary.BigEndian.Uint16(d[6:8]),
		InitialSeq: binary.BigEndian.Uint32(d[8:12]), UpMTU: binary.BigEndian.Uint16(d[12:14]),
		DownMTU: binary.BigEndian.Uint16(d[14:16]),
	}
	if s.Flags&udpFlagSYN == 0 || (s.Flags&udpFlagACK != 0) != ack {
		return nil, false
	}
	if !ack && s.SourceAck != 0xFFFFFFFF {
		return nil, false
	}
	for _, m := range []uint16{s.UpMTU, s.DownMTU} {
		if m < udpMinMTU || m > udpMaxMTU {
			return nil, false
		}
	}
	rest := d[16:]
	if s.Flags&udpFlagCorrelationID != 0 && !ack {
		if len(rest) < 32 {
			return nil, false
		}
		rest = rest[32:] // RDPUDP_CORRELATION_ID_PAYLOAD: 16-byte id, 16 reserved
	}
	if s.Flags&udpFlagSYNEx != 0 && len(rest) >= 4 {
		s.Version = binary.BigEndian.Uint16(rest[2:4])
	}
	return s, true
}

// UDPVersionName names uUdpVer (2.2.2.9): RDPUDP_PROTOCOL_VERSION_1/2, and
// 3 (0x0101), which is MS-RDPEUDP2.
func UDPVersionName(v uint16) string {
	switch v {
	case 0, 1:
		return "1"
	case 2:
		return "2"
	case 0x0101:
		return "3"
	}
	return ""
}
