package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// alertsOf runs read --rules builtin and returns the alerts.
func alertsOf(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	r := run(t, append([]string{"read", "--rules", "builtin"}, args...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var out []map[string]any
	for _, d := range records(t, r.stdout) {
		if str(d, "event.kind") == "alert" {
			out = append(out, d)
		}
	}
	return out
}

// A correlation across sessions read from two files: the failed SSH
// logins of ssh-wrong-password.pcap and ssh-wrong-then-right.pcap come
// from one client to one server within five minutes.
func TestCorrelationAcrossFiles(t *testing.T) {
	alerts := alertsOf(t, "pcaps/ssh-wrong-password.pcap", "pcaps/ssh-wrong-then-right.pcap")
	var repeated, success map[string]any
	for _, a := range alerts {
		switch str(a, "rule.name") {
		case "Repeated failed logins from one client to one server":
			repeated = a
		case "Login succeeded after repeated failures":
			success = a
		}
	}
	if repeated == nil || success == nil {
		t.Fatalf("alerts %v", alerts)
	}
	// The third failure overall is the second of the second file's session.
	if str(repeated, "@timestamp") != "2026-11-26T00:23:44.961457000Z" || str(repeated, "psm.alert.count") != "3" {
		t.Errorf("repeated failures at %s count %s", str(repeated, "@timestamp"), str(repeated, "psm.alert.count"))
	}
	for _, a := range []map[string]any{repeated, success} {
		if ids := str(a, "psm.session_id"); ids != "cpkXrsCGltHTMzdntHoF,kudWZp8pquML700xSYcg" {
			t.Errorf("%s: sessions %s", str(a, "rule.name"), ids)
		}
		g, _ := field(a, "psm.alert.group").(map[string]any)
		if g["source.ip"] != "192.0.2.10" || g["destination.ip"] != "192.0.2.20" {
			t.Errorf("%s: group %v", str(a, "rule.name"), field(a, "psm.alert.group"))
		}
	}
	// Read alone, the first file has one failure: no correlation.
	for _, a := range alertsOf(t, "pcaps/ssh-wrong-password.pcap") {
		if strings.Contains(str(a, "rule.name"), "repeated") || strings.Contains(str(a, "rule.name"), "Repeated") {
			t.Errorf("one failure fired %s", str(a, "rule.name"))
		}
	}
}

// A bad rule file stops read before anything is read, with file:line.
func TestBadRulesRefused(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ src, want string }{
		"yaml.yml":     {"title: x\n  bad: indent\n", "yaml.yml:2: unexpected indentation"},
		"modifier.yml": {"title: x\nlogsource:\n  product: psmtap\n  category: command\ndetection:\n  s:\n    CommandLine|sounds_like: x\n  condition: s\n", "modifier.yml:7: unknown modifier \"sounds_like\""},
		"regex.yml":    {"title: x\nlogsource:\n  product: psmtap\n  category: command\ndetection:\n  s:\n    CommandLine|re: 'a(b'\n  condition: s\n", "regex.yml:7: bad regular expression"},
		"category.yml": {"title: x\nlogsource:\n  product: psmtap\n  category: process_creation\ndetection:\n  s:\n    CommandLine: x\n  condition: s\n", "category.yml:4: logsource.category \"process_creation\""},
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		r := run(t, "read", "--rules", p, "pcaps/rsh.pcap")
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || r.stdout != "" {
			t.Errorf("%s: exit %d, stdout %d bytes, stderr %q; want exit 2 and %q", name, r.code, len(r.stdout), r.stderr, c.want)
		}
		if r := run(t, "rules", "check", p); r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("rules check %s: exit %d, %q", name, r.code, r.stderr)
		}
	}
	if r := run(t, "rules", "check", "builtin"); r.code != 0 || !strings.Contains(r.stdout, "rules OK") {
		t.Errorf("rules check builtin: %d %s %s", r.code, r.stdout, r.stderr)
	}
}

// TestBuiltinRulesFire: over the bundled captures, each shipped rule fires
// on the captures made to show it, and on no other. A rule with no capture
// that fires it, or one that fires on a capture it should not, fails here.
func TestBuiltinRulesFire(t *testing.T) {
	all := []string{}
	for _, c := range captures(t) {
		if !strings.Contains(c, "/edge/") {
			all = append(all, c)
		}
	}
	fired := map[string]map[string]bool{} // rule -> captures
	for _, c := range all {
		for _, a := range alertsOf(t, c) {
			name := str(a, "rule.name")
			if fired[name] == nil {
				fired[name] = map[string]bool{}
			}
			fired[name][filepath.Base(c)] = true
		}
	}
	cleartext := "ftp-active ftp-sensitive ftp-vsftpd rlogin rlogin-suspicious rsh telnet-admin telnet-benign telnet-busybox telnet-bypass telnet-http-connect telnet-login telnet-port2323 telnet-socks4 telnet-suspicious"
	want := map[string]string{
		"Cleartext administration protocol in use":                                       cleartext,
		"Password hashes read or changed (/etc/shadow)":                                  "rlogin-suspicious telnet-bypass telnet-suspicious",
		"sudoers read or edited":                                                         "telnet-suspicious",
		"SSH authorized_keys read or changed":                                            "telnet-suspicious",
		"Account created or its groups changed":                                          "telnet-suspicious",
		"Shell history cleared or turned off":                                            "rlogin-suspicious telnet-suspicious",
		"Code downloaded and run":                                                        "telnet-suspicious",
		"Firewall rules flushed or firewall stopped":                                     "telnet-suspicious",
		"Auditing or security enforcement turned off":                                    "telnet-suspicious",
		"Reverse shell started from a command line":                                      "telnet-suspicious",
		"Scheduled task created or changed":                                              "telnet-admin",
		"System logs deleted or emptied":                                                 "telnet-admin",
		"root or admin account logged in over a cleartext protocol":                      "telnet-admin",
		"Sensitive file downloaded over FTP":                                             "ftp-sensitive",
		"Script or program uploaded over FTP":                                            "ftp-sensitive",
		"SSH with weak algorithms or protocol version 1":                                 "ssh-weak-cipher",
		"Root shell requested or sudo rights listed":                                     "telnet-suspicious",
		"File deleted over FTP":                                                          "ftp-vsftpd",
		"RDP with Standard RDP Security":                                                 "rdp-rdesktop rdp-xrdp-rdpsec",
		"VNC session without encryption":                                                 "vnc-copyrect vnc-hextile vnc-keys vnc-none vnc-raw vnc-resize vnc-rfb33 vnc-rfb37 vnc-rre vnc-tight-16bpp vnc-tight-jpeg vnc-tightpng vnc-vncauth vnc-wrong-password vnc-zrle",
		"VNC session without authentication":                                             "vnc-none vnc-rfb37 vnc-tightpng vnc-zrle",
		"SSH session used as a tunnel":                                                   "ssh-port-forward",
		"Data copied over SSH":                                                           "ssh-scp-download ssh-scp-upload ssh-sftp",
		"Repeated failed logins from one client to one server":                           "ssh-wrong-then-right",
		"Login succeeded after repeated failures":                                        "ssh-wrong-then-right",
		"SSH session driven from the server side (reverse shell or remote port forward)": "ssh-reverse-shell",
	}
	for rule, caps := range want {
		var got []string
		for c := range fired[rule] {
			got = append(got, strings.TrimSuffix(c, ".pcap"))
		}
		sort.Strings(got)
		if strings.Join(got, " ") != caps {
			t.Errorf("%s fired on %q, want %q", rule, strings.Join(got, " "), caps)
		}
	}
	// Every session that logged in was outside 07-19 UTC (the captures were made after midnight):
	// the off-hours rule fires on every capture with a successful login.
	if n := len(fired["Login outside working hours"]); n < 20 {
		t.Errorf("off-hours fired on %d captures", n)
	}
	// Every shipped rule that alerts has a capture that fires it.
	var silent []string
	r := run(t, "rules", "list")
	for _, line := range strings.Split(r.stdout, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || f[0] == "informational" {
			continue
		}
		title := strings.Join(f[4:], " ")
		if len(fired[title]) == 0 {
			silent = append(silent, title)
		}
	}
	if len(silent) > 0 {
		t.Errorf("rules that fire on no bundled capture: %q", silent)
	}
}
