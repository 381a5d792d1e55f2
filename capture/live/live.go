// Package live captures from a network interface through libpcap: an
// optional BPF filter, a kernel ring sized for the link, and the kernel's
// drop counters.
//
// Ring and snapshot length (see docs/PERFORMANCE.md, "Live capture"): libpcap
// on Linux uses a TPACKET_V3 ring unless immediate mode is asked for, and
// TPACKET_V2 with it. V3 packs packets into blocks by their captured length,
// so a large snapshot length costs nothing and the ring holds as many packets
// as their bytes allow; a block is handed over when full or after the read
// timeout (the latency bound: 10 ms here, so that a rule's alert or a
// viewer's keystroke is not held back by a quiet link; a busy link fills
// blocks long before). V2 gives each packet a fixed slot
// of the snapshot length, and with receive or segmentation offloads on
// (GRO/TSO: a veth, most NICs) libpcap makes that slot 64 KiB whatever the
// buffer: a 64 MiB buffer was then ~1 000 packets, a few milliseconds of a
// 1 Gbit/s link. Defaults are therefore V3 (no immediate mode), a snapshot
// length that keeps the largest frame the kernel can hand over on this
// interface (MTU, or the GRO/GSO super-frame size, plus link headers), and a
// buffer sized from the link speed.
package live

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/pcap"
)

// Options configure a live capture. Zero values mean "choose for the
// interface" (see Plan).
type Options struct {
	Interface  string
	BPF        string
	Snaplen    int
	Promisc    bool
	BufferSize int  // bytes of kernel ring
	Immediate  bool // TPACKET_V2, each packet at once; see the package doc
}

// Source reads packets from an interface.
type Source struct {
	h    *pcap.Handle
	name string
	link int
	plan Plan

	raw  [3]uint32        // libpcap's last 32-bit counters, to extend them past their wrap
	tot  [3]uint64        // 64-bit totals, owned by the reading goroutine
	last [3]atomic.Uint64 // the totals as of the last Stats call, for other goroutines
}

// Stats are libpcap's counters since the capture started. Received counts
// every packet that passed the filter, those the kernel dropped included.
type Stats struct {
	Received  uint64 // packets that passed the filter (kernel's tp_packets)
	Dropped   uint64 // dropped by the kernel: the ring was full (psmtap did not keep up)
	IfDropped uint64 // dropped by the interface or its driver before the kernel saw them (rx_missed + rx_fifo)
}

// Plan is what a capture was opened with and why.
type Plan struct {
	Snaplen    int
	BufferSize int
	Immediate  bool
	MTU        int   // of the interface; 0 when unknown
	SuperFrame int   // largest GRO/GSO frame the interface may hand over (bytes of IP packet); 0 when unknown
	SpeedMbps  int   // link speed the buffer was sized for
	SpeedKnown bool  // false: the interface did not say (virtual); 1 Gbit/s assumed
	Timeout    int64 // read timeout and V3 block timeout, ms
}

// Link-layer room over the IP packet: Ethernet header, two VLAN tags
// (QinQ), FCS when a driver keeps it.
const linkRoom = 14 + 2*4 + 4

// Ring sizing: this many milliseconds of the link's line rate, at twice the
// frame bytes (a V3 ring stores ~80 bytes of header with each packet: a
// 64-byte frame takes ~150 bytes of ring for 84 bytes of wire time), within
// bounds.
const (
	ringMillis = 250
	ringMin    = 32 << 20
	ringMax    = 256 << 20
	maxSnaplen = 262144 // libpcap's MAXIMUM_SNAPLEN
	timeout    = 10 * time.Millisecond
)

// PlanFor chooses what Options leave at zero for an interface.
func PlanFor(o Options) Plan {
	p := Plan{Snaplen: o.Snaplen, BufferSize: o.BufferSize, Immediate: o.Immediate, Timeout: timeout.Milliseconds()}
	p.MTU, p.SuperFrame = linkSizes(o.Interface)
	p.SpeedMbps, p.SpeedKnown = linkSpeed(o.Interface)
	if p.Snaplen <= 0 {
		p.Snaplen = snaplenFor(p.MTU, p.SuperFrame, o.Immediate)
	}
	if p.BufferSize <= 0 {
		p.BufferSize = ringFor(p.SpeedMbps)
	}
	return p
}

// ringFor is the ring for a link speed in Mbit/s.
func ringFor(mbps int) int {
	b := int64(mbps) * 1e6 / 8 * ringMillis / 1000 * 2
	return int(min(max(b, ringMin), ringMax))
}

// snaplenFor keeps whole the largest frame the kernel may hand over. In
// immediate mode (fixed V2 slots) it keeps an MTU-sized frame only, so that
// the ring holds tens of thousands of packets: super-frames from offloads
// are then cut (capture.truncated_payload); turn GRO/LRO off on a capture
// interface, or give --snaplen.
func snaplenFor(mtu, super int, immediate bool) int {
	if mtu <= 0 {
		return maxSnaplen
	}
	n := mtu
	if !immediate {
		n = max(n, super)
	}
	return min(n+linkRoom, maxSnaplen)
}

// linkSizes reads the MTU and the largest GRO/GSO size of an interface from
// rtnetlink (both 0 when unknown).
func linkSizes(name string) (mtu, super int) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, 0
	}
	mtu = ifi.MTU
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return mtu, 0
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return mtu, 0
	}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		info := (*syscall.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		if int(info.Index) != ifi.Index {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return mtu, 0
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case 0x29, 0x3a, 0x3f, 0x40: // IFLA_GSO_MAX_SIZE, IFLA_GRO_MAX_SIZE, IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE
				if len(a.Value) == 4 {
					super = max(super, int(*(*uint32)(unsafe.Pointer(&a.Value[0]))))
				}
			}
		}
	}
	return mtu, super
}

// linkSpeed reads the link speed in Mbit/s from sysfs; virtual interfaces
// and links that are down do not say (or say -1): 1 Gbit/s is assumed.
func linkSpeed(name string) (int, bool) {
	b, err := os.ReadFile("/sys/class/net/" + name + "/speed")
	if err != nil {
		return 1000, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 1000, false
	}
	return n, true
}

// Open starts capturing. Errors explain the usual fixes.
func Open(o Options) (*Source, error) {
	p := PlanFor(o)
	in, err := pcap.NewInactiveHandle(o.Interface)
	if err != nil {
		return nil, explain(o.Interface, err)
	}
	defer in.CleanUp()
	for _, set := range []func() error{
		func() error { return in.SetSnapLen(p.Snaplen) },
		func() error { return in.SetPromisc(o.Promisc) },
		func() error { return in.SetImmediateMode(p.Immediate) },
		func() error { return in.SetBufferSize(p.BufferSize) },
		// Bounds the delay of a V3 block, and lets Next return on a quiet
		// link so the caller can notice shutdown and advance time.
		func() error { return in.SetTimeout(timeout) },
	} {
		if err := set(); err != nil {
			return nil, explain(o.Interface, err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, explain(o.Interface, err)
	}
	if o.BPF != "" {
		if err := h.SetBPFFilter(o.BPF); err != nil {
			h.Close()
			return nil, fmt.Errorf("bad --bpf expression %q: %w", o.BPF, err)
		}
	}
	return &Source{h: h, name: o.Interface, link: int(h.LinkType()), plan: p}, nil
}

func explain(iface string, err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "ermission") || strings.Contains(msg, "not permitted"):
		return fmt.Errorf("cannot capture on %s: %w (run as root, or grant the binary the capability: sudo setcap cap_net_raw,cap_net_admin=eip $(which psmtap))", iface, err)
	case strings.Contains(msg, "No such device") || strings.Contains(msg, "doesn't exist"):
		return fmt.Errorf("no interface named %s: %w (list them with `ip link`)", iface, err)
	}
	return fmt.Errorf("cannot capture on %s: %w", iface, err)
}

// ErrTimeout is returned by Next when no packet came within the read timeout.
var ErrTimeout = errors.New("no packet within the read timeout")

// Next returns the next packet (valid until the next call).
func (s *Source) Next() ([]byte, int, int64, int, error) {
	data, ci, err := s.h.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, pcap.NextErrorTimeoutExpired) {
			return nil, 0, 0, 0, ErrTimeout
		}
		return nil, 0, 0, 0, err
	}
	return data, s.link, ci.Timestamp.UnixNano(), ci.Length, nil
}

// Name is the interface name.
func (s *Source) Name() string { return s.name }

// Plan is what the capture was opened with.
func (s *Source) Plan() Plan { return s.plan }

// Stats reads libpcap's counters. libpcap is not safe for concurrent use:
// call it from the goroutine that calls Next (at least once per 2^32
// packets: libpcap's counters are 32 bits and wrap); other goroutines (a
// /metrics handler) read Last.
func (s *Source) Stats() (Stats, error) {
	st, err := s.h.Stats()
	if err != nil {
		return Stats{}, err
	}
	for i, v := range [3]uint32{uint32(st.PacketsReceived), uint32(st.PacketsDropped), uint32(st.PacketsIfDropped)} {
		s.tot[i] += uint64(v - s.raw[i]) // modular: right across a wrap
		s.raw[i] = v
		s.last[i].Store(s.tot[i])
	}
	return s.Last(), nil
}

// Last returns the counters as of the last Stats call; safe from any
// goroutine.
func (s *Source) Last() Stats {
	return Stats{Received: s.last[0].Load(), Dropped: s.last[1].Load(), IfDropped: s.last[2].Load()}
}

// Close stops the capture.
func (s *Source) Close() error {
	s.h.Close()
	return nil
}
