package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/psmtap/psmtap/internal/pcaptool"
)

// cutCmd keeps the packets of a capture from one packet number on: a pickup
// at a chosen point (e.g. after a Telnet login, so that no option
// negotiation is left), where edge's midstream only drops the handshake;
// -drop also leaves chosen packets out (a gap in one direction, where edge's
// gap picks the busier one).
func cutCmd(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("cut", flag.ContinueOnError)
	in := fl.String("in", "", "input capture")
	out := fl.String("out", "", "output pcap file")
	from := fl.Int("from", 1, "first packet kept, numbered from 1 as tcpdump -# and Wireshark show them")
	var drop listFlag
	fl.Var(&drop, "drop", "packet numbers to leave out (repeatable or comma-separated)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || *from < 1 {
		fl.Usage()
		return errors.New("cut: -in and -out are required, -from >= 1")
	}
	c, err := pcaptool.ReadFile(*in)
	if err != nil {
		return err
	}
	if *from > len(c.Packets) {
		return fmt.Errorf("cut: %s has %d packets", *in, len(c.Packets))
	}
	gone := map[int]bool{}
	for _, d := range drop {
		n, err := strconv.Atoi(d)
		if err != nil || n < 1 || n > len(c.Packets) {
			return fmt.Errorf("cut: -drop %s: not a packet of %s", d, *in)
		}
		gone[n] = true
	}
	kept := c.Packets[:0:0]
	for i, p := range c.Packets[*from-1:] {
		if !gone[*from+i] {
			kept = append(kept, p)
		}
	}
	c.Packets = kept
	if err := pcaptool.WriteFile(*out, c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d packets\n", *out, len(c.Packets))
	return nil
}
