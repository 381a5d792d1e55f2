package communityid

import (
	"net/netip"
	"testing"
)

func TestCompute(t *testing.T) {
	// Expected values: Zeek's community-id-logging baseline (conn.log.cut over
	// testing/btest/Traces/http/get.pcap) and the spec's published examples.
	cases := []struct {
		src, dst     string
		sport, dport uint16
		proto        uint8
		want         string
	}{
		{"141.142.228.5", "192.150.187.43", 59856, 80, 6, "1:yvyB8h+3dnggTZW0UEITWCst97w="},
		{"192.150.187.43", "141.142.228.5", 80, 59856, 6, "1:yvyB8h+3dnggTZW0UEITWCst97w="}, // direction-independent
	}
	for _, c := range cases {
		s, d := netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst)
		got := Compute(0, s.AsSlice(), d.AsSlice(), c.sport, c.dport, c.proto)
		if got != c.want {
			t.Errorf("%s:%d -> %s:%d: got %s want %s", c.src, c.sport, c.dst, c.dport, got, c.want)
		}
	}
}
