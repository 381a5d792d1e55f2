// Package communityid computes the Community ID flow hash, version 1, the
// cross-tool flow identifier that Zeek, Suricata and Arkime also log, so an
// analyst can pivot from a psmtap session to those tools' records.
//
// Specification: https://github.com/corelight/community-id-spec (v1):
// SHA-1 over seed (2 bytes, big endian), the ordered source and destination
// addresses, protocol, one zero pad byte and the ordered ports; the endpoint
// pair is ordered so that both directions give the same hash. Output is
// "1:" + standard base64 of the digest.
package communityid

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
)

// Compute returns the Community ID v1 string of a flow. Addresses are 4 bytes
// (IPv4) or 16 bytes (IPv6); seed is 0 unless the site configured another.
func Compute(seed uint16, srcIP, dstIP []byte, srcPort, dstPort uint16, proto uint8) string {
	// Order endpoints: the smaller address first; ports break ties.
	if c := bytes.Compare(srcIP, dstIP); c > 0 || (c == 0 && srcPort > dstPort) {
		srcIP, dstIP = dstIP, srcIP
		srcPort, dstPort = dstPort, srcPort
	}
	var buf [2 + 16 + 16 + 1 + 1 + 4]byte
	n := 0
	binary.BigEndian.PutUint16(buf[n:], seed)
	n += 2
	n += copy(buf[n:], srcIP)
	n += copy(buf[n:], dstIP)
	buf[n] = proto
	buf[n+1] = 0
	n += 2
	binary.BigEndian.PutUint16(buf[n:], srcPort)
	binary.BigEndian.PutUint16(buf[n+2:], dstPort)
	n += 4
	sum := sha1.Sum(buf[:n])
	return "1:" + base64.StdEncoding.EncodeToString(sum[:])
}
