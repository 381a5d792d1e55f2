package flow

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// index maps keys to flows with open addressing and linear probing. It
// replaces a Go map on the hot path (one lookup per packet): each slot keeps
// the key's hash, so a probe compares one word before it compares a key, and
// a hit costs one hash, usually one slot and one key comparison. Deletion
// shifts the following entries back (no tombstones). The hash is seeded at
// random per table, so an attacker who picks addresses and ports cannot aim
// flows at one bucket.
type index[T any] struct {
	slots []slot[T]
	mask  uint64
	n     int
	seed  uint64
}

type slot[T any] struct {
	hash uint64 // 0: empty
	f    *Flow[T]
}

func newIndex[T any](capacity int) index[T] {
	n := 1024
	for n < 2*capacity {
		n <<= 1
	}
	return index[T]{slots: make([]slot[T], n), mask: uint64(n - 1), seed: rand.Uint64() | 1}
}

// mix is one round of a multiply-xorshift hash (wyhash's folded multiply).
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func (ix *index[T]) hash(k *Key) uint64 {
	le := binary.LittleEndian
	h := ix.seed
	h = mix(h^le.Uint64(k.A[0:8]), 0x9E3779B97F4A7C15^le.Uint64(k.A[8:16]))
	h = mix(h^le.Uint64(k.B[0:8]), 0xBF58476D1CE4E5B9^le.Uint64(k.B[8:16]))
	v6 := uint64(0)
	if k.IPv6 {
		v6 = 1
	}
	h = mix(h^(uint64(k.PA)|uint64(k.PB)<<16|uint64(k.Proto)<<32|v6<<40), 0x94D049BB133111EB)
	if h == 0 {
		h = 1 // 0 marks an empty slot
	}
	return h
}

func (ix *index[T]) get(k *Key) *Flow[T] {
	h := ix.hash(k)
	for i := h & ix.mask; ; i = (i + 1) & ix.mask {
		s := &ix.slots[i]
		if s.hash == 0 {
			return nil
		}
		if s.hash == h && s.f.Key == *k {
			return s.f
		}
	}
}

// put adds f (whose key is not in the index).
func (ix *index[T]) put(f *Flow[T]) {
	if 2*(ix.n+1) > len(ix.slots) {
		ix.grow()
	}
	h := ix.hash(&f.Key)
	i := h & ix.mask
	for ix.slots[i].hash != 0 {
		i = (i + 1) & ix.mask
	}
	ix.slots[i] = slot[T]{hash: h, f: f}
	ix.n++
}

func (ix *index[T]) grow() {
	old := ix.slots
	ix.slots = make([]slot[T], 2*len(old))
	ix.mask = uint64(len(ix.slots) - 1)
	for _, s := range old {
		if s.hash == 0 {
			continue
		}
		i := s.hash & ix.mask
		for ix.slots[i].hash != 0 {
			i = (i + 1) & ix.mask
		}
		ix.slots[i] = s
	}
}

// del removes f, shifting back the entries that probed past its slot.
func (ix *index[T]) del(f *Flow[T]) {
	h := ix.hash(&f.Key)
	i := h & ix.mask
	for ix.slots[i].f != f {
		if ix.slots[i].hash == 0 {
			return // not present
		}
		i = (i + 1) & ix.mask
	}
	for {
		ix.slots[i] = slot[T]{}
		j := i
		for {
			j = (j + 1) & ix.mask
			s := ix.slots[j]
			if s.hash == 0 {
				ix.n--
				return
			}
			// Move s back to i unless its home lies cyclically in (i, j].
			home := s.hash & ix.mask
			if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
				ix.slots[i] = s
				i = j
				break
			}
		}
	}
}
