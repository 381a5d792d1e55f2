package report

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Source yields documents. Scan calls fn from one goroutine, in the order
// the documents were written (so "the first copy wins" is well defined when
// the same document was written twice), for every document that keep
// accepts; keep may run on several goroutines at once.
type Source interface {
	Scan(ctx context.Context, w Window, fn func(*Doc)) (ScanStats, error)
	String() string
}

// Window is what a source must deliver: session records that started before
// Until (the earlier ones say who was seen before the period; only the few
// fields in EarlierFields are needed of them), and events and alerts in
// [Since, Until).
type Window struct{ Since, Until time.Time }

// ScanStats says what a scan read and could not read.
type ScanStats struct {
	Files     int // files read (records directory)
	Documents int // documents read
	Bad       int // lines that are no JSON document (a file cut short, a foreign line)
}

// Keep says whether a document is needed for the window.
func (w Window) Keep(d *Doc) bool {
	if !d.Timestamp.Before(w.Until) {
		return false
	}
	if d.Event.Dataset == DatasetSession {
		return true
	}
	return !d.Timestamp.Before(w.Since)
}

// Records reads the files that read -w and live -w write (rotated
// psmtap-*.ndjson.zst) and plain .ndjson files, in a directory and below.
type Records struct {
	Dir     string
	Workers int // files decoded at once (default GOMAXPROCS)
}

func (r *Records) String() string { return "records in " + r.Dir }

// Files lists the files to read, sorted by path: rotated names carry their
// start time and sequence, so this is the order they were written in. Files
// still being written (.part) are left out.
func (r *Records) Files() ([]string, error) {
	var out []string
	err := filepath.WalkDir(r.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && (strings.HasSuffix(p, ".ndjson.zst") || strings.HasSuffix(p, ".ndjson")) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

type fileResult struct {
	docs []Doc
	bad  int
	err  error
}

// Scan decodes files in parallel and hands their documents over in file order.
func (r *Records) Scan(ctx context.Context, w Window, fn func(*Doc)) (ScanStats, error) {
	var st ScanStats
	files, err := r.Files()
	if err != nil {
		return st, fmt.Errorf("records: %w", err)
	}
	workers := r.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	results := make([]chan fileResult, len(files))
	for i := range results {
		results[i] = make(chan fileResult, 1)
	}
	// slots bounds the files decoded and waiting, so memory stays at a few
	// files' worth of documents whatever the period.
	slots := make(chan struct{}, workers+1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i, f := range files {
			select {
			case slots <- struct{}{}:
			case <-stop:
				return
			}
			go func(i int, f string) {
				docs, bad, err := readFile(ctx, f, w)
				results[i] <- fileResult{docs, bad, err}
			}(i, f)
		}
	}()
	for i := range files {
		var res fileResult
		select {
		case res = <-results[i]:
		case <-ctx.Done():
			return st, ctx.Err()
		}
		<-slots
		if res.err != nil {
			return st, res.err
		}
		st.Files++
		st.Bad += res.bad
		for j := range res.docs {
			st.Documents++
			fn(&res.docs[j])
		}
	}
	return st, nil
}

var decoders, buffers sync.Pool

// maxLine bounds one document: a record has at most 10000 commands of 4 KiB
// and 64 KiB of screen text.
const maxLine = 64 << 20

func readFile(ctx context.Context, path string, w Window) ([]Doc, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("records: %w", err)
	}
	defer f.Close()
	var in io.Reader = f
	if strings.HasSuffix(path, ".zst") {
		// Decoders are reused: a new one per file costs its window buffers.
		z, _ := decoders.Get().(*zstd.Decoder)
		if z == nil {
			if z, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)); err != nil {
				return nil, 0, err
			}
		}
		if err := z.Reset(f); err != nil {
			return nil, 0, fmt.Errorf("records: %s: %w", path, err)
		}
		defer func() { z.Reset(nil); decoders.Put(z) }()
		in = z
	}
	buf, _ := buffers.Get().(*[]byte)
	if buf == nil {
		b := make([]byte, 256<<10)
		buf = &b
	}
	defer buffers.Put(buf)
	sc := bufio.NewScanner(in)
	sc.Buffer(*buf, maxLine)
	var docs []Doc
	var scratch []byte
	bad := 0
	for n := 0; sc.Scan(); n++ {
		if n&4095 == 0 && ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if len(line) > 1024 {
			line, scratch = strip(line, scratch[:0])
		}
		var d Doc
		if err := json.Unmarshal(line, &d); err != nil || d.Event.Dataset == "" {
			bad++
			continue
		}
		if w.Keep(&d) {
			docs = append(docs, d)
		}
	}
	if err := sc.Err(); err != nil {
		// A file cut short (a sensor that died mid-write leaves .part files,
		// which are not read; a damaged file ends here): what was read counts,
		// the rest is one bad line.
		bad++
	}
	return docs, bad, nil
}

// Bulky string fields the report never reads: most of an SSH record's bytes
// are its algorithm lists, most of a Telnet record's its screen text.
var unread = [][]byte{[]byte(`"hassh_string":"`), []byte(`"kex_algs":"`), []byte(`"host_key_algs":"`),
	[]byte(`"cipher_algs":"`), []byte(`"mac_algs":"`), []byte(`"compression_algs":"`), []byte(`"output_text":"`)}

// strip empties the values of the unread fields before decoding, which
// halves the decoder's work on SSH records. It is exact: in JSON text a
// quote inside a string is escaped, so `"kex_algs":"` unescaped can only be
// a key and the start of its string value, which ends at the next quote
// not escaped by a backslash. (A line whose only fault is inside a cut
// value, a bad escape, is read rather than counted unreadable.) It returns the line to decode, in buf when
// anything was cut.
func strip(line, buf []byte) ([]byte, []byte) {
	var cutsArr [16][2]int
	cuts := cutsArr[:0]
	for _, key := range unread {
		for from := 0; ; {
			i := bytes.Index(line[from:], key)
			if i < 0 {
				break
			}
			start := from + i + len(key)
			end := stringEnd(line, start)
			if end < 0 {
				break // no end: the decoder will say what is wrong
			}
			if end > start {
				cuts = append(cuts, [2]int{start, end})
			}
			from = end
		}
	}
	if len(cuts) == 0 {
		return line, buf
	}
	sort.Slice(cuts, func(a, b int) bool { return cuts[a][0] < cuts[b][0] })
	out, prev := buf[:0], 0
	for _, c := range cuts {
		out = append(out, line[prev:c[0]]...)
		prev = c[1]
	}
	out = append(out, line[prev:]...)
	return out, out
}

// stringEnd returns the index of the closing quote of the string whose
// contents start at i, or -1.
func stringEnd(b []byte, i int) int {
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		k := i + j
		bs := 0
		for p := k - 1; p >= i && b[p] == '\\'; p-- {
			bs++
		}
		if bs%2 == 0 {
			return k
		}
		i = k + 1
	}
}
