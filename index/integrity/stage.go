package integrity

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/psmtap/psmtap/internal/record"
)

// Sink is what the stage writes documents to (an index.Sink).
type Sink interface {
	Write(record.Document) error
	Close() error
}

// CheckpointWriter stores checkpoint documents: index.Rotating appends them
// to CheckpointsFile in its directory, the Elasticsearch shipper indexes them
// into logs-psmtap.integrity-<namespace> with _id id.
type CheckpointWriter interface {
	WriteCheckpoint(id string, doc []byte) error
}

// Options configure a Stage.
type Options struct {
	Signer note.Signer
	// Checkpoints receives the checkpoints; when nil, the sink must be one.
	Checkpoints CheckpointWriter
	// Interval: a checkpoint at least this often (default 60 s, wall time).
	Interval time.Duration
	// RecordingsDir is where the recordings the records name are (--recordings).
	RecordingsDir string
	Observer      string
	Logger        *slog.Logger
	Now           func() time.Time
}

// DefaultInterval is the longest time between two checkpoints.
const DefaultInterval = time.Minute

// Stage sits between the output queue (and the rules) and the sink, on the
// output goroutine: it gives each document its leaf, writes it sealed, and
// writes the checkpoints. A ticker goroutine writes the interval
// checkpoints while no document comes; a mutex keeps the two apart, and
// the sink is only ever used by one of them at a time.
type Stage struct {
	next Sink
	cpw  CheckpointWriter
	opt  Options
	log  *slog.Logger

	mu      sync.Mutex
	logID   string
	tree    frontier
	seq     int64
	lastCP  time.Time
	closing bool
	cpErr   error

	stop chan struct{}
	done chan struct{}
}

// New starts a log in front of next. The returned sink is a *Stage, or, when
// next has a disk spool (Spool([]record.Document) error), one that has a
// Spool too, so that documents the queue spills get their leaves as well.
func New(next Sink, opt Options) (Sink, error) {
	if opt.Signer == nil {
		return nil, errors.New("integrity: no signing key")
	}
	cpw := opt.Checkpoints
	if cpw == nil {
		var ok bool
		if cpw, ok = next.(CheckpointWriter); !ok {
			return nil, errors.New("integrity: this output cannot store checkpoints (use -w DIR or --output es)")
		}
	}
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	id, err := newLogID()
	if err != nil {
		return nil, err
	}
	s := &Stage{next: next, cpw: cpw, opt: opt, log: opt.Logger, logID: id, stop: make(chan struct{}), done: make(chan struct{})}
	if r, ok := next.(interface{ OnRotate(func(file string)) }); ok {
		r.OnRotate(s.rotated)
	}
	s.mu.Lock()
	err = s.checkpoint(ReasonStart, "")
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	s.log.Info("signing the output", "log_id", id, "key", opt.Signer.Name(), "checkpoint_every", opt.Interval)
	go s.ticker()
	if sp, ok := next.(spooler); ok {
		return &spoolStage{s, sp}, nil
	}
	return s, nil
}

// LogID is the id of the log this run writes.
func (s *Stage) LogID() string { return s.logID }

type spooler interface {
	Spool([]record.Document) error
}

// sealed is a document with its integrity member: sinks write Body.
type sealed struct {
	record.Document
	body []byte
}

func (d sealed) MarshalJSON() ([]byte, error) { return d.body, nil }

// seal gives d the next leaf (and its recording the one after).
func (s *Stage) seal(d record.Document, tree *frontier) (sealed, error) {
	var rec *record.Record
	if r, ok := d.(*record.Record); ok {
		r.Complete() // the recording is saved and named by now
		rec = r
	}
	b, err := d.MarshalJSON()
	if err != nil {
		return sealed{}, fmt.Errorf("encoding %s %s: %w", d.Dataset(), d.DocID(), err)
	}
	m := Meta{LogID: s.logID, LeafIndex: tree.n}
	if rec != nil && rec.Recording != nil && rec.Recording.Path != "" {
		h, err := FileLeafHash(filepath.Join(s.opt.RecordingsDir, rec.Recording.Path))
		if err != nil {
			// The record (and its psm.recording.sha256) is still a leaf.
			s.log.Error("integrity: cannot read a recording to make it a leaf", "session", rec.ID, "err", err)
		} else {
			m.RecordingLeafIndex, m.RecordingLeafHash = tree.n+1, h
		}
	}
	body, err := Seal(b, &m)
	if err != nil {
		return sealed{}, err
	}
	tree.append(m.LeafHash)
	if m.RecordingLeafIndex > 0 {
		tree.append(m.RecordingLeafHash)
	}
	return sealed{d, body}, nil
}

// Write implements Sink.
func (s *Stage) Write(d record.Document) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tree.clone()
	sd, err := s.seal(d, &t)
	if err != nil {
		return err
	}
	// A rotation inside this Write checkpoints s.tree: the leaves before this one.
	if err := s.next.Write(sd); err != nil {
		return err // not written: its leaf goes to the next document
	}
	s.tree = t
	return nil
}

// Flush passes a flush on (live output is read as it comes).
func (s *Stage) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, ok := s.next.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// rotated is called by the sink, inside Write (so under s.mu), when it
// completed a file.
func (s *Stage) rotated(file string) {
	if s.closing {
		return
	}
	if err := s.checkpoint(ReasonRotation, filepath.Base(file)); err != nil && s.cpErr == nil {
		s.cpErr = err
	}
}

// checkpoint signs and stores the tree as it is; s.mu held.
func (s *Stage) checkpoint(reason, file string) error {
	if sy, ok := s.next.(interface{ Sync() error }); ok && reason != ReasonRotation {
		// What the checkpoint covers is on disk before the checkpoint is.
		if err := sy.Sync(); err != nil {
			return fmt.Errorf("integrity: %w", err)
		}
	}
	c := &Checkpoint{LogID: s.logID, Size: s.tree.n, Root: s.tree.root(), Time: s.opt.Now(), Reason: reason, File: file}
	signed, err := note.Sign(&note.Note{Text: c.Text()}, s.opt.Signer)
	if err != nil {
		return fmt.Errorf("integrity: signing a checkpoint: %w", err)
	}
	id := CheckpointID(s.logID, s.seq)
	doc, err := marshalCheckpoint(c, id, s.opt.Observer, signed)
	if err != nil {
		return err
	}
	if err := s.cpw.WriteCheckpoint(id, doc); err != nil {
		return fmt.Errorf("integrity: writing a checkpoint: %w", err)
	}
	s.seq++
	s.lastCP = c.Time
	return nil
}

func (s *Stage) ticker() {
	defer close(s.done)
	period := min(time.Second, s.opt.Interval/4)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.mu.Lock()
			if !s.closing && s.opt.Now().Sub(s.lastCP) >= s.opt.Interval {
				if err := s.checkpoint(ReasonInterval, ""); err != nil {
					s.log.Error("integrity: checkpoint", "err", err)
					if s.cpErr == nil {
						s.cpErr = err
					}
				}
			}
			s.mu.Unlock()
		}
	}
}

// Close writes the shutdown checkpoint, then closes the sink (the shipper
// takes no document after its Close; the files are synced before the
// checkpoint by Sync).
func (s *Stage) Close() error {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	err := s.checkpoint(ReasonShutdown, "")
	if e := s.next.Close(); err == nil {
		err = e
	}
	if err == nil {
		err = s.cpErr
	}
	return err
}

// spoolStage is a Stage in front of a sink with a disk spool.
type spoolStage struct {
	*Stage
	sp spooler
}

// Spool gives documents that found the output queue full their leaves and
// hands them to the sink's spool (the spill goroutine calls this).
func (s *spoolStage) Spool(ds []record.Document) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tree.clone()
	out := make([]record.Document, 0, len(ds))
	for _, d := range ds {
		sd, err := s.seal(d, &t)
		if err != nil {
			s.log.Error("integrity: a spilled document cannot be sealed; it is lost", "err", err)
			continue
		}
		out = append(out, sd)
	}
	if err := s.sp.Spool(out); err != nil {
		return err // lost: their leaves go to the next documents
	}
	s.tree = t
	return nil
}
