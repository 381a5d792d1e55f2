package pcaptool

import (
	"fmt"
	"net/netip"
	"time"
)

// Floods are hostile traffic for the sensor's memory bounds: many
// connections that each hold a little state and never finish. They are
// written one connection after another (packet time advances 10µs a
// packet), so every connection is still open when the last one starts.
const (
	// FloodTelnetHalfOpen: handshake, then the server's Telnet option
	// negotiation and login prompt; the client never answers (a scan, or a flood meant to
	// fill the session table).
	FloodTelnetHalfOpen = "telnet-halfopen"
	// FloodTinyOutOfOrder: handshake to an unknown port, then segments of one
	// byte each past a missing first byte: all wait out of order.
	FloodTinyOutOfOrder = "ooo-tiny"
	// FloodBufferedSegments: a Telnet session (negotiation, so a parser is
	// attached), then client segments of SegSize bytes past a missing
	// first byte: they wait in the session's reassembly buffer.
	FloodBufferedSegments = "ooo-buffered"
)

// FloodKinds lists the kinds Flood knows.
var FloodKinds = []string{FloodTelnetHalfOpen, FloodTinyOutOfOrder, FloodBufferedSegments}

// FloodOptions shape a flood.
type FloodOptions struct {
	Kind     string
	Conns    int       // connections
	Segments int       // out-of-order segments per connection (ooo kinds; default 500)
	SegSize  int       // bytes per segment (ooo-buffered; default 100)
	Start    time.Time // packet time of the first packet (default 2024-01-01)
}

// telnetNegotiation is what a telnetd sends first: DO TERMINAL-TYPE, DO
// TSPEED, DO XDISPLOC, DO NEW-ENVIRON (RFC 1091, 1079, 1096, 1572).
var telnetNegotiation = []byte{255, 253, 24, 255, 253, 32, 255, 253, 35, 255, 253, 39}

// telnetBanner is the greeting and prompt that follow.
var telnetBanner = []byte("\r\nDebian GNU/Linux 12\r\nlogin: ")

// Flood calls emit with every frame of the flood, in time order. The frame
// is reused by the next call.
func Flood(o FloodOptions, emit func(*Frame) error) error {
	if o.Segments <= 0 {
		o.Segments = 500
	}
	if o.SegSize <= 0 {
		o.SegSize = 100
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	known := false
	for _, k := range FloodKinds {
		known = known || k == o.Kind
	}
	if !known {
		return fmt.Errorf("pcaptool: unknown flood %q (known: %v)", o.Kind, FloodKinds)
	}
	now := o.Start
	step := func() time.Time { now = now.Add(10 * time.Microsecond); return now }
	payload := make([]byte, o.SegSize)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	for i := 0; i < o.Conns; i++ {
		// Clients in 198.18.0.0/15 (RFC 2544 benchmarking), one per connection.
		client := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i)}), uint16(20000+i%40000))
		port := uint16(23)
		if o.Kind == FloodTinyOutOfOrder {
			port = 9999
		}
		c := NewConversation(client, netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, 23}), port))
		for _, s := range []struct {
			d     Dir
			flags TCPFlags
		}{{ToServer, SYN}, {ToClient, SYN | ACK}, {ToServer, ACK}} {
			if err := emit(c.Segment(step(), s.d, s.flags, nil)); err != nil {
				return err
			}
		}
		if o.Kind == FloodTelnetHalfOpen || o.Kind == FloodBufferedSegments {
			if err := emit(c.Segment(step(), ToClient, ACK|PSH, telnetNegotiation)); err != nil {
				return err
			}
		}
		if o.Kind == FloodTelnetHalfOpen {
			if err := emit(c.Segment(step(), ToClient, ACK|PSH, telnetBanner)); err != nil {
				return err
			}
			continue
		}
		size := o.SegSize
		if o.Kind == FloodTinyOutOfOrder {
			size = 1
		}
		// Skip the first byte: everything after it waits for it.
		base := c.Next(ToServer) + 1
		for k := 0; k < o.Segments; k++ {
			f := c.Segment(step(), ToServer, ACK, payload[:size])
			f.TCP.Seq = base + uint32(k*size)
			if err := emit(f); err != nil {
				return err
			}
		}
	}
	return nil
}
