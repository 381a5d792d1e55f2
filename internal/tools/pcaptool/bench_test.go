package main

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/psmtap/psmtap/internal/pcaptool"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// writeInput writes a capture with one SSH-like and one telnet-like session and returns its path.
func writeInput(t testing.TB, dir string) string {
	t.Helper()
	r := rand.New(rand.NewPCG(7, 7))
	blob := make([]byte, 4000)
	for i := range blob {
		blob[i] = byte(r.Uint32())
	}
	ssh := pcaptool.NewConversation(netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:22"))
	fs := ssh.Synthesize(t0, []pcaptool.Message{
		{Dir: pcaptool.ToClient, Data: []byte("SSH-2.0-OpenSSH_9.6\r\n")},
		{Dir: pcaptool.ToServer, At: time.Millisecond, Data: []byte("SSH-2.0-OpenSSH_9.7\r\n")},
		{Dir: pcaptool.ToServer, At: 2 * time.Millisecond, Data: blob},
	})
	tel := pcaptool.NewConversation(netip.MustParseAddrPort("192.0.2.3:40001"), netip.MustParseAddrPort("192.0.2.2:23"))
	fs = append(fs, tel.Synthesize(t0.Add(time.Second), []pcaptool.Message{
		{Dir: pcaptool.ToClient, Data: []byte("login: ")},
		{Dir: pcaptool.ToServer, At: 3 * time.Second, Data: []byte("root\r\n")}, // pause shortened by -maxgap
	})...)
	c, _, err := pcaptool.Trace{LinkType: pcaptool.LinkEthernet, Frames: fs}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "in.pcap")
	if err := pcaptool.WriteFile(path, c); err != nil {
		t.Fatal(err)
	}
	return path
}

func generate(t testing.TB, in string, size int64, flows int, seed uint64) ([]byte, *generator) {
	t.Helper()
	cfg := benchConfig{size: size, flows: flows, seed: seed, pps: 150000, interest: 0.10, maxGap: 100 * time.Millisecond}
	tpls, err := loadTemplates([]string{in}, cfg.maxGap)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	g, err := newGenerator(cfg, tpls, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), g
}

func TestBenchIsDeterministicValidAndMixed(t *testing.T) {
	in := writeInput(t, t.TempDir())
	const size, flows = 4e6, 400
	a, g := generate(t, in, size, flows, 1)
	b, _ := generate(t, in, size, flows, 1)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different files")
	}
	if c, _ := generate(t, in, size, flows, 2); bytes.Equal(a, c) {
		t.Fatal("different seeds, same file")
	}
	if int64(len(a)) < size || int64(len(a)) > size+2000 {
		t.Fatalf("%d bytes for a size of %d", len(a), int64(size))
	}
	c, err := pcaptool.Read(bytes.NewReader(a))
	if err != nil || c.LinkType != pcaptool.LinkEthernet || int64(len(c.Packets)) != g.packets {
		t.Fatalf("read back: %v, link %v, %d packets", err, c.LinkType, len(c.Packets))
	}
	copies := netip.MustParsePrefix("10.0.0.0/8")
	interest := 0
	tr := pcaptool.DecodeCapture(c)
	for i, f := range tr.Frames {
		if i > 0 && f.Time.Before(tr.Frames[i-1].Time) {
			t.Fatalf("packet %d: time goes backwards", i)
		}
		// Re-encoding recomputes every checksum: equal bytes mean they were right.
		again, _ := f.Append(nil, pcaptool.LinkEthernet)
		if !bytes.Equal(again, c.Packets[i].Data) {
			t.Fatalf("packet %d: bad checksum or length", i)
		}
		if copies.Contains(f.IP.Src) || copies.Contains(f.IP.Dst) {
			interest++
		}
	}
	if share := float64(interest) / float64(len(tr.Frames)); share < 0.07 || share > 0.13 {
		t.Fatalf("%.1f%% packets of interest", 100*share)
	}
	if g.peakOpen < flows*7/10 {
		t.Fatalf("peak of %d open flows for %d slots", g.peakOpen, flows)
	}
	if g.flows[kindTCP] == 0 || g.flows[kindDNS] == 0 || g.flows[kindScan] == 0 || g.copiesDone == 0 {
		t.Fatalf("flow mix %v, %d copies done", g.flows, g.copiesDone)
	}
	checkCopies(t, tr)
}

// checkCopies verifies that every complete copy of the SSH session carries the template's bytes.
func checkCopies(t *testing.T, tr pcaptool.Trace) {
	t.Helper()
	want := append([]byte("SSH-2.0-OpenSSH_9.7\r\n"), make([]byte, 4000)...)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range 4000 {
		want[21+i] = byte(r.Uint32())
	}
	complete := 0
	for _, c := range tr.Conns() {
		if c.Server.Port() != 22 || !c.Client.Addr().Is4() || c.Client.Addr().As4()[0] != 10 {
			continue
		}
		var up []byte
		fin := false
		for _, i := range c.Frames {
			f := &tr.Frames[i]
			if c.Dir(f) == pcaptool.ToServer {
				up = append(up, f.Payload...)
				fin = fin || f.TCP.Flags&pcaptool.FIN != 0
			}
		}
		if fin {
			complete++
			if !bytes.Equal(up, want) {
				t.Fatalf("copy %v carries %d bytes, not the template's", c.Client, len(up))
			}
		}
	}
	if complete == 0 {
		t.Fatal("no complete SSH copy")
	}
}

func TestBulkPlanMatchesPackets(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 200 {
		var b bulkTCP
		planned := b.plan(r)
		var n int64
		for {
			n++
			if b.next(r).done {
				break
			}
		}
		if n != planned {
			t.Fatalf("planned %d packets, sent %d", planned, n)
		}
	}
}

func TestHTTPResponseLength(t *testing.T) {
	for _, size := range []int{1448, 5000, 10099, 10100, 10101, 100_000, 1_000_098} {
		h := appendHTTPResponse(nil, size)
		i := bytes.Index(h, []byte("Content-Length: "))
		var body int
		for _, c := range h[i+16:] {
			if c < '0' || c > '9' {
				break
			}
			body = body*10 + int(c-'0')
		}
		if d := len(h) + body - size; d < -1 || d > 1 { // off by one at most, at a power of ten
			t.Errorf("size %d: header %d + body %d", size, len(h), body)
		}
	}
}

func TestDNSIsWellFormed(t *testing.T) {
	for _, answer := range []bool{false, true} {
		var dns layers.DNS
		if err := dns.DecodeFromBytes(appendDNS(nil, 0x1234, 42, answer), gopacket.NilDecodeFeedback); err != nil {
			t.Fatal(err)
		}
		if dns.ID != 0x1234 || string(dns.Questions[0].Name) != "h000042.example.net" || dns.QR != answer || len(dns.Answers) != map[bool]int{false: 0, true: 1}[answer] {
			t.Fatalf("%+v", dns)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GB": 1e9, "500mb": 5e8, "64KiB": 65536, "2GiB": 2 << 30, "123": 123, "1.5MB": 1.5e6} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%s: %d %v, want %d", in, got, err, want)
		}
	}
	if _, err := parseSize("lots"); err == nil {
		t.Error("no error for a bad size")
	}
}

func TestEdgeCommand(t *testing.T) {
	dir := t.TempDir()
	in := writeInput(t, dir)
	out := filepath.Join(dir, "edge")
	var log bytes.Buffer
	if err := run(context.Background(), []string{"edge", "-in", in, "-out", out}, &log); err != nil {
		t.Fatal(err)
	}
	for _, v := range pcaptool.Variants() {
		data, err := os.ReadFile(filepath.Join(out, "in-"+v.Name+".pcap"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pcaptool.Read(bytes.NewReader(data)); (err != nil) != (v.Name == "truncate") {
			t.Fatalf("%s: %v", v.Name, err)
		}
	}
}

func BenchmarkGenerator(b *testing.B) {
	in := writeInput(b, b.TempDir())
	cfg := benchConfig{size: 1 << 62, flows: 30000, seed: 1, pps: 150000, interest: 0.10, maxGap: 100 * time.Millisecond}
	tpls, err := loadTemplates([]string{in}, cfg.maxGap)
	if err != nil {
		b.Fatal(err)
	}
	g, err := newGenerator(cfg, tpls, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := g.bytes
	for range b.N {
		if err := g.step(); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes((g.bytes - start) / int64(b.N))
}
