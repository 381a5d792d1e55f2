package pcaptool

import "fmt"

// Variant is one named edge-case transformation of a trace.
type Variant struct {
	Name  string
	Apply func(Trace) (Trace, error)
	Cut   bool // the encoded file is then cut in the middle of a record (Truncate)
}

// Variants returns the edge-case variants in a fixed order.
func Variants() []Variant {
	same := func(t Trace) (Trace, error) { return t, nil }
	return []Variant{
		{Name: "reorder", Apply: Reorder},
		{Name: "retransmit", Apply: Retransmit},
		{Name: "gap", Apply: Gap},
		{Name: "midstream", Apply: Midstream},
		{Name: "fragment", Apply: FragmentIPv4},
		{Name: "vlan", Apply: VLAN802},
		{Name: "qinq", Apply: QinQ},
		{Name: "ipv6", Apply: ToIPv6},
		{Name: "sll2", Apply: SLL2},
		{Name: "rawip", Apply: RawIP},
		{Name: "truncate", Apply: same, Cut: true},
	}
}

// EdgeFile is one variant of a capture, encoded as a pcap file.
type EdgeFile struct {
	Variant string
	Data    []byte // pcap file content; nil when Err is set
	Packets int    // whole records written ("truncate": those before the cut one)
	Skipped int    // frames the link type could not carry
	Err     error  // ErrNotApplicable when the capture has nothing this variant can change
}

// Edge produces every variant of c. Outputs use a snaplen of at least DefaultSnaplen so that
// added headers never cut a packet.
func Edge(c Capture) []EdgeFile {
	base := DecodeCapture(c)
	base.Snaplen = max(base.Snaplen, DefaultSnaplen)
	var files []EdgeFile
	for _, v := range Variants() {
		files = append(files, edgeOne(base, v))
	}
	return files
}

func edgeOne(base Trace, v Variant) EdgeFile {
	e := EdgeFile{Variant: v.Name}
	t, err := v.Apply(base)
	if err != nil {
		e.Err = err
		return e
	}
	out, skipped, err := t.Encode()
	if err != nil {
		e.Err = fmt.Errorf("%s: %w", v.Name, err)
		return e
	}
	e.Data, e.Packets, e.Skipped = out.Bytes(), len(out.Packets), skipped
	if v.Cut {
		if e.Data, err = Truncate(e.Data); err != nil {
			e.Data, e.Err = nil, err
		}
		e.Packets /= 2 // Truncate cuts the middle record

	}
	return e
}
