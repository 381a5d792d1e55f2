package interop

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/capture/decode"
	"github.com/psmtap/psmtap/dissectors/tls"
)

// RDP and TLS facts, field by field:
//
//   - Zeek rdp.log on every RDP trace (every column), ssl.log and x509.log
//     where the baseline has them, and the rdpeudp handshake events (out);
//   - suricata-verify rdp-protocol (RDP-003): the rdp.* checks of test.yaml;
//   - JA3 against salesforce/ja3's ssl.log (ssl-chrome, ssl-curl), JA4
//     against Suricata's ja4-tls and ja4-tls-quic checks, JA3S against
//     Suricata's tls-certs-alert check. TLS on its own is not a session of
//     psmtap's (dissectors/tls is a library), so these run the library over
//     the captures' TCP streams instead of the binary.
//
// Each comparison is printed (t.Log) as agree / DISAGREE; a disagreement
// fails unless rdpExplained names it, with the reason.

// rdpExplained: deliberate or understood differences, keyed "capture|field".
var rdpExplained = map[string]string{
	// Zeek writes result "encrypted" once the connection switches to TLS/CredSSP;
	// psmtap's rdp.result says how the negotiation ended (SCHEMA.md): success.
	"zeek/Traces/rdp/rdp-to-ssl.pcap|result":             "Zeek: 'encrypted' after the switch to TLS; psmtap: the negotiation succeeded",
	"zeek/Traces/rdp/rdp-no-cookie-mstshash.pcap|result": "Zeek: 'encrypted' after the switch to TLS; psmtap: the negotiation succeeded",
	// The trace has a Connection Confirm without failure; Zeek leaves result
	// unset because its log is written before the (truncated) server data.
	"zeek/Traces/rdp/rdp-unknown-keyboard.pcap|result": "Zeek leaves it unset; psmtap saw the Connection Confirm without failure",
	// Zeek's "Thai (Best Guess for 263198)" and psmtap's "Thai Kedmanee (best
	// guess for 0x0004041E)" both name the low word 0x041E; only the wording differs.
	"zeek/Traces/rdp/rdp-unknown-keyboard.pcap|keyboard_layout": "same guess (low word 0x041E, Thai), other wording",
	// The server's own certificate of this chain has a subject with CR LF in a
	// PrintableString, which Go's crypto/x509 refuses: psmtap keeps its
	// SHA-256 (agrees with x509.log) and records rdp.bad_server_certificate.
}

type cmp struct {
	t        *testing.T
	capture  string
	agree    int
	disagree int
}

func (c *cmp) check(what, field, peer, ours string) {
	c.t.Helper()
	if peer == ours {
		c.agree++
		c.t.Logf("agree     %s %s %s = %q", c.capture, what, field, ours)
		return
	}
	if why, ok := rdpExplained[c.capture+"|"+field]; ok {
		c.t.Logf("explained %s %s %s: peer %q, psmtap %q (%s)", c.capture, what, field, peer, ours, why)
		return
	}
	c.disagree++
	c.t.Errorf("DISAGREE  %s %s %s: peer %q, psmtap %q", c.capture, what, field, peer, ours)
}

// jpath reads a dotted path from a decoded JSON object as a string ("" when absent).
func jpath(m map[string]any, p string) string {
	var v any = m
	for _, k := range strings.Split(p, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[k]
	}
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatInt(int64(x), 10)
	case []any:
		s := make([]string, len(x))
		for i, e := range x {
			s[i] = fmt.Sprint(e)
		}
		return strings.Join(s, ",")
	case bool:
		if x {
			return "T"
		}
		return "F"
	}
	return fmt.Sprint(v)
}

// zeekBuild is Zeek's rdp.log client_build naming of clientBuild numbers.
var zeekBuild = map[string]string{"2600": "RDP 5.1", "3790": "RDP 5.2", "6000": "RDP 6.0", "6001": "RDP 6.1",
	"6002": "RDP 6.2", "7600": "RDP 7.0", "7601": "RDP 7.1", "9200": "RDP 8.0", "9600": "RDP 8.1"}

// rdpZeekValue turns psmtap's record into the value of one rdp.log column.
func rdpZeekValue(r *record, col string) string {
	m := r.RDP
	switch col {
	case "cookie":
		return jpath(m, "cookie")
	case "result":
		switch v := jpath(m, "result"); v {
		case "success":
			return "Success"
		default:
			return strings.ToUpper(v)
		}
	case "security_protocol":
		return strings.ToUpper(jpath(m, "selected_protocol"))
	case "client_channels":
		return jpath(m, "channels")
	case "keyboard_layout":
		return jpath(m, "client.keyboard_layout")
	case "client_build":
		return zeekBuild[jpath(m, "client.build")]
	case "client_name":
		return jpath(m, "client.name")
	case "client_dig_product_id":
		return jpath(m, "client.product_id")
	case "desktop_width", "desktop_height":
		return jpath(m, "client."+col)
	case "requested_color_depth":
		if d := jpath(m, "client.color_depth"); d != "" {
			return d + "bit"
		}
		return ""
	case "cert_type":
		return map[string]string{"proprietary": "RSA", "x509": "X.509"}[jpath(m, "certificate.type")]
	case "cert_count":
		if n := jpath(m, "certificate.count"); n != "" {
			return n
		}
		return "0" // Zeek's &default=0
	case "cert_permanent":
		return jpath(m, "certificate.permanent")
	case "encryption_level":
		return map[string]string{"none": "None", "low": "Low", "client_compatible": "Client compatible", "high": "High", "fips": "FIPS"}[jpath(m, "encryption_level")]
	case "encryption_method":
		return jpath(m, "encryption_method")
	}
	return "?"
}

func zeekUnset(v string) string {
	if v == "-" || v == "(empty)" {
		return ""
	}
	return strings.ReplaceAll(v, `\\`, `\`)
}

func readRef(t *testing.T, rel string) string {
	b, err := os.ReadFile(filepath.Join(pcapRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func findRecord(recs []*record, client endpoint, server endpoint, transport string) *record {
	for _, r := range recs {
		if r.Network.Protocol == "rdp" && client.matches(r.client) && server.matches(r.server) &&
			(transport == "" || r.Network.Transport == transport) {
			return r
		}
	}
	return nil
}

func TestRDPZeek(t *testing.T) {
	setup(t)
	traces := map[string]string{
		"zeek/Traces/rdp/rdp-proprietary-encryption.pcap": "scripts.base.protocols.rdp.rdp-proprietary-encryption",
		"zeek/Traces/rdp/rdp-to-ssl.pcap":                 "scripts.base.protocols.rdp.rdp-to-ssl",
		"zeek/Traces/rdp/rdp-x509.pcap":                   "scripts.base.protocols.rdp.rdp-x509",
		"zeek/Traces/rdp/rdp-unknown-keyboard.pcap":       "scripts.base.protocols.rdp.rdp-unknown-keyboard",
		"zeek/Traces/rdp/rdp-no-cookie-mstshash.pcap":     "scripts.base.protocols.rdp.rdp-no-cookie-msthash",
	}
	for capture, base := range traces {
		c := &cmp{t: t, capture: capture}
		res := runPSMTap(t, capture)
		if res.err != nil {
			t.Fatalf("%s: %v", capture, res.err)
		}
		lt := parseZeekLog("rdp.log", readRef(t, "zeek/Baseline/"+base+"/rdp.log"))
		for _, row := range lt.Rows {
			cl, sv := lt.ends(row)
			r := findRecord(res.records, cl, sv, "tcp")
			if r == nil {
				t.Errorf("%s: no rdp record for %s -> %s", capture, cl, sv)
				continue
			}
			for _, col := range lt.Header {
				if !strings.Contains(" cookie result security_protocol client_channels keyboard_layout client_build client_name client_dig_product_id desktop_width desktop_height requested_color_depth cert_type cert_count cert_permanent encryption_level encryption_method ", " "+col+" ") {
					continue
				}
				c.check(cl.String(), col, zeekUnset(lt.get(row, col)), rdpZeekValue(r, col))
			}
			// Zeek's cookie is psmtap's rdp.cookie (above) and one of
			// related.user; never user.name: a cookie is a claim, not a login.
			if ck := zeekUnset(lt.get(row, "cookie")); ck != "" {
				got := strings.Join(r.Related.User, ",")
				if slices.Contains(r.Related.User, ck) {
					got = ck
				}
				c.check(cl.String(), "related.user", ck, got)
				if r.User.Name != "" {
					t.Errorf("%s %s: the cookie became user.name %q", capture, cl, r.User.Name)
				}
			}
		}
		// ssl.log: the TLS inside RDP.
		if b, err := os.ReadFile(filepath.Join(pcapRoot, "zeek/Baseline", base, "ssl.log")); err == nil {
			st := parseZeekLog("ssl.log", string(b))
			for _, row := range st.Rows {
				cl, sv := st.ends(row)
				r := findRecord(res.records, cl, sv, "tcp")
				if r == nil {
					t.Errorf("%s: no record for ssl.log row %s", capture, cl)
					continue
				}
				v := strings.TrimPrefix(st.get(row, "version"), "TLSv")
				if len(v) == 2 {
					v = v[:1] + "." + v[1:]
				}
				c.check(cl.String(), "tls.version", v, jpath(r.TLS, "version"))
				c.check(cl.String(), "tls.cipher", st.get(row, "cipher"), jpath(r.TLS, "cipher"))
				c.check(cl.String(), "tls.client.server_name", zeekUnset(st.get(row, "server_name")), jpath(r.TLS, "client.server_name"))
				fps := strings.Split(st.get(row, "cert_chain_fps"), ",")
				c.check(cl.String(), "tls.server.hash.sha256", fps[0], strings.ToLower(jpath(r.TLS, "server.hash.sha256")))
				c.check(cl.String(), "tls.server.x509.subject.common_name", strings.TrimPrefix(st.get(row, "subject"), "CN="), jpath(r.TLS, "server.x509.subject.common_name"))
			}
		}
		// x509.log: the Standard RDP Security X.509 chain; the server's is the last.
		if b, err := os.ReadFile(filepath.Join(pcapRoot, "zeek/Baseline", base, "x509.log")); err == nil {
			xt := parseZeekLog("x509.log", string(b))
			if n := len(xt.Rows); n > 0 {
				r := findRecord(res.records, endpoint{}, endpoint{}, "tcp")
				c.check("server", "rdp.certificate.count", strconv.Itoa(n), jpath(r.RDP, "certificate.count"))
				c.check("server", "rdp.certificate.hash.sha256", xt.get(xt.Rows[n-1], "fingerprint"), strings.ToLower(jpath(r.RDP, "certificate.hash.sha256")))
			}
		}
		t.Logf("%s: %d agree, %d disagree", capture, c.agree, c.disagree)
	}
}

// TestRDPUDPZeek: Zeek's rdpeudp events. Zeek's "version 1" is MS-RDPEUDP
// and "version 2" MS-RDPEUDP2; psmtap's rdp.udp.version is the SYNEX
// uUdpVer (1 or 2 for MS-RDPEUDP, 3 = 0x0101 for MS-RDPEUDP2).
func TestRDPUDPZeek(t *testing.T) {
	setup(t)
	for capture, base := range map[string]string{
		"zeek/Traces/rdp/rdpeudp-handshake-success.pcap":  "scripts.base.protocols.rdp.rdpeudp-handshake-success",
		"zeek/Traces/rdp/rdpeudp2-handshake-success.pcap": "scripts.base.protocols.rdp.rdpeudp2-handshake-success",
		"zeek/Traces/rdp/rdpeudp-handshake-fail.pcap":     "scripts.base.protocols.rdp.rdpeudp-handshake-fail",
	} {
		c := &cmp{t: t, capture: capture}
		res := runPSMTap(t, capture)
		r := findRecord(res.records, endpoint{}, endpoint{}, "udp")
		if r == nil {
			t.Errorf("%s: no rdp record over udp", capture)
			continue
		}
		out := readRef(t, "zeek/Baseline/"+base+"/out")
		established, zver := "", ""
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "rdpeudp_established") {
				established = "success"
				zver = strings.TrimSpace(l[strings.LastIndexByte(l, ',')+1:])
			}
			if strings.HasPrefix(l, "rdpeudp_syn,") {
				i := strings.Index(l, "orig_p=")
				port := l[i+7 : i+7+strings.IndexByte(l[i+7:], '/')]
				c.check("client", "source.port", port, strconv.Itoa(int(r.client.Port())))
			}
		}
		c.check("udp", "rdp.result", established, jpath(r.RDP, "result"))
		c.check("udp", "network.transport", "udp", r.Network.Transport)
		if zver != "" {
			ours := map[string]string{"1": "1", "2": "1", "3": "2"}[jpath(r.RDP, "udp.version")]
			c.check("udp", "rdp.udp.version (Zeek's numbering)", zver, ours)
		}
	}
}

// TestRDPSuricata: suricata-verify rdp-protocol's rdp.* checks on RDP-003.
func TestRDPSuricata(t *testing.T) {
	setup(t)
	capture := "suricata-verify/rdp-protocol/RDP-003.pcap"
	c := &cmp{t: t, capture: capture}
	res := runPSMTap(t, capture)
	var r *record
	for _, x := range res.records {
		if x.Network.Protocol == "rdp" && jpath(x.RDP, "client.name") != "" {
			r = x
		}
	}
	if r == nil {
		t.Fatal("no RDP record with client data")
	}
	// The checks of test.yaml, in psmtap's terms (Suricata's "v5" is the
	// 0x00080004 client version, "Windows XP" the build 2600 name; its
	// capability name support_errinfo_pdf is MS-RDPBCGR's RNS_UD_CS_SUPPORT_ERRINFO_PDU).
	c.check("", "rdp.cookie", "A70067", jpath(r.RDP, "cookie"))
	c.check("", "rdp.client.version", "5.0", jpath(r.RDP, "client.version"))
	c.check("", "rdp.client.build", "Windows XP", jpath(r.RDP, "client.build_name"))
	c.check("", "rdp.client.desktop_height", "864", jpath(r.RDP, "client.desktop_height"))
	c.check("", "rdp.client.client_name", "ISD2-KM84178", jpath(r.RDP, "client.name"))
	c.check("", "rdp.client.capabilities[0]", "support_errinfo_pdu", strings.Split(jpath(r.RDP, "client.capabilities"), ",")[0])
	c.check("", "rdp.client.id", "55274-OEM-0011903-00107", jpath(r.RDP, "client.product_id"))
	c.check("", "rdp.channels", "rdpdr,cliprdr,rdpsnd", jpath(r.RDP, "channels"))
	n := 0
	for _, x := range res.records {
		if x.Network.Protocol == "rdp" {
			n++
		}
	}
	t.Logf("%s: %d RDP sessions (also on port 2998); %d agree", capture, n, c.agree)
}

// tlsStreams runs dissectors/tls over every TCP connection of a capture
// (payload in sequence order, retransmissions dropped) and returns the
// streams by "client:port" of the SYN sender.
func tlsStreams(t *testing.T, rel string) map[string]*tls.Stream {
	src, err := capture.OpenFile(filepath.Join(pcapRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	type half struct {
		next uint32
		set  bool
	}
	type conn struct {
		s      *tls.Stream
		client string
		h      map[string]*half
	}
	conns := map[string]*conn{}
	out := map[string]*tls.Stream{}
	var p decode.Packet
	for {
		frame, link, ts, _, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		d := decode.Decoder{LinkType: link}
		if d.Decode(frame, ts, &p) != nil || p.Proto != 6 {
			continue
		}
		ip := func(b [16]byte) string {
			if p.IPv6 {
				return fmt.Sprintf("%x", b)
			}
			return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
		}
		a := ip(p.Src) + ":" + strconv.Itoa(int(p.SrcPort))
		b := ip(p.Dst) + ":" + strconv.Itoa(int(p.DstPort))
		key := a + "|" + b
		if a > b {
			key = b + "|" + a
		}
		c := conns[key]
		if c == nil {
			if p.Flags&0x12 != 0x02 { // need the SYN to know the client
				continue
			}
			c = &conn{s: &tls.Stream{}, client: a, h: map[string]*half{}}
			conns[key] = c
			out[a] = c.s
		}
		h := c.h[a]
		if h == nil {
			h = &half{}
			c.h[a] = h
		}
		if p.Flags&0x02 != 0 {
			h.next, h.set = p.Seq+1, true
			continue
		}
		if len(p.Payload) == 0 || !h.set || p.Seq != h.next {
			continue
		}
		h.next += uint32(len(p.Payload))
		side := tls.SideServer
		if a == c.client {
			side = tls.SideClient
		}
		c.s.Feed(side, p.Payload)
	}
	return out
}

func TestTLSFingerprints(t *testing.T) {
	setup(t)
	// salesforce/ja3: the ja3 column of its Zeek ssl.log.
	for capture, ref := range map[string]string{
		"salesforce-ja3/ssl-chrome.pcap": "salesforce-ja3/chrome_test1.ssl.log",
		"salesforce-ja3/ssl-curl.pcap":   "salesforce-ja3/curl_test1.ssl.log",
	} {
		c := &cmp{t: t, capture: capture}
		streams := tlsStreams(t, capture)
		lt := parseZeekLog("ssl.log", readRef(t, ref))
		for _, row := range lt.Rows {
			cl, _ := lt.ends(row)
			s := streams[cl.String()]
			if s == nil || s.Hello == nil {
				t.Errorf("%s: no ClientHello from %s", capture, cl)
				continue
			}
			f, _ := s.Fields()
			c.check(cl.String(), "tls.client.ja3", lt.get(row, "ja3"), f.Client.JA3)
			c.check(cl.String(), "tls.client.server_name", zeekUnset(lt.get(row, "server_name")), f.Client.ServerName)
			if f.Server != nil {
				v := strings.TrimPrefix(lt.get(row, "version"), "TLSv")
				c.check(cl.String(), "tls.version", v[:1]+"."+v[1:], f.Version)
				c.check(cl.String(), "tls.cipher", lt.get(row, "cipher"), f.Cipher)
			}
		}
	}
	// Suricata: JA4 (ja4-tls, and the TLS-over-TCP flow of ja4-tls-quic; the
	// QUIC ClientHello is not TCP and not psmtap's) and JA3S (tls-certs-alert).
	checks := []struct{ capture, field, want string }{
		{"suricata-verify/ja4-tls/input.pcap", "tls.detailed.client.ja4", "t12i1810s1_27d4652c4487_06a4338d0495"},
		{"suricata-verify/ja4-tls-quic/input.pcap", "tls.detailed.client.ja4", "t13d1516h2_8daaf6152771_e5627efa2ab1"},
		{"suricata-verify/tls/tls-certs-alert/input.pcap", "tls.server.ja3s", "5d79edf64e03689ff559a54e9d9487bc"},
		{"suricata-verify/tls/tls-certs-alert/input.pcap", "tls.detailed.server.ja3s_string", "771,49199,65281-0-11-16-23"},
	}
	for _, ck := range checks {
		c := &cmp{t: t, capture: ck.capture}
		var got []string
		for _, s := range tlsStreams(t, ck.capture) {
			f, _ := s.Fields()
			if f == nil {
				continue
			}
			switch ck.field {
			case "tls.detailed.client.ja4":
				if f.Client != nil {
					got = append(got, f.Client.JA4)
				}
			case "tls.server.ja3s":
				if f.Server != nil {
					got = append(got, f.Server.JA3S)
				}
			case "tls.detailed.server.ja3s_string":
				if f.Server != nil {
					got = append(got, f.Server.JA3SString)
				}
			}
		}
		ours := strings.Join(got, ",")
		for _, g := range got {
			if g == ck.want {
				ours = g
			}
		}
		c.check("", ck.field, ck.want, ours)
	}
}
