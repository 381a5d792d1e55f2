package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/psmtap/psmtap/internal/pcaptool"
)

// cutCmd keeps the packets of a capture from one packet number on: a pickup
// at a chosen point (e.g. after a Telnet login, so that no option
// negotiation is left), where edge's midstream only drops the handshake.
func cutCmd(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("cut", flag.ContinueOnError)
	in := fl.String("in", "", "input capture")
	out := fl.String("out", "", "output pcap file")
	from := fl.Int("from", 0, "first packet kept, numbered from 1 as tcpdump -# and Wireshark show them")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || *from < 1 {
		fl.Usage()
		return errors.New("cut: -in, -out and -from (>= 1) are required")
	}
	c, err := pcaptool.ReadFile(*in)
	if err != nil {
		return err
	}
	if *from > len(c.Packets) {
		return fmt.Errorf("cut: %s has %d packets", *in, len(c.Packets))
	}
	c.Packets = c.Packets[*from-1:]
	if err := pcaptool.WriteFile(*out, c); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d packets\n", *out, len(c.Packets))
	return nil
}
