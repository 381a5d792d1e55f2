package respond

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// A client frame as the tap saw it: Ethernet with an 802.1Q tag.
func clientFrame() []byte {
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 0x10}, DstMAC: []byte{2, 0, 0, 0, 0, 0x20}, EthernetType: layers.EthernetTypeDot1Q}
	vlan := &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: []byte{192, 0, 2, 10}, DstIP: []byte{192, 0, 2, 20}}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 23, Seq: 1000, Ack: 5000, ACK: true, PSH: true, Window: 502}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, vlan, ip, tcp, gopacket.Payload("id\r\n"))
	return buf.Bytes()
}

// testConn: endpoint 0 the client 192.0.2.10:40000, 1 the server :23.
func testConn(t *testing.T) *Conn {
	c := &Conn{Client: 0, Port: [2]uint16{40000, 23}}
	copy(c.Addr[0][:], []byte{192, 0, 2, 10})
	copy(c.Addr[1][:], []byte{192, 0, 2, 20})
	f := clientFrame()
	n := EthernetHeaderLen(f)
	if n != 18 {
		t.Fatalf("header with one VLAN tag: %d bytes, want 18", n)
	}
	c.Observe(0, f[:n], 1000, 5000, flagACK|flagPSH, 4, 502) // client sent 4 bytes at 1000
	c.Observe(1, nil, 5000, 1004, flagACK|flagPSH, 10, 509)  // server: 10 bytes at 5000, acked the client's
	return c
}

func decodeTCP(t *testing.T, frame []byte) (*layers.Ethernet, *layers.Dot1Q, *layers.IPv4, *layers.TCP) {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("decode: %v", el.Error())
	}
	eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
	vlan, _ := p.Layer(layers.LayerTypeDot1Q).(*layers.Dot1Q)
	ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
	tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if ip == nil || tcp == nil {
		t.Fatal("no IPv4/TCP")
	}
	return eth, vlan, ip, tcp
}

// checksumsOK recomputes both checksums with gopacket and compares.
func checksumsOK(t *testing.T, frame []byte) {
	t.Helper()
	_, _, ip, tcp := decodeTCP(t, frame)
	gotIP, gotTCP := ip.Checksum, tcp.Checksum
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, ip, tcp, gopacket.Payload(tcp.Payload)); err != nil {
		t.Fatal(err)
	}
	_, _, ip2, tcp2 := decodeTCP(t, append(append([]byte{}, frame[:18]...), buf.Bytes()...))
	if gotIP != ip2.Checksum || gotTCP != tcp2.Checksum {
		t.Fatalf("checksums: ip %04x want %04x, tcp %04x want %04x", gotIP, ip2.Checksum, gotTCP, tcp2.Checksum)
	}
}

// The capture loop may be behind the wire when a round goes out: ACKs an
// end sent before the round, read after it, are not answers. Seen in the
// respond loop (TestRespondLoopNetns): a bulk upload's ACKs used up all five
// rounds at stale sequence numbers in microseconds, and the client's real
// answer came after the last round (outcome partial, the client's side left
// open).
func TestStaleACKsSpendNoRound(t *testing.T) {
	c := testConn(t)
	var sent [][]byte
	r := NewResponder(func(f []byte) error { sent = append(sent, append([]byte(nil), f...)); return nil }, 4)
	now := time.Unix(100, 0)
	r.Start(c, Request{Action: ActionTerminate, Why: "api"}, now)
	for i := 0; i < 10; i++ { // the backlog: the server acking the client's data, before the round
		c.Observe(1, nil, 5010, 1004+uint32(i), flagACK, 0, 509)
		r.Seen(c, 1, 5010, 1004+uint32(i), flagACK, 0, now.Add(-time.Duration(10-i)*time.Microsecond), now)
	}
	if c.Term.Tries != 1 || c.Term.Done() {
		t.Fatalf("after ACKs captured before the round: tries %d, outcome %q; want 1 round, going on", c.Term.Tries, c.Term.Outcome)
	}
	// The client's answer, captured after the round: aimed at at once.
	n := len(sent)
	r.Seen(c, 0, 1004, 5020, flagACK, 0, now.Add(50*time.Microsecond), now)
	if c.Term.Tries != 2 {
		t.Fatalf("tries %d after the client's answer, want 2", c.Term.Tries)
	}
	aimed := false
	for _, f := range sent[n:] {
		_, _, ip, tcp := decodeTCP(t, f)
		if ip.DstIP[3] == 10 && tcp.RST && tcp.Seq == 5020 {
			aimed = true
		}
	}
	if !aimed {
		t.Fatal("no reset at the client's answer (5020)")
	}
}

func TestResetsAimedAndWellFormed(t *testing.T) {
	c := testConn(t)
	var sent [][]byte
	r := NewResponder(func(f []byte) error { sent = append(sent, append([]byte(nil), f...)); return nil }, 4)
	var done *Termination
	c.Done = func(t *Termination) { done = t }
	now := time.Unix(100, 0)
	r.Start(c, Request{SessionID: "s", Action: ActionTerminate, Why: "api"}, now)
	// To the client (from the server): RST at the server's next byte 5010,
	// and at 5000, where the client had acked to (the 10 bytes may still be
	// in flight), then the probe one byte behind; to the server: RST at the
	// client's next byte 1004 (the server acked it all), then the probe.
	want := []struct {
		src    byte
		seq    uint32
		rst    bool
		ack    uint32
		srcMAC byte
	}{
		{20, 5010, true, 0, 0x20}, {20, 5000, true, 0, 0x20}, {20, 5009, false, 1003, 0x20},
		{10, 1004, true, 0, 0x10}, {10, 1003, false, 5009, 0x10},
	}
	if len(sent) != len(want) {
		t.Fatalf("%d frames sent, want %d", len(sent), len(want))
	}
	for i, w := range want {
		eth, vlan, ip, tcp := decodeTCP(t, sent[i])
		checksumsOK(t, sent[i])
		if ip.SrcIP[3] != w.src || tcp.Seq != w.seq || tcp.RST != w.rst || tcp.Ack != w.ack || eth.SrcMAC[5] != w.srcMAC {
			t.Errorf("frame %d: from .%d seq %d rst %v ack %d mac %x; want %+v", i, ip.SrcIP[3], tcp.Seq, tcp.RST, tcp.Ack, eth.SrcMAC[5], w)
		}
		if vlan == nil || vlan.VLANIdentifier != 42 {
			t.Errorf("frame %d: VLAN tag lost", i)
		}
		if eth.DstMAC[5] == eth.SrcMAC[5] {
			t.Errorf("frame %d: MACs not swapped for the server's direction", i)
		}
	}
	// The tap sees our own resets come back: not an answer.
	r.Seen(c, 0, 1004, 0, flagRST, 0, now, now)
	if done != nil {
		t.Fatal("our own reset taken for an answer")
	}
	// The server lives: a challenge ACK saying it expects 1010 (data in
	// flight the tap did not see). The next round aims there at once.
	n := len(sent)
	r.Seen(c, 1, 5010, 1010, flagACK, 0, now, now)
	if c.Term.Tries != 2 {
		t.Fatalf("tries %d after a challenge ACK, want 2", c.Term.Tries)
	}
	aimed := false
	for _, f := range sent[n:] {
		_, _, ip, tcp := decodeTCP(t, f)
		if ip.DstIP[3] == 20 && tcp.RST && tcp.Seq == 1010 {
			aimed = true
		}
	}
	if !aimed {
		t.Fatal("no reset at 1010 after the challenge ACK")
	}
	// Both ends answer the probes with resets of their own: confirmed.
	r.Seen(c, 1, 5009, 0, flagRST, 0, now.Add(time.Millisecond), now)
	r.Seen(c, 0, 1003, 0, flagRST, 0, now.Add(2*time.Millisecond), now)
	if done == nil || done.Outcome != OutcomeConfirmed || !done.Confirmed.Equal(now.Add(2*time.Millisecond)) {
		t.Fatalf("outcome %+v", done)
	}
	r.Tick(now)
	if r.Busy() {
		t.Fatal("still busy after the outcome")
	}
}

func TestUnansweredGivesUp(t *testing.T) {
	c := testConn(t)
	frames := 0
	r := NewResponder(func([]byte) error { frames++; return nil }, 4)
	r.MaxTries, r.Retry = 3, 10*time.Millisecond
	var done *Termination
	c.Done = func(t *Termination) { done = t }
	now := time.Unix(100, 0)
	r.Start(c, Request{Action: ActionTerminate}, now)
	for i := 1; i <= 5; i++ {
		r.Tick(now.Add(time.Duration(i) * 11 * time.Millisecond))
	}
	if done == nil || done.Outcome != OutcomeUnconfirmed || done.Tries != 3 || frames != 15 {
		t.Fatalf("outcome %+v, %d frames", done, frames)
	}
}

func TestWarnLineThenResets(t *testing.T) {
	c := testConn(t)
	var sent [][]byte
	r := NewResponder(func(f []byte) error { sent = append(sent, append([]byte(nil), f...)); return nil }, 4)
	start := time.Unix(100, 0)
	r.Start(c, Request{Action: ActionWarn, RuleTitle: "shadow\x1b[2J read"}, start)
	// The line waits for the server to go quiet: its output in flight would
	// take the line's place at the client.
	r.Tick(start.Add(5 * time.Millisecond))
	c.Observe(1, nil, 5010, 1004, flagACK|flagPSH, 6, 509) // the shell's output goes on
	r.Seen(c, 1, 5010, 1004, flagACK|flagPSH, 6, start.Add(8*time.Millisecond), start.Add(8*time.Millisecond))
	r.Tick(start.Add(20 * time.Millisecond))
	if len(sent) != 0 {
		t.Fatalf("%d frames sent while the server was still sending", len(sent))
	}
	r.Tick(start.Add(24 * time.Millisecond)) // 16 ms of quiet
	if len(sent) < 2 {
		t.Fatalf("%d frames after the server went quiet", len(sent))
	}
	_, _, ip, tcp := decodeTCP(t, sent[0])
	checksumsOK(t, sent[0])
	line := "\r\nsession ended by policy: shadow[2J read\r\n"
	if ip.SrcIP[3] != 20 || tcp.Seq != 5016 || tcp.Ack != 1004 || !bytes.Equal(tcp.Payload, []byte(line)) {
		t.Fatalf("warning: from .%d seq %d ack %d %q", ip.SrcIP[3], tcp.Seq, tcp.Ack, tcp.Payload)
	}
	// The client's reset comes after the line.
	_, _, _, tcp = decodeTCP(t, sent[1])
	if !tcp.RST || tcp.Seq != 5016+uint32(len(line)) {
		t.Fatalf("reset to the client at %d, want %d", tcp.Seq, 5016+len(line))
	}
}

// A server that never goes quiet (a flood of output) does not hold the
// warning back for longer than WarnWait; one that has not yet acknowledged
// what the client typed holds it until then too.
func TestWarnWaitBounded(t *testing.T) {
	for _, ackAll := range []bool{true, false} {
		c := testConn(t)
		c.Observe(0, nil, 1004, 5010, flagACK|flagPSH, 3, 502) // the client typed more
		if ackAll {
			c.Observe(1, nil, 5010, 1007, flagACK, 0, 509)
		}
		var sent int
		r := NewResponder(func(f []byte) error { sent++; return nil }, 4)
		start := time.Unix(100, 0)
		r.Start(c, Request{Action: ActionWarn, RuleTitle: "x"}, start)
		for ms := 1; ms < 150; ms++ {
			now := start.Add(time.Duration(ms) * time.Millisecond)
			if ackAll && ms%5 == 0 {
				r.Seen(c, 1, 5010, 1007, flagACK|flagPSH, 100, now, now)
			}
			r.Tick(now)
		}
		if sent != 0 {
			t.Fatalf("ackAll %v: sent before the wait was over", ackAll)
		}
		r.Tick(start.Add(150 * time.Millisecond))
		if sent == 0 || !c.Term.Warned {
			t.Fatalf("ackAll %v: nothing sent at the end of the wait", ackAll)
		}
	}
}

func TestEthernetHeaderLen(t *testing.T) {
	for _, tc := range []struct {
		name  string
		frame []byte
		want  int
	}{
		{"plain IPv4", append(make([]byte, 12), 0x08, 0x00, 0x45), 14},
		{"QinQ IPv6", append(make([]byte, 12), 0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x86, 0xdd), 22},
		{"ARP", append(make([]byte, 12), 0x08, 0x06), 0},
		{"short", make([]byte, 10), 0},
	} {
		if got := EthernetHeaderLen(tc.frame); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestOneDirectionRefused: a flow the tap saw one side of is never injected into.
func TestOneDirectionRefused(t *testing.T) {
	c := &Conn{Client: 0}
	f := clientFrame()
	c.Observe(0, f[:18], 1000, 5000, flagACK, 4, 502)
	frames := 0
	r := NewResponder(func([]byte) error { frames++; return nil }, 1)
	var done *Termination
	c.Done = func(t *Termination) { done = t }
	r.Start(c, Request{Action: ActionTerminate}, time.Unix(1, 0))
	if frames != 0 || done == nil || done.Outcome != OutcomeUnsupported {
		t.Fatalf("%d frames, outcome %+v", frames, done)
	}
}

// TestIPv6ResetsWellFormed: on an IPv6 flow behind two VLAN tags (QinQ),
// every frame keeps both tags, carries hop limit 64, next header TCP, the
// right payload length and addresses, and a TCP checksum over the IPv6
// pseudo-header (RFC 8200 8.1) that gopacket computes the same.
func TestIPv6ResetsWellFormed(t *testing.T) {
	cli, srv := []byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x10}, []byte{0x20, 0x01, 0x0d, 0xb8, 15: 0x20}
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 0x10}, DstMAC: []byte{2, 0, 0, 0, 0, 0x20}, EthernetType: layers.EthernetTypeQinQ}
	outer := &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q}
	inner := &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv6}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: cli, DstIP: srv}
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 23, Seq: 1000, Ack: 5000, ACK: true, PSH: true, Window: 502}
	tcp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, outer, inner, ip, tcp, gopacket.Payload("id\r\n"))
	f := buf.Bytes()
	n := EthernetHeaderLen(f)
	if n != 22 {
		t.Fatalf("header with two VLAN tags: %d bytes, want 22", n)
	}
	c := &Conn{Client: 0, Port: [2]uint16{40000, 23}, IPv6: true}
	copy(c.Addr[0][:], cli)
	copy(c.Addr[1][:], srv)
	c.Observe(0, f[:n], 1000, 5000, flagACK|flagPSH, 4, 502)
	c.Observe(1, nil, 5000, 1004, flagACK|flagPSH, 10, 509)
	var sent [][]byte
	r := NewResponder(func(f []byte) error { sent = append(sent, append([]byte(nil), f...)); return nil }, 4)
	r.Start(c, Request{SessionID: "s", Action: ActionWarn, Why: "rule", RuleTitle: "v6 rule"}, time.Unix(100, 0))
	r.Tick(time.Unix(100, 0).Add(20 * time.Millisecond)) // the server has been quiet
	if len(sent) != 6 {                                  // the line, and the rounds of TestResetsAimedAndWellFormed
		t.Fatalf("%d frames, want 6", len(sent))
	}
	for i, fr := range sent {
		p := gopacket.NewPacket(fr, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("frame %d: %v", i, el.Error())
		}
		var tags []uint16
		for _, l := range p.Layers() {
			if d, ok := l.(*layers.Dot1Q); ok {
				tags = append(tags, d.VLANIdentifier)
			}
		}
		ip6, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
		tc, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip6 == nil || tc == nil || len(tags) != 2 || tags[0] != 100 || tags[1] != 42 {
			t.Fatalf("frame %d: ipv6 %v tcp %v tags %v", i, ip6 != nil, tc != nil, tags)
		}
		if ip6.HopLimit != 64 || ip6.NextHeader != layers.IPProtocolTCP || int(ip6.Length) != 20+len(tc.Payload) {
			t.Errorf("frame %d: hop limit %d next header %v length %d (payload %d)", i, ip6.HopLimit, ip6.NextHeader, ip6.Length, len(tc.Payload))
		}
		toClient := ip6.DstIP.Equal(cli)
		if !(toClient && ip6.SrcIP.Equal(srv) || !toClient && ip6.SrcIP.Equal(cli) && ip6.DstIP.Equal(srv)) {
			t.Errorf("frame %d: %v -> %v", i, ip6.SrcIP, ip6.DstIP)
		}
		got := tc.Checksum
		tc.SetNetworkLayerForChecksum(ip6)
		b := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(b, gopacket.SerializeOptions{ComputeChecksums: true}, tc, gopacket.Payload(tc.Payload)); err != nil {
			t.Fatal(err)
		}
		if want := uint16(b.Bytes()[16])<<8 | uint16(b.Bytes()[17]); got != want {
			t.Errorf("frame %d: TCP checksum %04x, want %04x", i, got, want)
		}
		if i == 0 && (!toClient || !bytes.Contains(tc.Payload, []byte("session ended by policy: v6 rule"))) {
			t.Errorf("frame 0 is not the warning to the client: %q", tc.Payload)
		}
	}
}
