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
		z, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, 0, fmt.Errorf("records: %s: %w", path, err)
		}
		defer z.Close()
		in = z
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 256<<10), maxLine)
	var docs []Doc
	bad := 0
	for n := 0; sc.Scan(); n++ {
		if n&4095 == 0 && ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
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
