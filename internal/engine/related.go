package engine

import (
	"net/netip"

	"github.com/psmtap/psmtap/capture/decode"
	"github.com/psmtap/psmtap/capture/flow"
	"github.com/psmtap/psmtap/dissectors"
)

// maxExpected bounds announced related connections across all sessions; a
// hostile FTP client announcing ports in a loop cannot grow memory.
const maxExpected = 65536

// expect registers a related connection (dissectors.Context.Expect).
func (e *Engine) expect(x dissectors.Expectation) {
	if x.Session == nil || !x.To.IsValid() {
		return
	}
	if e.nExpected >= maxExpected {
		e.sweepExpected(e.now)
		if e.nExpected >= maxExpected {
			e.stats.ExpectedDropped++
			return
		}
	}
	e.expected[x.To] = append(e.expected[x.To], x)
	e.nExpected++
}

// matchExpected gives a new flow to the session that announced it.
func (e *Engine) matchExpected(f *flow.Flow[conn], p *decode.Packet, ep int, ts int64) {
	var src, dst [16]byte = p.Src, p.Dst
	srcAddr, dstAddr := addrOf(src, p.IPv6), addrOf(dst, p.IPv6)
	to := netip.AddrPortFrom(dstAddr, p.DstPort)
	list := e.expected[to]
	for i, x := range list {
		if x.Deadline < ts || x.From.Addr() != srcAddr || x.From.Port() != 0 && x.From.Port() != p.SrcPort {
			continue
		}
		list = append(list[:i], list[i+1:]...)
		if len(list) == 0 {
			delete(e.expected, to)
		} else {
			e.expected[to] = list
		}
		e.nExpected--
		c := &f.Data
		c.related = true
		c.client = int8(ep)
		c.mode = modeSession
		c.candidates = 0
		e.stats.Related++
		func() {
			defer e.recoverParser(c)
			c.sess = x.Session()
		}()
		return
	}
}

// sweepExpected drops lapsed expectations.
func (e *Engine) sweepExpected(now int64) {
	for k, list := range e.expected {
		kept := list[:0]
		for _, x := range list {
			if x.Deadline >= now {
				kept = append(kept, x)
			}
		}
		e.nExpected -= len(list) - len(kept)
		if len(kept) == 0 {
			delete(e.expected, k)
		} else {
			e.expected[k] = kept
		}
	}
}

func addrOf(b [16]byte, v6 bool) netip.Addr {
	if v6 {
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{b[0], b[1], b[2], b[3]})
}
