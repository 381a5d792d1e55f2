package integrity

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Kinds of Problem.
const (
	Unsigned        = "unsigned"          // a document without psm.integrity
	Malformed       = "malformed"         // psm.integrity not as psmtap writes it, a line that is no JSON object
	Changed         = "changed"           // a document's bytes do not hash to its leaf
	Removed         = "removed"           // leaves missing (documents deleted, a file deleted or cut short)
	Duplicated      = "duplicated"        // two documents at one leaf
	Reordered       = "reordered"         // a document after one with a higher leaf index
	Truncated       = "truncated"         // a file that ends in the middle (cut, or not finished)
	RecordingGone   = "recording-missing" // a recording a record names is not there
	RecordingChange = "recording-changed" // a recording's bytes are not those signed
	BadSignature    = "bad-signature"     // a checkpoint whose signature does not verify
	UnknownKey      = "unknown-key"       // a checkpoint signed by another key
	Mismatch        = "tree-mismatch"     // a checkpoint's root is not the root of the documents
	RolledBack      = "rolled-back"       // a checkpoint smaller than the one before it
	Fork            = "fork"              // checkpoints that cannot be of one append-only log
	Gap             = "gap"               // no checkpoint for longer than the interval allows
	NoEnd           = "no-shutdown"       // the log has no shutdown checkpoint (its end removed, or a crash)
	NoStart         = "no-start"          // the log's start checkpoint is missing
	Uncovered       = "uncovered"         // documents after the last checkpoint
)

// Problem is one thing found wrong.
type Problem struct {
	Kind   string
	Where  string // file:line, index/_id, a recording's path
	Detail string
}

func (p Problem) String() string {
	if p.Where == "" {
		return p.Kind + ": " + p.Detail
	}
	return p.Kind + ": " + p.Where + ": " + p.Detail
}

// Report is the outcome of a verification.
type Report struct {
	Documents  int
	Recordings int
	// RecordingsUnchecked counts recordings the records name that were not
	// looked for (Finish without a way to find them).
	RecordingsUnchecked int
	Checkpoints         int
	// HashOnly counts the documents of which only psm.integrity was read
	// (verify --since: written before the boundary); they are in Documents.
	HashOnly int
	Logs     []LogSummary
	Problems []Problem
}

// OK says whether everything checked.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// LogSummary describes one log (one run of psmtap).
type LogSummary struct {
	ID          string
	Leaves      int64
	Checkpoints int
	First, Last time.Time
	Closed      bool // ends with a shutdown checkpoint
}

// Verifier collects documents, recordings and checkpoints, then checks
// them against each other (Finish). It is not safe for concurrent use.
type Verifier struct {
	known note.Verifiers
	// GapAfter: consecutive checkpoints further apart than this are a gap
	// (default 2.5 times DefaultInterval).
	GapAfter time.Duration
	// NoOrder: documents come in no particular order (Elasticsearch), so
	// their order is not checked; leaf indexes place them.
	NoOrder bool
	// Files: documents come from the -w files themselves (Source names them
	// by base name), so a file a rotation checkpoint names must be there.
	Files bool

	sources []string
	logs    map[string]*logState
	order   []string
	rep     Report
}

type leafEntry struct {
	idx  int64
	hash tlog.Hash
	src  int32 // index in sources; -1: a recording
	line int64 // line in src; for a recording, the index in recs
}

type recording struct {
	path, session string
	leaf          int64
	hash          tlog.Hash
	where         string
}

type cpEntry struct {
	c     *Checkpoint
	where string
}

type logState struct {
	id       string
	leaves   []leafEntry
	recs     []recording
	cps      []cpEntry
	lastIdx  int64
	lastWhen string
}

// NewVerifier checks checkpoints against the verifier key v.
func NewVerifier(v note.Verifier) *Verifier {
	return &Verifier{known: note.VerifierList(v), GapAfter: DefaultInterval * 5 / 2, logs: map[string]*logState{}}
}

// Source registers where documents come from (a file name, an index) and
// returns its number for AddDocument.
func (v *Verifier) Source(name string) int {
	v.sources = append(v.sources, name)
	return len(v.sources) - 1
}

func (v *Verifier) problem(kind, where, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, Problem{Kind: kind, Where: where, Detail: fmt.Sprintf(format, args...)})
}

// Problem records a problem found by the caller (a file cut short).
func (v *Verifier) Problem(kind, where, format string, args ...any) {
	v.problem(kind, where, format, args...)
}

func (v *Verifier) where(src int32, line int64) string {
	if src < 0 {
		return "recording"
	}
	if line <= 0 {
		return v.sources[src]
	}
	return fmt.Sprintf("%s:%d", v.sources[src], line)
}

func (v *Verifier) log(id string) *logState {
	l := v.logs[id]
	if l == nil {
		l = &logState{id: id, lastIdx: -1}
		v.logs[id] = l
		v.order = append(v.order, id)
	}
	return l
}

// AddDocument takes one written document: src from Source, line its line
// number there (0 when it has none, as in Elasticsearch).
func (v *Verifier) AddDocument(src int, line int64, b []byte) {
	v.rep.Documents++
	where := v.where(int32(src), line)
	m, _, err := Open(b)
	switch {
	case errors.Is(err, ErrUnsealed):
		v.problem(Unsigned, where, "no %s member: written without a signing key, or not by psmtap", Member)
		return
	case errors.Is(err, ErrChanged):
		// The claimed hash goes into the tree: if only the bytes were changed
		// the checkpoints still hold, and this is the one precise report.
		v.problem(Changed, where, "leaf %d of log %s: %v (it was changed after it was written)", m.LeafIndex, m.LogID, err)
	case err != nil:
		v.problem(Malformed, where, "%v", err)
		return
	}
	l := v.log(m.LogID)
	if m.LeafIndex <= l.lastIdx && !v.NoOrder {
		v.problem(Reordered, where, "leaf %d of log %s comes after leaf %d (%s)", m.LeafIndex, m.LogID, l.lastIdx, l.lastWhen)
	}
	l.lastIdx, l.lastWhen = max(l.lastIdx, m.LeafIndex), where
	l.leaves = append(l.leaves, leafEntry{idx: m.LeafIndex, hash: m.LeafHash, src: int32(src), line: line})
	if m.RecordingLeafIndex > 0 {
		var d struct {
			PSM struct {
				SessionID string `json:"session_id"`
				Recording *struct {
					Path string `json:"path"`
				} `json:"recording"`
			} `json:"psm"`
		}
		if json.Unmarshal(b, &d) != nil || d.PSM.Recording == nil || d.PSM.Recording.Path == "" {
			v.problem(Malformed, where, "names recording leaf %d but no psm.recording.path", m.RecordingLeafIndex)
			return
		}
		l.recs = append(l.recs, recording{path: d.PSM.Recording.Path, session: d.PSM.SessionID, leaf: m.RecordingLeafIndex, hash: m.RecordingLeafHash, where: where})
		l.leaves = append(l.leaves, leafEntry{idx: m.RecordingLeafIndex, hash: m.RecordingLeafHash, src: -1, line: int64(len(l.recs) - 1)})
		if m.RecordingLeafIndex > l.lastIdx {
			l.lastIdx = m.RecordingLeafIndex
		}
	}
}

// SignedBefore is the largest tree size of a checkpoint of log id whose
// signature verified and whose signed time is before t (0 when none): every
// leaf below it was written before t. Call it after all AddCheckpoint.
func (v *Verifier) SignedBefore(id string, t time.Time) int64 {
	var n int64
	if l := v.logs[id]; l != nil {
		for _, cp := range l.cps {
			if cp.c.Time.Before(t) {
				n = max(n, cp.c.Size)
			}
		}
	}
	return n
}

// AddLeafHash takes a document of which only its psm.integrity member was
// read (src: that member alone, as _source filtering gives it, dotted or as
// an object). Its leaf hash (and its recording's) goes into the tree as
// claimed: the tree and the checkpoints are checked, the content is not.
func (v *Verifier) AddLeafHash(where string, src []byte) {
	v.rep.Documents++
	v.rep.HashOnly++
	m, err := LeafMeta(src)
	if err != nil {
		v.problem(Malformed, where, "%v", err)
		return
	}
	s := int32(v.Source(where))
	l := v.log(m.LogID)
	l.lastIdx = max(l.lastIdx, m.LeafIndex, m.RecordingLeafIndex)
	l.leaves = append(l.leaves, leafEntry{idx: m.LeafIndex, hash: m.LeafHash, src: s})
	if m.RecordingLeafIndex > 0 {
		// The recording is not looked at: named by the document that names it.
		l.leaves = append(l.leaves, leafEntry{idx: m.RecordingLeafIndex, hash: m.RecordingLeafHash, src: s})
	}
}

// LeafMeta reads psm.integrity from a filtered _source: {"psm.integrity":
// {...}} as written, or {"psm":{"integrity":{...}}}.
func LeafMeta(src []byte) (Meta, error) {
	type member struct {
		LogID              string `json:"log_id"`
		LeafIndex          *int64 `json:"leaf_index"`
		LeafHash           string `json:"leaf_hash"`
		RecordingLeafIndex int64  `json:"recording_leaf_index"`
		RecordingLeafHash  string `json:"recording_leaf_hash"`
	}
	var d struct {
		Dotted *member `json:"psm.integrity"`
		PSM    struct {
			Integrity *member `json:"integrity"`
		} `json:"psm"`
	}
	var m Meta
	if err := json.Unmarshal(src, &d); err != nil {
		return m, fmt.Errorf("%s: %v", errMalformed, err)
	}
	in := d.Dotted
	if in == nil {
		in = d.PSM.Integrity
	}
	if in == nil {
		return m, ErrUnsealed
	}
	var ok bool
	if !validLogID(in.LogID) || in.LeafIndex == nil || *in.LeafIndex < 0 {
		return m, errMalformed
	}
	m.LogID, m.LeafIndex = in.LogID, *in.LeafIndex
	if m.LeafHash, _, ok = hexHash([]byte(in.LeafHash)); !ok || len(in.LeafHash) != 64 {
		return m, errMalformed
	}
	if in.RecordingLeafIndex != 0 {
		m.RecordingLeafIndex = in.RecordingLeafIndex
		if m.RecordingLeafHash, _, ok = hexHash([]byte(in.RecordingLeafHash)); !ok || len(in.RecordingLeafHash) != 64 || m.RecordingLeafIndex < 0 {
			return m, errMalformed
		}
	}
	return m, nil
}

// AddDocumentAt takes one document found at where (index/_id).
func (v *Verifier) AddDocumentAt(where string, b []byte) { v.AddDocument(v.Source(where), 0, b) }

// AddCheckpoint takes one checkpoint document (a line of CheckpointsFile, a
// document of the integrity data stream), in the order written.
func (v *Verifier) AddCheckpoint(where string, doc []byte) {
	v.rep.Checkpoints++
	msg, err := signedNote(doc)
	if err != nil {
		v.problem(Malformed, where, "not a checkpoint document: %v", err)
		return
	}
	n, err := note.Open([]byte(msg), v.known)
	if err != nil {
		var unknown *note.UnverifiedNoteError
		var bad *note.InvalidSignatureError
		switch {
		case errors.As(err, &bad):
			v.problem(BadSignature, where, "the checkpoint's signature does not verify with %s (forged or changed)", bad.Name)
		case errors.As(err, &unknown):
			v.problem(UnknownKey, where, "the checkpoint is not signed by the given key (%s)", signerNames(msg))
		default:
			v.problem(BadSignature, where, "%v", err)
		}
		return
	}
	c, err := parseCheckpoint(n.Text)
	if err != nil {
		v.problem(Malformed, where, "%v", err)
		return
	}
	l := v.log(c.LogID)
	l.cps = append(l.cps, cpEntry{c, where})
}

func signerNames(msg string) string {
	var names []string
	if _, sigs, ok := strings.Cut(msg, "\n\n"); ok {
		for _, line := range strings.Split(sigs, "\n") {
			if f := strings.Fields(line); len(f) == 3 {
				names = append(names, "signed by "+f[1])
			}
		}
	}
	if len(names) == 0 {
		return "no signature"
	}
	return strings.Join(names, ", ")
}

// Finish checks the recordings (find says where a recording named by its
// psm.recording.path is, or false; nil: recordings are not checked, only
// counted) and the tree of each log against its
// checkpoints, and returns the report.
func (v *Verifier) Finish(find func(rel string) (string, bool)) *Report {
	for _, id := range v.order {
		v.finishLog(v.logs[id], find)
	}
	return &v.rep
}

func (v *Verifier) leafWhere(l *logState, e leafEntry) string {
	if e.src < 0 {
		r := l.recs[e.line]
		return "recording " + r.path + " (named at " + r.where + ")"
	}
	return v.where(e.src, e.line)
}

func (v *Verifier) finishLog(l *logState, find func(string) (string, bool)) {
	sum := LogSummary{ID: l.id, Checkpoints: len(l.cps)}
	// Recordings.
	for _, r := range l.recs {
		if find == nil {
			v.rep.RecordingsUnchecked++
			continue
		}
		v.rep.Recordings++
		path, ok := find(r.path)
		if !ok {
			v.problem(RecordingGone, r.path, "the recording of session %s (leaf %d, named at %s) is not there", r.session, r.leaf, r.where)
			continue
		}
		h, err := FileLeafHash(path)
		switch {
		case err != nil:
			v.problem(RecordingGone, path, "%v", err)
		case h != r.hash:
			v.problem(RecordingChange, path, "the recording of session %s (leaf %d) is not the one signed: changed after it was written", r.session, r.leaf)
		}
	}
	// Leaves in order; duplicates and holes.
	slices.SortStableFunc(l.leaves, func(a, b leafEntry) int {
		switch {
		case a.idx < b.idx:
			return -1
		case a.idx > b.idx:
			return 1
		}
		return 0
	})
	var end int64 // leaves 0..end-1 are there without a hole
	hashes := make([]tlog.Hash, 0, 2*len(l.leaves))
	hr := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(hashes)) {
				return nil, errors.New("hash not stored")
			}
			out[i] = hashes[x]
		}
		return out, nil
	})
	holeAt := int64(-1)
	var prev *leafEntry
	for i := range l.leaves {
		e := &l.leaves[i]
		if prev != nil && e.idx == prev.idx {
			v.problem(Duplicated, v.leafWhere(l, *e), "leaf %d of log %s is also at %s", e.idx, l.id, v.leafWhere(l, *prev))
			continue
		}
		if e.idx > end && holeAt < 0 {
			holeAt = end
		}
		if holeAt < 0 {
			hs, err := tlog.StoredHashesForRecordHash(e.idx, e.hash, hr)
			if err != nil {
				panic(err) // the hashes before it are all stored
			}
			hashes = append(hashes, hs...)
			end = e.idx + 1
		}
		if prev != nil && e.idx > prev.idx+1 {
			v.problem(Removed, v.leafWhere(l, *e), "leaves %d to %d of log %s are missing (between %s and here): documents deleted, or a file deleted or cut",
				prev.idx+1, e.idx-1, l.id, v.leafWhere(l, *prev))
		} else if prev == nil && e.idx > 0 {
			v.problem(Removed, v.leafWhere(l, *e), "leaves 0 to %d of log %s are missing (before here)", e.idx-1, l.id)
		}
		prev = e
	}
	last := int64(-1)
	if prev != nil {
		last = prev.idx
	}
	sum.Leaves = last + 1
	// Checkpoints.
	if len(l.cps) == 0 {
		if len(l.leaves) > 0 {
			v.problem(Uncovered, v.leafWhere(l, l.leaves[0]), "log %s has %d leaves and no checkpoint at all (its checkpoints were removed, or are signed by another key)", l.id, len(l.leaves))
		}
		v.rep.Logs = append(v.rep.Logs, sum)
		return
	}
	sum.First, sum.Last = l.cps[0].c.Time, l.cps[len(l.cps)-1].c.Time
	if first := l.cps[0]; first.c.Reason != ReasonStart || first.c.Size != 0 {
		v.problem(NoStart, first.where, "the first checkpoint of log %s is of size %d (%s), not its start: earlier checkpoints were removed", l.id, first.c.Size, first.c.Reason)
	}
	var good *cpEntry // the last checkpoint the documents matched
	mismatches := 0
	bySize := map[int64]cpEntry{}
	for i := range l.cps {
		cp := &l.cps[i]
		c := cp.c
		if o, ok := bySize[c.Size]; ok && o.c.Root != c.Root {
			v.problem(Fork, cp.where, "log %s has two checkpoints of size %d with different roots (the other at %s): not one append-only log", l.id, c.Size, o.where)
		}
		bySize[c.Size] = *cp
		if i > 0 {
			p := l.cps[i-1]
			if c.Size < p.c.Size {
				v.problem(RolledBack, cp.where, "log %s: tree size %d after %d at %s: the log was rolled back", l.id, c.Size, p.c.Size, p.where)
			}
			if c.Time.Before(p.c.Time) {
				v.problem(RolledBack, cp.where, "log %s: checkpoint time %s before the one before it (%s)", l.id, c.Time.UTC().Format(time.RFC3339), p.c.Time.UTC().Format(time.RFC3339))
			} else if d := c.Time.Sub(p.c.Time); d > v.GapAfter {
				v.problem(Gap, cp.where, "log %s: no checkpoint from %s to %s (%s): the sensor was stopped or stalled, or checkpoints were removed",
					l.id, p.c.Time.UTC().Format(time.RFC3339), c.Time.UTC().Format(time.RFC3339), d.Round(time.Second))
			}
		}
		if c.Size > end {
			continue // cannot be checked: leaves missing (said above)
		}
		root, err := tlog.TreeHash(c.Size, hr)
		if err != nil {
			panic(err)
		}
		if root != c.Root {
			mismatches++
			if mismatches == 1 {
				from := int64(0)
				if good != nil {
					from = good.c.Size
				}
				v.problem(Mismatch, cp.where, "log %s: the documents do not hash to this signed checkpoint of size %d: one of leaves %d to %d (%s to %s) was changed, its leaf_hash made to fit",
					l.id, c.Size, from, c.Size-1, v.leafAt(l, from), v.leafAt(l, c.Size-1))
			}
			continue
		}
		if good != nil && good.c.Size > 0 {
			// The two signed roots are of one append-only tree: a consistency
			// proof between them checks (RFC 6962 section 2.1.2).
			proof, err := tlog.ProveTree(c.Size, good.c.Size, hr)
			if err == nil {
				err = tlog.CheckTree(proof, c.Size, c.Root, good.c.Size, good.c.Root)
			}
			if err != nil {
				v.problem(Fork, cp.where, "log %s: no consistency proof from the checkpoint at %s: %v", l.id, good.where, err)
			}
		}
		good = cp
	}
	if mismatches > 1 {
		v.problem(Mismatch, "", "log %s: %d later checkpoints do not match either", l.id, mismatches-1)
	}
	lastCP := l.cps[len(l.cps)-1]
	sum.Closed = lastCP.c.Reason == ReasonShutdown
	if !sum.Closed {
		v.problem(NoEnd, lastCP.where, "log %s ends at %s (tree size %d) without its shutdown checkpoint: the sensor crashed, or the end of the log was removed",
			l.id, lastCP.c.Time.UTC().Format(time.RFC3339), lastCP.c.Size)
	}
	maxSize := int64(0)
	seen := map[string]bool{}
	for _, src := range v.sources {
		seen[src] = true
	}
	for _, cp := range l.cps {
		maxSize = max(maxSize, cp.c.Size)
		if cp.c.File != "" && v.Files && !seen[cp.c.File] {
			v.problem(Removed, cp.c.File, "the file is gone: the rotation checkpoint at %s says it was completed with the log at %d leaves", cp.where, cp.c.Size)
		}
	}
	if last+1 < maxSize {
		v.problem(Removed, lastCP.where, "log %s: the checkpoints count %d leaves, the last found is leaf %d (%s): the last %d were removed, or the file holding them deleted or cut",
			l.id, maxSize, last, v.leafAt(l, last), maxSize-last-1)
	}
	if last+1 > maxSize {
		v.problem(Uncovered, v.leafAt(l, maxSize), "log %s: leaves %d to %d come after the last checkpoint (size %d): added afterwards, or the checkpoints after them removed",
			l.id, maxSize, last, maxSize)
	}
	v.rep.Logs = append(v.rep.Logs, sum)
}

// leafAt says where leaf i is (or the nearest leaf before it).
func (v *Verifier) leafAt(l *logState, i int64) string {
	k, _ := slices.BinarySearchFunc(l.leaves, i, func(e leafEntry, t int64) int {
		switch {
		case e.idx < t:
			return -1
		case e.idx > t:
			return 1
		}
		return 0
	})
	if k < len(l.leaves) && l.leaves[k].idx == i {
		return v.leafWhere(l, l.leaves[k])
	}
	if k > 0 {
		return "after " + v.leafWhere(l, l.leaves[k-1])
	}
	return "the start"
}
