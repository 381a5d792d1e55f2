// Package spool keeps documents on disk while Elasticsearch cannot take them.
//
// A spool is a directory of segment files, written in order and read in
// order. Each segment is a sequence of blocks; one block holds one batch of
// documents appended together:
//
//	magic   [4]byte  "PSB1"
//	length  uint32   little endian: bytes of the compressed payload
//	count   uint32   documents in the block
//	crc     uint32   CRC-32C (Castagnoli) of the compressed payload
//	payload          one zstd frame; inside, per document:
//	                 uvarint len + index name, uvarint len + _id, uvarint len + JSON body
//
// Durability: Append writes the whole block and fsyncs the file (and, for a
// new segment, the directory) before it returns, so a document Append has
// acknowledged survives a crash or a power cut. A crash in the middle of an
// Append leaves at most a torn block at the end of the last segment (the one
// being written); Open cuts it off (nothing in it was ever acknowledged), and
// a failed write cuts its own partial block. Only that segment can end torn:
// a bad block anywhere else, in the middle or at the end of a sealed
// segment, is corruption. Then every intact block around the damage is still
// delivered (the reader finds the next valid block by scanning for a header
// whose checksum holds), the records of the damaged blocks are counted as
// lost (Losses), and the file is kept as *.corrupt, never deleted.
//
// Draining reads the oldest segment first. The number of blocks already
// delivered is kept in a small "<segment>.ack" file so a drain interrupted
// half way does not start the segment again from the top; the ack file is
// written without fsync, because sending a block twice is harmless (documents
// carry their _id and are created with op_type create: the second copy is a
// 409, counted as already delivered). A fully delivered segment is deleted.
//
// The spool is bounded (MaxBytes of segment files on disk). Append refuses a
// batch that would cross the bound with ErrFull; the caller must say loudly
// that records are being lost.
//
// One process at a time: Open takes an exclusive lock (flock) on DIR/lock.
package spool

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/klauspost/compress/zstd"
)

// Doc is one document waiting for Elasticsearch.
type Doc struct {
	Index string // data stream or index to create it in
	ID    string // _id; created with op_type create
	Body  []byte // the JSON source
}

// ErrFull is returned by Append when the spool has reached its size bound.
var ErrFull = errors.New("spool full")

// ErrLocked is returned by Open when another process holds the spool.
var ErrLocked = errors.New("spool in use by another psmtap process")

const (
	magic       = "PSB1"
	headerLen   = 16
	segPrefix   = "seg-"
	segSuffix   = ".psb"
	maxBlockLen = 256 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Options tune a spool.
type Options struct {
	MaxBytes     int64 // bound on segment files on disk; default 1 GiB
	SegmentBytes int64 // start a new segment past this size; default 64 MiB
}

// Spool is an open spool directory.
type Spool struct {
	dir  string
	opt  Options
	lock *os.File

	drainMu sync.Mutex // one drain at a time
	mu      sync.Mutex
	enc     *zstd.Encoder
	dec     *zstd.Decoder
	active  *os.File // segment being appended to, nil until the first Append
	actName string
	actSize int64
	nextSeq uint64
	size    int64 // bytes of segment files on disk
	pending int64 // documents not yet delivered (approximate after a crash: counted on Open)
	losses  Losses
}

// Losses says what drains found damaged: segments set aside as *.corrupt
// and the records in them that could not be recovered.
type Losses struct {
	Segments int
	Docs     int // records in damaged blocks (as their headers say)
	Unknown  int // damaged stretches whose header was unreadable: records not countable
}

// Open opens (creating if needed) the spool in dir and locks it.
func Open(dir string, opt Options) (*Spool, error) {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = 1 << 30
	}
	if opt.SegmentBytes <= 0 {
		opt.SegmentBytes = 64 << 20
	}
	if opt.SegmentBytes > opt.MaxBytes {
		opt.SegmentBytes = opt.MaxBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
	}
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest))
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	s := &Spool{dir: dir, opt: opt, lock: lf, enc: enc, dec: dec}
	segs, err := s.segments()
	if err != nil {
		s.Close()
		return nil, err
	}
	for i, sg := range segs {
		last := i == len(segs)-1
		path := filepath.Join(dir, sg.name)
		st, err := statSegment(path, s.dec, last)
		if err == nil && last && st.Torn {
			// The segment being written when the process died: cut the
			// block it was writing, so that the segment reads clean once it
			// is no longer the last.
			if os.Truncate(path, st.GoodBytes) == nil {
				sg.size = st.GoodBytes
			}
		}
		s.size += sg.size
		if sg.seq >= s.nextSeq {
			s.nextSeq = sg.seq + 1
		}
		if err == nil {
			s.pending += int64(st.Docs - st.AckedDocs)
		}
	}
	if s.nextSeq == 0 {
		s.nextSeq = 1
	}
	return s, nil
}

// Dir is the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// MaxBytes is the size bound.
func (s *Spool) MaxBytes() int64 { return s.opt.MaxBytes }

type segment struct {
	name string
	seq  uint64
	size int64
}

func (s *Spool) segments() ([]segment, error) { return listSegments(s.dir) }

func listSegments(dir string) ([]segment, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	var out []segment
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, segPrefix) || !strings.HasSuffix(n, segSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, segment{name: n, seq: seq, size: info.Size()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out, nil
}

func segName(seq uint64) string { return fmt.Sprintf("%s%016d%s", segPrefix, seq, segSuffix) }

// encodeBlock builds one block from docs.
func encodeBlock(enc *zstd.Encoder, docs []Doc) []byte {
	var raw []byte
	for _, d := range docs {
		raw = binary.AppendUvarint(raw, uint64(len(d.Index)))
		raw = append(raw, d.Index...)
		raw = binary.AppendUvarint(raw, uint64(len(d.ID)))
		raw = append(raw, d.ID...)
		raw = binary.AppendUvarint(raw, uint64(len(d.Body)))
		raw = append(raw, d.Body...)
	}
	out := make([]byte, headerLen, headerLen+len(raw)/4+64)
	out = enc.EncodeAll(raw, out)
	copy(out, magic)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(out)-headerLen))
	binary.LittleEndian.PutUint32(out[8:], uint32(len(docs)))
	binary.LittleEndian.PutUint32(out[12:], crc32.Checksum(out[headerLen:], castagnoli))
	return out
}

// Append writes docs as one block and fsyncs before returning. On ErrFull
// nothing was written.
func (s *Spool) Append(docs []Doc) error {
	if len(docs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	blk := encodeBlock(s.enc, docs)
	if s.size+int64(len(blk)) > s.opt.MaxBytes {
		return ErrFull
	}
	if s.active != nil && s.actSize+int64(len(blk)) > s.opt.SegmentBytes {
		s.sealLocked()
	}
	if s.active == nil {
		name := segName(s.nextSeq)
		f, err := os.OpenFile(filepath.Join(s.dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.nextSeq++
		if err := syncDir(s.dir); err != nil {
			f.Close()
			return fmt.Errorf("spool: %w", err)
		}
		s.active, s.actName, s.actSize = f, name, 0
	}
	if _, err := s.active.Write(blk); err != nil {
		// Cut the partial block: a sealed segment must not end torn. Should
		// that fail too, the drain will take it for damage and say so.
		s.active.Truncate(s.actSize)
		s.sealLocked()
		return fmt.Errorf("spool: %w", err)
	}
	if err := s.active.Sync(); err != nil {
		s.sealLocked()
		return fmt.Errorf("spool: %w", err)
	}
	s.actSize += int64(len(blk))
	s.size += int64(len(blk))
	s.pending += int64(len(docs))
	return nil
}

func (s *Spool) sealLocked() {
	if s.active != nil {
		s.active.Close()
		s.active = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Pending is the number of documents waiting in the spool.
func (s *Spool) Pending() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Size is the bytes of segment files on disk.
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Losses says what the drains so far found damaged.
func (s *Spool) Losses() Losses {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.losses
}

// Close releases the spool (and its lock).
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealLocked()
	if s.lock != nil {
		s.lock.Close() // releases the flock
		s.lock = nil
	}
	return nil
}

// Drain hands every waiting block to send, oldest first. When send returns
// nil the block is delivered (acknowledged or dead-lettered by the caller);
// when it returns an error Drain stops there and returns that error: the
// block and those after it stay for the next drain. Appends may go on
// concurrently; they land in a new segment that this drain does not read.
func (s *Spool) Drain(send func([]Doc) error) (delivered int, err error) {
	s.drainMu.Lock()
	defer s.drainMu.Unlock()
	s.mu.Lock()
	s.sealLocked() // what was appended so far becomes drainable
	segs, err := s.segments()
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	for _, sg := range segs {
		n, err := s.drainSegment(sg, send)
		delivered += n
		if err != nil {
			return delivered, err
		}
	}
	return delivered, nil
}

func (s *Spool) drainSegment(sg segment, send func([]Doc) error) (int, error) {
	path := filepath.Join(s.dir, sg.name)
	acked := readAck(path)
	delivered := 0
	// Every segment a drain reads is sealed (Drain sealed the active one;
	// Open cut a crash's torn block): any bad block is damage.
	st, err := walkSegment(path, s.dec, false, acked, func(slot int, docs []Doc) error {
		if slot < acked {
			return nil
		}
		if err := send(docs); err != nil {
			return err
		}
		delivered += len(docs)
		s.mu.Lock()
		s.pending -= int64(len(docs))
		s.mu.Unlock()
		writeAck(path, slot+1)
		return nil
	})
	if err != nil {
		if errors.Is(err, errSend) {
			err = errors.Unwrap(err)
		} else {
			err = fmt.Errorf("spool: %w", err)
		}
		return delivered, err
	}
	if st.Damaged {
		// Keep the file for a person; what could be read is delivered.
		os.Rename(path, path+".corrupt")
		os.Remove(path + ".ack")
		s.mu.Lock()
		s.size -= sg.size
		s.losses.Segments++
		s.losses.Docs += st.LostDocs
		s.losses.Unknown += st.LostUnknown
		s.mu.Unlock()
		return delivered, nil
	}
	if err := os.Remove(path); err != nil {
		return delivered, fmt.Errorf("spool: %w", err)
	}
	os.Remove(path + ".ack")
	s.mu.Lock()
	s.size -= sg.size
	s.mu.Unlock()
	return delivered, nil
}

func readAck(path string) int {
	b, err := os.ReadFile(path + ".ack")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func writeAck(path string, n int) {
	tmp := path + ".ack.tmp"
	if os.WriteFile(tmp, []byte(strconv.Itoa(n)+"\n"), 0o600) == nil {
		os.Rename(tmp, path+".ack")
	}
}

var (
	errTorn    = errors.New("torn block at end of segment")
	errCorrupt = errors.New("damaged block")
)

type blockReader struct {
	r   *bufio.Reader
	dec *zstd.Decoder
	hdr [headerLen]byte
	buf []byte
	raw []byte
	off int64 // bytes of whole, good blocks read so far
}

// next reads one block. io.EOF at a clean end; errTorn when the segment ends
// inside a block; errCorrupt when a complete block fails its checks.
func (br *blockReader) next() ([]Doc, error) {
	n, err := io.ReadFull(br.r, br.hdr[:])
	if err == io.EOF {
		return nil, io.EOF
	}
	if err != nil {
		if n > 0 {
			return nil, errTorn
		}
		return nil, err
	}
	if string(br.hdr[:4]) != magic {
		return nil, errCorrupt
	}
	ln := binary.LittleEndian.Uint32(br.hdr[4:])
	count := binary.LittleEndian.Uint32(br.hdr[8:])
	sum := binary.LittleEndian.Uint32(br.hdr[12:])
	if ln > maxBlockLen {
		return nil, errCorrupt
	}
	if cap(br.buf) < int(ln) {
		br.buf = make([]byte, ln)
	}
	br.buf = br.buf[:ln]
	if _, err := io.ReadFull(br.r, br.buf); err != nil {
		return nil, errTorn
	}
	if crc32.Checksum(br.buf, castagnoli) != sum {
		// A bad checksum on the very last block is a torn write too.
		if _, err := br.r.Peek(1); err == io.EOF {
			return nil, errTorn
		}
		return nil, errCorrupt
	}
	docs, raw, err := decodeDocs(br.dec, br.buf, count, br.raw[:0])
	br.raw = raw
	if err != nil {
		return nil, err
	}
	br.off += headerLen + int64(ln)
	return docs, nil
}

// decodeDocs decompresses a block's payload and splits it into documents.
func decodeDocs(dec *zstd.Decoder, payload []byte, count uint32, raw []byte) ([]Doc, []byte, error) {
	raw, err := dec.DecodeAll(payload, raw)
	if err != nil {
		return nil, raw, errCorrupt
	}
	docs := make([]Doc, 0, min(count, 1<<16))
	p := raw
	field := func() ([]byte, bool) {
		l, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < l {
			return nil, false
		}
		v := p[k : k+int(l)]
		p = p[k+int(l):]
		return v, true
	}
	for i := uint32(0); i < count; i++ {
		idx, ok1 := field()
		id, ok2 := field()
		body, ok3 := field()
		if !ok1 || !ok2 || !ok3 {
			return nil, raw, errCorrupt
		}
		docs = append(docs, Doc{Index: string(idx), ID: string(id), Body: append([]byte(nil), body...)})
	}
	return docs, raw, nil
}

// parseBlock reads the block at the start of b if it is whole and good.
func parseBlock(dec *zstd.Decoder, b []byte) ([]Doc, int, bool) {
	if len(b) < headerLen || string(b[:4]) != magic {
		return nil, 0, false
	}
	ln := binary.LittleEndian.Uint32(b[4:])
	if ln > maxBlockLen || int64(len(b)-headerLen) < int64(ln) {
		return nil, 0, false
	}
	payload := b[headerLen : headerLen+int(ln)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[12:]) {
		return nil, 0, false
	}
	docs, _, err := decodeDocs(dec, payload, binary.LittleEndian.Uint32(b[8:]), nil)
	if err != nil {
		return nil, 0, false
	}
	return docs, headerLen + int(ln), true
}

// maxClaimedDocs bounds the count a damaged block's header may claim before
// it is taken for damage itself.
const maxClaimedDocs = 1 << 24

// errSend marks an error of the caller's function, to tell it from a read error.
var errSend = errors.New("send")

type sendError struct{ err error }

func (e sendError) Error() string   { return e.err.Error() }
func (e sendError) Unwrap() error   { return e.err }
func (e sendError) Is(t error) bool { return t == errSend }

// walkSegment calls fn for every good block of a segment, in order, with its
// slot (position among the blocks; a damaged stretch takes one slot). Only
// when last (the segment being written) may it end in a torn block; in any
// other segment a bad block is damage: the rest of the file is scanned for
// the next good block, and the records the damaged blocks' headers claim
// are counted as lost, except in slots before acked (delivered already).
func walkSegment(path string, dec *zstd.Decoder, last bool, acked int, fn func(slot int, docs []Doc) error) (segStat, error) {
	var st segStat
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	r := &blockReader{r: bufio.NewReaderSize(f, 1<<20), dec: dec}
	slot := 0
	for ; ; slot++ {
		docs, err := r.next()
		if err == io.EOF {
			st.GoodBytes = r.off
			return st, nil
		}
		if errors.Is(err, errTorn) && last {
			st.Torn, st.GoodBytes = true, r.off
			return st, nil
		}
		if errors.Is(err, errTorn) || errors.Is(err, errCorrupt) {
			break
		}
		if err != nil {
			return st, err
		}
		if err := fn(slot, docs); err != nil {
			return st, sendError{err}
		}
	}
	// Damage at r.off: read the rest whole and scan it.
	st.Damaged = true
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	for p := int(r.off); p < len(b); slot++ {
		if docs, n, ok := parseBlock(dec, b[p:]); ok {
			if err := fn(slot, docs); err != nil {
				return st, sendError{err}
			}
			p += n
			continue
		}
		// A damaged stretch: up to the next header that opens a good block,
		// or to the next header at all (a second damaged block: its own slot).
		next := len(b)
		if i := bytes.Index(b[p+1:], []byte(magic)); i >= 0 {
			next = p + 1 + i
		}
		if slot >= acked {
			claimed := -1
			if len(b)-p >= headerLen && string(b[p:p+4]) == magic {
				if c := binary.LittleEndian.Uint32(b[p+8:]); c <= maxClaimedDocs {
					claimed = int(c)
				}
			}
			if claimed >= 0 {
				st.LostDocs += claimed
			} else {
				st.LostUnknown++
			}
		}
		p = next
	}
	return st, nil
}

// Status describes a spool without locking it (safe while another process
// appends or drains).
type Status struct {
	Dir         string
	Segments    int
	Bytes       int64
	Docs        int // documents waiting
	Corrupt     int // segments damaged: set aside as *.corrupt, or waiting with damage in them
	Lost        int // records in damaged blocks: they cannot be recovered
	LostUnknown int // damaged stretches whose record count cannot be read
	TornTails   int // the last segment ends in a torn block (a crash, or an append under way)
	Oldest      string
}

type segStat struct {
	Docs, AckedDocs int
	Torn            bool  // ends in a torn block (only the last segment may)
	GoodBytes       int64 // length up to the end of the last good block before any damage
	Damaged         bool
	LostDocs        int // records in damaged blocks (their headers' count), past the ack
	LostUnknown     int // damaged stretches without a readable count
}

func statSegment(path string, dec *zstd.Decoder, last bool) (segStat, error) {
	acked := readAck(path)
	var docs, ackedDocs int
	st, err := walkSegment(path, dec, last, acked, func(slot int, d []Doc) error {
		docs += len(d)
		if slot < acked {
			ackedDocs += len(d)
		}
		return nil
	})
	st.Docs, st.AckedDocs = docs, ackedDocs
	return st, err
}

// Stat reads the spool in dir and counts what waits there.
func Stat(dir string) (Status, error) {
	st := Status{Dir: dir}
	segs, err := listSegments(dir)
	if err != nil {
		return st, err
	}
	dec, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	defer dec.Close()
	for i, sg := range segs {
		ss, err := statSegment(filepath.Join(dir, sg.name), dec, i == len(segs)-1)
		if err != nil && !errors.Is(err, os.ErrNotExist) || ss.Damaged {
			st.Corrupt++
		}
		st.Lost += ss.LostDocs
		st.LostUnknown += ss.LostUnknown
		st.Segments++
		st.Bytes += sg.size
		st.Docs += ss.Docs - ss.AckedDocs
		if ss.Torn {
			st.TornTails++
		}
		if st.Oldest == "" {
			st.Oldest = sg.name
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".corrupt") {
			st.Corrupt++
			// Its good blocks were delivered; its damaged ones are lost.
			ss, _ := walkSegment(filepath.Join(dir, e.Name()), dec, false, 0, func(int, []Doc) error { return nil })
			st.Lost += ss.LostDocs
			st.LostUnknown += ss.LostUnknown
		}
	}
	return st, nil
}
