package main

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/psmtap/psmtap/internal/pcaptool"
)

// maxTemplatePackets bounds one session's template so a single huge session cannot dominate.
const maxTemplatePackets = 20000

// template is one TCP or UDP session of an input capture, replayed by copies in the benchmark.
type template struct {
	name       string
	v6         bool
	frames     []pcaptool.Frame // link layer dropped; addresses and ports are rewritten per copy
	gaps       []int64          // nanoseconds before each frame (first 0), capped at maxGap
	fromClient []bool
	bytes      int64 // encoded Ethernet size of one copy, for the summary
}

// loadTemplates reads the capture files and returns one template per TCP/UDP session, in file
// and first-packet order. IPv4 fragments and non-IP packets are left out.
func loadTemplates(files []string, maxGap time.Duration) ([]*template, error) {
	var out []*template
	for _, path := range files {
		c, err := pcaptool.ReadFile(path)
		if err != nil && len(c.Packets) == 0 {
			return nil, err
		}
		out = append(out, sessions(baseName(path), pcaptool.DecodeCapture(c), maxGap)...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no TCP or UDP session in %d input files", len(files))
	}
	return out, nil
}

func sessions(name string, tr pcaptool.Trace, maxGap time.Duration) []*template {
	type key struct {
		proto uint8
		a, b  netip.AddrPort
	}
	type sess struct {
		tpl    *template
		client netip.AddrPort
		last   time.Time
	}
	index := map[key]*sess{}
	var order []*sess
	for i := range tr.Frames {
		f := tr.Frames[i]
		if (f.L4 != pcaptool.L4TCP && f.L4 != pcaptool.L4UDP) || f.IP.Src.Is4() != f.IP.Dst.Is4() {
			continue
		}
		src, dst := f.Flow()
		k := key{f.IP.Proto, src, dst}
		if src.Compare(dst) > 0 {
			k.a, k.b = dst, src
		}
		s := index[k]
		if s == nil {
			s = &sess{tpl: &template{name: fmt.Sprintf("%s#%d", name, len(order)), v6: f.IP.Version == 6}, client: src, last: f.Time}
			if f.L4 == pcaptool.L4TCP && f.TCP.Flags&pcaptool.SYN == 0 && dst.Port() > src.Port() {
				s.client = dst // mid-stream start: the higher port is most likely the client
			}
			index[k] = s
			order = append(order, s)
		}
		if len(s.tpl.frames) >= maxTemplatePackets {
			continue
		}
		gap := max(f.Time.Sub(s.last), 0)
		s.last = f.Time
		f.Link = pcaptool.Link{}
		s.tpl.frames = append(s.tpl.frames, f)
		s.tpl.gaps = append(s.tpl.gaps, int64(min(gap, maxGap)))
		s.tpl.fromClient = append(s.tpl.fromClient, src == s.client)
		s.tpl.bytes += int64(16 + 14 + len(f.AppendNetwork(nil)))
	}
	out := make([]*template, len(order))
	for i, s := range order {
		out[i] = s.tpl
	}
	return out
}
