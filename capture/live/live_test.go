package live

import (
	"net"
	"testing"
)

func TestSnaplenFor(t *testing.T) {
	for _, c := range []struct {
		mtu, super int
		immediate  bool
		want       int
	}{
		{1500, 65536, false, 65536 + linkRoom}, // GRO/GSO super-frames kept whole
		{1500, 0, false, 1500 + linkRoom},      // the interface does not say: MTU
		{1500, 65536, true, 1500 + linkRoom},   // fixed V2 slots: MTU-sized
		{9000, 65536, true, 9000 + linkRoom},   // jumbo frames
		{1500, 524280, false, maxSnaplen},      // BIG TCP: libpcap's largest
		{0, 0, false, maxSnaplen},              // unknown interface
	} {
		if got := snaplenFor(c.mtu, c.super, c.immediate); got != c.want {
			t.Errorf("snaplenFor(%d, %d, %v) = %d, want %d", c.mtu, c.super, c.immediate, got, c.want)
		}
	}
}

func TestPlanFor(t *testing.T) {
	// Explicit values are kept.
	p := PlanFor(Options{Interface: "lo", Snaplen: 1600, BufferSize: 8 << 20, Immediate: true})
	if p.Snaplen != 1600 || p.BufferSize != 8<<20 || !p.Immediate {
		t.Errorf("explicit options changed: %+v", p)
	}
	// Loopback has an MTU of 64 KiB and no speed: 1 Gbit/s assumed, so
	// 250 ms at twice the bytes: 62.5 MB.
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no loopback interface")
	}
	p = PlanFor(Options{Interface: "lo"})
	if p.MTU != lo.MTU || p.SpeedKnown || p.SpeedMbps != 1000 || p.BufferSize != 62_500_000 || p.Snaplen != min(max(lo.MTU, p.SuperFrame)+linkRoom, maxSnaplen) {
		t.Errorf("plan for lo: %+v (MTU %d)", p, lo.MTU)
	}
	if p.SuperFrame < 65536 {
		t.Logf("lo reports no GRO/GSO size (%d): an old kernel?", p.SuperFrame)
	}
	// An interface that is not there: libpcap's largest snaplen, the
	// smallest ring, and Open says what is wrong.
	p = PlanFor(Options{Interface: "psmtap-none0"})
	if p.Snaplen != maxSnaplen || p.BufferSize != 62_500_000 {
		t.Errorf("plan for a missing interface: %+v", p)
	}
}

func TestBufferBounds(t *testing.T) {
	for mbps, want := range map[int]int{10: ringMin, 1000: 62_500_000, 10000: ringMax, 100000: ringMax} {
		if got := ringFor(mbps); got != want {
			t.Errorf("%d Mbit/s: %d, want %d", mbps, got, want)
		}
	}
}
