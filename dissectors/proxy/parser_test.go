package proxy

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
)

// Handshakes as annotated bytes: client, proxy, and what Unwrap must say.
var cases = []struct {
	name           string
	client, server string
	want           dissectors.Verdict
	typ, target    string
	user           string
	consumed       [2]int
}{
	{name: "socks5 no auth, domain (nc -X 5, ssh-socks5.pcap)",
		client: "\x05\x01\x00" + "\x05\x01\x00\x03\x07psm-srv\x00\x16" + "SSH-2.0-x\r\n",
		server: "\x05\x00" + "\x05\x00\x00\x01\xc0\x00\x02\x14\xa8\x9e" + "SSH-2.0-y\r\n",
		want:   dissectors.Match, typ: TypeSOCKS5, target: "psm-srv:22", consumed: [2]int{17, 12}},
	{name: "socks5 IPv6 target",
		client: "\x05\x01\x00\x05\x01\x00\x04" + "\x20\x01\x0d\xb8" + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x20" + "\x00\x17",
		server: "\x05\x00\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00",
		want:   dissectors.Match, typ: TypeSOCKS5, target: "[2001:db8::20]:23", consumed: [2]int{25, 12}},
	{name: "socks5 user/password (RFC 1929): user kept, password skipped",
		client: "\x05\x02\x00\x02" + "\x01\x05alice\x06secret" + "\x05\x01\x00\x01\xc0\x00\x02\x14\x00\x16",
		server: "\x05\x02" + "\x01\x00" + "\x05\x00\x00\x01\x00\x00\x00\x00\x00\x00",
		want:   dissectors.Match, typ: TypeSOCKS5, target: "192.0.2.20:22", user: "alice", consumed: [2]int{28, 14}},
	{name: "socks5 greeting only: need more", client: "\x05\x01\x00", server: "\x05\x00", want: dissectors.NeedMore},
	{name: "socks5 refused (REP 5, connection refused)",
		client: "\x05\x01\x00\x05\x01\x00\x01\xc0\x00\x02\x14\x00\x16", server: "\x05\x00\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00",
		want: dissectors.NoMatch},
	{name: "socks5 no acceptable method", client: "\x05\x01\x02", server: "\x05\xff", want: dissectors.NoMatch},
	{name: "socks5 UDP ASSOCIATE: no session inside",
		client: "\x05\x01\x00\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00", server: "\x05\x00", want: dissectors.NoMatch},
	{name: "socks4 (socat, telnet-socks4.pcap)",
		client: "\x04\x01\x00\x17\xc0\x00\x02\x14anonymous\x00" + "\xff\xfd\x25",
		server: "\x00\x5a\xb0\xd0\xc0\x00\x02\x14" + "\xff\xfb\x25",
		want:   dissectors.Match, typ: TypeSOCKS4, target: "192.0.2.20:23", user: "anonymous", consumed: [2]int{18, 8}},
	{name: "socks4a: the name follows the user id",
		client: "\x04\x01\x00\x16\x00\x00\x00\x01\x00psm-srv\x00", server: "\x00\x5a\x00\x00\x00\x00\x00\x00",
		want: dissectors.Match, typ: TypeSOCKS4a, target: "psm-srv:22", consumed: [2]int{17, 8}},
	{name: "socks4 rejected (91)", client: "\x04\x01\x00\x16\xc0\x00\x02\x14\x00", server: "\x00\x5b\x00\x00\x00\x00\x00\x00",
		want: dissectors.NoMatch},
	{name: "socks4 BIND", client: "\x04\x02\x00\x16\xc0\x00\x02\x14\x00", want: dissectors.NoMatch},
	{name: "http connect (nc -X connect to tinyproxy, ssh-http-connect.pcap)",
		client: "CONNECT psm-srv:22 HTTP/1.0\r\n\r\nSSH-2.0-x\r\n",
		server: "HTTP/1.0 200 Connection established\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\nSSH-2.0-y\r\n",
		want:   dissectors.Match, typ: TypeHTTP, target: "psm-srv:22", consumed: [2]int{31, 70}},
	{name: "http connect IPv6, bare LF",
		client: "CONNECT [2001:db8::20]:23 HTTP/1.1\nHost: [2001:db8::20]:23\n\n", server: "HTTP/1.1 200 OK\n\n",
		want: dissectors.Match, typ: TypeHTTP, target: "[2001:db8::20]:23", consumed: [2]int{60, 17}},
	{name: "http connect head cut", client: "CONNECT psm-srv:22 HTTP/1.0\r\n", server: "", want: dissectors.NeedMore},
	{name: "http connect refused (403)", client: "CONNECT psm-srv:25 HTTP/1.0\r\n\r\n",
		server: "HTTP/1.0 403 Access violation\r\n\r\n", want: dissectors.NoMatch},
	{name: "http GET is no tunnel", client: "GET / HTTP/1.1\r\n\r\n", server: "HTTP/1.1 200 OK\r\n\r\n", want: dissectors.NoMatch},
	{name: "ssh is no proxy", client: "SSH-2.0-x\r\n", server: "SSH-2.0-y\r\n", want: dissectors.NoMatch},
	{name: "the proxy side speaks first", client: "", server: "\x05\x00", want: dissectors.NoMatch},
	{name: "connect without port", client: "CONNECT psm-srv HTTP/1.0\r\n\r\n", server: "HTTP/1.0 200 OK\r\n\r\n", want: dissectors.NoMatch},
}

func TestHandshakes(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// the client as endpoint 1, the handshake not seen: content decides
			in := dissectors.ProbeInput{Data: [2][]byte{[]byte(c.server), []byte(c.client)}, Port: [2]uint16{1080, 40000},
				Client: dissectors.Unknown}
			got := Dissector{}.Probe(&in)
			if got.Verdict != c.want {
				t.Fatalf("verdict %v, want %v", got.Verdict, c.want)
			}
			if c.want != dissectors.Match {
				return
			}
			if got.Client != 1 {
				t.Errorf("client %d, want 1", got.Client)
			}
			u := Dissector{}.Unwrap(&in)
			if u.Proxy.Type != c.typ || u.Proxy.Target != c.target || u.Proxy.User != c.user {
				t.Errorf("proxy %+v, want %s %s %q", u.Proxy, c.typ, c.target, c.user)
			}
			if want := [2]int{c.consumed[1], c.consumed[0]}; u.Consumed != want {
				t.Errorf("consumed %v, want %v", u.Consumed, want)
			}
		})
	}
}

// TestSplit: every cut of a complete handshake says NeedMore (or Match at
// the end), never NoMatch, and the Done flags turn a cut into NoMatch.
func TestSplit(t *testing.T) {
	for _, c := range cases {
		if c.want != dissectors.Match {
			continue
		}
		cl, sv := c.client[:c.consumed[0]], c.server[:c.consumed[1]]
		for i := 0; i <= len(cl); i++ {
			for _, j := range []int{0, len(sv) / 2, len(sv)} {
				if i == 0 && j > 0 {
					continue // a proxy never speaks first: NoMatch, tested below
				}
				in := dissectors.ProbeInput{Data: [2][]byte{[]byte(cl[:i]), []byte(sv[:j])}, Client: 0}
				v := Dissector{}.Probe(&in).Verdict
				full := i == len(cl) && j == len(sv)
				if full && v != dissectors.Match || !full && v != dissectors.NeedMore {
					t.Fatalf("%s: cut %d/%d: %v", c.name, i, j, v)
				}
				if !full {
					in.Done = [2]bool{true, true}
					if v := (Dissector{}).Probe(&in).Verdict; v != dissectors.NoMatch {
						t.Fatalf("%s: cut %d/%d, done: %v", c.name, i, j, v)
					}
				}
			}
		}
	}
}
