// Package live captures from a network interface through libpcap: immediate
// mode (no batching delay), a large kernel buffer (bursts on a SPAN port), an
// optional BPF filter, and the kernel's drop counters.
package live

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gopacket/gopacket/pcap"
)

// Options configure a live capture.
type Options struct {
	Interface  string
	BPF        string
	Snaplen    int
	Promisc    bool
	BufferSize int // bytes of kernel buffer
}

// Source reads packets from an interface.
type Source struct {
	h    *pcap.Handle
	name string
	link int
}

// Stats are libpcap's counters.
type Stats struct {
	Received, Dropped, IfDropped uint64
}

// Open starts capturing. Errors explain the usual fixes.
func Open(o Options) (*Source, error) {
	if o.Snaplen <= 0 {
		o.Snaplen = 262144
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 64 << 20
	}
	in, err := pcap.NewInactiveHandle(o.Interface)
	if err != nil {
		return nil, explain(o.Interface, err)
	}
	defer in.CleanUp()
	for _, set := range []func() error{
		func() error { return in.SetSnapLen(o.Snaplen) },
		func() error { return in.SetPromisc(o.Promisc) },
		func() error { return in.SetImmediateMode(true) },
		func() error { return in.SetBufferSize(o.BufferSize) },
		// A short timeout lets Next return so the caller can notice shutdown.
		func() error { return in.SetTimeout(200 * time.Millisecond) },
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
	return &Source{h: h, name: o.Interface, link: int(h.LinkType())}, nil
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

// Stats returns libpcap's counters.
func (s *Source) Stats() (Stats, error) {
	st, err := s.h.Stats()
	if err != nil {
		return Stats{}, err
	}
	return Stats{Received: uint64(st.PacketsReceived), Dropped: uint64(st.PacketsDropped), IfDropped: uint64(st.PacketsIfDropped)}, nil
}

// Close stops the capture.
func (s *Source) Close() error {
	s.h.Close()
	return nil
}
