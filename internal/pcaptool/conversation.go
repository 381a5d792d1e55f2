package pcaptool

import (
	"hash/fnv"
	"net/netip"
	"time"
)

// Close says how a synthesized conversation ends.
type Close uint8

// Ways to end a conversation.
const (
	CloseFIN  Close = iota // FIN from the client, FIN+ACK from the server, last ACK
	CloseRST               // RST+ACK from the client
	CloseNone              // left open
)

// Message is one application-level write in a synthesized conversation.
type Message struct {
	Dir  Dir
	At   time.Duration // offset from the conversation start; never earlier than the previous packet
	Data []byte
}

// Conversation synthesizes a TCP connection segment by segment. Segment is the primitive (one
// frame, sequence numbers kept); Synthesize builds a whole connection from messages.
// The zero values of MSS, Window, TTL and RTT mean 1448, 64240, 64 and 1ms.
type Conversation struct {
	Client, Server       netip.AddrPort
	ClientISN, ServerISN uint32 // 0: derived from the endpoints, so runs are reproducible
	MSS                  int
	Window               uint16
	TTL                  uint8
	RTT                  time.Duration // time between a segment and the peer's answer
	Close                Close

	next  [2]uint32 // next sequence number per sender (index: Dir)
	ipID  [2]uint16
	init  bool
	frame Frame
	opts  [4]byte
}

// NewConversation returns a conversation between client and server with default settings.
func NewConversation(client, server netip.AddrPort) *Conversation {
	return &Conversation{Client: client, Server: server}
}

func (c *Conversation) setup() {
	if c.init {
		return
	}
	c.init = true
	if c.MSS <= 0 {
		c.MSS = 1448
	}
	if c.Window == 0 {
		c.Window = 64240
	}
	if c.TTL == 0 {
		c.TTL = 64
	}
	if c.RTT <= 0 {
		c.RTT = time.Millisecond
	}
	h := fnv.New64a()
	b, _ := c.Client.MarshalBinary()
	h.Write(b)
	b, _ = c.Server.MarshalBinary()
	h.Write(b)
	s := h.Sum64()
	if c.ClientISN == 0 {
		c.ClientISN = uint32(s)
	}
	if c.ServerISN == 0 {
		c.ServerISN = uint32(s >> 32)
	}
	c.next = [2]uint32{c.ClientISN, c.ServerISN}
	c.ipID = [2]uint16{uint16(s >> 16), uint16(s >> 48)}
}

// Next returns the next sequence number of the sender going in direction d.
func (c *Conversation) Next(d Dir) uint32 { c.setup(); return c.next[d] }

// Segment builds the next segment sent in direction d and advances the sender's sequence
// number. ACK (when in flags) acknowledges everything the peer has sent. SYNs carry an MSS
// option. The returned frame is reused by the next call and its Payload aliases payload.
func (c *Conversation) Segment(t time.Time, d Dir, flags TCPFlags, payload []byte) *Frame {
	c.setup()
	src, dst := c.Client, c.Server
	if d == ToClient {
		src, dst = dst, src
	}
	f := &c.frame
	*f = Frame{Time: t, L4: L4TCP, Payload: payload}
	f.EtherType = EtherTypeIPv4
	f.IP = IP{Version: 4, Src: src.Addr(), Dst: dst.Addr(), Proto: ProtoTCP, TTL: c.TTL, ID: c.ipID[d], Flags: IPv4DontFragment}
	if src.Addr().Is6() {
		f.EtherType = EtherTypeIPv6
		f.IP = IP{Version: 6, Src: src.Addr(), Dst: dst.Addr(), Proto: ProtoTCP, TTL: c.TTL}
	}
	c.ipID[d]++
	f.TCP = TCP{SrcPort: src.Port(), DstPort: dst.Port(), Seq: c.next[d], Flags: flags, Window: c.Window}
	if flags&ACK != 0 {
		f.TCP.Ack = c.next[1-d]
	}
	if flags&SYN != 0 {
		c.opts = [4]byte{2, 4, byte(c.MSS >> 8), byte(c.MSS)}
		f.TCP.Options = c.opts[:]
	}
	c.next[d] += uint32(len(payload))
	if flags&(SYN|FIN) != 0 {
		c.next[d]++ // SYN and FIN each take one sequence number
	}
	return f
}

// Synthesize returns the frames of a whole connection starting at start: handshake, each
// message split at the MSS (PSH on its last segment) with the receiver's ACK after every second
// segment and after the message, then the close. Times never go backwards.
func (c *Conversation) Synthesize(start time.Time, msgs []Message) []Frame {
	c.setup()
	var out []Frame
	now := start
	emit := func(after time.Duration, d Dir, flags TCPFlags, payload []byte) {
		now = now.Add(after)
		out = append(out, c.Segment(now, d, flags, payload).Clone())
	}
	half := c.RTT / 2
	emit(0, ToServer, SYN, nil)
	emit(half, ToClient, SYN|ACK, nil)
	emit(half, ToServer, ACK, nil)
	for _, m := range msgs {
		if at := start.Add(m.At); at.After(now) {
			now = at
		}
		data := m.Data
		for n := 1; len(data) > 0; n++ {
			seg := data[:min(len(data), c.MSS)]
			data = data[len(seg):]
			flags := ACK
			if len(data) == 0 {
				flags |= PSH
			}
			emit(10*time.Microsecond, m.Dir, flags, seg)
			if n%2 == 0 || len(data) == 0 {
				emit(half, 1-m.Dir, ACK, nil)
			}
		}
	}
	switch c.Close {
	case CloseFIN:
		emit(half, ToServer, FIN|ACK, nil)
		emit(half, ToClient, FIN|ACK, nil)
		emit(half, ToServer, ACK, nil)
	case CloseRST:
		emit(half, ToServer, RST|ACK, nil)
	}
	return out
}
