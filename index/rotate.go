package index

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/psmtap/psmtap/internal/record"
)

// Rotating writes zstd-compressed NDJSON files into a directory, starting a
// new file when the current one reaches MaxBytes of uncompressed records or
// has been open for MaxAge (wall time). Files are named
// psmtap-<UTC start>-<seq>.ndjson.zst and written under a ".part" name that is
// renamed when complete, so a reader never sees half a file.
type Rotating struct {
	Dir      string
	MaxBytes int64
	MaxAge   time.Duration

	f       *os.File
	z       *zstd.Encoder
	nd      *NDJSON
	path    string
	written int64
	opened  time.Time
	seq     int
	now     func() time.Time
	// Files lists the completed files, in order.
	Files []string
}

// NewRotating prepares the directory.
func NewRotating(dir string, maxBytes int64, maxAge time.Duration) (*Rotating, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	if maxBytes <= 0 {
		maxBytes = 256 << 20
	}
	if maxAge <= 0 {
		maxAge = time.Hour
	}
	return &Rotating{Dir: dir, MaxBytes: maxBytes, MaxAge: maxAge, now: time.Now}, nil
}

func (r *Rotating) open() error {
	r.opened = r.now()
	r.seq++
	name := fmt.Sprintf("psmtap-%s-%04d.ndjson.zst", r.opened.UTC().Format("20060102T150405Z"), r.seq)
	r.path = filepath.Join(r.Dir, name)
	f, err := os.Create(r.path + ".part")
	if err != nil {
		return fmt.Errorf("output file: %w", err)
	}
	z, err := zstd.NewWriter(f, zstd.WithEncoderConcurrency(1))
	if err != nil {
		f.Close()
		return err
	}
	r.f, r.z, r.nd, r.written = f, z, NewNDJSON(z), 0
	return nil
}

func (r *Rotating) finish() error {
	if r.f == nil {
		return nil
	}
	err := r.nd.Close()
	if e := r.z.Close(); err == nil {
		err = e
	}
	if e := r.f.Sync(); err == nil {
		err = e
	}
	if e := r.f.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = os.Rename(r.path+".part", r.path)
		r.Files = append(r.Files, r.path)
	}
	r.f = nil
	return err
}

// Write implements Sink.
func (r *Rotating) Write(rec record.Document) error {
	if r.f != nil && (r.written >= r.MaxBytes || r.now().Sub(r.opened) >= r.MaxAge) {
		if err := r.finish(); err != nil {
			return err
		}
	}
	if r.f == nil {
		if err := r.open(); err != nil {
			return err
		}
	}
	b, err := rec.MarshalJSON()
	if err != nil {
		return err
	}
	r.nd.w.Write(b)
	r.nd.w.WriteByte('\n')
	r.written += int64(len(b) + 1)
	return nil
}

// Close finishes the current file.
func (r *Rotating) Close() error { return r.finish() }
