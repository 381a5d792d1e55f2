package decode

import (
	"testing"
	"time"
)

// A flood of fragments that never complete (the first of each datagram only)
// must not lock new datagrams out: the oldest are evicted, counted, and a
// datagram that starts after the flood still completes.
func TestDefragFloodEvictsOldest(t *testing.T) {
	d := Decoder{LinkType: LinkRaw, Defrag: NewDefragmenter()}
	var p Packet
	seg := tcpSeg(40000, 23, 1, 1, FlagACK, "login: root, fragmented past a flood!!!!")
	// 8 spoofed sources, 1,024 half datagrams each: 8,192 > MaxDatagrams.
	for i := 0; i < 8192; i++ {
		src := [4]byte{198, 51, 100, byte(i % 8)}
		d.Decode(ipv4(src, b4, ProtoTCP, uint16(i), 0x2000, seg[:24]), int64(i), &p)
	}
	st := d.Defrag.Stats
	if st.Evicted != 8192-4096 {
		t.Fatalf("evicted %d, want %d", st.Evicted, 8192-4096)
	}
	if len(d.Defrag.Lost) != maxLost {
		t.Fatalf("lost flows noted: %d", len(d.Defrag.Lost))
	}
	if l := d.Defrag.Lost[0]; l.SrcPort != 40000 || l.DstPort != 23 || l.Proto != ProtoTCP {
		t.Fatalf("lost flow %+v", l)
	}
	if _, n := d.Defrag.Held(); n != 4096 {
		t.Fatalf("held datagrams %d", n)
	}
	// A real fragmented login from another host, inside the 30 s window.
	d.Decode(ipv4(a4, b4, ProtoTCP, 7, 0x2000, seg[:24]), 1e9, &p)
	if err := d.Decode(ipv4(a4, b4, ProtoTCP, 7, 3, seg[24:]), 1e9+1, &p); err != nil || !p.Reassembled {
		t.Fatalf("datagram after the flood: err %v", err)
	}
}

// One source cannot hold more than its share: its own oldest datagrams go,
// and another source's datagram in progress stays.
func TestDefragPerSourceShare(t *testing.T) {
	d := Decoder{LinkType: LinkRaw, Defrag: NewDefragmenter()}
	var p Packet
	seg := tcpSeg(40000, 23, 1, 1, FlagACK, "a datagram in progress from a quiet host")
	d.Decode(ipv4(a4, b4, ProtoTCP, 1, 0x2000, seg[:24]), 0, &p) // the victim's first half
	flood := [4]byte{203, 0, 113, 66}
	for i := 0; i < 100000; i++ {
		d.Decode(ipv4(flood, b4, ProtoTCP, uint16(i), 0x2000, seg[:8]), int64(i+1), &p)
	}
	if _, n := d.Defrag.Held(); n != 1024+1 {
		t.Fatalf("held %d datagrams, want the flooder's share (1024) and the victim's", n)
	}
	if err := d.Decode(ipv4(a4, b4, ProtoTCP, 1, 3, seg[24:]), 1e6, &p); err != nil || !p.Reassembled {
		t.Fatalf("victim's datagram: err %v", err)
	}
}

// The byte limit evicts too.
func TestDefragByteLimit(t *testing.T) {
	d := Decoder{LinkType: LinkRaw, Defrag: NewDefragmenter()}
	d.Defrag.MaxBytes = 10000
	var p Packet
	payload := make([]byte, 1000)
	for i := 0; i < 50; i++ {
		src := [4]byte{198, 51, 100, byte(i)}
		d.Decode(ipv4(src, b4, ProtoTCP, 1, 0x2000, payload), int64(i), &p)
	}
	if b, _ := d.Defrag.Held(); b > 10000 {
		t.Fatalf("held %d bytes", b)
	}
	if d.Defrag.Stats.Evicted != 40 {
		t.Fatalf("evicted %d", d.Defrag.Stats.Evicted)
	}
}

// 400k fragments of one datagram (each 8 bytes, none completing it, many
// empty) took 48 s when every fragment scanned the whole list.
func TestDefragManyFragmentsOfOneDatagram(t *testing.T) {
	d := Decoder{LinkType: LinkRaw, Defrag: NewDefragmenter()}
	var p Packet
	frames := fragmentStorm(400000)
	start := time.Now()
	for i, f := range frames {
		d.Decode(f, int64(i), &p)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("400k fragments took %v", el)
	}
	if b, n := d.Defrag.Held(); n > 1 || b > 128*8 {
		t.Fatalf("held %d bytes in %d datagrams", b, n)
	}
	if d.Defrag.Stats.Dropped == 0 {
		t.Fatal("nothing refused")
	}
}

// fragmentStorm: n fragments of datagram 1, offsets walking up in 8-byte
// steps (never the last), one in four empty.
func fragmentStorm(n int) [][]byte {
	out := make([][]byte, n)
	eight := make([]byte, 8)
	for i := range out {
		data := eight
		if i%4 == 3 {
			data = nil
		}
		out[i] = ipv4(a4, b4, ProtoTCP, 1, 0x2000|uint16(i%8000), data)
	}
	return out
}

func BenchmarkDefragStorm(b *testing.B) {
	frames := fragmentStorm(4096)
	d := Decoder{LinkType: LinkRaw, Defrag: NewDefragmenter()}
	var p Packet
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Decode(frames[i%len(frames)], int64(i), &p)
		i++
	}
}

func BenchmarkDefragComplete(b *testing.B) {
	// A 1,448-byte segment in two fragments, as a small-MTU path makes them.
	seg := tcpSeg(1, 2, 3, 4, FlagACK, string(make([]byte, 1448)))
	f1 := ipv4(a4, b4, ProtoTCP, 1, 0x2000, seg[:736])
	f2 := ipv4(a4, b4, ProtoTCP, 1, 92, seg[736:])
	d := Decoder{LinkType: LinkRaw, Defrag: NewDefragmenter()}
	var p Packet
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	for b.Loop() {
		d.Decode(f1, 0, &p)
		if err := d.Decode(f2, 0, &p); err != nil {
			b.Fatal(err)
		}
	}
}
