package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/psmtap/psmtap/index"
)

// signedRun is the real output the tamper tests start from: read --events
// --rules builtin --recordings R -w W --signing-key K over the captures,
// with small files so that it rotates (rotation checkpoints).
type signedRun struct {
	keys, w, r string
}

var (
	signedOnce sync.Once
	signed     signedRun
	signedErr  string
)

func signedOutputRun(t *testing.T) signedRun {
	t.Helper()
	signedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "psmtap-signed")
		if err != nil {
			signedErr = err.Error()
			return
		}
		signed = signedRun{keys: filepath.Join(dir, "keys"), w: filepath.Join(dir, "W"), r: filepath.Join(dir, "R")}
		if r := run(t, "keygen", "--out", signed.keys, "--name", "test-sensor"); r.code != 0 {
			signedErr = "keygen: " + r.stderr
			return
		}
		// The top-level captures: the edge/ variants repeat sessions of the
		// same id, whose recordings would overwrite each other (verify
		// reports that as a changed recording, rightly).
		files, _ := filepath.Glob(filepath.Join(repoRoot, "pcaps", "*.pcap"))
		for i, f := range files {
			files[i] = filepath.Join("pcaps", filepath.Base(f)) // run works in repoRoot
		}
		args := append([]string{"read", "--events", "--rules", "builtin", "--recordings", signed.r, "-w", signed.w,
			"--rotate-size", "48KB", "--signing-key", filepath.Join(signed.keys, "psmtap.key")}, files...)
		if r := run(t, args...); r.code != 0 {
			signedErr = "read: " + r.stderr
		}
	})
	if signedErr != "" {
		t.Fatal(signedErr)
	}
	return signed
}

// tamperCopy copies the run's W and R into a temp dir for one case.
func tamperCopy(t *testing.T) (w, r, pub string) {
	t.Helper()
	s := signedOutputRun(t)
	dst := t.TempDir()
	for _, d := range []string{"W", "R"} {
		os.MkdirAll(filepath.Join(dst, d), 0o755)
		ents, _ := os.ReadDir(filepath.Join(filepath.Dir(s.w), d))
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(filepath.Dir(s.w), d, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dst, d, e.Name()), b, 0o644)
		}
	}
	return filepath.Join(dst, "W"), filepath.Join(dst, "R"), filepath.Join(s.keys, "psmtap.pub")
}

func dataFiles(t *testing.T, w string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(w, "*.ndjson.zst"))
	sort.Strings(files)
	if len(files) < 3 {
		t.Fatalf("%d output files: the run should have rotated", len(files))
	}
	return files
}

func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := zstd.NewReader(nil)
	defer d.Close()
	raw, err := d.DecodeAll(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	raw := bytes.Join(lines, nil)
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		raw = append(raw, '\n')
	}
	e, _ := zstd.NewWriter(nil)
	defer e.Close()
	if err := os.WriteFile(path, e.EncodeAll(raw, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

// expectProblem runs verify and wants exit 1 with a problem of kind at where.
func expectProblem(t *testing.T, kind, where string, args ...string) string {
	t.Helper()
	r := run(t, append([]string{"verify"}, args...)...)
	if r.code != 1 {
		t.Fatalf("verify exit %d, want 1:\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, kind+": ") && strings.Contains(l, where) {
			return r.stdout
		}
	}
	t.Fatalf("no %q problem at %q in:\n%s", kind, where, r.stdout)
	return ""
}

func TestVerifyUntouched(t *testing.T) {
	s := signedOutputRun(t)
	pub := filepath.Join(s.keys, "psmtap.pub")
	r := run(t, "verify", "--key", pub, s.w, s.r)
	if r.code != 0 || !strings.Contains(r.stdout, "all intact") {
		t.Fatalf("untouched output: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	m := regexp.MustCompile(`(\d+) documents, (\d+) recordings, (\d+) checkpoints, 1 logs`).FindStringSubmatch(r.stdout)
	if m == nil || m[1] == "0" || m[2] == "0" {
		t.Fatalf("counts: %s", r.stdout)
	}
	// Every document is sealed; the checkpoints: start, a rotation per file, shutdown.
	cps, _ := os.ReadFile(filepath.Join(s.w, index.CheckpointsFile))
	files := dataFiles(t, s.w)
	if n := bytes.Count(cps, []byte("\n")); n != len(files)+1 {
		t.Errorf("%d checkpoints for %d files, want start + one per rotation + shutdown", n, len(files))
	}
	for _, f := range files {
		for _, l := range readLines(t, f) {
			if !bytes.Contains(l, []byte(`,"psm.integrity":{"log_id":"`)) {
				t.Fatalf("%s: unsealed line %s", f, l)
			}
		}
	}
	// The recordings directory may also be found under the one DIR.
	w, rr, _ := tamperCopy(t)
	os.Rename(rr, filepath.Join(w, "recordings"))
	if r := run(t, "verify", "--key", pub, w); r.code != 0 {
		t.Fatalf("recordings under W: exit %d\n%s", r.code, r.stdout)
	}
	// Without the recordings: each is missing.
	w, _, _ = tamperCopy(t)
	expectProblem(t, "recording-missing", ".cast.zst", "--key", pub, w)
}

func TestVerifyWithoutKeyNothingChanges(t *testing.T) {
	dir := t.TempDir()
	r := run(t, "read", "--events", "-w", dir, "pcaps/telnet-login.pcap")
	if r.code != 0 {
		t.Fatal(r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, index.CheckpointsFile)); err == nil {
		t.Fatal("checkpoints without --signing-key")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.zst"))
	for _, f := range files {
		if b := bytes.Join(readLines(t, f), nil); bytes.Contains(b, []byte("psm.integrity")) {
			t.Fatal("psm.integrity without --signing-key")
		}
	}
	// A key needs somewhere to keep checkpoints.
	s := signedOutputRun(t)
	r = run(t, "read", "--signing-key", filepath.Join(s.keys, "psmtap.key"), "pcaps/telnet-login.pcap")
	if r.code != 2 || !strings.Contains(r.stderr, "-w DIR or --output es") {
		t.Fatalf("--signing-key to stdout: exit %d %s", r.code, r.stderr)
	}
	// A signing key readable by others is refused.
	os.Chmod(filepath.Join(s.keys, "psmtap.key"), 0o644)
	defer os.Chmod(filepath.Join(s.keys, "psmtap.key"), 0o600)
	r = run(t, "read", "-w", t.TempDir(), "--signing-key", filepath.Join(s.keys, "psmtap.key"), "pcaps/telnet-login.pcap")
	if r.code != 2 || !strings.Contains(r.stderr, "chmod 600") || strings.Contains(r.stderr, "PRIVATE+KEY") {
		t.Fatalf("key mode 0644: exit %d %s", r.code, r.stderr)
	}
	if fi, _ := os.Stat(filepath.Join(s.keys, "psmtap.pub")); fi == nil {
		t.Fatal("no public key")
	}
}

func TestVerifyTamperMatrix(t *testing.T) {
	s := signedOutputRun(t)
	mid := func(t *testing.T, w string) (string, [][]byte) {
		files := dataFiles(t, w)
		f := files[len(files)/2]
		return f, readLines(t, f)
	}
	t.Run("changed byte in a document", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		f, lines := mid(t, w)
		lines[2] = bytes.Replace(lines[2], []byte(`"192.0.2.`), []byte(`"192.0.3.`), 1)
		writeLines(t, f, lines)
		expectProblem(t, "changed", filepath.Base(f)+":3", "--key", pub, w, r)
	})
	t.Run("changed document with its leaf hash made to fit", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		f, lines := mid(t, w)
		lines[2] = reseal(t, bytes.Replace(lines[2], []byte(`"192.0.2.`), []byte(`"192.0.3.`), 1))
		writeLines(t, f, lines)
		out := expectProblem(t, "tree-mismatch", index.CheckpointsFile, "--key", pub, w, r)
		if !strings.Contains(out, filepath.Base(f)) {
			t.Fatalf("the mismatch does not name the file it is in:\n%s", out)
		}
	})
	t.Run("deleted document", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		f, lines := mid(t, w)
		lines = append(lines[:3], lines[4:]...)
		writeLines(t, f, lines)
		expectProblem(t, "removed", filepath.Base(f)+":4", "--key", pub, w, r)
	})
	t.Run("reordered documents", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		f, lines := mid(t, w)
		lines[3], lines[4] = lines[4], lines[3]
		writeLines(t, f, lines)
		expectProblem(t, "reordered", filepath.Base(f)+":5", "--key", pub, w, r)
	})
	t.Run("deleted file", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		f, _ := mid(t, w)
		os.Remove(f)
		expectProblem(t, "removed", filepath.Base(f)+": the file is gone", "--key", pub, w, r)
	})
	t.Run("truncated file", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		f, _ := mid(t, w)
		b, _ := os.ReadFile(f)
		os.WriteFile(f, b[:len(b)/2], 0o644)
		expectProblem(t, "truncated", filepath.Base(f), "--key", pub, w, r)
	})
	t.Run("last lines of the last file cut, cleanly recompressed", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		files := dataFiles(t, w)
		f := files[len(files)-1]
		lines := readLines(t, f)
		writeLines(t, f, lines[:len(lines)-2])
		expectProblem(t, "removed", "were removed", "--key", pub, w, r)
	})
	t.Run("changed recording", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		recs, _ := filepath.Glob(filepath.Join(r, "*.cast.zst"))
		b, _ := os.ReadFile(recs[0])
		b[len(b)/2] ^= 1
		os.WriteFile(recs[0], b, 0o644)
		expectProblem(t, "recording-changed", filepath.Base(recs[0]), "--key", pub, w, r)
	})
	t.Run("deleted recording", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		recs, _ := filepath.Glob(filepath.Join(r, "*.cast.zst"))
		os.Remove(recs[1])
		expectProblem(t, "recording-missing", filepath.Base(recs[1]), "--key", pub, w, r)
	})
	t.Run("forged checkpoint", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		cps := checkpointLines(t, w)
		// The root of the second checkpoint replaced by the third's: the signature no longer holds.
		cps[1] = replaceNote(t, cps[1], func(text string) string {
			l := strings.Split(text, "\n")
			l[2] = strings.Split(noteOf(t, cps[2]), "\n")[2]
			return strings.Join(l, "\n")
		}, nil)
		writeCheckpointLines(t, w, cps)
		expectProblem(t, "bad-signature", index.CheckpointsFile+":2", "--key", pub, w, r)
	})
	t.Run("checkpoint signed by another key", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		cps := checkpointLines(t, w)
		skey, _, _ := note.GenerateKey(rand.Reader, "test-sensor")
		other, _ := note.NewSigner(skey)
		cps[len(cps)-1] = replaceNote(t, cps[len(cps)-1], func(s string) string { return s }, other)
		writeCheckpointLines(t, w, cps)
		expectProblem(t, "unknown-key", index.CheckpointsFile+":"+itoa(len(cps)), "--key", pub, w, r)
	})
	t.Run("rolled back: the end of the log removed", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		files := dataFiles(t, w)
		os.Remove(files[len(files)-1])
		cps := checkpointLines(t, w)
		writeCheckpointLines(t, w, cps[:len(cps)-2])
		expectProblem(t, "no-shutdown", index.CheckpointsFile+":"+itoa(len(cps)-2), "--key", pub, w, r)
	})
	t.Run("rolled back: an older checkpoint after a newer one", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		cps := checkpointLines(t, w)
		cps = append(cps, cps[1])
		writeCheckpointLines(t, w, cps)
		expectProblem(t, "rolled-back", index.CheckpointsFile+":"+itoa(len(cps)), "--key", pub, w, r)
	})
	t.Run("checkpoints removed entirely", func(t *testing.T) {
		w, r, pub := tamperCopy(t)
		os.Remove(filepath.Join(w, index.CheckpointsFile))
		expectProblem(t, "uncovered", "", "--key", pub, w, r)
	})
	t.Run("verified with another key", func(t *testing.T) {
		w, r, _ := tamperCopy(t)
		other := t.TempDir()
		run(t, "keygen", "--out", other, "--name", "test-sensor")
		expectProblem(t, "unknown-key", index.CheckpointsFile, "--key", filepath.Join(other, "psmtap.pub"), w, r)
	})
	_ = s
}

// reseal recomputes the leaf hash of a changed line, as someone who knows
// the format (but not the key) would.
func reseal(t *testing.T, line []byte) []byte {
	t.Helper()
	line = bytes.TrimSuffix(line, []byte("\n"))
	i := bytes.LastIndex(line, []byte(`,"leaf_hash":"`))
	leaf := append(append([]byte(nil), line[:i]...), "}}"...)
	h := tlog.RecordHash(leaf)
	out := append(append([]byte(nil), line[:i]...), `,"leaf_hash":"`+hex.EncodeToString(h[:])+`"}}`+"\n"...)
	return out
}

func checkpointLines(t *testing.T, w string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w, index.CheckpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func writeCheckpointLines(t *testing.T, w string, lines [][]byte) {
	t.Helper()
	var b []byte
	for _, l := range lines {
		b = append(b, bytes.TrimSuffix(l, []byte("\n"))...)
		b = append(b, '\n')
	}
	os.WriteFile(filepath.Join(w, index.CheckpointsFile), b, 0o644)
}

func noteOf(t *testing.T, line []byte) string {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(line, &d); err != nil {
		t.Fatal(err)
	}
	return str(d, "psm.integrity.checkpoint")
}

// replaceNote changes a checkpoint line's note text, keeping its
// signatures (signer nil) or signing it anew with signer.
func replaceNote(t *testing.T, line []byte, edit func(string) string, signer note.Signer) []byte {
	t.Helper()
	var d map[string]any
	json.Unmarshal(line, &d)
	msg := str(d, "psm.integrity.checkpoint")
	text, sigs, _ := strings.Cut(msg, "\n\n")
	text = edit(text + "\n")
	var out string
	if signer != nil {
		b, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			t.Fatal(err)
		}
		out = string(b)
	} else {
		out = text + "\n" + sigs
	}
	d["psm"].(map[string]any)["integrity"].(map[string]any)["checkpoint"] = out
	b, _ := json.Marshal(d)
	return append(b, '\n')
}

// Signed output into Elasticsearch (the stand-in): verify --es-url passes,
// then names the document changed or removed in the cluster.
func TestVerifyElasticsearch(t *testing.T) {
	s := signedOutputRun(t)
	srv, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatalf("setup: %s", r.stderr)
	}
	recDir := t.TempDir()
	r := run(t, "read", "--events", "--rules", "builtin", "--output", "es", "--es-url", url, "--spool", t.TempDir(),
		"--recordings", recDir,
		"--signing-key", filepath.Join(s.keys, "psmtap.key"), "pcaps/telnet-login.pcap", "pcaps/ssh-password-interactive.pcap")
	if r.code != 0 {
		t.Fatalf("read: %s", r.stderr)
	}
	pub := filepath.Join(s.keys, "psmtap.pub")
	// The cluster holds the records, not the recordings: without
	// --recordings they are counted as not checked, not called missing.
	r = run(t, "verify", "--key", pub, "--es-url", url)
	if r.code != 0 || !strings.Contains(r.stdout, "all intact") || !strings.Contains(r.stdout, "0 recordings (1 more named but not checked") {
		t.Fatalf("verify --es-url: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run(t, "verify", "--key", pub, "--es-url", url, "--recordings", recDir)
	if r.code != 0 || !strings.Contains(r.stdout, ", 1 recordings, ") || !strings.Contains(r.stdout, "all intact") {
		t.Fatalf("verify --es-url --recordings: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	casts, _ := filepath.Glob(filepath.Join(recDir, "*.cast.zst"))
	if len(casts) != 1 {
		t.Fatalf("recordings: %v", casts)
	}
	orig, _ := os.ReadFile(casts[0])
	os.WriteFile(casts[0], append(append([]byte(nil), orig...), 0), 0o600)
	expectProblem(t, "recording-changed", filepath.Base(casts[0]), "--key", pub, "--es-url", url, "--recordings", recDir)
	os.WriteFile(casts[0], orig, 0o600)
	cps := srv.Docs("logs-psmtap.integrity-default")
	if len(cps) != 2 { // start, shutdown
		t.Fatalf("%d checkpoints in the integrity stream", len(cps))
	}
	for k, d := range cps {
		var m map[string]any
		json.Unmarshal(d, &m)
		if un := unmappedLeaves(m, srv.Mapping("logs-psmtap.integrity-default")); len(un) > 0 {
			t.Errorf("%s: unmapped %v", k, un)
		}
	}
	var victim, victim2 string
	for k, d := range srv.Docs("logs-psmtap.activity-default") {
		var m map[string]any
		json.Unmarshal(d, &m)
		if un := unmappedLeaves(m, srv.Mapping("logs-psmtap.activity-default")); len(un) > 0 {
			t.Errorf("%s: unmapped %v", k, un)
		}
		if victim == "" {
			victim = k
		} else if victim2 == "" {
			victim2 = k
		}
	}
	doc := srv.Docs("logs-psmtap.activity-default")[victim]
	srv.Replace(victim, bytes.Replace(doc, []byte(`"192.0.2.`), []byte(`"192.0.3.`), 1))
	expectProblem(t, "changed", victim, "--key", pub, "--es-url", url)
	srv.Replace(victim, doc)
	srv.Remove(victim2)
	expectProblem(t, "removed", "are missing", "--key", pub, "--es-url", url)
}

// verify --es-url --since: two runs (two logs) with T between them. The
// documents of the first are read as their leaf hashes only: a change to one
// goes unseen (as documented), a removal does not (the tree no longer
// matches); a change in the second run is found.
func TestVerifyElasticsearchSince(t *testing.T) {
	s := signedOutputRun(t)
	srv, url := startStandin(t)
	if r := run(t, "setup", "--es-url", url); r.code != 0 {
		t.Fatalf("setup: %s", r.stderr)
	}
	key := filepath.Join(s.keys, "psmtap.key")
	pub := filepath.Join(s.keys, "psmtap.pub")
	read := func(pcap string) {
		r := run(t, "read", "--events", "--output", "es", "--es-url", url, "--spool", t.TempDir(), "--signing-key", key, pcap)
		if r.code != 0 {
			t.Fatalf("read %s: %s", pcap, r.stderr)
		}
	}
	docs := func() map[string][]byte {
		all := map[string][]byte{}
		for _, ds := range []string{"logs-psmtap.session-default", "logs-psmtap.activity-default", "logs-psmtap.alert-default"} {
			for k, d := range srv.Docs(ds) {
				all[k] = d
			}
		}
		return all
	}
	read("pcaps/telnet-login.pcap")
	old := docs()
	since := time.Now()
	read("pcaps/ssh-password-interactive.pcap")
	var oldVictim, oldVictim2, newVictim string
	// In a fixed order, the second old victim the first leaf of its log (a
	// removed last leaf is reported in other words: "the last 1 were removed").
	all := docs()
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		return !bytes.Contains(all[names[i]], []byte(`"leaf_index":0,`)) && bytes.Contains(all[names[j]], []byte(`"leaf_index":0,`)) ||
			names[i] < names[j] && bytes.Contains(all[names[i]], []byte(`"leaf_index":0,`)) == bytes.Contains(all[names[j]], []byte(`"leaf_index":0,`))
	})
	for _, k := range names {
		d := all[k]
		_, isOld := old[k]
		switch {
		case !bytes.Contains(d, []byte(`"192.0.2.`)):
		case isOld && oldVictim == "":
			oldVictim = k
		case isOld && oldVictim2 == "" && bytes.Contains(d, []byte(`"leaf_index":0,`)):
			oldVictim2 = k
		case !isOld && newVictim == "":
			newVictim = k
		}
	}
	if oldVictim2 == "" || newVictim == "" {
		t.Fatalf("not enough documents to tamper with: %d before, %d in all", len(old), len(docs()))
	}
	T := since.UTC().Format(time.RFC3339Nano)
	r := run(t, "verify", "--key", pub, "--es-url", url, "--since", T)
	if r.code != 0 || !strings.Contains(r.stdout, "all intact") || !strings.Contains(r.stdout, fmt.Sprintf("(%d written before", len(old))) {
		t.Fatalf("verify --since on untouched documents: exit %d, want 0 and %d read as hashes\n%s%s", r.code, len(old), r.stdout, r.stderr)
	}
	change := func(name string) []byte {
		d := docs()[name]
		srv.Replace(name, bytes.Replace(d, []byte(`"192.0.2.`), []byte(`"192.0.3.`), 1))
		return d
	}
	// Before T: only the hash is read, the change is not seen; without --since it is.
	d := change(oldVictim)
	if r := run(t, "verify", "--key", pub, "--es-url", url, "--since", T); r.code != 0 {
		t.Fatalf("a change before --since was looked at (it should not be: leaf hashes only): exit %d\n%s", r.code, r.stdout)
	}
	expectProblem(t, "changed", oldVictim, "--key", pub, "--es-url", url)
	srv.Replace(oldVictim, d)
	// After T: read whole, the change is found.
	d = change(newVictim)
	expectProblem(t, "changed", newVictim, "--key", pub, "--es-url", url, "--since", T)
	srv.Replace(newVictim, d)
	// A document before T removed: its leaf is missing from the tree.
	srv.Remove(oldVictim2)
	expectProblem(t, "removed", "are missing", "--key", pub, "--es-url", url, "--since", T)
	// A duration back from now covers both runs: the change before T is found then.
	change(oldVictim)
	expectProblem(t, "changed", oldVictim, "--key", pub, "--es-url", url, "--since", "1h")
}
