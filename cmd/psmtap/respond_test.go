package main

import (
	"strings"
	"testing"
)

// TestResponseFlagsRefused: read never sends anything, and live's response
// flags are checked before anything is opened.
func TestResponseFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"read", "--inject-interface", "lo", "pcaps/telnet-login.pcap"}, "read never sends anything"},
		{[]string{"live", "-i", "lo", "--response-tries", "3"}, "--response-tries goes with --inject-interface"},
		{[]string{"live", "-i", "lo", "--inject-interface", "lo", "--workers", "2"}, "--inject-interface needs --workers 1"},
		{[]string{"live", "-i", "lo", "--inject-interface", "psmtap-no-such0"}, "--inject-interface psmtap-no-such0"},
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
}
