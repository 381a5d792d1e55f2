package interop

import (
	"fmt"
	"strings"
	"testing"
)

// vncFacts are the handshake facts Zeek's rfb.log and Suricata's rfb events
// give, as psmtap writes them.
type vncFacts struct {
	client, server string // endpoints; "" for the only vnc session
	versions       string // "client server", e.g. "3.3 3.8"
	security       string // vnc.security.chosen
	outcome        string // vnc.auth.outcome, "" when absent
	reason         string
	shared         string // "true", "false", "" when absent
	name           string
	size           string // "WxH", "" when absent
}

func vncRecord(recs []*record, client string) *record {
	for _, r := range recs {
		if r.Network.Protocol == "vnc" && (client == "" || r.client.String() == client) {
			return r
		}
	}
	return nil
}

func (f vncFacts) of(r *record) vncFacts {
	g := vncFacts{client: f.client}
	g.versions = fmt.Sprint(jpath(r.VNC, "version.client"), " ", jpath(r.VNC, "version.server"))
	g.security = fmt.Sprint(jpath(r.VNC, "security.chosen"))
	g.outcome = fmt.Sprint(jpath(r.VNC, "auth.outcome"))
	g.reason = fmt.Sprint(jpath(r.VNC, "auth.reason"))
	if v, ok := r.VNC["shared"].(bool); ok {
		g.shared = fmt.Sprint(v)
	}
	g.name = fmt.Sprint(jpath(r.VNC, "desktop.name"))
	if w := fmt.Sprint(jpath(r.VNC, "desktop.width")); w != "" {
		g.size = w + "x" + fmt.Sprint(jpath(r.VNC, "desktop.height"))
	}
	return g
}

// TestVNCPeers: the RFB handshakes of Zeek's and Suricata's test traces read
// as the peers read them (Zeek's rfb.log baselines, suricata-verify's
// test.yaml checks), transcribed by hand. Zeek's auth column is the
// SecurityResult; "-" where the connection ended before it.
func TestVNCPeers(t *testing.T) {
	setup(t)
	zeekName := `\x00\x00\x00\x00\x00\x02\xbf\xfe\xe7\x03\xe0\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00MacMini SSD`
	cases := map[string][]vncFacts{
		// Zeek: scripts.base.protocols.rfb.rfb-apple-remote-desktop/rfb.log
		"zeek/Traces/rfb/vncmac.pcap": {
			{client: "192.168.2.115:52353", versions: "3.889 3.889", security: "apple-ard", outcome: "success", shared: "true", name: zeekName, size: "1920x1080"},
			{client: "192.168.2.115:52351", versions: "3.889 3.889"},
			{client: "192.168.2.115:52352", versions: "3.889 3.889", security: "apple-ard", outcome: "failure", reason: "authentication failed"},
		},
		// Zeek: scripts.base.protocols.rfb.vnc-mac-to-linux/rfb.log (a 3.3 client to a 3.8 server)
		"zeek/Traces/rfb/vnc-mac-to-linux.pcap": {
			{client: "192.168.2.115:49259", versions: "3.3 3.8", security: "vnc-auth", outcome: "success", shared: "true", name: "root's X desktop (martin-VirtualBox:1)", size: "1024x768"},
			{client: "192.168.2.115:49256", versions: "3.3 3.8", security: "vnc-auth"},
			{client: "192.168.2.115:49257", versions: "3.3 3.8", security: "vnc-auth", outcome: "failure", reason: "authentication failed"},
		},
		// Zeek: scripts.base.protocols.rfb.vnc-scanner/rfb.log
		"zeek/Traces/rfb/vnc-scanner.pcap": {
			{versions: "3.8 3.8", security: "vnc-auth", outcome: "failure", reason: "Authentication failed from    192.168.0.1"},
		},
		// suricata-verify rfb-protocol-3.3, rfb-protocol-3.8, rfb-protocol-3.7 (rfb-rules), rfb-parser, rfb-failure, rfb-partial-tx
		"suricata-verify/rfb-protocol-3.3/06-vnc-Password-3.3.pcap": {
			{versions: "3.3 3.3", security: "vnc-auth", outcome: "success", shared: "false", name: `\xa0`, size: "800x600"},
		},
		"suricata-verify/rfb-protocol-3.8/04-vnc-openwall-3.8.pcap": {
			{versions: "3.8 3.8", security: "vnc-auth", outcome: "success", shared: "false", name: `\xa0`, size: "800x600"},
		},
		"suricata-verify/rfb-rules/00-vnc-openwall-3.7.pcap": { // shared: tshark's "Share desktop flag: False"
			{versions: "3.7 3.7", security: "vnc-auth", outcome: "success", shared: "false", name: "aneagles@localhost.localdomain", size: "1280x800"},
		},
		"suricata-verify/rfb-parser/input.pcap": {
			{versions: "3.7 3.7", security: "none", outcome: "success", shared: "true", name: "aneagles@localhost.localdomain", size: "1280x800"},
		},
		"suricata-verify/rfb-failure/rfb_failure_16.pcap": {
			{versions: "3.8 3.8", outcome: "failure", reason: "AAAAAAAAAAAAAAAA"},
		},
		// Suricata stops at type 30 (Apple); tshark reads the result 0 (OK) and then loses
		// its place. The name and size are psmtap's own reading of the ServerInit.
		"suricata-verify/rfb-partial-tx/in.pcap": {
			{versions: "3.8 3.889", security: "apple-ard", outcome: "success", shared: "true", name: "vmac", size: "1280x720"},
		},
	}
	for capture, want := range cases {
		res := runPSMTap(t, capture)
		if res.err != nil {
			t.Fatalf("%s: %v", capture, res.err)
		}
		for _, w := range want {
			r := vncRecord(res.records, w.client)
			if r == nil {
				t.Errorf("%s: no vnc session from %q", capture, w.client)
				continue
			}
			if len(r.PSM.Anomalies) > 0 {
				t.Errorf("%s %s: anomalies %v", capture, w.client, r.PSM.Anomalies)
			}
			got := w.of(r)
			if w.outcome == "" && got.outcome == "unknown" {
				got.outcome = "" // the session ended before the result: the peers say "-"
			}
			if got != w {
				t.Errorf("%s:\n got %s\nwant %s", capture, strings.TrimPrefix(fmt.Sprintf("%+v", got), "{"), strings.TrimPrefix(fmt.Sprintf("%+v", w), "{"))
			}
		}
	}
}
