package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/psmtap/psmtap/internal/pcaptool"
)

func edgeCmd(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("edge", flag.ContinueOnError)
	var in listFlag
	fl.Var(&in, "in", "input capture (pcap or pcapng, optionally .gz/.zst); repeatable, or give more as arguments")
	out := fl.String("out", "", "output directory (created if missing)")
	var only listFlag
	fl.Var(&only, "only", "make only these variants (comma-separated; default all)")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "usage: pcaptool edge -in X.pcap [more.pcap...] -out DIR\n\nWrites DIR/<base>-<variant>.pcap for every edge-case variant:")
		for _, v := range pcaptool.Variants() {
			fmt.Fprintln(fl.Output(), "  ", v.Name)
		}
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	in = append(in, fl.Args()...)
	if len(in) == 0 || *out == "" {
		fl.Usage()
		return errors.New("edge: -in and -out are required")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, path := range in {
		if err := edgeOne(path, *out, only, stdout); err != nil {
			return err
		}
	}
	return nil
}

func edgeOne(path, dir string, only []string, stdout io.Writer) error {
	c, err := pcaptool.ReadFile(path)
	if err != nil {
		return err
	}
	for _, e := range pcaptool.Edge(c) {
		if len(only) > 0 && !slices.Contains(only, e.Variant) {
			continue
		}
		name := filepath.Join(dir, baseName(path)+"-"+e.Variant+".pcap")
		switch {
		case errors.Is(e.Err, pcaptool.ErrNotApplicable):
			fmt.Fprintf(stdout, "%-60s skipped: nothing to change\n", name)
			continue
		case e.Err != nil:
			return fmt.Errorf("%s: %w", path, e.Err)
		}
		if err := os.WriteFile(name, e.Data, 0o644); err != nil {
			return err
		}
		note := ""
		if e.Variant == "truncate" {
			note = " (then half a record)"
		}
		if e.Skipped > 0 {
			note = fmt.Sprintf(" (%d non-IP frames left out)", e.Skipped)
		}
		fmt.Fprintf(stdout, "%-60s %6d packets %9d bytes%s\n", name, e.Packets, len(e.Data), note)
	}
	return nil
}
