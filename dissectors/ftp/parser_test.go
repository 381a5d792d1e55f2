package ftp

import (
	"testing"

	"github.com/psmtap/psmtap/dissectors"
)

const U = dissectors.Unknown

func TestProbe(t *testing.T) {
	cases := []dissectors.ProbeCase{
		{Name: "greeting and USER", A: "USER alice\r\n", B: "220 (vsFTPd 3.0.3)\r\n", Client: 0, Want: dissectors.Match, WantClient: 0},
		{Name: "roles from content", A: "220-Welcome\r\n220 ok\r\n", B: "user anonymous\r\n", Client: U, Want: dissectors.Match, WantClient: 1},
		{Name: "AUTH TLS", A: "AUTH TLS\r\n", B: "220 ready\r\n", Client: 0, Want: dissectors.Match, WantClient: 0},
		{Name: "greeting, client not yet", B: "220 ready\r\n", Client: 0, Want: dissectors.NeedMore},
		{Name: "SMTP", A: "EHLO x\r\n", B: "220 mail ESMTP\r\n", Client: 0, Want: dissectors.NoMatch},
		{Name: "greeting only, port 21, client silent", B: "220 ready\r\n", DoneA: true, Client: 0, Want: dissectors.Match, WantClient: 0},
		{Name: "HTTP", A: "GET / HTTP/1.1\r\n", B: "HTTP/1.1 200 OK\r\n", Client: 0, Want: dissectors.NoMatch},
		{Name: "partial command", A: "US", B: "220 x\r\n", Client: 0, Want: dissectors.NeedMore},
		{Name: "client speaks before any greeting", A: "USER alice\r\n", Client: 0, Want: dissectors.NoMatch},
	}
	for _, c := range cases {
		if got, ok := dissectors.RunProbe(Dissector{}, c, [2]uint16{40000, 21}); !ok {
			t.Errorf("%s: got %+v", c.Name, got)
		}
	}
	// On another port, a greeting without a client command is not enough.
	c := dissectors.ProbeCase{Name: "greeting only, port 2121", B: "220 ready\r\n", DoneA: true, Client: 0, Want: dissectors.NoMatch}
	if got, ok := dissectors.RunProbe(Dissector{}, c, [2]uint16{40000, 2121}); !ok {
		t.Errorf("%s: got %+v", c.Name, got)
	}
}

func FuzzProbe(f *testing.F) {
	f.Add([]byte("USER alice\r\n"), []byte("220 hi\r\n"), uint8(0))
	f.Add([]byte("220"), []byte("FEAT\n"), uint8(5))
	f.Fuzz(func(t *testing.T, a, b []byte, flags uint8) { dissectors.FuzzProbe(Dissector{}, a, b, flags) })
}
