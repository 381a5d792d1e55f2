package flow

import (
	"testing"

	"github.com/psmtap/psmtap/capture/decode"
)

func TestKeyOfIsDirectionless(t *testing.T) {
	p := decode.Packet{Proto: 6, SrcPort: 40000, DstPort: 22}
	copy(p.Src[:], []byte{192, 0, 2, 20})
	copy(p.Dst[:], []byte{192, 0, 2, 10})
	k1, s1 := KeyOf(&p)
	p.Src, p.Dst, p.SrcPort, p.DstPort = p.Dst, p.Src, p.DstPort, p.SrcPort
	k2, s2 := KeyOf(&p)
	if k1 != k2 || s1 == s2 {
		t.Fatalf("keys %v %v sides %d %d", k1, k2, s1, s2)
	}
	// Same address both ways (loopback): ports order the endpoints.
	p.Src = p.Dst
	k3, s3 := KeyOf(&p)
	p.SrcPort, p.DstPort = p.DstPort, p.SrcPort
	k4, s4 := KeyOf(&p)
	if k3 != k4 || s3 == s4 {
		t.Fatalf("loopback keys differ")
	}
}

func TestExpireByClassAndTouchOrder(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Timeouts = [numClasses]int64{ClassNew: 10, ClassOther: 100, ClassSession: 1000, ClassClosing: 5}
	tb := NewTable[int](cfg)
	var ended []uint16
	end := func(f *Flow[int], r Reason) { ended = append(ended, f.Key.PA) }
	mk := func(port uint16, ts int64, c Class) *Flow[int] {
		k := Key{PA: port}
		f := tb.Create(&k, ts, end)
		tb.Touch(f, ts, c)
		return f
	}
	mk(1, 0, ClassSession)
	f2 := mk(2, 0, ClassOther)
	mk(3, 0, ClassNew)
	mk(4, 0, ClassClosing)
	tb.Touch(f2, 50, ClassOther) // activity keeps it alive
	tb.Expire(120, end)
	if len(ended) != 2 || ended[0] != 3 || ended[1] != 4 {
		t.Fatalf("ended %v", ended)
	}
	tb.Expire(151, end)
	if len(ended) != 3 || ended[2] != 2 || tb.Len() != 1 {
		t.Fatalf("ended %v len %d", ended, tb.Len())
	}
	tb.Drain(end)
	if tb.Len() != 0 || ended[3] != 1 {
		t.Fatalf("drain: %v", ended)
	}
}
