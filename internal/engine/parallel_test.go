package engine

import (
	"io"
	"path/filepath"
	"sort"
	"testing"

	"github.com/psmtap/psmtap/capture"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// TestParallelMatchesSerial: the bundled captures, all read into one engine
// and into four parallel ones, give the same records (order aside).
func TestParallelMatchesSerial(t *testing.T) {
	files, _ := filepath.Glob("../../pcaps/*.pcap")
	edge, _ := filepath.Glob("../../pcaps/edge/*fragment*.pcap") // fragments must meet on one worker
	files = append(files, edge...)
	if len(files) < 10 {
		t.Fatalf("only %d captures", len(files))
	}
	run := func(n int) []string {
		var ids []string
		cfg := Config{Dissectors: dissectors.All(), All: true, Emit: func(r *record.Record) {
			ids = append(ids, r.ID+" "+r.Protocol+" "+r.State)
		}}
		var eng interface {
			Packet(int, []byte, int64, int)
			Flush()
		}
		if n == 1 {
			eng = New(cfg)
		} else {
			eng = NewParallel(cfg, n)
		}
		for _, f := range files {
			src, err := capture.OpenFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for {
				frame, link, ts, wire, err := src.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					break // the truncated edge file
				}
				eng.Packet(link, frame, ts, wire)
			}
			src.Close()
		}
		eng.Flush()
		sort.Strings(ids)
		return ids
	}
	serial, parallel := run(1), run(4)
	if len(serial) < 20 {
		t.Fatalf("only %d records", len(serial))
	}
	if len(serial) != len(parallel) {
		t.Fatalf("serial %d records, parallel %d", len(serial), len(parallel))
	}
	for i := range serial {
		if serial[i] != parallel[i] {
			t.Fatalf("record %d: serial %q, parallel %q", i, serial[i], parallel[i])
		}
	}
}
