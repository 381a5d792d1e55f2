package decode

import (
	"encoding/binary"
	"errors"
)

// Mirrored traffic often arrives wrapped: ERSPAN (GRE) from switches and
// routers, VXLAN or Geneve from cloud traffic mirroring, plain IP-in-IP or GRE
// from tunnels the sessions themselves cross. The decoder unwraps them and
// keys flows on the inner packet, as the sessions inside are what matter.

// UDP ports that announce a tunnel (IANA).
const (
	portVXLAN  = 4789 // RFC 7348
	portGeneve = 6081 // RFC 8926
)

// maxTunnelDepth bounds nesting, so a hostile packet cannot recurse deeply.
const maxTunnelDepth = 4

var errNotTunnel = errors.New("not a tunnel")

// ErrTunnel reports an encapsulation psmtap does not unwrap (or too deep).
var ErrTunnel = errors.New("unsupported or too deeply nested tunnel")

func (d *Decoder) inner(etype uint16, b []byte, ts int64, p *Packet) error {
	d.depth++
	if d.depth > maxTunnelDepth {
		return ErrTunnel
	}
	switch etype {
	case 0x0800:
		return d.ipv4(b, ts, p)
	case 0x86dd:
		return d.ipv6(b, ts, p)
	case 0x6558: // transparent Ethernet bridging
		ip, v6, known, err := ethernet(b)
		if err != nil {
			return err
		}
		if !known {
			return ErrNotIP
		}
		if v6 {
			return d.ipv6(ip, ts, p)
		}
		return d.ipv4(ip, ts, p)
	}
	return ErrTunnel
}

// tunnel handles IP protocols 4 (IPv4 in IP), 41 (IPv6 in IP) and 47 (GRE).
func (d *Decoder) tunnel(p *Packet, b []byte, ts int64) error {
	switch p.Proto {
	case ProtoIPIP:
		return d.inner(0x0800, b, ts, p)
	case ProtoIPv6inIP:
		return d.inner(0x86dd, b, ts, p)
	}
	// GRE (RFC 2784, key and sequence RFC 2890).
	if len(b) < 4 {
		return ErrTruncated
	}
	flags := binary.BigEndian.Uint16(b[0:2])
	if flags&7 != 0 { // only version 0 carries packets we know
		return ErrTunnel
	}
	etype := binary.BigEndian.Uint16(b[2:4])
	n := 4
	if flags&0x8000 != 0 { // checksum present
		n += 4
	}
	if flags&0x2000 != 0 { // key present
		n += 4
	}
	seq := flags&0x1000 != 0
	if seq {
		n += 4
	}
	if len(b) < n {
		return ErrTruncated
	}
	b = b[n:]
	switch etype {
	case 0x88be: // ERSPAN type II: 8-byte header, then the mirrored Ethernet frame
		if !seq { // type I has no sequence number and no ERSPAN header
			return d.inner(0x6558, b, ts, p)
		}
		if len(b) < 8 {
			return ErrTruncated
		}
		return d.inner(0x6558, b[8:], ts, p)
	case 0x22eb: // ERSPAN type III: 12-byte header, plus 8 when the O bit is set
		if len(b) < 12 {
			return ErrTruncated
		}
		h := 12
		if b[11]&1 != 0 {
			h += 8
		}
		if len(b) < h {
			return ErrTruncated
		}
		return d.inner(0x6558, b[h:], ts, p)
	}
	return d.inner(etype, b, ts, p)
}

// udpTunnel unwraps VXLAN (RFC 7348) and Geneve (RFC 8926). It returns
// errNotTunnel when the UDP payload does not look like one, so the datagram
// is kept as plain UDP.
func (d *Decoder) udpTunnel(p *Packet, ts int64) error {
	b := p.Payload
	switch p.DstPort {
	case portVXLAN:
		// Flags: only I (a valid VNI follows) may be set; the reserved fields are zero.
		if len(b) < 8 || b[0] != 0x08 || b[1]|b[2]|b[3]|b[7] != 0 {
			return errNotTunnel
		}
		return d.inner(0x6558, b[8:], ts, p)
	case portGeneve:
		if len(b) < 8 || b[0]>>6 != 0 {
			return errNotTunnel
		}
		h := 8 + int(b[0]&0x3f)*4
		if len(b) < h {
			return ErrTruncated
		}
		return d.inner(binary.BigEndian.Uint16(b[2:4]), b[h:], ts, p)
	}
	return errNotTunnel
}
