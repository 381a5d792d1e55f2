package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

type benchConfig struct {
	inputs   []string
	out      string
	size     int64
	flows    int
	seed     uint64
	pps      float64
	interest float64
	maxGap   time.Duration
}

func benchCmd(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	var cfg benchConfig
	var in listFlag
	fl.Var(&in, "in", "capture files or directories whose TCP/UDP sessions are copied (repeatable; more may follow as arguments)")
	fl.StringVar(&cfg.out, "out", "", "output pcap file")
	size := fl.String("size", "1GB", "output size (KB/MB/GB = 10^3.., KiB/MiB/GiB = 2^10..)")
	fl.IntVar(&cfg.flows, "flows", 30000, "flows open at the same time")
	fl.Uint64Var(&cfg.seed, "seed", 1, "random seed; the same seed and inputs give the same file")
	fl.Float64Var(&cfg.pps, "pps", 150000, "approximate packet rate of the simulated link (sets the time scale)")
	fl.Float64Var(&cfg.interest, "interest", 0.10, "share of packets that belong to copied input sessions")
	fl.DurationVar(&cfg.maxGap, "maxgap", 100*time.Millisecond, "longest pause kept inside a copied session (longer ones are shortened)")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "usage: pcaptool bench -in DIR_or_file... -out FILE [-size 1GB] [-flows 30000] [-seed 1]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	cfg.inputs = append(in, fl.Args()...)
	var err error
	if cfg.size, err = parseSize(*size); err != nil {
		return err
	}
	if len(cfg.inputs) == 0 || cfg.out == "" {
		fl.Usage()
		return errors.New("bench: -in and -out are required")
	}
	if cfg.flows < 1 || cfg.pps <= 0 || cfg.interest < 0 || cfg.interest >= 1 {
		return errors.New("bench: -flows and -pps must be positive, -interest in [0,1)")
	}
	files, err := captureFiles(cfg.inputs)
	if err != nil {
		return err
	}
	tpls, err := loadTemplates(files, cfg.maxGap)
	if err != nil {
		return err
	}
	f, err := os.Create(cfg.out)
	if err != nil {
		return err
	}
	start := time.Now()
	g, err := newGenerator(cfg, tpls, f)
	if err == nil {
		err = g.run(ctx)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Fprintln(stdout, g.summary(len(files), elapsed))
	return nil
}
