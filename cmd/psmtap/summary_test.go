package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/psmtap/psmtap/internal/pcaptool"
)

// withConflictingCopy returns the telnet login capture with one client
// segment sent twice, the second copy with other bytes: what an evader does
// so that the monitor and the server keep different versions.
func withConflictingCopy(t *testing.T) []byte {
	t.Helper()
	c, err := pcaptool.ReadFile(filepath.Join(repoRoot, "pcaps/telnet-login.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	for i := len(c.Packets) - 1; i >= 0; i-- {
		f := pcaptool.Decode(c.LinkType, c.Packets[i])
		if f.L4 != pcaptool.L4TCP || f.TCP.DstPort != 23 || len(f.Payload) == 0 || f.Payload[0] == 0xff {
			continue
		}
		f.Payload = bytes.ToUpper(f.Payload)
		f.Payload[0] ^= 0x01
		data, err := f.Append(nil, c.LinkType)
		if err != nil {
			t.Fatal(err)
		}
		c.Packets = slices.Insert(c.Packets, i+1, pcaptool.Packet{Time: c.Packets[i].Time.Add(time.Microsecond), Data: data})
		return c.Bytes()
	}
	t.Fatal("no client data segment in telnet-login.pcap")
	return nil
}

// TestRunSummary: read says on stderr, at the default level, what it read and
// what went wrong: here an overlap with other bytes (also an anomaly on the
// session), a file that could not be read and a pipe that was skipped.
// stdout holds the records only.
func TestRunSummary(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "overlap.pcap"), withConflictingCopy(t), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "junk.pcap"), []byte("this is no capture at all"), 0o600)
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.pcap"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "read", dir) // a named pipe in DIR would block here without the fix
	recs := records(t, r.stdout)
	if len(recs) != 1 || str(recs[0], "network.protocol") != "telnet" {
		t.Fatalf("%d records (stderr %s)", len(recs), r.stderr)
	}
	if an, _ := field(recs[0], "psm.anomalies").([]any); !slices.Contains(an, any("tcp.overlap_mismatch")) {
		t.Errorf("anomalies %v, want tcp.overlap_mismatch", field(recs[0], "psm.anomalies"))
	}
	var line string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, `msg="read done"`) {
			line = l
		}
	}
	for _, want := range []string{"level=INFO", "files=2", "sessions=1", "records=1", "written=1", "unreadable_files=1", "skipped_files=1", "overlap_mismatches=1", `anomalies="tcp.overlap_mismatch=1`} {
		if !strings.Contains(line, want) {
			t.Errorf("summary %q lacks %s", line, want)
		}
	}
	if !strings.Contains(r.stderr, "pipe.pcap") || !strings.Contains(r.stderr, "not a regular file") {
		t.Errorf("no word of the skipped pipe: %s", r.stderr)
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (one file unreadable)", r.code)
	}

	// The untouched capture: no such anomaly, a summary without losses.
	r = run(t, "read", "pcaps/telnet-login.pcap")
	if strings.Contains(r.stdout, "overlap_mismatch") || !strings.Contains(r.stderr, `msg="read done" files=1`) || strings.Contains(r.stderr, "overlap_mismatches") {
		t.Errorf("clean capture: stdout %s stderr %s", r.stdout, r.stderr)
	}
}

// TestDamagedZstdCapture: a cut or bit-flipped .zst keeps the sessions read
// before the damage and says "corrupt zstd", not "not a pcap".
func TestDamagedZstdCapture(t *testing.T) {
	dir := t.TempDir()
	var raw []byte
	for _, n := range []string{"telnet-login.pcap", "ssh-scp-download.pcap"} {
		c, err := pcaptool.ReadFile(filepath.Join(repoRoot, "pcaps", n))
		if err != nil {
			t.Fatal(err)
		}
		if raw == nil {
			raw = c.Bytes()
			continue
		}
		// Append the second capture's records (same link type) to the first.
		b := c.Bytes()
		raw = append(raw, b[24:]...)
	}
	var z bytes.Buffer
	zw, _ := zstd.NewWriter(&z, zstd.WithWindowSize(8<<10), zstd.WithEncoderConcurrency(1))
	zw.Write(raw)
	zw.Close()
	cut := z.Bytes()[:z.Len()/2]
	flip := bytes.Clone(z.Bytes())
	flip[len(flip)/2] ^= 0x55
	for _, c := range []struct {
		name string
		data []byte
		code int
	}{{"cut.pcap.zst", cut, 0}, {"flip.pcap.zst", flip, 1}} {
		p := filepath.Join(dir, c.name)
		os.WriteFile(p, c.data, 0o600)
		r := run(t, "read", p)
		if !strings.Contains(r.stderr, "corrupt zstd") || strings.Contains(r.stderr, "not a pcap") || r.code != c.code ||
			c.code == 0 && !strings.Contains(r.stderr, "truncated_files=1") || c.code == 1 && !strings.Contains(r.stderr, "unreadable_files=1") {
			t.Errorf("%s: exit %d stderr %s; want exit %d and corrupt zstd", c.name, r.code, r.stderr, c.code)
		}
		recs := records(t, r.stdout)
		if len(recs) == 0 || str(recs[0], "network.protocol") != "telnet" {
			t.Errorf("%s: %d records, want the telnet session before the damage", c.name, len(recs))
		}
	}
}
