// Package flow keeps the table of open flows: both directions of a 5-tuple map
// to one entry, expiry is driven by packet time (so a capture read today times
// out exactly as it would have live), and memory is bounded by a flow limit.
//
// Expiry costs O(1) per packet: each timeout class keeps its flows in a list
// ordered by last activity, so the expired ones are always at the front.
package flow

import (
	"encoding/binary"
	"sort"

	"github.com/psmtap/psmtap/capture/decode"
)

// Key is a canonical 5-tuple: endpoint A is the smaller (address, port).
type Key struct {
	A, B   [16]byte
	PA, PB uint16
	Proto  uint8
	IPv6   bool
}

// KeyOf returns the packet's flow key and which endpoint sent it (0 = A, 1 = B).
func KeyOf(p *decode.Packet) (Key, int) {
	k := Key{Proto: p.Proto, IPv6: p.IPv6}
	c := compareAddr(&p.Src, &p.Dst)
	if c < 0 || c == 0 && p.SrcPort <= p.DstPort {
		k.A, k.B, k.PA, k.PB = p.Src, p.Dst, p.SrcPort, p.DstPort
		return k, 0
	}
	k.A, k.B, k.PA, k.PB = p.Dst, p.Src, p.DstPort, p.SrcPort
	return k, 1
}

// compareAddr orders addresses as bytes.Compare would, two words at a time.
func compareAddr(a, b *[16]byte) int {
	be := binary.BigEndian
	if x, y := be.Uint64(a[:8]), be.Uint64(b[:8]); x != y {
		if x < y {
			return -1
		}
		return 1
	}
	if x, y := be.Uint64(a[8:]), be.Uint64(b[8:]); x != y {
		if x < y {
			return -1
		}
		return 1
	}
	return 0
}

// Addr returns endpoint i's address as 4 or 16 bytes.
func (k *Key) Addr(i int) []byte {
	a := &k.A
	if i == 1 {
		a = &k.B
	}
	if k.IPv6 {
		return a[:]
	}
	return a[:4]
}

// Port returns endpoint i's port.
func (k *Key) Port(i int) uint16 {
	if i == 1 {
		return k.PB
	}
	return k.PA
}

// Class selects a flow's idle timeout.
type Class uint8

// Timeout classes.
const (
	ClassNew      Class = iota // no data yet (handshake, scans)
	ClassOther                 // data of no interest (only counted)
	ClassSession               // a detected session
	ClassClosing               // FIN from both sides or RST: linger for stragglers
	ClassDatagram              // a detected UDP session: no FIN, so a shorter idle timeout
	// ClassLoggedIn is a session past its login (a login succeeded or
	// commands were typed): the most valuable, so last to be evicted or
	// shed. It idles as long as ClassSession (its timeout follows it).
	ClassLoggedIn
	numClasses
)

// Reason says why a flow left the table.
type Reason uint8

// Reasons a flow ends.
const (
	EndTimeout  Reason = iota // idle longer than its class allows
	EndClosed                 // closed and lingered
	EndEvicted                // pushed out by the flow limit
	EndShutdown               // capture ended or the program is stopping
	EndShed                   // ended by the owner to stay within its memory budget
)

// ShedOrder lists the classes from least to most valuable: eviction and
// memory shedding take flows in this order, least recently active first.
var ShedOrder = [...]Class{ClassClosing, ClassNew, ClassOther, ClassDatagram, ClassSession, ClassLoggedIn}

// Flow is one entry; Data is the owner's per-flow state.
type Flow[T any] struct {
	Key        Key
	First      int64 // packet time of the first packet, ns
	Last       int64
	class      Class
	prev, next *Flow[T]
	Data       T
}

// Class returns the flow's timeout class.
func (f *Flow[T]) Class() Class { return f.class }

type list[T any] struct{ head, tail *Flow[T] }

func (l *list[T]) remove(f *Flow[T]) {
	if f.prev != nil {
		f.prev.next = f.next
	} else {
		l.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else {
		l.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

func (l *list[T]) pushBack(f *Flow[T]) {
	f.prev = l.tail
	f.next = nil
	if l.tail != nil {
		l.tail.next = f
	} else {
		l.head = f
	}
	l.tail = f
}

// Config sets the table's limits. Timeouts are nanoseconds of packet time.
type Config struct {
	MaxFlows int
	Timeouts [numClasses]int64
}

// DefaultConfig suits a sensor on a busy link: sessions may idle for two hours
// (an admin's forgotten shell), traffic of no interest for five minutes.
func DefaultConfig() Config {
	return Config{
		MaxFlows: 1 << 20,
		Timeouts: [numClasses]int64{
			ClassNew:      60e9,
			ClassOther:    300e9,
			ClassSession:  7200e9,
			ClassClosing:  5e9,
			ClassDatagram: 120e9,
		},
	}
}

// Table maps keys to flows. Not safe for concurrent use.
type Table[T any] struct {
	cfg     Config
	flows   index[T]
	lists   [numClasses]list[T]
	free    *Flow[T] // recycled entries, linked through next
	nfree   int
	Evicted uint64
}

// maxFree bounds the recycled entries kept: after a flood, memory goes back.
const maxFree = 1 << 16

// NewTable returns an empty table.
func NewTable[T any](cfg Config) *Table[T] {
	cfg.Timeouts[ClassLoggedIn] = cfg.Timeouts[ClassSession]
	return &Table[T]{cfg: cfg, flows: newIndex[T](1024)}
}

// Oldest returns the least recently active flow of class c other than skip,
// or nil.
func (t *Table[T]) Oldest(c Class, skip *Flow[T]) *Flow[T] {
	f := t.lists[c].head
	if f != nil && f == skip {
		f = f.next
	}
	return f
}

// Len returns the number of open flows.
func (t *Table[T]) Len() int { return t.flows.n }

// Lookup returns the flow for k or nil.
func (t *Table[T]) Lookup(k *Key) *Flow[T] { return t.flows.get(k) }

// Create adds a flow for k. When the table is full it first ends the least
// recently active flow of the least valuable class through end.
func (t *Table[T]) Create(k *Key, ts int64, end func(*Flow[T], Reason)) *Flow[T] {
	if t.flows.n >= t.cfg.MaxFlows {
		for _, c := range ShedOrder {
			if v := t.lists[c].head; v != nil {
				t.Evicted++
				t.Remove(v)
				end(v, EndEvicted)
				break
			}
		}
	}
	f := t.free
	if f != nil {
		t.free = f.next
		t.nfree--
		f.next = nil
	} else {
		f = new(Flow[T])
	}
	f.Key, f.First, f.Last, f.class = *k, ts, ts, ClassNew
	t.flows.put(f)
	t.lists[ClassNew].pushBack(f)
	return f
}

// Touch records activity at ts and moves the flow to the back of class c.
func (t *Table[T]) Touch(f *Flow[T], ts int64, c Class) {
	if ts > f.Last {
		f.Last = ts
	}
	l := &t.lists[f.class]
	if f.class == c && l.tail == f {
		return
	}
	l.remove(f)
	f.class = c
	t.lists[c].pushBack(f)
}

// Remove takes f out of the table. The caller ends it; call Recycle after.
func (t *Table[T]) Remove(f *Flow[T]) {
	t.lists[f.class].remove(f)
	t.flows.del(f)
}

// Recycle returns an ended flow's entry for reuse. Its data is cleared now,
// so nothing it pointed to is kept alive; a bounded number are kept.
func (t *Table[T]) Recycle(f *Flow[T]) {
	var zero T
	f.Data = zero
	if t.nfree >= maxFree {
		return
	}
	f.next = t.free
	t.free = f
	t.nfree++
}

// Expire ends every flow idle past its class's timeout at packet time now.
func (t *Table[T]) Expire(now int64, end func(*Flow[T], Reason)) {
	for c := range t.lists {
		l := &t.lists[c]
		for f := l.head; f != nil && now-f.Last > t.cfg.Timeouts[c]; f = l.head {
			t.Remove(f)
			r := EndTimeout
			if Class(c) == ClassClosing {
				r = EndClosed
			}
			end(f, r)
		}
	}
}

// Each calls fn for every flow of class c, least recently active first. fn
// must not add or remove flows.
func (t *Table[T]) Each(c Class, fn func(*Flow[T])) {
	for f := t.lists[c].head; f != nil; f = f.next {
		fn(f)
	}
}

// Drain ends every flow in order of first packet (shutdown), so the last
// records come out in a stable, readable order.
func (t *Table[T]) Drain(end func(*Flow[T], Reason)) {
	all := make([]*Flow[T], 0, t.flows.n)
	for c := range t.lists {
		for f := t.lists[c].head; f != nil; f = f.next {
			all = append(all, f)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].First < all[j].First })
	for _, f := range all {
		t.Remove(f)
		end(f, EndShutdown)
	}
}
