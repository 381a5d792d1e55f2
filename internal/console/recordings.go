package console

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// maxCast bounds a recording served: psmtap stops writing one at 16 MiB of
// asciicast; a larger file is not one of ours and is cut.
const maxCast = 32 << 20

// maxScreen bounds a screen recording served (decompressed): psmtap stops
// adding pictures at 256 MiB of file by default, which is about as much
// decompressed (PNG does not compress further).
const maxScreen = 1 << 30

// Recordings serves GET /api/v1/recordings/{id}: the recording of a
// finished session, decompressed: asciicast v2 for a terminal, the
// psmtap-screen NDJSON (internal/screenrec) for a screen (VNC). The file is the one the
// session's record names (psm.recording.path), looked up by Lookup, opened
// under Dir and nowhere else: never a path from the request, never a path
// that leaves Dir (.., absolute, a symbolic link out: os.Root refuses them).
type Recordings struct {
	Dir string
	// Lookup returns psm.recording.path of the session's record ("" when
	// it has none) and whether the session is known.
	Lookup func(id string) (path string, known bool)
	Logger *slog.Logger
}

// Mount adds the endpoint to mux.
func (rc *Recordings) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathRecordings+"/{id}", rc.serve)
}

var errNotOurs = errors.New("not a recording psmtap wrote")

// safeRel says whether a record's recording path may be opened under Dir:
// relative, local, a .cast or .cast.zst file, or a screen recording
// (.screen.zst, or .screen decompressed). (os.Root checks again, and
// also refuses symbolic links out of Dir.)
func safeRel(p string) bool {
	if p == "" || strings.ContainsAny(p, "\\\x00") || !filepath.IsLocal(p) {
		return false
	}
	return strings.HasSuffix(p, ".cast.zst") || strings.HasSuffix(p, ".cast") || isScreen(p)
}

func isScreen(p string) bool {
	return strings.HasSuffix(p, ".screen.zst") || strings.HasSuffix(p, ".screen")
}

func jsonError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (rc *Recordings) serve(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	rel, known := rc.Lookup(id)
	if !known {
		jsonError(w, http.StatusNotFound, "no such session")
		return
	}
	if rel == "" {
		jsonError(w, http.StatusNotFound, "this session has no recording")
		return
	}
	if !safeRel(rel) {
		rc.log().Warn("console: a record names a recording outside the recordings directory: refused", "session", id, "path", rel)
		jsonError(w, http.StatusForbidden, "the record's recording path is not under the recordings directory")
		return
	}
	body, err := rc.open(rel)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			jsonError(w, http.StatusNotFound, "the recording file is not in the recordings directory")
			return
		}
		rc.log().Warn("console: recording refused", "session", id, "path", rel, "error", err)
		jsonError(w, http.StatusForbidden, "the recording cannot be served")
		return
	}
	defer body.Close()
	limit := int64(maxCast)
	if isScreen(rel) {
		// The page tells the kinds apart by the first line; the type says it too.
		limit = maxScreen
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `inline; filename="`+id+`.screen.ndjson"`)
	} else {
		w.Header().Set("Content-Type", "application/x-asciicast")
		w.Header().Set("Content-Disposition", `inline; filename="`+id+`.cast"`)
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, err := io.Copy(w, io.LimitReader(body, limit)); err != nil {
		rc.log().Debug("console: recording cut short", "session", id, "error", err)
	}
}

func (rc *Recordings) log() *slog.Logger {
	if rc.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return rc.Logger
}

type readCloser struct {
	io.Reader
	close func()
}

func (r readCloser) Close() error { r.close(); return nil }

// open opens rel under Dir and returns the asciicast text (zstd undone, by
// content: the magic number).
func (rc *Recordings) open(rel string) (io.ReadCloser, error) {
	root, err := os.OpenRoot(rc.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, errNotOurs
	}
	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	if !bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		return readCloser{br, func() { f.Close() }}, nil
	}
	dec, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
	if err != nil {
		f.Close()
		return nil, err
	}
	return readCloser{dec, func() { dec.Close(); f.Close() }}, nil
}
