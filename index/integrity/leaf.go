// Package integrity makes what psmtap writes tamper-evident: every document
// (session record, activity event, alert) and every recording file becomes a
// leaf of an append-only Merkle tree hashed as RFC 6962 (section 2.1) says,
// and signed checkpoints of that tree (tree size, root hash, time) are
// written in the C2SP signed-note format with an ed25519 key, at least every
// minute and at every file rotation and shutdown. Verify checks documents,
// recordings and checkpoints against each other. docs/integrity.md is the
// operator's description.
//
// A leaf is the document's bytes as written, so checking one needs no JSON
// canonicalisation. The document is written as its usual JSON object with
// one more member appended last:
//
//	{...the document...,"psm.integrity":{"log_id":"..","leaf_index":N,"leaf_hash":".."}}
//
// The leaf data are exactly those bytes less the `,"leaf_hash":"<hex>"`
// member (a hash cannot contain itself): the leaf commits to the document,
// to the log it belongs to and to its position. A session record with a
// recording also names the recording's leaf (recording_leaf_index, always
// the next leaf, and recording_leaf_hash: RFC 6962 leaf hash of the
// recording file's bytes), so the record's leaf commits to the recording and
// the tree can still be checked when the recording is gone.
package integrity

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strconv"

	"golang.org/x/mod/sumdb/tlog"
)

// Member is the name of the appended member. Elasticsearch reads a dotted
// name as the object path psm.integrity.
const Member = "psm.integrity"

var (
	memberStart = []byte(`,"` + Member + `":{"log_id":"`)
	hashStart   = []byte(`,"leaf_hash":"`)
)

// Meta is what a document says about its place in the log (psm.integrity.*).
type Meta struct {
	LogID     string
	LeafIndex int64
	// RecordingLeafIndex is 0 when the document names no recording leaf
	// (it is never 0 otherwise: a recording follows its record).
	RecordingLeafIndex int64
	RecordingLeafHash  tlog.Hash
	LeafHash           tlog.Hash
}

// appendMeta writes the member without its closing brace and without the
// leaf hash.
func appendMeta(b []byte, m *Meta) []byte {
	b = append(b, memberStart...)
	b = append(b, m.LogID...)
	b = append(b, `","leaf_index":`...)
	b = strconv.AppendInt(b, m.LeafIndex, 10)
	if m.RecordingLeafIndex > 0 {
		b = append(b, `,"recording_leaf_index":`...)
		b = strconv.AppendInt(b, m.RecordingLeafIndex, 10)
		b = append(b, `,"recording_leaf_hash":"`...)
		b = hex.AppendEncode(b, m.RecordingLeafHash[:])
		b = append(b, '"')
	}
	return b
}

// Seal appends the integrity member to doc (one JSON object, as
// MarshalJSON gives it) and returns the bytes to write; m.LeafHash is set.
func Seal(doc []byte, m *Meta) ([]byte, error) {
	doc = bytes.TrimRight(doc, " \n")
	if len(doc) < 2 || doc[len(doc)-1] != '}' || bytes.Equal(doc, []byte("{}")) {
		return nil, errors.New("integrity: a document must be a non-empty JSON object")
	}
	if !validLogID(m.LogID) {
		return nil, errors.New("integrity: bad log id")
	}
	out := make([]byte, 0, len(doc)+160)
	out = append(out, doc[:len(doc)-1]...)
	out = appendMeta(out, m)
	out = append(out, "}}"...)
	m.LeafHash = tlog.RecordHash(out)
	// Insert the leaf hash before the two closing braces.
	out = out[:len(out)-2]
	out = append(out, hashStart...)
	out = hex.AppendEncode(out, m.LeafHash[:])
	return append(out, `"}}`...), nil
}

// ErrUnsealed means a document carries no integrity member.
var ErrUnsealed = errors.New("no " + Member + " member")

// Open splits a written document into its metadata and checks that its
// leaf hash is the hash of its bytes. It returns the leaf hash of the bytes
// as they are even when it does not match (err then says so), so the caller
// can go on building the tree.
func Open(line []byte) (Meta, tlog.Hash, error) {
	var m Meta
	line = bytes.TrimRight(line, "\r\n")
	i := bytes.LastIndex(line, memberStart)
	if i < 0 {
		return m, tlog.Hash{}, ErrUnsealed
	}
	tail := line[i+len(memberStart):]
	// log id
	q := bytes.IndexByte(tail, '"')
	if q < 0 {
		return m, tlog.Hash{}, errMalformed
	}
	m.LogID = string(tail[:q])
	tail = tail[q+1:]
	var ok bool
	if tail, ok = cut(tail, `,"leaf_index":`); !ok {
		return m, tlog.Hash{}, errMalformed
	}
	if m.LeafIndex, tail, ok = number(tail); !ok {
		return m, tlog.Hash{}, errMalformed
	}
	if rest, found := cut(tail, `,"recording_leaf_index":`); found {
		if m.RecordingLeafIndex, rest, ok = number(rest); !ok || m.RecordingLeafIndex <= 0 {
			return m, tlog.Hash{}, errMalformed
		}
		if rest, ok = cut(rest, `,"recording_leaf_hash":"`); !ok {
			return m, tlog.Hash{}, errMalformed
		}
		if m.RecordingLeafHash, rest, ok = hexHash(rest); !ok {
			return m, tlog.Hash{}, errMalformed
		}
		if rest, ok = cut(rest, `"`); !ok {
			return m, tlog.Hash{}, errMalformed
		}
		tail = rest
	}
	hashAt := len(line) - len(tail)
	if tail, ok = cut(tail, string(hashStart)); !ok {
		return m, tlog.Hash{}, errMalformed
	}
	if m.LeafHash, tail, ok = hexHash(tail); !ok {
		return m, tlog.Hash{}, errMalformed
	}
	if string(tail) != `"}}` || !validLogID(m.LogID) {
		return m, tlog.Hash{}, errMalformed
	}
	// The leaf: everything but the leaf_hash member.
	leaf := make([]byte, 0, hashAt+2)
	leaf = append(leaf, line[:hashAt]...)
	leaf = append(leaf, "}}"...)
	h := tlog.RecordHash(leaf)
	if h != m.LeafHash {
		return m, h, ErrChanged
	}
	return m, h, nil
}

var errMalformed = errors.New("malformed " + Member + " member")

// ErrChanged means a document's bytes do not hash to its leaf hash.
var ErrChanged = errors.New("the document's bytes do not hash to its leaf_hash")

func cut(b []byte, prefix string) ([]byte, bool) {
	if !bytes.HasPrefix(b, []byte(prefix)) {
		return b, false
	}
	return b[len(prefix):], true
}

func number(b []byte) (int64, []byte, bool) {
	n := 0
	for n < len(b) && n < 19 && b[n] >= '0' && b[n] <= '9' {
		n++
	}
	if n == 0 || (n > 1 && b[0] == '0') {
		return 0, b, false
	}
	v, err := strconv.ParseInt(string(b[:n]), 10, 64)
	return v, b[n:], err == nil
}

func hexHash(b []byte) (tlog.Hash, []byte, bool) {
	var h tlog.Hash
	if len(b) < 2*len(h) {
		return h, b, false
	}
	for _, c := range b[:2*len(h)] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') { // lower case only: one spelling
			return h, b, false
		}
	}
	hex.Decode(h[:], b[:2*len(h)])
	return h, b[2*len(h):], true
}

// validLogID: lower-case hex, 16 digits.
func validLogID(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
