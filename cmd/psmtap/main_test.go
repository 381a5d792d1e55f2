package main

// These tests run the real psmtap binary, built once in TestMain, on the
// project's own captures in pcaps/ (made from real servers and clients; see
// pcaps/README.md) and on files derived from them.

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in pcaps/golden/")

var binary string

// repoRoot is where pcaps/ lives; the binary runs there so that file names in
// records (observer.ingress.interface.name) are the same on every machine.
const repoRoot = "../.."

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "psmtap-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "psmtap")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building psmtap: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = repoRoot
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running psmtap: %v", err)
	}
	if strings.Contains(e.String(), "panic") {
		t.Fatalf("psmtap %v panicked:\n%s", args, e.String())
	}
	return result{o.String(), e.String(), code}
}

// records parses NDJSON output into generic maps.
func records(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad NDJSON line %q: %v", line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// field reads a dotted path ("source.ip") from a nested record.
func field(m map[string]any, path string) any {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func str(m map[string]any, path string) string {
	v := field(m, path)
	if v == nil {
		return ""
	}
	if f, ok := v.(float64); ok {
		return fmt.Sprint(int64(f))
	}
	if a, ok := v.([]any); ok { // arrays as comma-separated values
		s := make([]string, len(a))
		for i, x := range a {
			s[i] = fmt.Sprint(x)
		}
		return strings.Join(s, ",")
	}
	return fmt.Sprint(v)
}

// captures lists the project's captures, relative to the repo root.
func captures(t *testing.T) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(repoRoot, "pcaps"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".pcap") || strings.HasSuffix(p, ".pcapng")) {
			rel, _ := filepath.Rel(repoRoot, p)
			out = append(out, rel)
		}
		return nil
	})
	if len(out) == 0 {
		t.Fatal("no captures in pcaps/")
	}
	return out
}

// TestGolden compares psmtap's records for every capture in pcaps/ with the
// reviewed golden file next to it (pcaps/golden/). `make golden` rewrites them.
func TestGolden(t *testing.T) {
	for _, c := range captures(t) {
		t.Run(c, func(t *testing.T) {
			r := run(t, "read", "--observer", "golden", "--all", "--events", "--rules", "builtin", c)
			if r.code != 0 && !strings.Contains(c, "truncated") {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			golden := filepath.Join(repoRoot, "pcaps", "golden", strings.TrimPrefix(c, "pcaps/")+".ndjson")
			if *update {
				os.MkdirAll(filepath.Dir(golden), 0o755)
				if err := os.WriteFile(golden, []byte(r.stdout), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("no golden file (run `make golden` and review it): %v", err)
			}
			if string(want) != r.stdout {
				t.Errorf("records differ from %s (run `make golden` and review the diff):\n%s", golden, firstDiff(string(want), r.stdout))
			}
		})
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d\nwant: %s\ngot:  %s", i+1, w, g)
		}
	}
	return ""
}
