package tls

import (
	"os"
	"strings"
	"testing"
)

// A minimal TLS 1.2 ClientHello record, annotated:
//
//	16 03 01 00 3f            record: handshake, TLS 1.0 record version, 63 bytes
//	01 00 00 3b               ClientHello, 59 bytes
//	03 03                     legacy_version TLS 1.2
//	00*32                     random
//	00                        session id: empty
//	00 06 0a0a c02f 002f      ciphers: GREASE, ECDHE_RSA_AES128_GCM, RSA_AES128_CBC
//	01 00                     compression: null
//	00 0c                     extensions: 12 bytes
//	00 00 00 08               extension server_name, 8 bytes
//	00 06 00 00 03 "a.b"      server name list: 6 bytes, host_name (0), 3 bytes "a.b"
const miniHello = "\x16\x03\x01\x00\x3f" +
	"\x01\x00\x00\x3b" +
	"\x03\x03" + "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00" +
	"\x00\x06\x0a\x0a\xc0\x2f\x00\x2f" +
	"\x01\x00" +
	"\x00\x0c" +
	"\x00\x00\x00\x08\x00\x06\x00\x00\x03a.b"

func TestMiniHello(t *testing.T) {
	if len(miniHello) != 5+0x3f {
		t.Fatalf("fixture length %d", len(miniHello))
	}
	s := &Stream{}
	s.Feed(SideClient, []byte(miniHello))
	h := s.Hello
	if h == nil || h.ServerName != "a.b" || len(h.CipherSuites) != 3 || h.Version != 0x0303 {
		t.Fatalf("hello %+v anomalies %v", h, s.Anomalies())
	}
	str, _ := JA3(h)
	if str != "771,49199-47,0,," {
		t.Errorf("JA3 string %q", str)
	}
	fp, raw := JA4(h, false)
	if !strings.HasPrefix(fp, "t12d020100_") || !strings.HasPrefix(raw, "t12d020100_002f,c02f_") {
		t.Errorf("JA4 %q raw %q", fp, raw)
	}
}

func readFixture(t testing.TB, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The real FreeRDP 2.11 ClientHello and xrdp's TLS 1.2 server flight
// (ServerHello, Certificate, ServerKeyExchange, ServerHelloDone) from
// pcaps/rdp-wrong-password.pcap, fed whole, byte by byte, and cut short.
func TestRealHandshakeSplits(t *testing.T) {
	ch := readFixture(t, "freerdp-clienthello.bin")
	sf := readFixture(t, "xrdp-tls12-server-flight.bin")
	check := func(name string, s *Stream) {
		t.Helper()
		f, _ := s.Fields()
		if f == nil || f.Client == nil || f.Server == nil || f.Server.X509 == nil {
			t.Fatalf("%s: fields %+v anomalies %v", name, f, s.Anomalies())
		}
		if f.Client.JA3 != "a3afc2c46ba4a7d7fbe1cfb7a3031c2f" || f.Client.ServerName != "192.0.2.20" ||
			f.Version != "1.2" || f.Cipher != "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" ||
			f.Server.X509.Subject.CommonName != "psm-srv" ||
			f.Server.Hash.SHA256 != "219CB49389A4CC74657F716427A3DBD656F4418D52EE9F5AD1E24FA270FA982F" {
			t.Errorf("%s: %+v %+v %+v", name, f, f.Client, f.Server)
		}
		if !s.Done() {
			t.Errorf("%s: not done after ServerHelloDone", name)
		}
	}
	whole := &Stream{}
	whole.Feed(SideClient, ch)
	whole.Feed(SideServer, sf)
	check("whole", whole)

	bytewise := &Stream{}
	for i := range ch {
		bytewise.Feed(SideClient, ch[i:i+1])
	}
	for i := range sf {
		bytewise.Feed(SideServer, sf[i:i+1])
	}
	check("byte by byte", bytewise)

	// Handshake messages split over records: re-frame the server flight's
	// handshake bytes into 100-byte records.
	var hs []byte
	for r := sf; len(r) >= 5; {
		n := 5 + (int(r[3])<<8 | int(r[4]))
		hs = append(hs, r[5:n]...)
		r = r[n:]
	}
	var reframed []byte
	for len(hs) > 0 {
		n := min(100, len(hs))
		reframed = append(reframed, 0x16, 3, 3, 0, byte(n))
		reframed = append(reframed, hs[:n]...)
		hs = hs[n:]
	}
	split := &Stream{}
	split.Feed(SideClient, ch)
	split.Feed(SideServer, reframed)
	check("messages over records", split)

	cut := &Stream{}
	cut.Feed(SideClient, ch[:100])
	if f, _ := cut.Fields(); f != nil {
		t.Errorf("truncated hello gave fields %+v", f)
	}
}

func TestMalformed(t *testing.T) {
	cases := []struct {
		name, in, anomaly string
	}{
		{"not TLS", "GET / HTTP/1.1\r\n", "tls.bad_record"},
		{"record too long", "\x16\x03\x03\xff\xff", "tls.bad_record"},
		{"hello lengths overrun", "\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\xff\xff", "tls.bad_client_hello"},
		{"handshake message over the cap", "\x16\x03\x03\x00\x04\x0b\x7f\xff\xff", "tls.message_too_long"},
	}
	for _, c := range cases {
		s := &Stream{}
		s.Feed(SideClient, []byte(c.in))
		found := false
		for _, a := range s.Anomalies() {
			found = found || a == c.anomaly
		}
		if !found {
			t.Errorf("%s: anomalies %v, want %s", c.name, s.Anomalies(), c.anomaly)
		}
	}
}

func TestGREASE(t *testing.T) {
	for _, v := range []uint16{0x0a0a, 0x1a1a, 0xfafa} {
		if !IsGREASE(v) {
			t.Errorf("%04x", v)
		}
	}
	for _, v := range []uint16{0x0a1a, 0x002f, 0xc02f} {
		if IsGREASE(v) {
			t.Errorf("%04x", v)
		}
	}
}

// BenchmarkClientHello: the ClientHello path, record framing to JA3 and JA4.
func BenchmarkClientHello(b *testing.B) {
	ch := readFixture(b, "freerdp-clienthello.bin")
	b.ReportAllocs()
	b.SetBytes(int64(len(ch)))
	for b.Loop() {
		s := Stream{}
		s.Feed(SideClient, ch)
		JA3(s.Hello)
		JA4(s.Hello, false)
	}
}
