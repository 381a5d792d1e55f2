package es

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esutil"

	"github.com/psmtap/psmtap/index/spool"
	"github.com/psmtap/psmtap/internal/record"
)

// signedMember starts the member index/integrity appends to a signed
// document (integrity.Member).
var signedMember = []byte(`,"psm.integrity":{`)

func (o Options) pipeline() string {
	if o.KeepSource {
		return "_none"
	}
	return ""
}

// Stats are the shipper's counters.
type Stats struct {
	Indexed      int64 // created by the cluster (201)
	Duplicates   int64 // already there (409 on create): a re-send of something delivered before
	Retried      int64 // requests re-sent after a 429, 5xx or connection failure
	Spooled      int64 // documents written to the spool
	FromSpool    int64 // spooled documents delivered later
	DeadLettered int64 // documents the cluster refused for good (mapping errors): in the dead-letter file
	Dropped      int64 // documents lost because the spool was full (said loudly)
	Waiting      int64 // documents in the spool now
}

func (s Stats) String() string {
	return fmt.Sprintf("indexed=%d duplicates=%d retried=%d spooled=%d from_spool=%d dead_lettered=%d dropped=%d waiting_in_spool=%d",
		s.Indexed, s.Duplicates, s.Retried, s.Spooled, s.FromSpool, s.DeadLettered, s.Dropped, s.Waiting)
}

// Options configure a Shipper.
type Options struct {
	Client        *elasticsearch.Client
	Index         string // data stream of session records (DataStream(namespace))
	ActivityIndex string // data stream of activity events (ActivityDataStream(namespace))
	AlertIndex    string // data stream of alerts (AlertDataStream(namespace))
	// IntegrityIndex is the data stream of signed checkpoints
	// (IntegrityDataStream(namespace); index/integrity).
	IntegrityIndex string
	Spool          *spool.Spool // required: where unacknowledged records go
	DeadLetter     string       // file for rejected documents (default <spool>/dead-letter.ndjson)
	Logger         *slog.Logger
	Workers        int           // bulk indexer workers (default 2)
	FlushBytes     int           // bulk request size (default 5 MB)
	FlushInterval  time.Duration // flush at least this often (default 1s)
	// DrainEvery: while running, try the spool again this often when it holds
	// records (0: only at New and Close).
	DrainEvery time.Duration
	// Retried is the counter the client built by NewClient increments.
	Retried *atomic.Int64
	// KeepSource sends documents past the data streams' default ingest
	// pipeline (pipeline=_none): signed output (--signing-key) must be stored
	// byte for byte, and a pipeline re-serializes _source (so such documents
	// have no event.ingested).
	KeepSource bool
}

// Shipper is an index.Sink that bulk-creates records in Elasticsearch.
type Shipper struct {
	opt Options
	log *slog.Logger
	bi  esutil.BulkIndexer

	indexed, dups, spooled, fromSpool, dead, dropped atomic.Int64
	retried                                          *atomic.Int64

	mu       sync.Mutex
	toSpool  []spool.Doc
	inflight map[uint64]spool.Doc
	seq      uint64
	dlMu     sync.Mutex
	dl       *os.File
	fullOnce sync.Once
	warned80 atomic.Bool

	lastFailed atomic.Bool // the last bulk request failed as a whole

	stop     chan struct{}
	drainWG  sync.WaitGroup
	closed   bool
	closeErr error
}

// New starts a shipper. It first sends what waits in the spool (a later run
// sends the earlier run's records first); if the cluster cannot be reached
// they stay there and New still succeeds.
func New(ctx context.Context, opt Options) (*Shipper, error) {
	if opt.Client == nil || opt.Spool == nil || opt.Index == "" {
		return nil, errors.New("es: Client, Spool and Index are required")
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	if opt.Workers <= 0 {
		opt.Workers = 2
	}
	if opt.FlushBytes <= 0 {
		opt.FlushBytes = 5 << 20
	}
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = time.Second
	}
	if opt.DeadLetter == "" {
		opt.DeadLetter = opt.Spool.Dir() + "/dead-letter.ndjson"
	}
	if opt.Retried == nil {
		opt.Retried = new(atomic.Int64)
	}
	s := &Shipper{opt: opt, log: opt.Logger, retried: opt.Retried, inflight: map[uint64]spool.Doc{}, stop: make(chan struct{})}
	if n := opt.Spool.Pending(); n > 0 {
		s.log.Info("sending records waiting in the spool first", "waiting", n, "spool", opt.Spool.Dir())
		s.DrainSpool(ctx)
	}
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        opt.Client,
		Pipeline:      opt.pipeline(),
		NumWorkers:    opt.Workers,
		FlushBytes:    opt.FlushBytes,
		FlushInterval: opt.FlushInterval,
		OnFlushStart:  withAttempts,
		OnFlushEnd:    func(context.Context) { s.flushToSpool() },
		OnError: func(_ context.Context, err error) {
			s.lastFailed.Store(true)
			s.log.Warn("bulk request failed; its records go to the spool", "err", err)
		},
	})
	if err != nil {
		return nil, err
	}
	s.bi = bi
	if opt.DrainEvery > 0 {
		s.drainWG.Add(1)
		go s.drainLoop()
	}
	return s, nil
}

// docFor builds the bulk document for a record or event: _id is its DocID
// (record.Document), the data stream the one of its dataset.
func docFor(r record.Document, index string) (spool.Doc, error) {
	body, err := r.MarshalJSON()
	if err != nil {
		return spool.Doc{}, fmt.Errorf("encoding %s %s: %w", r.Dataset(), r.DocID(), err)
	}
	return spool.Doc{Index: index, ID: r.DocID(), Body: body}, nil
}

// indexFor is the data stream a document goes to.
func (s *Shipper) indexFor(d record.Document) string {
	switch d.Dataset() {
	case record.DatasetActivity:
		if s.opt.ActivityIndex != "" {
			return s.opt.ActivityIndex
		}
	case record.DatasetAlert:
		if s.opt.AlertIndex != "" {
			return s.opt.AlertIndex
		}
	}
	return s.opt.Index
}

// Write implements index.Sink: the document is queued for the next bulk request.
func (s *Shipper) Write(r record.Document) error {
	d, err := docFor(r, s.indexFor(r))
	if err != nil {
		return err
	}
	return s.add(d)
}

// WriteCheckpoint implements integrity.CheckpointWriter: a signed
// checkpoint goes into the integrity data stream with _id id, through the
// same bulk indexer and spool as the documents it covers (never lost).
func (s *Shipper) WriteCheckpoint(id string, doc []byte) error {
	ix := s.opt.IntegrityIndex
	if ix == "" {
		return errors.New("es: no integrity data stream configured")
	}
	return s.add(spool.Doc{Index: ix, ID: id, Body: doc})
}

func (s *Shipper) add(d spool.Doc) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("es: shipper closed")
	}
	s.seq++
	n := s.seq
	s.inflight[n] = d
	s.mu.Unlock()
	err := s.bi.Add(context.Background(), esutil.BulkIndexerItem{
		Action:     "create",
		Index:      d.Index,
		DocumentID: d.ID,
		Body:       bytes.NewReader(d.Body),
		OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
			s.indexed.Add(1)
			s.lastFailed.Store(false)
			s.settle(n)
		},
		OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
			if err == nil {
				s.lastFailed.Store(false)
			}
			switch classify(res, err) {
			case outcomeDuplicate:
				s.dups.Add(1)
			case outcomeRetry:
				s.mu.Lock()
				s.toSpool = append(s.toSpool, d)
				s.mu.Unlock()
			case outcomeReject:
				s.deadLetter(d, res)
			}
			s.settle(n)
		},
	})
	if err != nil { // the indexer refused it: keep it on disk instead
		s.settle(n)
		s.mu.Lock()
		s.toSpool = append(s.toSpool, d)
		s.mu.Unlock()
		s.flushToSpool()
	}
	return nil
}

func (s *Shipper) settle(n uint64) {
	s.mu.Lock()
	delete(s.inflight, n)
	s.mu.Unlock()
}

type outcome int

const (
	outcomeOK outcome = iota
	outcomeDuplicate
	outcomeRetry
	outcomeReject
)

// classify decides what a failed bulk item means. A request that failed as a
// whole (connection, timeout, 429/5xx after the client's retries) reaches
// here with err set.
func classify(res esutil.BulkIndexerResponseItem, err error) outcome {
	switch {
	case err != nil:
		return outcomeRetry
	case res.Status == 409:
		return outcomeDuplicate
	case res.Status == 429 || res.Status >= 500 || res.Status == 0:
		return outcomeRetry
	case res.Status == 408:
		return outcomeRetry
	}
	return outcomeReject
}

// flushToSpool writes the records that failed in the last flush to the spool
// as one block (one fsync).
func (s *Shipper) flushToSpool() {
	s.mu.Lock()
	docs := s.toSpool
	s.toSpool = nil
	s.mu.Unlock()
	if len(docs) == 0 {
		return
	}
	s.spoolDocs(docs)
}

// Spool writes documents straight to the spool, as one block, without
// trying the cluster: the output queue sends here what it has no room for
// while the cluster is slow (the periodic drain delivers them later). It
// returns an error when they are lost (the spool full or unwritable), after
// saying so.
func (s *Shipper) Spool(ds []record.Document) error {
	docs := make([]spool.Doc, 0, len(ds))
	for _, r := range ds {
		d, err := docFor(r, s.indexFor(r))
		if err != nil {
			s.log.Error("cannot encode a document for the spool; it is lost", "err", err)
			s.dropped.Add(1)
			continue
		}
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		return nil
	}
	return s.spoolDocs(docs)
}

func (s *Shipper) spoolDocs(docs []spool.Doc) error {
	sp := s.opt.Spool
	err := sp.Append(docs)
	switch {
	case err == nil:
		s.spooled.Add(int64(len(docs)))
		if !s.warned80.Load() && sp.Size() > sp.MaxBytes()/10*8 {
			s.warned80.Store(true)
			s.log.Warn("spool is 80% full: Elasticsearch has not taken records for a while", "spool", sp.Dir(), "bytes", sp.Size(), "max", sp.MaxBytes())
		}
	case errors.Is(err, spool.ErrFull):
		s.dropped.Add(int64(len(docs)))
		s.log.Error("SPOOL FULL: RECORDS ARE BEING LOST (Elasticsearch unreachable and the spool at its size bound; raise --spool-max or fix the cluster)",
			"lost_now", len(docs), "lost_total", s.dropped.Load(), "spool", sp.Dir(), "max", sp.MaxBytes())
	default:
		s.dropped.Add(int64(len(docs)))
		s.log.Error("SPOOL WRITE FAILED: RECORDS ARE BEING LOST", "err", err, "lost_now", len(docs))
	}
	return err
}

// deadLetter appends a refused document with the reason to the dead-letter
// file (fsynced: it is the only copy).
func (s *Shipper) deadLetter(d spool.Doc, res esutil.BulkIndexerResponseItem) {
	s.dead.Add(1)
	line, _ := json.Marshal(map[string]any{
		"@timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"index":      d.Index,
		"_id":        d.ID,
		"status":     res.Status,
		"error":      map[string]any{"type": res.Error.Type, "reason": res.Error.Reason},
		"document":   json.RawMessage(d.Body),
	})
	s.dlMu.Lock()
	defer s.dlMu.Unlock()
	if s.dl == nil {
		f, err := os.OpenFile(s.opt.DeadLetter, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			s.log.Error("dead-letter file", "err", err, "id", d.ID)
			return
		}
		s.dl = f
	}
	s.dl.Write(append(line, '\n'))
	s.dl.Sync()
	s.log.Warn("Elasticsearch refused a record; kept in the dead-letter file", "id", d.ID, "status", res.Status,
		"type", res.Error.Type, "reason", res.Error.Reason, "file", s.opt.DeadLetter)
}

// DrainSpool sends what waits in the spool, oldest first, and stops at the
// first block the cluster does not take.
func (s *Shipper) DrainSpool(ctx context.Context) (int, error) {
	n, err := s.opt.Spool.Drain(func(docs []spool.Doc) error { return s.sendBlock(ctx, docs) })
	if n > 0 {
		s.log.Info("delivered records from the spool", "records", n, "still_waiting", s.opt.Spool.Pending())
	}
	return n, err
}

var errNotTaken = errors.New("the cluster did not take every record of the block")

// sendBlock bulk-creates one spool block and returns nil when every document
// is settled: created, already there (409), or dead-lettered.
func (s *Shipper) sendBlock(ctx context.Context, docs []spool.Doc) error {
	pipeline := s.opt.pipeline()
	for _, d := range docs {
		// A spooled signed document (psmtap spool drains without knowing
		// whether --signing-key was used): keep its bytes.
		if bytes.Contains(d.Body, signedMember) {
			pipeline = "_none"
			break
		}
	}
	bi, err := esutil.NewBulkIndexer(esutil.BulkIndexerConfig{
		Client:        s.opt.Client,
		Pipeline:      pipeline,
		NumWorkers:    1,
		FlushBytes:    s.opt.FlushBytes,
		FlushInterval: time.Hour,
		OnFlushStart:  withAttempts,
	})
	if err != nil {
		return err
	}
	var settled, indexed, dups atomic.Int64
	var failed atomic.Bool
	for _, d := range docs {
		d := d
		err := bi.Add(ctx, esutil.BulkIndexerItem{
			Action: "create", Index: d.Index, DocumentID: d.ID, Body: bytes.NewReader(d.Body),
			OnSuccess: func(context.Context, esutil.BulkIndexerItem, esutil.BulkIndexerResponseItem) {
				indexed.Add(1)
				settled.Add(1)
			},
			OnFailure: func(_ context.Context, _ esutil.BulkIndexerItem, res esutil.BulkIndexerResponseItem, err error) {
				switch classify(res, err) {
				case outcomeDuplicate:
					dups.Add(1)
					settled.Add(1)
				case outcomeReject:
					s.deadLetter(d, res)
					settled.Add(1)
				default:
					failed.Store(true)
				}
			},
		})
		if err != nil {
			failed.Store(true)
			break
		}
	}
	bi.Close(context.Background())
	if failed.Load() || settled.Load() != int64(len(docs)) {
		return errNotTaken
	}
	s.fromSpool.Add(int64(len(docs)))
	s.indexed.Add(indexed.Load())
	s.dups.Add(dups.Load())
	return nil
}

func (s *Shipper) drainLoop() {
	defer s.drainWG.Done()
	t := time.NewTicker(s.opt.DrainEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if s.opt.Spool.Pending() > 0 {
				s.DrainSpool(context.Background())
			}
		}
	}
}

// Flush sends what is queued now and waits for the answers.
func (s *Shipper) Flush() error {
	err := s.bi.Flush(context.Background())
	s.flushToSpool()
	return err
}

// Close sends what is queued, spools whatever the cluster did not take, makes
// one more attempt at the spool, and returns an error only when records were
// lost (the spool full or unwritable).
func (s *Shipper) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closeErr
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.drainWG.Wait()
	s.bi.Close(context.Background())
	s.flushToSpool()
	// Anything the indexer never reported on (it should not happen) is kept too.
	s.mu.Lock()
	var orphans []spool.Doc
	for _, d := range s.inflight {
		orphans = append(orphans, d)
	}
	s.inflight = map[uint64]spool.Doc{}
	s.mu.Unlock()
	if len(orphans) > 0 {
		s.log.Warn("records without an answer from the bulk indexer: spooled", "records", len(orphans))
		s.spoolDocs(orphans)
	}
	if s.opt.Spool.Pending() > 0 && !s.lastFailed.Load() {
		// The cluster answered the last request (it refused some items, 429
		// from a busy cluster, or came back): worth one more try now.
		s.DrainSpool(context.Background())
	}
	s.dlMu.Lock()
	if s.dl != nil {
		s.dl.Close()
		s.dl = nil
	}
	s.dlMu.Unlock()
	if n := s.dropped.Load(); n > 0 {
		s.closeErr = fmt.Errorf("%d records lost: the spool in %s was full or could not be written", n, s.opt.Spool.Dir())
	}
	return s.closeErr
}

// Stats returns the counters.
func (s *Shipper) Stats() Stats {
	return Stats{
		Indexed: s.indexed.Load(), Duplicates: s.dups.Load(), Retried: s.retried.Load(),
		Spooled: s.spooled.Load(), FromSpool: s.fromSpool.Load(), DeadLettered: s.dead.Load(),
		Dropped: s.dropped.Load(), Waiting: s.opt.Spool.Pending(),
	}
}
