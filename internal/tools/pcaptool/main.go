// Command pcaptool crafts test captures for psmtap.
//
//	pcaptool edge  -in X.pcap -out DIR              edge-case variants of X as DIR/<base>-<variant>.pcap
//	pcaptool bench -in DIR_or_file... -out FILE     a large benchmark capture (see bench -h)
//	pcaptool flood -kind K -n N -out FILE            a flood for the memory bounds (telnet-halfopen, ooo-tiny, ooo-buffered)
//	pcaptool cut   -in X.pcap -out Y.pcap [-from N] [-drop N,M]  X from packet N on, without packets N, M
//
// Run it with `go run ./internal/tools/pcaptool`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/psmtap/psmtap/internal/pcaptool"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintln(os.Stderr, "pcaptool:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: pcaptool edge|bench|flood|cut [flags]")
	}
	switch args[0] {
	case "edge":
		return edgeCmd(args[1:], stdout)
	case "bench":
		return benchCmd(ctx, args[1:], stdout)
	case "flood":
		return floodCmd(args[1:], stdout)
	case "cut":
		return cutCmd(args[1:], stdout)
	}
	return fmt.Errorf("unknown command %q (want edge, bench, flood or cut)", args[0])
}

// listFlag collects a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// captureFiles expands directories (recursively) into the capture files they hold, sorted, so
// that runs are reproducible.
func captureFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && isCaptureName(d.Name()) {
				found = append(found, path)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

func isCaptureName(name string) bool {
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), ".zst")
	for _, ext := range []string{".pcap", ".pcapng", ".cap"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// baseName strips the directory and capture extensions: a/b/x.pcap.gz -> x.
func baseName(path string) string {
	b := filepath.Base(path)
	for _, ext := range []string{".gz", ".zst", ".pcapng", ".pcap", ".cap"} {
		b = strings.TrimSuffix(b, ext)
	}
	return b
}

// parseSize reads sizes like 1GB, 500MB, 64KiB or 12345 (bytes), in any case. KB/MB/GB are
// powers of 1000, KiB/MiB/GiB powers of 1024.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(f * mult), nil
}

// floodCmd writes one of pcaptool.FloodKinds as a pcap file.
func floodCmd(args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("flood", flag.ContinueOnError)
	var o pcaptool.FloodOptions
	fl.StringVar(&o.Kind, "kind", "", "one of: "+strings.Join(pcaptool.FloodKinds, ", "))
	fl.IntVar(&o.Conns, "n", 1000, "connections")
	fl.IntVar(&o.Segments, "segments", 500, "out-of-order segments per connection (ooo kinds)")
	fl.IntVar(&o.SegSize, "seg-size", 100, "bytes per segment (ooo-buffered)")
	out := fl.String("out", "", "output pcap file")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *out == "" || o.Kind == "" {
		fl.Usage()
		return errors.New("flood: -kind and -out are required")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w, err := pcaptool.NewWriter(f, pcaptool.LinkEthernet, 0, true)
	if err != nil {
		f.Close()
		return err
	}
	var buf []byte
	n := 0
	err = pcaptool.Flood(o, func(fr *pcaptool.Frame) error {
		var err error
		if buf, err = fr.Append(buf[:0], pcaptool.LinkEthernet); err != nil {
			return err
		}
		n++
		return w.WritePacket(fr.Time, buf, len(buf))
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "flood %s: %d connections, %d packets -> %s\n", o.Kind, o.Conns, n, *out)
	return nil
}
