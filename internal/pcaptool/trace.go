package pcaptool

import (
	"errors"
	"net/netip"

	"github.com/gopacket/gopacket/layers"
)

// Trace is a capture decoded into frames; transformations work on traces.
type Trace struct {
	LinkType layers.LinkType // link type to encode to
	Snaplen  uint32
	Nanos    bool
	Frames   []Frame
}

// DecodeCapture decodes every packet of c. Frames alias c's packet bytes.
func DecodeCapture(c Capture) Trace {
	t := Trace{LinkType: c.LinkType, Snaplen: c.Snaplen, Nanos: c.Nanos, Frames: make([]Frame, len(c.Packets))}
	for i, p := range c.Packets {
		t.Frames[i] = Decode(c.LinkType, p)
	}
	return t
}

// Encode encodes every frame for t.LinkType. Frames the link type cannot carry (ARP on raw IP)
// are left out and counted in skipped.
func (t Trace) Encode() (c Capture, skipped int, err error) {
	c = Capture{LinkType: t.LinkType, Snaplen: t.Snaplen, Nanos: t.Nanos, Packets: make([]Packet, 0, len(t.Frames))}
	for i := range t.Frames {
		f := &t.Frames[i]
		data, err := f.Append(nil, t.LinkType)
		if errors.Is(err, ErrNotIP) {
			skipped++
			continue
		}
		if err != nil {
			return c, skipped, err
		}
		c.Packets = append(c.Packets, Packet{Time: f.Time, Data: data, Len: len(data) + f.Missing})
	}
	return c, skipped, nil
}

// Clone returns a deep copy of t.
func (t Trace) Clone() Trace {
	c := t
	c.Frames = make([]Frame, len(t.Frames))
	for i := range t.Frames {
		c.Frames[i] = t.Frames[i].Clone()
	}
	return c
}

// Conn is one TCP connection found in a trace.
type Conn struct {
	Client, Server netip.AddrPort
	Frames         []int // indexes into Trace.Frames, in trace order
}

// Dir tells which way a segment travels.
type Dir uint8

// Directions of a connection.
const (
	ToServer Dir = iota
	ToClient
)

// Dir returns the direction of frame f, which must belong to the connection.
func (c *Conn) Dir(f *Frame) Dir {
	if src, _ := f.Flow(); src == c.Client {
		return ToServer
	}
	return ToClient
}

// DataFrames returns the indexes of the connection's data segments going in direction d.
func (c *Conn) DataFrames(t *Trace, d Dir) []int {
	var out []int
	for _, i := range c.Frames {
		if f := &t.Frames[i]; f.IsTCPData() && c.Dir(f) == d {
			out = append(out, i)
		}
	}
	return out
}

// Conns groups the TCP frames of t by connection, in order of first appearance. The client is
// the sender of a bare SYN when one is seen, else the side with the higher port, else the
// first sender. Port reuse within one trace is not told apart.
func (t *Trace) Conns() []Conn {
	type key struct{ a, b netip.AddrPort }
	index := map[key]int{}
	var conns []Conn
	for i := range t.Frames {
		f := &t.Frames[i]
		if f.L4 != L4TCP {
			continue
		}
		src, dst := f.Flow()
		k := key{src, dst}
		if src.Compare(dst) > 0 {
			k = key{dst, src}
		}
		n, ok := index[k]
		if !ok {
			n = len(conns)
			index[k] = n
			client, server := src, dst
			if dst.Port() > src.Port() {
				client, server = dst, src
			}
			conns = append(conns, Conn{Client: client, Server: server})
		}
		c := &conns[n]
		if f.TCP.Flags&(SYN|ACK) == SYN && c.Client != src {
			c.Client, c.Server = src, dst
		}
		c.Frames = append(c.Frames, i)
	}
	return conns
}
