package pcaptool

import (
	"errors"
	"slices"
)

// ErrNotApplicable is returned by a transformation that found nothing to change in a trace
// (no TCP data, too few segments...). The returned trace is then the input.
var ErrNotApplicable = errors.New("pcaptool: transformation not applicable to this trace")

// busiest returns the data segments of the direction that carries more of them.
func busiest(t *Trace, c *Conn) []int {
	a, b := c.DataFrames(t, ToServer), c.DataFrames(t, ToClient)
	if len(b) > len(a) {
		return b
	}
	return a
}

// contiguousPairs returns k such that segs[k] and segs[k+1] are back to back in sequence space
// and both carry at least minLen bytes.
func contiguousPairs(t *Trace, segs []int, minLen int) []int {
	var ks []int
	for k := 0; k+1 < len(segs); k++ {
		a, b := &t.Frames[segs[k]], &t.Frames[segs[k+1]]
		if a.TCP.Seq+uint32(len(a.Payload)) == b.TCP.Seq && len(a.Payload) >= minLen && len(b.Payload) >= minLen {
			ks = append(ks, k)
		}
	}
	return ks
}

// middle returns the element of s nearest to its middle.
func middle(s []int) int { return s[len(s)/2] }

// Reorder swaps, in each TCP connection, two back-to-back data segments of the busier
// direction, so the later one arrives first. It prefers a pair that the peer does not
// acknowledge in between (as when both were in flight together); in interactive sessions where
// every segment is acknowledged before the next is sent, the swap makes an ACK run ahead of the
// data it covers, which a reassembler must tolerate too. Timestamps stay in place.
func Reorder(t Trace) (Trace, error) {
	out := t
	out.Frames = slices.Clone(t.Frames)
	changed := 0
	for _, c := range out.Conns() {
		segs := busiest(&out, &c)
		ks := contiguousPairs(&out, segs, 1)
		if len(ks) == 0 {
			continue
		}
		k := middle(ks)
		if in := slices.DeleteFunc(slices.Clone(ks), func(k int) bool { return ackedBetween(&out, &c, segs[k], segs[k+1]) }); len(in) > 0 {
			k = middle(in)
		}
		i, j := segs[k], segs[k+1]
		fi, fj := out.Frames[i], out.Frames[j]
		fi.Time, fj.Time = fj.Time, fi.Time
		out.Frames[i], out.Frames[j] = fj, fi
		changed++
	}
	if changed == 0 {
		return t, ErrNotApplicable
	}
	return out, nil
}

// ackedBetween reports whether the peer acknowledges segment i before segment j is sent.
func ackedBetween(t *Trace, c *Conn, i, j int) bool {
	a := &t.Frames[i]
	d := c.Dir(a)
	for _, k := range c.Frames {
		if f := &t.Frames[k]; k > i && k < j && c.Dir(f) != d && f.TCP.Flags&ACK != 0 && int32(f.TCP.Ack-a.TCP.Seq) > 0 {
			return true
		}
	}
	return false
}

// Retransmit duplicates every fourth data segment of each direction (the copy arrives one
// packet later) and adds, per connection, one retransmission that overlaps the tail of a data
// segment and the head of the next, with the same bytes.
func Retransmit(t Trace) (Trace, error) {
	extra := map[int][]Frame{} // frames to insert after the frame at that index
	last := len(t.Frames) - 1
	for _, c := range t.Conns() {
		for _, d := range []Dir{ToServer, ToClient} {
			for k, i := range c.DataFrames(&t, d) {
				if k%4 == 1 {
					extra[min(i+1, last)] = append(extra[min(i+1, last)], t.Frames[i])
				}
			}
		}
		segs := busiest(&t, &c)
		ks := contiguousPairs(&t, segs, 2)
		if len(ks) == 0 {
			continue
		}
		k := middle(ks)
		a, b := &t.Frames[segs[k]], &t.Frames[segs[k+1]]
		ov := *b
		cut := len(a.Payload) / 2
		ov.TCP.Seq = a.TCP.Seq + uint32(cut)
		ov.Payload = append(slices.Clip(a.Payload[cut:]), b.Payload[:len(b.Payload)/2]...)
		extra[segs[k+1]] = append(extra[segs[k+1]], ov)
	}
	if len(extra) == 0 {
		return t, ErrNotApplicable
	}
	out := t
	out.Frames = make([]Frame, 0, len(t.Frames)+len(extra)*2)
	for i, f := range t.Frames {
		out.Frames = append(out.Frames, f)
		for _, x := range extra[i] {
			x.Time = f.Time // a copy is never earlier than the packet it follows
			out.Frames = append(out.Frames, x)
		}
	}
	return out, nil
}

// Gap drops, in each TCP connection, one data segment from the middle of the busier direction
// (one with data before and after it), so a receiver must report a hole.
func Gap(t Trace) (Trace, error) {
	drop := map[int]bool{}
	for _, c := range t.Conns() {
		segs := busiest(&t, &c)
		if len(segs) < 3 {
			continue
		}
		drop[segs[len(segs)/2]] = true
	}
	return without(t, drop)
}

// Midstream drops, in each TCP connection, every packet before its first data segment: no SYN,
// no handshake, as when a monitor starts while sessions are open. Connections without data
// are left alone.
func Midstream(t Trace) (Trace, error) {
	drop := map[int]bool{}
	for _, c := range t.Conns() {
		if !slices.ContainsFunc(c.Frames, func(i int) bool { return t.Frames[i].IsTCPData() }) {
			continue
		}
		for _, i := range c.Frames {
			if t.Frames[i].IsTCPData() {
				break
			}
			drop[i] = true
		}
	}
	return without(t, drop)
}

// without returns t minus the frames at the indexes in drop.
func without(t Trace, drop map[int]bool) (Trace, error) {
	if len(drop) == 0 {
		return t, ErrNotApplicable
	}
	out := t
	out.Frames = make([]Frame, 0, len(t.Frames))
	for i, f := range t.Frames {
		if !drop[i] {
			out.Frames = append(out.Frames, f)
		}
	}
	return out, nil
}
