package vethtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/psmtap/psmtap/internal/pcaptool"
)

// Scheduled is a frame and when to send it, counted from the start of a
// replay. Tag is the caller's (which copy, which frame), carried through.
type Scheduled struct {
	At    time.Duration
	Frame []byte
	Tag   int
}

// Sort puts a schedule in time order, keeping the order of frames due at the
// same time.
func Sort(s []Scheduled) {
	sort.SliceStable(s, func(i, j int) bool { return s[i].At < s[j].At })
}

// ReplaySchedule writes the frames of a time-ordered schedule when they are
// due and returns the wall time taken just before each write (a frame cannot
// arrive before that). A late wake-up is caught up, never skipped.
func (r *Replayer) ReplaySchedule(ctx context.Context, s []Scheduled) ([]time.Time, error) {
	sent := make([]time.Time, len(s))
	start := time.Now()
	for i, x := range s {
		now := time.Now()
		if d := start.Add(x.At).Sub(now); d > 0 {
			select {
			case <-ctx.Done():
				return sent[:i], ctx.Err()
			case <-time.After(d):
			}
			now = time.Now()
		}
		sent[i] = now
		if _, err := unix.Write(r.fd, x.Frame); err != nil {
			return sent[:i], fmt.Errorf("frame %d: %w", i, err)
		}
	}
	return sent, nil
}

// SessionCopies is Sessions with each frame's time: n copies of the TCP
// conversation begun by the first SYN of an Ethernet capture, each with its
// own client port (firstPort+i), and each frame's offset from the
// conversation's first frame in the capture. Frames of other connections in
// the capture are left out. Also returns the frames of copy 0 as a capture,
// with the original timestamps, for reading it offline.
func SessionCopies(path string, n int, firstPort uint16) ([][]Scheduled, pcaptool.Capture, error) {
	c, err := pcaptool.ReadFile(path)
	if err != nil {
		return nil, pcaptool.Capture{}, err
	}
	if c.LinkType != layers.LinkTypeEthernet {
		return nil, pcaptool.Capture{}, fmt.Errorf("%s: link type %v, want Ethernet", path, c.LinkType)
	}
	var frames []pcaptool.Frame
	var client uint16
	for _, p := range c.Packets {
		f := pcaptool.Decode(c.LinkType, p)
		if f.L4 != pcaptool.L4TCP {
			continue
		}
		if client == 0 && f.TCP.Flags&pcaptool.SYN != 0 && f.TCP.Flags&pcaptool.ACK == 0 {
			client = f.TCP.SrcPort
		}
		if client != 0 && (f.TCP.SrcPort == client || f.TCP.DstPort == client) {
			frames = append(frames, f)
		}
	}
	if client == 0 {
		return nil, pcaptool.Capture{}, fmt.Errorf("%s: no SYN", path)
	}
	first := frames[0].Time
	out := make([][]Scheduled, n)
	copy0 := pcaptool.Capture{LinkType: c.LinkType, Snaplen: c.Snaplen, Nanos: c.Nanos}
	for i := 0; i < n; i++ {
		port := firstPort + uint16(i)
		for k, f := range frames {
			if f.TCP.SrcPort == client {
				f.TCP.SrcPort = port
			} else {
				f.TCP.DstPort = port
			}
			b, err := f.Append(nil, c.LinkType)
			if err != nil {
				return nil, pcaptool.Capture{}, err
			}
			out[i] = append(out[i], Scheduled{At: f.Time.Sub(first), Frame: b, Tag: k})
			if i == 0 {
				copy0.Packets = append(copy0.Packets, pcaptool.Packet{Time: f.Time, Data: b})
			}
		}
	}
	return out, copy0, nil
}

// Background is other traffic to keep a capture busy: n TCP connections from
// distinct clients (10.9.0.0/16) to 198.51.100.1, on ports 22, 23, 443 and
// 5432 in turn, opened evenly over [0, open) and then kept alive until until,
// each sending one segment every every (phases spread): SSH connections
// exchange banners and then only keep-alive ACKs, Telnet connections get the
// server's option negotiation and then ACKs, 443 and 5432 connections carry
// 100 pseudo-random bytes a segment, in turn each way. None is closed.
func Background(n int, open, every, until time.Duration, seed uint64) ([]Scheduled, error) {
	rng := rand.New(rand.NewPCG(seed, 1))
	server := netip.MustParseAddr("198.51.100.1")
	ports := []uint16{22, 23, 443, 5432}
	base := time.Unix(0, 0)
	var out []Scheduled
	var buf []byte
	add := func(at time.Duration, f *pcaptool.Frame) error {
		b, err := f.Append(buf[:0], layers.LinkTypeEthernet)
		if err != nil {
			return err
		}
		out = append(out, Scheduled{At: at, Frame: append([]byte(nil), b...), Tag: -1})
		return nil
	}
	random := func() []byte {
		b := make([]byte, 100)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	for i := 0; i < n; i++ {
		client := netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})
		port := ports[i%len(ports)]
		cv := pcaptool.NewConversation(netip.AddrPortFrom(client, uint16(40000+i%20000)), netip.AddrPortFrom(server, port))
		at := open * time.Duration(i) / time.Duration(n)
		step := func(d pcaptool.Dir, flags pcaptool.TCPFlags, payload []byte) error {
			at += 200 * time.Microsecond
			return add(at, cv.Segment(base.Add(at), d, flags, payload))
		}
		type msg struct {
			d pcaptool.Dir
			b []byte
		}
		var opening []msg
		switch port {
		case 22:
			opening = []msg{{pcaptool.ToClient, []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")},
				{pcaptool.ToServer, []byte("SSH-2.0-OpenSSH_9.6\r\n")}}
		case 23:
			// IAC DO TERMINAL-TYPE, IAC DO NAWS; the client: IAC WILL both.
			opening = []msg{{pcaptool.ToClient, []byte{255, 253, 24, 255, 253, 31}},
				{pcaptool.ToServer, []byte{255, 251, 24, 255, 251, 31}}}
		default:
			opening = []msg{{pcaptool.ToServer, random()}, {pcaptool.ToClient, random()}}
		}
		for _, err := range []error{
			step(pcaptool.ToServer, pcaptool.SYN, nil),
			step(pcaptool.ToClient, pcaptool.SYN|pcaptool.ACK, nil),
			step(pcaptool.ToServer, pcaptool.ACK, nil),
		} {
			if err != nil {
				return nil, err
			}
		}
		for _, m := range opening {
			if err := step(m.d, pcaptool.ACK|pcaptool.PSH, m.b); err != nil {
				return nil, err
			}
			if err := step(1-m.d, pcaptool.ACK, nil); err != nil {
				return nil, err
			}
		}
		// Keep-alive or trickle, from open on, phase spread over one period.
		d := pcaptool.ToServer
		for t := open + every*time.Duration(i)/time.Duration(n); t < until; t += every {
			var payload []byte
			flags := pcaptool.ACK
			if port == 443 || port == 5432 {
				payload, flags = random(), pcaptool.ACK|pcaptool.PSH
			}
			if err := add(t, cv.Segment(base.Add(t), d, flags, payload)); err != nil {
				return nil, err
			}
			d = 1 - d
		}
	}
	Sort(out)
	return out, nil
}
