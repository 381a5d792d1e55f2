package pcaptool

import (
	"encoding/binary"
	"net/netip"
)

// sum32 adds b to a ones'-complement accumulator as big-endian 16-bit words.
// It adds 32-bit words into 64 bits: since 2^16 ≡ 1 (mod 2^16-1), folding at the end gives the
// same result as adding 16-bit words, with a quarter of the loop iterations.
// b must start at an even offset of the checksummed data (all callers pass whole headers).
func sum32(acc uint64, b []byte) uint64 {
	for len(b) >= 16 {
		acc += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:])) +
			uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[12:]))
		b = b[16:]
	}
	for len(b) >= 4 {
		acc += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold reduces the accumulator to 16 bits and complements it.
func fold(acc uint64) uint16 {
	for acc>>16 != 0 {
		acc = acc&0xffff + acc>>16
	}
	return ^uint16(acc)
}

// Checksum returns the Internet checksum (RFC 1071) of b.
func Checksum(b []byte) uint16 { return fold(sum32(0, b)) }

// pseudoSum returns the accumulator for the TCP/UDP pseudo-header (RFC 793 / RFC 8200 §8.1).
func pseudoSum(src, dst netip.Addr, proto uint8, length int) uint64 {
	var acc uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		acc = sum32(acc, s[:])
		acc = sum32(acc, d[:])
	} else {
		s, d := src.As16(), dst.As16()
		acc = sum32(acc, s[:])
		acc = sum32(acc, d[:])
	}
	return acc + uint64(proto) + uint64(length)
}

// TransportChecksum returns the TCP or UDP checksum of segment (header with a zeroed checksum
// field, plus payload) between src and dst.
func TransportChecksum(src, dst netip.Addr, proto uint8, segment []byte) uint16 {
	return fold(sum32(pseudoSum(src, dst, proto, len(segment)), segment))
}
