package integrity

import (
	"crypto/sha256"
	"io"
	"os"

	"golang.org/x/mod/sumdb/tlog"
)

// frontier is the right edge of an append-only RFC 6962 tree: the roots of
// its perfect subtrees, largest first (one per set bit of the size). It is
// all a writer needs to compute the root of the tree after each leaf, in
// memory that grows with log2 of the size, not with the size.
type frontier struct {
	n     int64
	roots []tlog.Hash
}

func (f *frontier) append(h tlog.Hash) {
	f.roots = append(f.roots, h)
	f.n++
	// Each trailing zero bit of the new size is a merge of two equal subtrees.
	for k := f.n; k&1 == 0; k >>= 1 {
		l := len(f.roots)
		f.roots[l-2] = tlog.NodeHash(f.roots[l-2], f.roots[l-1])
		f.roots = f.roots[:l-1]
	}
}

// root is the RFC 6962 Merkle tree hash of the leaves so far (SHA-256 of
// nothing for an empty tree).
func (f *frontier) root() tlog.Hash {
	if f.n == 0 {
		return sha256.Sum256(nil)
	}
	h := f.roots[len(f.roots)-1]
	for i := len(f.roots) - 2; i >= 0; i-- {
		h = tlog.NodeHash(f.roots[i], h)
	}
	return h
}

func (f *frontier) clone() frontier {
	return frontier{n: f.n, roots: append([]tlog.Hash(nil), f.roots...)}
}

// FileLeafHash is the RFC 6962 leaf hash of a file's bytes: SHA-256 of a
// zero byte and the file (how a recording becomes a leaf).
func FileLeafHash(path string) (tlog.Hash, error) {
	f, err := os.Open(path)
	if err != nil {
		return tlog.Hash{}, err
	}
	defer f.Close()
	h := sha256.New()
	h.Write([]byte{0})
	if _, err := io.Copy(h, f); err != nil {
		return tlog.Hash{}, err
	}
	var out tlog.Hash
	h.Sum(out[:0])
	return out, nil
}
