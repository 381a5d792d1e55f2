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
	// onRotate is told of each completed file (OnRotate).
	onRotate func(file string)
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
	if err == nil && r.onRotate != nil {
		r.onRotate(r.path)
	}
	return err
}

// OnRotate sets a function called after each file is completed (synced and
// renamed), at rotation and at Close: the integrity stage signs a
// checkpoint there.
func (r *Rotating) OnRotate(f func(file string)) { r.onRotate = f }

// Sync pushes what was written so far to the disk: the buffered lines, the
// compressor's pending block, fsync. The file stays open (a reader of the
// .part file sees every line before a checkpoint that counts it).
func (r *Rotating) Sync() error {
	if r.f == nil {
		return nil
	}
	if err := r.nd.Flush(); err != nil {
		return err
	}
	if err := r.z.Flush(); err != nil {
		return err
	}
	return r.f.Sync()
}

// WriteCheckpoint appends a checkpoint document (one JSON line) to
// psmtap-checkpoints.ndjson in the directory and syncs it. It is written
// plain, not compressed: a line at a time, each complete on disk.
func (r *Rotating) WriteCheckpoint(_ string, doc []byte) error {
	f, err := os.OpenFile(filepath.Join(r.Dir, CheckpointsFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(doc[:len(doc):len(doc)], '\n'))
	if e := f.Sync(); err == nil {
		err = e
	}
	if e := f.Close(); err == nil {
		err = e
	}
	return err
}

// CheckpointsFile is the file of signed checkpoints in a -w directory
// (index/integrity writes them, psmtap verify reads them).
const CheckpointsFile = "psmtap-checkpoints.ndjson"

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
