package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListenRefused: the API shows what privileged users type, so psmtap
// live refuses to start on a non-loopback address without TLS and a token,
// before it opens anything (no root needed to see it).
func TestListenRefused(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("t0ken\n"), 0o600)
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "0.0.0.0:8765"}, "not a loopback address"},
		{[]string{"--listen", "[::]:8765", "--api-token-file", tok}, "not a loopback address"},
		{[]string{"--listen", "192.0.2.1:8765", "--tls-cert", "c.pem", "--tls-key", "k.pem"}, "not a loopback address"},
		{[]string{"--listen", "0.0.0.0:8765", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, "goes with --listen"},
		{[]string{"--listen", "8765", "--api-token-file", empty}, "empty"},
	} {
		r := run(t, append([]string{"live", "-i", "psmtap-no-such-if"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
	}
	// A loopback address passes the check (and then fails on the interface).
	if r := run(t, "live", "-i", "psmtap-no-such-if", "--listen", "8765"); r.code == 2 || strings.Contains(r.stderr, "loopback") {
		t.Errorf("loopback refused: %d %s", r.code, r.stderr)
	}
}

func TestWatchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"watch", "--sensor", "http://127.0.0.1:1"},
		{"watch", "--sensor", "http://127.0.0.1:1", "--latest", "ID"},
		{"watch", "--sensor", "http://127.0.0.1:1", "--latest", "--user", "alice"},
		{"watch", "--sensor", "ftp://x", "ID"},
	} {
		if r := run(t, args...); r.code != 2 {
			t.Errorf("%v: exit %d (%s), want 2", args, r.code, r.stderr)
		}
	}
	if r := run(t, "sessions", "--sensor", "http://127.0.0.1:1"); r.code != 1 || !strings.Contains(r.stderr, "sessions:") {
		t.Errorf("sessions with no sensor: %d %s", r.code, r.stderr)
	}
}
