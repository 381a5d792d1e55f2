package dissectors

// ProbeCase is one row of a probe table test, shared by the protocol packages.
type ProbeCase struct {
	Name       string
	A, B       string // what endpoint 0 and endpoint 1 sent
	Client     int    // handshake's client, or Unknown
	DoneA      bool
	DoneB      bool
	Want       Verdict
	WantClient int // checked when Want is Match
}

// RunProbe evaluates a case and returns the result and whether it matched expectations.
func RunProbe(d Dissector, c ProbeCase, ports [2]uint16) (ProbeResult, bool) {
	in := ProbeInput{Data: [2][]byte{[]byte(c.A), []byte(c.B)}, Port: ports, Client: c.Client, Done: [2]bool{c.DoneA, c.DoneB}}
	got := d.Probe(&in)
	ok := got.Verdict == c.Want && (c.Want != Match || got.Client == c.WantClient)
	return got, ok
}

// FuzzProbe runs d's probe on arbitrary input, for the packages' fuzz targets.
func FuzzProbe(d Dissector, a, b []byte, flags uint8) {
	in := ProbeInput{Data: [2][]byte{a, b}, Port: [2]uint16{uint16(flags) * 257, 23}, Client: int(flags%3) - 1, Done: [2]bool{flags&4 != 0, flags&8 != 0}}
	d.Probe(&in)
}
