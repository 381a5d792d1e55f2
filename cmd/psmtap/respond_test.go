package main

import (
	"strings"
	"testing"
)

// TestResponseFlagsRefused: read never sends anything, and live's response
// flags are checked before anything is opened: a flag that would do nothing,
// or a kind enabled without what it needs, is refused with a clear message.
func TestResponseFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"read", "--inject-interface", "lo", "pcaps/telnet-login.pcap"}, "read never sends anything"},
		{[]string{"read", "--enable-response", "terminate", "pcaps/telnet-login.pcap"}, "read never sends anything"},
		{[]string{"read", "--response-dry-run", "pcaps/telnet-login.pcap"}, "read never sends anything"},
		{[]string{"live", "-i", "lo", "--enable-response", "kill"}, "--enable-response kill: one of terminate, warn, lockdown"},
		{[]string{"live", "-i", "lo", "--inject-interface", "lo"}, "--inject-interface does nothing without --enable-response"},
		{[]string{"live", "-i", "lo", "--response-dry-run"}, "--response-dry-run does nothing without --enable-response"},
		{[]string{"live", "-i", "lo", "--response-exec", "/bin/true"}, "--response-exec does nothing without --enable-response"},
		{[]string{"live", "-i", "lo", "--lockdown-exec", "/bin/true"}, "--lockdown-exec does nothing without --enable-response"},
		{[]string{"live", "-i", "lo", "--response-tries", "3"}, "--response-tries does nothing without --enable-response"},
		{[]string{"live", "-i", "lo", "--enable-response", "terminate"}, "need --inject-interface IFACE"},
		{[]string{"live", "-i", "lo", "--enable-response", "warn"}, "need --inject-interface IFACE"},
		{[]string{"live", "-i", "lo", "--enable-response", "lockdown"}, "lockdown needs --response-exec CMD"},
		{[]string{"live", "-i", "lo", "--enable-response", "lockdown", "--response-exec", "/bin/true", "--inject-interface", "lo"}, "--inject-interface goes with --enable-response terminate or warn"},
		{[]string{"live", "-i", "lo", "--enable-response", "terminate", "--inject-interface", "lo", "--response-exec", "/bin/true"}, "--response-exec goes with --enable-response lockdown"},
		{[]string{"live", "-i", "lo", "--enable-response", "lockdown", "--response-exec", "/bin/true", "--lockdown-exec", "/bin/true"}, "old name of --response-exec"},
		{[]string{"live", "-i", "lo", "--enable-response", "lockdown", "--response-exec", "psmtap-no-such-program"}, "--response-exec: exec"},
		{[]string{"live", "-i", "lo", "--enable-response", "terminate,warn", "--inject-interface", "lo", "--workers", "2"}, "needs --workers 1"},
		{[]string{"live", "-i", "lo", "--enable-response", "terminate", "--inject-interface", "psmtap-no-such0"}, "--inject-interface psmtap-no-such0"},
		{[]string{"terminate", "--sensor", "http://127.0.0.1:1"}, "name one session id"},
	} {
		r := run(t, tc.args...)
		if r.code == 0 || !strings.Contains(r.stderr+r.stdout, tc.want) {
			t.Errorf("psmtap %v: exit %d, %q; want an error saying %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
	// read with a rule asking for terminate: alerts only, nothing refused.
	if r := run(t, "read", "--rules", "builtin", "pcaps/telnet-login.pcap"); r.code != 0 {
		t.Errorf("read with rules: exit %d %s", r.code, r.stderr)
	}
	// The help names the switch and the hook, not the deprecated alias.
	h := run(t, "live", "--help")
	if !strings.Contains(h.stdout, "--enable-response") || !strings.Contains(h.stdout, "--response-exec") || !strings.Contains(h.stdout, "--response-dry-run") ||
		strings.Contains(h.stdout, "--lockdown-exec") {
		t.Errorf("live --help:\n%s", h.stdout)
	}
}
