package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestEdgeCases: each edge-case capture in pcaps/edge/ is a real capture
// transformed one way (see internal/pcaptool). psmtap must find the same
// session as in the original, with the same client, server and payload
// bytes, and must say what the transformation did where that is visible.
func TestEdgeCases(t *testing.T) {
	for _, base := range []string{"telnet-login", "ssh-password-interactive"} {
		orig := records(t, run(t, "read", "pcaps/"+base+".pcap").stdout)
		if len(orig) != 1 {
			t.Fatalf("%s: %d records", base, len(orig))
		}
		o := orig[0]
		files, _ := filepath.Glob(filepath.Join(repoRoot, "pcaps", "edge", base+"-*.pcap"))
		if len(files) < 11 {
			t.Fatalf("%s: only %d edge captures (make edge-pcaps)", base, len(files))
		}
		for _, f := range files {
			variant := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), base+"-"), ".pcap")
			t.Run(base+"/"+variant, func(t *testing.T) {
				r := run(t, "read", filepath.Join("pcaps", "edge", filepath.Base(f)))
				recs := records(t, r.stdout)
				if len(recs) != 1 {
					t.Fatalf("%d records (stderr %s)", len(recs), r.stderr)
				}
				g := recs[0]
				same := func(path string) {
					if str(g, path) != str(o, path) {
						t.Errorf("%s = %q, original %q", path, str(g, path), str(o, path))
					}
				}
				same("network.protocol")
				same("source.port")
				same("destination.port")
				if variant != "ipv6" {
					same("source.ip")
					same("destination.ip")
					same("network.community_id")
				} else if !strings.Contains(str(g, "source.ip"), ":") {
					t.Errorf("ipv6 variant has client %s", str(g, "source.ip"))
				}
				switch variant {
				case "gap":
					if str(g, "psm.missed_bytes") == "0" || !strings.Contains(str(g, "psm.anomalies"), "tcp.gap") {
						t.Errorf("gap not reported: %v", g["psm"])
					}
				case "midstream":
					if str(g, "psm.state") != "partial" {
						t.Errorf("state %s, want partial", str(g, "psm.state"))
					}
				case "truncate":
					if str(g, "psm.state") != "capture_end" || !strings.Contains(r.stderr, "middle of a packet") {
						t.Errorf("state %s stderr %q", str(g, "psm.state"), r.stderr)
					}
				case "retransmit":
					// Retransmitted bytes count as sent (like Zeek's orig_bytes from
					// packets), but nothing is missing from the stream.
					if str(g, "psm.missed_bytes") != "0" {
						t.Errorf("missed %s", str(g, "psm.missed_bytes"))
					}
				default:
					same("source.bytes")
					same("destination.bytes")
					same("psm.state")
					same("psm.missed_bytes")
				}
			})
		}
	}
}
