package flow

import (
	"math/rand/v2"
	"testing"
)

// TestIndexAgainstMap: random inserts, lookups and deletes (with a small key
// space, so probe chains collide and wrap) agree with a Go map.
func TestIndexAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ix := newIndex[int](16)
	ref := map[Key]*Flow[int]{}
	key := func() Key {
		k := Key{Proto: 6, PA: uint16(r.IntN(40)), PB: 22}
		k.A[3] = byte(r.IntN(30))
		return k
	}
	for step := 0; step < 200000; step++ {
		k := key()
		switch got, want := ix.get(&k), ref[k]; {
		case got != want:
			t.Fatalf("step %d: get %v, want %v", step, got, want)
		case want == nil && r.IntN(2) == 0:
			f := &Flow[int]{Key: k}
			ix.put(f)
			ref[k] = f
		case want != nil && r.IntN(3) == 0:
			ix.del(want)
			delete(ref, k)
		}
		if ix.n != len(ref) {
			t.Fatalf("step %d: %d entries, want %d", step, ix.n, len(ref))
		}
	}
}

func BenchmarkIndexGet(b *testing.B) {
	ix := newIndex[int](1 << 16)
	keys := make([]Key, 50000)
	for i := range keys {
		keys[i] = Key{Proto: 6, PA: uint16(i), PB: 443}
		keys[i].A[0], keys[i].A[1] = byte(i>>8), byte(i)
		ix.put(&Flow[int]{Key: keys[i]})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if ix.get(&keys[i]) == nil {
			b.Fatal("missing")
		}
		i++
		if i == len(keys) {
			i = 0
		}
	}
}

func BenchmarkMapGet(b *testing.B) {
	m := map[Key]*Flow[int]{}
	keys := make([]Key, 50000)
	for i := range keys {
		keys[i] = Key{Proto: 6, PA: uint16(i), PB: 443}
		keys[i].A[0], keys[i].A[1] = byte(i>>8), byte(i)
		m[keys[i]] = &Flow[int]{Key: keys[i]}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if m[keys[i]] == nil {
			b.Fatal("missing")
		}
		i++
		if i == len(keys) {
			i = 0
		}
	}
}
