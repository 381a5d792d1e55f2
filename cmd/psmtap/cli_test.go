package main

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const sshCapture = "pcaps/ssh-password-interactive.pcap"

func TestVersionAndHelp(t *testing.T) {
	if r := run(t, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "psmtap ") {
		t.Fatalf("version: %+v", r)
	}
	r := run(t, "read", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "FILE|DIR") || !strings.Contains(r.stdout, "--format") {
		t.Fatalf("read --help: %+v", r)
	}
}

func TestErrorsAPersonUnderstands(t *testing.T) {
	notCapture := filepath.Join(t.TempDir(), "notes.pcap")
	os.WriteFile(notCapture, []byte("these are my notes, not a capture\n"), 0o644)
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"read"}, 2, "name at least one capture"},
		{[]string{"read", "/nonexistent/x.pcap"}, 1, "no such file"},
		{[]string{"read", notCapture}, 1, "not a pcap or pcapng file"},
		{[]string{"read", "--format", "xml", sshCapture}, 2, "unknown --format"},
		{[]string{"read", "--disable", "gopher", sshCapture}, 2, "no such protocol"},
		{[]string{"live", "-i", "psmtap-no-such-if0"}, 1, "psmtap-no-such-if0"},
		{[]string{"frobnicate"}, 3, ""},
		// one session id in 64 begins with '-': said how to give it
		{[]string{"terminate", "--sensor", "http://127.0.0.1:1", "-vE4YcfM1k29N0sPjo-A"}, 2, "put it after --"},
		{[]string{"watch", "--sensor", "http://127.0.0.1:1", "-vE4YcfM1k29N0sPjo-A"}, 2, "put it after --"},
		{[]string{"terminate", "--sensor", "http://127.0.0.1:1", "--bogus", "x"}, 2, "flag provided but not defined: -bogus"},
	}
	for _, c := range cases {
		r := run(t, c.args...)
		if c.code == 3 {
			if r.code == 0 {
				t.Errorf("%v: exit 0", c.args)
			}
			continue
		}
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
}

// TestCompressedCaptures: gzip and zstd files give the same records as the plain file.
func TestCompressedCaptures(t *testing.T) {
	plain, err := os.ReadFile(filepath.Join(repoRoot, sshCapture))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gzPath, zstPath := filepath.Join(dir, "s.pcap.gz"), filepath.Join(dir, "s.pcap.zst")
	f, _ := os.Create(gzPath)
	gw := gzip.NewWriter(f)
	gw.Write(plain)
	gw.Close()
	f.Close()
	f, _ = os.Create(zstPath)
	zw, _ := zstd.NewWriter(f)
	zw.Write(plain)
	zw.Close()
	f.Close()

	want := records(t, run(t, "read", "--observer", "x", sshCapture).stdout)
	for _, p := range []string{gzPath, zstPath} {
		got := records(t, run(t, "read", "--observer", "x", p).stdout)
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("%s: %d records, plain file gives %d", p, len(got), len(want))
		}
		for i := range got {
			if str(got[i], "event.id") != str(want[i], "event.id") || str(got[i], "network.protocol") != str(want[i], "network.protocol") {
				t.Errorf("%s: record %d differs", p, i)
			}
		}
	}
}

// TestTruncatedCapture: a file cut in the middle of a packet still yields every
// session seen until then, with a warning, and exit status 0.
func TestTruncatedCapture(t *testing.T) {
	plain, err := os.ReadFile(filepath.Join(repoRoot, sshCapture))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(cut, plain[:len(plain)*2/3+7], 0o644)
	r := run(t, "read", cut)
	if r.code != 0 || !strings.Contains(r.stderr, "middle of a packet") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	recs := records(t, r.stdout)
	if len(recs) != 1 || str(recs[0], "network.protocol") != "ssh" || str(recs[0], "psm.state") != "capture_end" {
		t.Fatalf("records: %v", recs)
	}
}

// TestDirectoryAndTable: a directory is read in time order; the table format
// has a header and one line per session.
func TestDirectoryAndTable(t *testing.T) {
	r := run(t, "read", "--format", "table", "pcaps")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if !strings.HasPrefix(lines[0], "START (UTC)") || len(lines) < 8 {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for _, proto := range []string{"ssh", "telnet", "ftp", "rlogin", "rsh", "rdp"} {
		if !strings.Contains(r.stdout, " "+proto+" ") {
			t.Errorf("table has no %s session", proto)
		}
	}
}

// TestRotatedOutput: -w writes zstd NDJSON files that hold every record, and
// rotates by size.
func TestRotatedOutput(t *testing.T) {
	dir := t.TempDir()
	r := run(t, "read", "--observer", "x", "-w", dir, "--rotate-size", "1KB", "pcaps")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	want := records(t, run(t, "read", "--observer", "x", "pcaps").stdout)
	files, _ := filepath.Glob(filepath.Join(dir, "psmtap-*.ndjson.zst"))
	if len(files) < 2 {
		t.Fatalf("%d files: no rotation", len(files))
	}
	var got int
	for _, f := range files {
		fh, _ := os.Open(f)
		zr, err := zstd.NewReader(fh)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(zr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			got++
		}
		zr.Close()
		fh.Close()
	}
	if got != len(want) {
		t.Fatalf("%d records in files, %d on stdout", got, len(want))
	}
	if parts, _ := filepath.Glob(filepath.Join(dir, "*.part")); len(parts) != 0 {
		t.Fatalf("unfinished files left: %v", parts)
	}
}

// TestProgressLine: --progress forces the progress line (shown by default only
// when stderr is a terminal) and its final summary.
func TestProgressLine(t *testing.T) {
	r := run(t, "read", "--progress", sshCapture)
	if r.code != 0 || !strings.Contains(r.stderr, "packets") || !strings.Contains(r.stderr, "sessions (ssh=1)") {
		t.Fatalf("exit %d stderr %q", r.code, r.stderr)
	}
	if r := run(t, "read", sshCapture); strings.Contains(r.stderr, "\r") || strings.Contains(r.stderr, "sessions (ssh=1)") {
		t.Fatalf("progress shown without a terminal: %q", r.stderr)
	}
}

// TestInterimRecords: --interim writes snapshots of a long session (the
// 37-second typing capture) before its final record, all with one event.id.
func TestInterimRecords(t *testing.T) {
	recs := records(t, run(t, "read", "--interim", "10s", "pcaps/ssh-interactive-long.pcap").stdout)
	var types []string
	for _, r := range recs {
		types = append(types, str(r, "event.type"))
		if str(r, "event.id") != str(recs[0], "event.id") {
			t.Fatalf("event.id differs")
		}
	}
	if len(recs) < 3 || types[0] != "start" || types[len(types)-1] != "end" || str(recs[0], "psm.state") != "" {
		t.Fatalf("event types %v", types)
	}
}

// TestWorkers: --workers 3 gives the same records as one engine (in another
// order).
func TestWorkers(t *testing.T) {
	ids := func(args ...string) []string {
		var out []string
		for _, r := range records(t, run(t, append([]string{"read", "--observer", "x", "--all"}, args...)...).stdout) {
			out = append(out, str(r, "event.id")+" "+str(r, "network.protocol")+" "+str(r, "psm.login.success"))
		}
		sort.Strings(out)
		return out
	}
	one, three := ids("pcaps"), ids("--workers", "3", "pcaps")
	if len(one) < 40 || strings.Join(one, "\n") != strings.Join(three, "\n") {
		t.Fatalf("1 worker: %d records, 3 workers: %d, or they differ", len(one), len(three))
	}
}
