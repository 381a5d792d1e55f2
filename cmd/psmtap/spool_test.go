package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/index/spool"
)

// TestSpoolDrainDamaged: a damaged block in a sealed segment is not passed
// off as a crash's torn tail: spool drain sends every intact record, keeps
// the file as *.corrupt, says how many records are lost and exits 1.
func TestSpoolDrainDamaged(t *testing.T) {
	srv, url := startStandin(t)
	dir := t.TempDir()
	batch := func(from int) []spool.Doc {
		var ds []spool.Doc
		for i := from; i < from+4; i++ {
			ds = append(ds, spool.Doc{Index: "logs-psmtap.session-default", ID: fmt.Sprintf("doc-%d", i), Body: []byte(fmt.Sprintf(`{"@timestamp":"2026-01-01T00:00:00Z","n":%d}`, i))})
		}
		return ds
	}
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sp.Append(batch(0))
	sp.Append(batch(4))
	sp.Close()
	sp, _ = spool.Open(dir, spool.Options{}) // the first segment is sealed now
	sp.Append(batch(8))
	sp.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.psb"))
	if len(segs) != 2 {
		t.Fatalf("%d segments", len(segs))
	}
	b, _ := os.ReadFile(segs[0])
	b[len(b)-3] ^= 0xff // inside the last block of the sealed segment
	os.WriteFile(segs[0], b, 0o600)

	st := run(t, "spool", "status", "--spool", dir)
	if !strings.Contains(st.stdout, "damaged:   1 segments") || !strings.Contains(st.stdout, "4 records could not be recovered") {
		t.Errorf("spool status: %s", st.stdout)
	}
	r := run(t, "spool", "drain", "--spool", dir, "--es-url", url)
	if r.code != 1 || !strings.Contains(r.stderr, "4 records could not be recovered") {
		t.Fatalf("drain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := srv.Count("logs-psmtap.session-default"); n != 8 {
		t.Errorf("%d records indexed, want the 8 intact ones", n)
	}
	if _, err := os.Stat(segs[0] + ".corrupt"); err != nil {
		t.Error("damaged segment not kept:", err)
	}
}
