package main

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"

	"github.com/psmtap/psmtap/internal/pcaptool"
)

const mss = 1448 // Ethernet MSS with TCP timestamps, as Linux sends

// Phases of a bulk TCP flow.
const (
	pSYN uint8 = iota
	pSYNACK
	pACK
	pRequest
	pData
	pDataAck
	pClose
	pFinAck
	pLastAck
)

// bulkTCP plans a request/response TCP flow of no interest to psmtap (web, database traffic):
// handshake, 1-3 rounds of a short request answered by MSS-sized data segments with an ACK
// every second segment, then FIN or RST. It yields one packet per call.
type bulkTCP struct {
	phase   uint8
	round   uint8
	rounds  uint8
	unacked uint8
	upload  bool  // data flows client to server (a database COPY, an upload)
	rst     bool  // ends with RST instead of FIN
	left    int32 // data segments left in this round
	last    int32 // bytes in the last segment of every transfer
	segs    [3]int32
}

// plan draws a new flow and returns how many packets it will send.
func (b *bulkTCP) plan(r *rand.Rand) int64 {
	*b = bulkTCP{rounds: uint8(1 + r.IntN(3)), upload: r.IntN(5) == 0, rst: r.IntN(10) == 0, last: int32(1 + r.IntN(mss))}
	n := int64(3 + 3)
	if b.rst {
		n = 3 + 1
	}
	for i := range int(b.rounds) {
		b.segs[i] = drawSegments(r)
		n += 1 + int64(b.segs[i]) + int64(b.segs[i]+1)/2
	}
	return n
}

// drawSegments gives mostly short transfers and a heavy tail of long ones.
func drawSegments(r *rand.Rand) int32 {
	switch x := r.IntN(100); {
	case x < 70:
		return int32(1 + r.IntN(16))
	case x < 95:
		return int32(16 + r.IntN(112))
	default:
		return int32(128 + r.IntN(896))
	}
}

// bulkPacket is the next packet of a bulk flow.
type bulkPacket struct {
	dir     pcaptool.Dir
	flags   pcaptool.TCPFlags
	n       int  // payload bytes
	request bool // the client's request opening a round
	first   bool // the first data segment of a transfer
	quick   bool // the packet after this one is an immediate answer (half an RTT later)
	done    bool // this packet ends the flow
}

// transfer returns the bytes of one round's data transfer.
func (b *bulkTCP) transfer() int { return int(b.segs[b.round]-1)*mss + int(b.last) }

// next returns the flow's next packet.
func (b *bulkTCP) next(r *rand.Rand) bulkPacket {
	data := pcaptool.ToClient
	if b.upload {
		data = pcaptool.ToServer
	}
	const c2s, s2c = pcaptool.ToServer, pcaptool.ToClient
	switch b.phase {
	case pSYN:
		b.phase = pSYNACK
		return bulkPacket{dir: c2s, flags: pcaptool.SYN, quick: true}
	case pSYNACK:
		b.phase = pACK
		return bulkPacket{dir: s2c, flags: pcaptool.SYN | pcaptool.ACK, quick: true}
	case pACK:
		b.phase = pRequest
		return bulkPacket{dir: c2s, flags: pcaptool.ACK, quick: true}
	case pRequest:
		b.left, b.phase = b.segs[b.round], pData
		return bulkPacket{dir: c2s, flags: pcaptool.ACK | pcaptool.PSH, n: 80 + r.IntN(600), request: true, quick: true}
	case pData:
		p := bulkPacket{dir: data, flags: pcaptool.ACK, n: mss, first: b.left == b.segs[b.round]}
		b.left--
		b.unacked++
		if b.left == 0 {
			p.n, p.flags = int(b.last), p.flags|pcaptool.PSH
		}
		if b.unacked == 2 || b.left == 0 {
			b.phase = pDataAck
			p.quick = true
		}
		return p
	case pDataAck:
		b.unacked = 0
		switch {
		case b.left > 0:
			b.phase = pData
		case b.round+1 < b.rounds:
			b.round++
			b.phase = pRequest
		default:
			b.phase = pClose
		}
		return bulkPacket{dir: 1 - data, flags: pcaptool.ACK}
	case pClose:
		if b.rst {
			return bulkPacket{dir: c2s, flags: pcaptool.RST | pcaptool.ACK, done: true}
		}
		b.phase = pFinAck
		return bulkPacket{dir: c2s, flags: pcaptool.FIN | pcaptool.ACK, quick: true}
	case pFinAck:
		b.phase = pLastAck
		return bulkPacket{dir: s2c, flags: pcaptool.FIN | pcaptool.ACK, quick: true}
	}
	return bulkPacket{dir: c2s, flags: pcaptool.ACK, done: true}
}

// appendHTTPRequest writes a GET, or a POST announcing size bytes for uploads.
func appendHTTPRequest(b []byte, n uint32, upload bool, size int) []byte {
	if upload {
		b = append(b, "POST /upload/"...)
	} else {
		b = append(b, "GET /static/"...)
	}
	b = strconv.AppendUint(b, uint64(n), 10)
	b = append(b, ".bin HTTP/1.1\r\nHost: cdn.example.net\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n"...)
	if upload {
		b = append(b, "Content-Type: application/octet-stream\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(size), 10)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...)
}

// appendHTTPResponse writes a 200 response header whose body completes a transfer of size
// bytes, header included. The header length depends on the digits of the body length: a few
// rounds find the fixed point (at a power of ten there may be none; the length is then off by
// one, which bulk traffic can afford).
func appendHTTPResponse(b []byte, size int) []byte {
	start, body := len(b), size
	for range 4 {
		b = append(b[:start], "HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: application/octet-stream\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(body), 10)
		b = append(b, "\r\n\r\n"...)
		next := max(size-(len(b)-start), 0)
		if next == body {
			break
		}
		body = next
	}
	return b
}

// appendDNS writes a DNS A query for h<n>.example.net, or its answer when answer is set.
func appendDNS(b []byte, id uint16, n uint32, answer bool) []byte {
	flags, ancount := uint16(0x0100), uint16(0) // recursion desired
	if answer {
		flags, ancount = 0x8180, 1
	}
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = append(b, 0, 1, byte(ancount>>8), byte(ancount), 0, 0, 0, 0)
	b = append(b, 7, 'h')
	for div := uint32(100000); div > 0; div /= 10 {
		b = append(b, '0'+byte(n/div%10))
	}
	b = append(b, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'n', 'e', 't', 0, 0, 1, 0, 1)
	if answer {
		// Name pointer to the question, type A, class IN, TTL 300, 4 bytes of address.
		b = append(b, 0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 198, 18, byte(n>>8), byte(n))
	}
	return b
}
