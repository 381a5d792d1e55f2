package main

// schedule is a binary min-heap of (time, slot): the flow whose next packet is due first is
// at the root. Written out instead of container/heap to avoid interface calls per packet.
type schedule []entry

type entry struct {
	t    int64 // nanoseconds since the capture start
	slot int32
}

func (h *schedule) push(e entry) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if s[p].t <= s[i].t {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

// fix restores the heap after the root's time grew.
func (h schedule) fix() {
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].t < h[l].t {
			m = r
		}
		if h[i].t <= h[m].t {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
