// Package respond ends TCP sessions from the tap: it builds the reset
// segments each endpoint will accept and sends them on an interface.
//
// RFC 793 section 3.4 accepts a reset anywhere in the receive window;
// RFC 5961 section 3 (Linux since 3.6) accepts it only at exactly the next
// expected sequence number (RCV.NXT) and answers any other in-window reset
// with a "challenge ACK" that carries RCV.NXT. The tap has seen the last
// segments of both directions, so it knows what each end expects: the
// other end's last sequence number plus its length. What it cannot see
// (data in flight, a segment it missed) it learns from the challenge ACK
// and from a keepalive-style probe (RFC 1122 4.2.3.6: a segment one byte
// behind, which a live end answers with an ACK and a closed one with a RST).
//
// Everything here runs on the capture goroutine: the state is the engine's
// per-session bookkeeping, and sending a frame is one sendto on a packet
// socket.
package respond

import (
	"encoding/binary"
)

// TCP flags (RFC 9293 3.1).
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagPSH = 0x08
	flagACK = 0x10
)

// MaxLinkHeader bounds the link header kept per direction: Ethernet with
// up to four VLAN tags (802.1Q, 802.1ad QinQ).
const MaxLinkHeader = 14 + 4*4

// EthernetHeaderLen returns the length of an Ethernet frame's header with
// its VLAN tags (the bytes before the IP header), or 0 when the frame is
// not Ethernet carrying IP within MaxLinkHeader.
func EthernetHeaderLen(frame []byte) int {
	off := 12
	for off+2 <= len(frame) && off+2 <= MaxLinkHeader {
		switch binary.BigEndian.Uint16(frame[off:]) {
		case 0x8100, 0x88a8, 0x9100: // VLAN tag: 2 bytes type + 2 bytes TCI
			off += 4
		case 0x0800, 0x86dd:
			return off + 2
		default:
			return 0
		}
	}
	return 0
}

// Side is what the tap last saw one endpoint send.
type Side struct {
	L2    [MaxLinkHeader]byte // link header of its last frame: MACs and VLAN tags as on the wire
	L2Len uint8
	Seen  bool   // a segment of it was seen since tracking began
	Acked bool   // Ack is known
	Next  uint32 // the sequence number after its last segment: the peer's RCV.NXT
	Ack   uint32 // its last acknowledgment: its own RCV.NXT as far as it told
	Win   uint16
}

// Conn is one session's state for responses. Endpoint indexes are the
// engine's (0 and 1 of the flow key); Client says which is the client.
type Conn struct {
	Side   [2]Side
	IPv6   bool
	Addr   [2][16]byte // IPv4 in the first 4 bytes
	Port   [2]uint16
	Client int8
	// Term is the termination in progress, nil when none.
	Term *Termination
	// Done, when set, is told the outcome (the engine: record and event).
	Done func(t *Termination)
}

func seqGT(a, b uint32) bool { return int32(a-b) > 0 }

// Observe notes a segment endpoint ep sent. l2 is the frame's link header
// (nil when the link has none to keep). Costs a few stores; the header is
// copied only when it changed length (its bytes rarely change).
func (c *Conn) Observe(ep int, l2 []byte, seq, ack uint32, flags uint8, plen int, win uint16) {
	s := &c.Side[ep]
	if len(l2) > 0 && len(l2) <= MaxLinkHeader {
		if int(s.L2Len) != len(l2) || !s.Seen {
			s.L2Len = uint8(copy(s.L2[:], l2))
		}
	}
	end := seq + uint32(plen)
	if flags&(flagSYN|flagFIN) != 0 {
		end++
	}
	if !s.Seen || seqGT(end, s.Next) {
		s.Next = end
	}
	if flags&flagACK != 0 && (!s.Acked || seqGT(ack, s.Ack)) {
		s.Ack, s.Acked = ack, true
	}
	if flags&flagRST == 0 {
		s.Win = win
	}
	s.Seen = true
}

// build writes a frame from endpoint from to the other one into buf and
// returns it: the link header of from's last frame (or the other side's
// with the MACs swapped), an IP header and a TCP header with correct
// checksums, and payload.
func (c *Conn) build(buf []byte, from int, seq, ack uint32, flags uint8, win uint16, payload []byte) []byte {
	to := 1 - from
	var l2 []byte
	swap := false
	if s := &c.Side[from]; s.L2Len > 0 {
		l2 = s.L2[:s.L2Len]
	} else if s := &c.Side[to]; s.L2Len > 0 {
		l2, swap = s.L2[:s.L2Len], true
	}
	buf = append(buf[:0], l2...)
	if swap { // the other direction's frame: exchange destination and source MACs
		var m [6]byte
		copy(m[:], buf[0:6])
		copy(buf[0:6], buf[6:12])
		copy(buf[6:12], m[:])
	}
	ipStart := len(buf)
	tcpLen := 20 + len(payload)
	if c.IPv6 {
		var h [40]byte
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(tcpLen))
		h[6] = 6  // next header: TCP
		h[7] = 64 // hop limit
		copy(h[8:24], c.Addr[from][:16])
		copy(h[24:40], c.Addr[to][:16])
		buf = append(buf, h[:]...)
	} else {
		var h [20]byte
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(20+tcpLen))
		h[6] = 0x40 // don't fragment
		h[8] = 64   // TTL
		h[9] = 6    // TCP
		copy(h[12:16], c.Addr[from][:4])
		copy(h[16:20], c.Addr[to][:4])
		binary.BigEndian.PutUint16(h[10:], ^foldSum(sum(0, h[:])))
		buf = append(buf, h[:]...)
	}
	tcpStart := len(buf)
	var t [20]byte
	binary.BigEndian.PutUint16(t[0:], c.Port[from])
	binary.BigEndian.PutUint16(t[2:], c.Port[to])
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12] = 5 << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:], win)
	buf = append(buf, t[:]...)
	buf = append(buf, payload...)
	// Checksum over the pseudo-header (RFC 9293 3.1, RFC 8200 8.1) and the segment.
	var s uint32
	if c.IPv6 {
		s = sum(s, buf[ipStart+8:ipStart+40])
	} else {
		s = sum(s, buf[ipStart+12:ipStart+20])
	}
	s += 6 + uint32(tcpLen)
	s = sum(s, buf[tcpStart:])
	binary.BigEndian.PutUint16(buf[tcpStart+16:], ^foldSum(s))
	return buf
}

// sum adds b as big-endian 16-bit words (RFC 1071).
func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func foldSum(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
