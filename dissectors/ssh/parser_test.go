package ssh

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

func probe(a, b string, client int, doneA, doneB bool) dissectors.ProbeResult {
	in := dissectors.ProbeInput{Data: [2][]byte{[]byte(a), []byte(b)}, Port: [2]uint16{50000, 22}, Client: client, Done: [2]bool{doneA, doneB}}
	return Dissector{}.Probe(&in)
}

func TestProbe(t *testing.T) {
	const (
		cli = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"
		srv = "SSH-2.0-OpenSSH_9.2p1\r\n"
		kex = "\x00\x00\x05\xdc\x07\x14" // start of a binary packet (KEXINIT)
		U   = dissectors.Unknown
	)
	cases := []struct {
		name       string
		a, b       string
		client     int
		doneA, dB  bool
		want       dissectors.Verdict
		wantClient int
	}{
		{"both banners", cli, srv, 0, false, false, dissectors.Match, U},
		{"partial banner", "SSH-2.", "", 0, false, false, dissectors.NeedMore, U},
		{"short prefix", "SS", "", U, false, false, dissectors.NeedMore, U},
		{"server pre-banner lines", cli, "Welcome\r\nauthorised use only\r\n" + srv, U, false, false, dissectors.Match, 0},
		{"client may not send pre-banner lines", "hello\r\n" + cli, srv, 0, false, false, dissectors.NoMatch, U},
		{"HTTP client to SSH server", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", srv, 0, false, false, dissectors.NoMatch, U},
		{"HTTP on port 22", "GET / HTTP/1.1\r\n", "HTTP/1.0 200 OK\r\n\r\n\x89PNG", 0, false, false, dissectors.NoMatch, U},
		{"TLS", "\x16\x03\x01\x02\x00\x01", "", 0, false, false, dissectors.NoMatch, U},
		{"half duplex: banner then binary packet", cli + kex, "", 0, false, false, dissectors.Match, U},
		{"half duplex: banner alone, other side silent at end", srv, "", U, false, true, dissectors.Match, U},
		{"banner alone, other side may still speak", srv, "", U, false, false, dissectors.NeedMore, U},
		{"SSH-1.5", "SSH-1.5-1.2.27\n", "SSH-1.99-OpenSSH_3.4\n", 0, false, false, dissectors.Match, U},
		{"not a version", "SSH-x.0-foo\r\n", srv, 0, false, false, dissectors.NoMatch, U},
		{"side ended without a banner", "Welcome\r\n", "", U, true, false, dissectors.NoMatch, U},
	}
	for _, c := range cases {
		got := probe(c.a, c.b, c.client, c.doneA, c.dB)
		if got.Verdict != c.want || c.want == dissectors.Match && got.Client != c.wantClient {
			t.Errorf("%s: got %+v, want verdict %d client %d", c.name, got, c.want, c.wantClient)
		}
	}
}

func TestParseBanner(t *testing.T) {
	cases := []struct {
		line            string
		proto, sw, comm string
		version         int
	}{
		{"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", "2.0", "OpenSSH_9.2p1", "Debian-2+deb12u3", 2},
		{"SSH-1.99-Cisco-1.25\r\n", "1.99", "Cisco-1.25", "", 2},
		{"SSH-1.5-1.2.27\n", "1.5", "1.2.27", "", 1},
		{"SSH-2.0\r\n", "2.0", "", "", 2},
	}
	for _, c := range cases {
		b := ParseBanner([]byte(c.line))
		if b.Proto != c.proto || b.Software != c.sw || b.Comments != c.comm || b.Version() != c.version {
			t.Errorf("%q: got %+v version %d", c.line, b, b.Version())
		}
	}
}

// TestSessionSplitBanner: banners split across segments, the server's after
// pre-banner lines, still parse; the session is Done once both are known.
func TestSessionSplitBanner(t *testing.T) {
	r := &record.Record{}
	s := newSession(r)
	for _, p := range []string{"SSH-2.0-Open", "SSH_9.2p1\r", "\n"} {
		s.Feed(dissectors.FromClient, []byte(p), 0)
	}
	s.Feed(dissectors.FromServer, []byte("hi\r\nSSH-2.0-dropbear_2022.83\r\n\x00\x00"), 0)
	s.Close(r)
	f := r.Objects["ssh"].(*Fields)
	if f.Version != 2 || f.Client.Software != "OpenSSH_9.2p1" || f.Server.Software != "dropbear_2022.83" {
		t.Fatalf("fields %+v %+v %+v", f, f.Client, f.Server)
	}
}

func TestSessionHostileBanner(t *testing.T) {
	r := &record.Record{}
	s := newSession(r)
	junk := make([]byte, 1000)
	for i := range junk {
		junk[i] = 'A'
	}
	for i := 0; i < 10; i++ {
		s.Feed(dissectors.FromServer, junk, 0)
	}
	s.Close(r)
	if len(r.Anomalies) == 0 {
		t.Fatal("no anomaly for a 10 KB banner")
	}
	if len(s.d[1].buf) > lineCap {
		t.Fatalf("buffered %d bytes", len(s.d[1].buf))
	}
}
