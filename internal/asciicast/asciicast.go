// Package asciicast writes and reads timed terminal recordings in the
// asciicast v2 format (https://docs.asciinema.org/manual/asciicast/v2/):
// a JSON header line, then one JSON array per event, [seconds, code, data],
// code "o" for output, "i" for input, "r" for a resize ("COLSxROWS").
//
// Sessions build a recording in memory (Writer, capped at MaxBytes) and
// write it once, zstd-compressed, when they end (Save).
package asciicast

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// MaxBytes caps one recording's uncompressed events; past it the recording
// stops (Writer.Truncated) and the session notes recording.truncated.
const MaxBytes = 16 << 20

// MaxUncommitted caps a recording whose session has not got past its login
// yet (Commit): a login exchange is small; a flood of sessions that never
// log in must not hold megabytes each.
const MaxUncommitted = 64 << 10

// MaxInProgress bounds the committed recordings kept in memory at once,
// across the process; a session past its login when all are taken gets no
// recording (Writer.Refused, anomaly recording.refused).
var MaxInProgress int64 = 1024

var (
	held       atomic.Int64 // buffer bytes of all writers
	inProgress atomic.Int64 // committed writers not yet released
)

// Held returns the bytes held by recordings in progress (all writers of the
// process), for the engine's memory budget.
func Held() int64 { return held.Load() }

// InProgress returns the committed recordings not yet saved or released.
func InProgress() int64 { return inProgress.Load() }

// account is a writer's share of the counters. It lives apart from the
// Writer so that a writer dropped without Release (a session whose parser
// panicked) gives its share back when it is collected.
type account struct {
	bytes     atomic.Int64
	committed atomic.Bool
}

func (a *account) release() {
	held.Add(-a.bytes.Swap(0))
	if a.committed.Swap(false) {
		inProgress.Add(-1)
	}
}

// Format is the value of psm.recording.format.
const Format = "asciicast-v2"

// Header is the first line of a recording.
type Header struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp,omitempty"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
}

// Writer accumulates events. The zero value is ready; set Width/Height/Term
// before the first event, or Resize later.
type Writer struct {
	Width, Height int
	Term          string
	Title         string
	buf           []byte
	start         int64 // packet time of the session start (ns)
	started       bool
	carry         [2][utf8.UTFMax]byte // an unfinished UTF-8 rune per stream (o, i)
	ncarry        [2]int
	Truncated     bool
	// Refused: the session got past its login when MaxInProgress
	// recordings were already in progress; nothing is recorded.
	Refused bool
	events  int
	acct    *account
}

// Commit marks the recording as one to keep (its session got past its
// login, or a person typed commands) and takes one of the MaxInProgress
// places; false when none is free (then the recording is dropped, Refused).
func (w *Writer) Commit() bool {
	if w.Refused {
		return false
	}
	a := w.account()
	if a.committed.Load() {
		return true
	}
	if inProgress.Add(1) > MaxInProgress {
		inProgress.Add(-1)
		w.Refused = true
		w.buf = nil
		a.release()
		return false
	}
	a.committed.Store(true)
	return true
}

// Committed reports whether Commit succeeded.
func (w *Writer) Committed() bool { return w.acct != nil && w.acct.committed.Load() }

// Release gives the recording's memory and place back; the writer records
// nothing after it. Bytes must be taken before.
func (w *Writer) Release() {
	w.buf = nil
	w.Truncated = true
	if w.acct != nil {
		w.acct.release()
	}
}

func (w *Writer) account() *account {
	if w.acct == nil {
		w.acct = &account{}
		runtime.AddCleanup(w, func(a *account) { a.release() }, w.acct)
	}
	return w.acct
}

// Start sets the recording's time origin (packet time, ns).
func (w *Writer) Start(ts int64) {
	if !w.started {
		w.start, w.started = ts, true
	}
}

// Output records server output at packet time ts.
func (w *Writer) Output(ts int64, data []byte) { w.event(ts, 'o', 0, data) }

// Input records client input (already masked by the caller where needed).
func (w *Writer) Input(ts int64, data []byte) { w.event(ts, 'i', 1, data) }

// Resize records a window size change. Before any event it sets the header size.
func (w *Writer) Resize(ts int64, cols, rows int) {
	if cols <= 0 || rows <= 0 {
		return
	}
	if w.events == 0 {
		w.Width, w.Height = cols, rows
		return
	}
	var tmp [24]byte
	b := strconv.AppendInt(tmp[:0], int64(cols), 10)
	b = append(b, 'x')
	b = strconv.AppendInt(b, int64(rows), 10)
	w.event(ts, 'r', -1, b)
}

func (w *Writer) event(ts int64, code byte, stream int, data []byte) {
	if w.Truncated || w.Refused || len(data) == 0 {
		return
	}
	w.Start(ts)
	if len(w.buf) > MaxBytes || len(w.buf) > MaxUncommitted && !w.Committed() {
		w.Truncated = true
		return
	}
	defer w.accountGrowth()
	// Keep an unfinished rune for the next event of the same stream.
	var head []byte
	if stream >= 0 && w.ncarry[stream] > 0 {
		head = w.carry[stream][:w.ncarry[stream]]
		w.ncarry[stream] = 0
	}
	if stream >= 0 {
		if n := partialTail(data); n > 0 {
			copy(w.carry[stream][:], data[len(data)-n:])
			w.ncarry[stream] = n
			data = data[:len(data)-n]
		}
	}
	if len(head) == 0 && len(data) == 0 {
		return
	}
	w.events++
	w.buf = append(w.buf, '[')
	w.buf = strconv.AppendFloat(w.buf, float64(max(ts-w.start, 0))/1e9, 'f', 6, 64)
	w.buf = append(w.buf, ',', ' ', '"', code, '"', ',', ' ', '"')
	if len(head) > 0 {
		// complete the carried rune with the first bytes of data
		need := 0
		for need < len(data) && need < utf8.UTFMax && !utf8.FullRune(append(head[:len(head):len(head)], data[:need]...)) {
			need++
		}
		joined := append(append([]byte(nil), head...), data[:need]...)
		w.buf = appendJSONString(w.buf, joined)
		data = data[need:]
	}
	w.buf = appendJSONString(w.buf, data)
	w.buf = append(w.buf, '"', ']', '\n')
}

// accountGrowth reports the buffer's growth to the process-wide counter.
func (w *Writer) accountGrowth() {
	a := w.account()
	if d := int64(cap(w.buf)) - a.bytes.Load(); d != 0 {
		a.bytes.Add(d)
		held.Add(d)
	}
}

// partialTail is the length of an unfinished UTF-8 sequence ending b.
func partialTail(b []byte) int {
	for n := 1; n < utf8.UTFMax && n <= len(b); n++ {
		c := b[len(b)-n]
		if c < utf8.RuneSelf {
			return 0
		}
		if utf8.RuneStart(c) {
			if utf8.FullRune(b[len(b)-n:]) {
				return 0
			}
			return n
		}
	}
	return 0
}

// appendJSONString escapes b as the inside of a JSON string; invalid UTF-8
// becomes U+FFFD.
func appendJSONString(dst, b []byte) []byte {
	const hexd = "0123456789abcdef"
	for len(b) > 0 {
		c := b[0]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
			default:
				dst = append(dst, c)
			}
			b = b[1:]
			continue
		}
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\\ufffd"...)
		} else {
			dst = append(dst, b[:n]...)
		}
		b = b[n:]
	}
	return dst
}

// Empty reports whether no event was recorded.
func (w *Writer) Empty() bool { return w.events == 0 }

// Bytes is the whole recording: header line and events. startUnix is the
// session start in Unix seconds.
func (w *Writer) Bytes(startUnix int64) []byte {
	h := Header{Version: 2, Width: w.Width, Height: w.Height, Timestamp: startUnix, Title: w.Title}
	if h.Width <= 0 || h.Height <= 0 {
		h.Width, h.Height = 80, 24
	}
	if w.Term != "" {
		h.Env = map[string]string{"TERM": w.Term}
	}
	hb, _ := json.Marshal(h)
	out := make([]byte, 0, len(hb)+1+len(w.buf))
	out = append(out, hb...)
	out = append(out, '\n')
	return append(out, w.buf...)
}

// Saved describes a written recording (psm.recording.*).
type Saved struct {
	Format string `json:"format"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
}

// Save writes cast zstd-compressed as dir/name (name gets ".cast.zst"). The
// digest and size are those of the file as written.
func Save(dir, name string, cast []byte) (*Saved, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	z := enc.EncodeAll(cast, nil)
	enc.Close()
	rel := name + ".cast.zst"
	tmp := filepath.Join(dir, "."+rel+".tmp")
	if err := os.WriteFile(tmp, z, 0o640); err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, rel)); err != nil {
		return nil, fmt.Errorf("recordings: %w", err)
	}
	sum := sha256.Sum256(z)
	return &Saved{Format: Format, Path: rel, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(z))}, nil
}

// Event is one recorded event.
type Event struct {
	Time float64
	Code string
	Data string
}

// Open reads a recording, plain or zstd-compressed (by content).
func Open(path string) (*Header, []Event, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return Parse(raw)
}

// Decompress returns the plain asciicast text of raw (zstd or plain).
func Decompress(raw []byte) ([]byte, error) {
	if bytes.HasPrefix(raw, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, err
		}
		defer dec.Close()
		return dec.DecodeAll(raw, nil)
	}
	return raw, nil
}

// Parse reads a recording's bytes.
func Parse(raw []byte) (*Header, []Event, error) {
	plain, err := Decompress(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("asciicast: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(plain))
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	if !sc.Scan() {
		return nil, nil, errors.New("asciicast: empty file")
	}
	var h Header
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Version != 2 {
		return nil, nil, fmt.Errorf("asciicast: not a v2 header: %v", err)
	}
	var evs []Event
	line := 1
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var raw []json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil || len(raw) != 3 {
			return nil, nil, fmt.Errorf("asciicast: line %d: not an event", line)
		}
		var e Event
		if json.Unmarshal(raw[0], &e.Time) != nil || json.Unmarshal(raw[1], &e.Code) != nil || json.Unmarshal(raw[2], &e.Data) != nil {
			return nil, nil, fmt.Errorf("asciicast: line %d: bad event", line)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("asciicast: %w", err)
	}
	return &h, evs, nil
}
