package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Telnet, rlogin, rsh and FTP content against the peers:
//
//   - CredSLayer (credslayer/EXPECTED.md): the user of every Telnet and FTP
//     sample, one cleartext credential each, the password itself nowhere in
//     psmtap's output (it masks what CredSLayer prints);
//   - suricata-verify telnet-01 (Suricata parses but logs no Telnet fields):
//     a Telnet session with its user;
//   - Zeek's ftp.log baselines: user, every command verb and its reply code,
//     AUTH TLS, and no record for the data connections Zeek lists;
//   - Zeek's and tcpdump's crafted NVT/rlogin/rsh traces: read without error
//     or parser panic, with the anomaly that names what is wrong.
//
// Deliberate differences: Zeek logs the anonymous FTP password ("test");
// psmtap masks it. Zeek logs RETR's argument as a URL
// (ftp://host/./robots.txt); psmtap keeps the argument as sent.

// fullRecords runs `psmtap read` (no --all) and returns the records as maps.
func fullRecords(t *testing.T, capture string) ([]map[string]any, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, psmtapBin, "read", "--observer", "interop", filepath.Join(pcapRoot, capture))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", capture, err, errb.String())
	}
	var recs []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s: %v", capture, err)
		}
		if as, _ := get(m, "psm.anomalies").([]any); slices.Contains(as, any("parser.panic")) {
			t.Errorf("%s: parser panic", capture)
		}
		recs = append(recs, m)
	}
	return recs, out.String()
}

func get(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestCredSLayerCleartext(t *testing.T) {
	setup(t)
	cases := []struct{ capture, proto, user, password string }{
		{"credslayer/samples/telnet-cooked.pcap", "telnet", "fake", ""}, // password "user" is also an ordinary word
		{"credslayer/samples/telnet-raw.pcap", "telnet", "fake", ""},
		{"credslayer/samples/telnet-raw2.pcap", "telnet", "Administrator", "napier"},
		{"credslayer/samples/telnet.pcap", "telnet", "shellcode", ""}, // password = user name
		{"credslayer/samples/telnet-hidden.pcap", "telnet", "shellcode", ""},
		{"credslayer/samples/ftp.pcap", "ftp", "anonymous", "ftp@example.com"},
		{"suricata-verify/telnet/telnet-01/telnet.pcap", "telnet", "fake", ""},
	}
	for _, c := range cases {
		recs, out := fullRecords(t, c.capture)
		if len(recs) != 1 {
			t.Errorf("%s: %d records", c.capture, len(recs))
			continue
		}
		r := recs[0]
		if get(r, "network.protocol") != c.proto || get(r, "user.name") != c.user || get(r, "psm.cleartext_credentials") != true {
			t.Errorf("%s: %v user %v credentials %v", c.capture, get(r, "network.protocol"), get(r, "user.name"), get(r, "psm.cleartext_credentials"))
		}
		if a, _ := get(r, "psm.login.attempts").(float64); a < 1 {
			t.Errorf("%s: no login attempt counted", c.capture)
		}
		if c.password != "" && strings.Contains(out, c.password) {
			t.Errorf("%s: the password is in the output", c.capture)
		}
	}
}

func TestZeekFTPLogs(t *testing.T) {
	setup(t)
	cases := []struct{ capture, baseline string }{
		{"zeek/Traces/ftp/ipv4.pcap", "zeek/Baseline/scripts.base.protocols.ftp.ftp-ipv4/ftp.log"},
		{"zeek/Traces/ftp/ipv6.pcap", "zeek/Baseline/scripts.base.protocols.ftp.ftp-ipv6/ftp.log"},
		{"zeek/Traces/ftp/ftp-auth-tls.pcap", "zeek/Baseline/scripts.base.protocols.ftp.ftp-auth-tls/ftp.log"},
	}
	for _, c := range cases {
		src, err := os.ReadFile(filepath.Join(pcapRoot, c.baseline))
		if err != nil {
			t.Fatal(err)
		}
		log := parseZeekLog(c.baseline, string(src))
		recs, _ := fullRecords(t, c.capture)
		for _, row := range log.Rows {
			var r map[string]any
			for _, x := range recs {
				if get(x, "network.protocol") == "ftp" && sameHost(get(x, "source.ip"), log.get(row, "id.orig_h")) &&
					int(get(x, "source.port").(float64)) == int(parsePort(log.get(row, "id.orig_p"))) {
					r = x
				}
			}
			if r == nil {
				t.Errorf("%s: no ftp record for %s:%s", c.capture, log.get(row, "id.orig_h"), log.get(row, "id.orig_p"))
				continue
			}
			if u := log.get(row, "user"); u != "<unknown>" && u != "-" && get(r, "user.name") != u {
				t.Errorf("%s: user %v, zeek %s", c.capture, get(r, "user.name"), u)
			}
			cmd, code := log.get(row, "command"), log.get(row, "reply_code")
			if cmd == "<init>" { // the greeting
				if get(r, "ftp.greeting") != log.get(row, "reply_msg") {
					t.Errorf("%s: greeting %v, zeek %s", c.capture, get(r, "ftp.greeting"), log.get(row, "reply_msg"))
				}
				continue
			}
			cmds, replies := strs(get(r, "psm.commands")), strs(get(r, "ftp.replies"))
			found := false
			for i, x := range cmds {
				if strings.SplitN(x, " ", 2)[0] == cmd && strings.HasSuffix(replies[i], code) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: zeek %s -> %s not in %q / %q", c.capture, cmd, code, cmds, replies)
			}
			if cmd == "AUTH" && get(r, "ftp.tls") != true {
				t.Errorf("%s: AUTH TLS not noted", c.capture)
			}
			// the data connections Zeek names are not sessions of their own
			if p := log.get(row, "data_channel.resp_p"); p != "-" {
				for _, x := range recs {
					if int(get(x, "destination.port").(float64)) == int(parsePort(p)) {
						t.Errorf("%s: data connection to port %s reported as a session", c.capture, p)
					}
				}
			}
		}
	}
}

func sameHost(v any, s string) bool {
	ip, _ := v.(string)
	return parseAddr(ip) == parseAddr(s)
}

// TestCraftedCleartext: the crafted traces are read without error or panic,
// and what is wrong is named.
func TestCraftedCleartext(t *testing.T) {
	setup(t)
	cases := []struct {
		capture string
		anomaly string // on the one telnet record; "" when no record is expected
	}{
		// IAC SB (option 66) never closed, then ~200 KiB: swallowed by the SB, capped
		{"zeek/Traces/contentline/telnet-unclosed-suboption.pcapng.gz", "telnet.subnegotiation_too_long"},
		// fuzzed IAC sequences (tcpdump's out-of-bounds-read regression)
		{"tcpdump/telnet-iac-check-oobr.pcap", "telnet.unclosed_subnegotiation"},
		// AUTHENTICATION IS with the name missing, on port 21
		{"zeek/Traces/telnet-auth-missing-name.pcap", "-"},
		// long line without EOL, heap-overflow regression, rlogin/rsh user without NUL:
		// no handshake that psmtap accepts, so no session (as Zeek logs no service)
		{"zeek/Traces/contentline/telnet-long-line-no-eol.pcapng.gz", ""},
		{"zeek/Traces/contentline/nvt-line-limit-crlf-heap-buffer-overflow.pcap.gz", ""},
		{"zeek/Traces/contentline/rlogin-long-client-user-no-nul.pcapng.gz", ""},
		{"zeek/Traces/contentline/rsh-long-client-user-no-nul.pcapng.gz", ""},
	}
	for _, c := range cases {
		recs, _ := fullRecords(t, c.capture)
		switch {
		case c.anomaly == "" && len(recs) != 0:
			t.Errorf("%s: %d records, want none", c.capture, len(recs))
		case c.anomaly != "" && len(recs) != 1:
			t.Errorf("%s: %d records, want one", c.capture, len(recs))
		case c.anomaly != "" && c.anomaly != "-":
			if as, _ := get(recs[0], "psm.anomalies").([]any); !slices.Contains(as, any(c.anomaly)) {
				t.Errorf("%s: anomalies %v, want %s", c.capture, as, c.anomaly)
			}
		}
		for _, r := range recs {
			if s, _ := get(r, "psm.output_text").(string); len(s) > 64<<10 {
				t.Errorf("%s: output_text of %d bytes", c.capture, len(s))
			}
		}
	}
}
