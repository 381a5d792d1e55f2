package decode

import "encoding/binary"

// PairHash returns a hash of the frame's (outer) IP address pair that is the
// same in both directions, for spreading flows over workers. It reads only
// the link layer and the IP header, so every fragment of a datagram, and
// every packet of a flow, lands on the same worker. ok is false for frames
// without IP (they may go anywhere).
func PairHash(linkType int, frame []byte) (h uint64, ok bool) {
	var ip []byte
	switch linkType {
	case LinkEthernet:
		var known bool
		var err error
		if ip, _, known, err = ethernet(frame); err != nil || !known {
			return 0, false
		}
	case LinkSLL:
		if len(frame) < 16 {
			return 0, false
		}
		ip = frame[16:]
	case LinkSLL2:
		if len(frame) < 20 {
			return 0, false
		}
		ip = frame[20:]
	case LinkRaw, LinkRawAlt12, LinkRawAlt14, LinkIPv4, LinkIPv6:
		ip = frame
	case LinkNull, LinkLoop:
		if len(frame) < 4 {
			return 0, false
		}
		ip = frame[4:]
	default:
		return 0, false
	}
	if len(ip) < 1 {
		return 0, false
	}
	var a, b []byte
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < 20 {
			return 0, false
		}
		a, b = ip[12:16], ip[16:20]
	case 6:
		if len(ip) < 40 {
			return 0, false
		}
		a, b = ip[8:24], ip[24:40]
	default:
		return 0, false
	}
	return addrHash(a) ^ addrHash(b), true // xor: the same both ways
}

func addrHash(a []byte) uint64 {
	var h uint64 = 0xcbf29ce484222325
	for len(a) >= 4 {
		h = (h ^ uint64(binary.BigEndian.Uint32(a))) * 0x100000001b3
		h ^= h >> 29
		a = a[4:]
	}
	return h * 0x9E3779B97F4A7C15
}
