package engine

import (
	"github.com/psmtap/psmtap/capture/decode"
	"github.com/psmtap/psmtap/capture/flow"
	"github.com/psmtap/psmtap/dissectors"
)

// UDP flows are offered only to dissectors that take datagrams (for RDP over
// UDP). Each datagram is one Feed; detection sees each endpoint's first
// datagram. Flows no such dissector wants are dropped to counting at once.

// maxProbeDatagrams bounds the datagrams held while detection waits.
const maxProbeDatagrams = 8

func (e *Engine) udpPacket(p *decode.Packet, ts int64) {
	key, ep := flow.KeyOf(p)
	f := e.table.Lookup(&key)
	if f == nil {
		f = e.table.Create(&key, ts, e.endFn)
		c := &f.Data
		c.client, c.first = int8(ep), int8(ep) // the first sender, until content says otherwise
		c.iface = e.cfg.Interface
		c.udp = true
		c.candidates = e.udpCandidates
		c.static = flowCost
		e.static += int64(flowCost)
	}
	c := &f.Data
	c.pkts[ep]++
	c.bytes[ep] += uint64(len(p.Payload))
	// UDP of no interest (DNS above all) is numerous and short-lived: it keeps
	// the short timeout of new flows rather than the five minutes of TCP.
	class := flow.ClassNew
	switch c.mode {
	case modeProbe:
		e.udpProbe(f, ep, p.Payload, ts)
	case modeSession:
		e.feed(f, ep, p.Payload, ts)
	}
	if c.mode == modeSession || c.mode == modeDone {
		class = flow.ClassDatagram
	}
	e.table.Touch(f, ts, class)
}

func (e *Engine) udpProbe(f *flow.Flow[conn], ep int, payload []byte, ts int64) {
	c := &f.Data
	ps := c.probe
	if ps == nil {
		ps = e.newProbe()
		c.probe = ps
	}
	if len(ps.chunks) >= maxProbeDatagrams {
		e.giveUp(c)
		return
	}
	// Keep every datagram for replay; the probe sees each side's first one.
	take := payload
	if len(take) > e.cfg.ProbeBytes {
		take = take[:e.cfg.ProbeBytes]
	}
	// Later datagrams go after the first in the same buffer; only the first
	// is shown to the probe.
	ps.chunks = append(ps.chunks, chunk{ep: int8(ep), off: int32(len(ps.buf[ep])), len: int32(len(take)), ts: ts})
	ps.buf[ep] = append(ps.buf[ep], take...)
	e.probeHeld += len(take)
	in := &e.probeIn
	*in = dissectors.ProbeInput{Port: [2]uint16{f.Key.PA, f.Key.PB}, Client: int(c.client), UDP: true}
	for i := 0; i < 2; i++ {
		for _, ch := range ps.chunks {
			if int(ch.ep) == i {
				in.Data[i] = ps.buf[i][ch.off : ch.off+ch.len]
				break
			}
		}
	}
	var matched dissectors.Dissector
	matchedClient := dissectors.Unknown
	for i, d := range e.cfg.Dissectors {
		bit := uint32(1) << i
		if c.candidates&bit == 0 {
			continue
		}
		switch res := e.safeProbe(d, in); res.Verdict {
		case dissectors.NoMatch:
			c.candidates &^= bit
		case dissectors.Match:
			if matched == nil {
				matched, matchedClient = d, res.Client
			}
		}
	}
	if matched != nil {
		if matchedClient != dissectors.Unknown {
			c.client = int8(matchedClient)
		}
		client := c.client
		c.client = -1 // let attach take the content's word
		e.attachUDP(f, matched, int(client))
		return
	}
	if c.candidates == 0 {
		e.giveUp(c)
	}
}

// attachUDP is attach for datagram flows: the replay feeds datagrams one by one.
func (e *Engine) attachUDP(f *flow.Flow[conn], d dissectors.Dissector, client int) {
	e.cur = f
	e.attach(f, d, client)
	e.cur = nil
}
