package sensor

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/psmtap/psmtap/internal/record"
)

// castEvent encodes one asciicast v2 event line: [seconds, "o"|"i", data].
// Invalid UTF-8 becomes U+FFFD (encoding/json).
func castEvent(secs float64, code byte, data []byte) []byte {
	js, _ := json.Marshal(string(data))
	b := make([]byte, 0, len(js)+24)
	b = append(b, '[')
	b = strconv.AppendFloat(b, secs, 'f', 6, 64)
	b = append(b, ", \""...)
	b = append(b, code)
	b = append(b, "\", "...)
	b = append(b, js...)
	return append(b, "]\n"...)
}

// CastHeader is the first line of a live stream (asciicast v2), with
// psmtap's own keys beside the standard ones.
type CastHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	// StartNS is the session's first packet time in Unix ns: event times
	// are seconds from it (packet time), so a viewer can tell how far
	// behind the wire it is.
	StartNS int64 `json:"psm_start_ns"`
	// SessionID is psm.session_id.
	SessionID string `json:"psm_session_id"`
	// Terminal is false for a textual feed of events (SSH, RDP, FTP...).
	Terminal bool `json:"psm_terminal"`
	// Truncated: the history before the first event was cut (bounded).
	Truncated bool `json:"psm_history_truncated,omitempty"`
}

// ErrTooManyViewers is Watch's answer past Options.MaxViewers.
var ErrTooManyViewers = errors.New("too many viewers")

// Stream is one viewer of a session's live stream.
type Stream struct {
	Header  CastHeader
	Backlog [][]byte // encoded lines: the recent history, oldest first
	// Lines delivers what happens from now on; it is closed when the
	// session ends (or it had ended already: nil), or when the viewer was
	// too slow (Dropped reports which).
	Lines <-chan []byte
	h     *Hub
	s     *session
	v     *viewer
}

// Dropped reports, once Lines is closed, whether the stream was cut because
// its reader did not keep up.
func (st *Stream) Dropped() bool { return st.v != nil && st.v.dropped }

// Ended reports whether the session has ended.
func (st *Stream) Ended() bool {
	st.h.mu.Lock()
	defer st.h.mu.Unlock()
	return st.s.final
}

// Close leaves the stream.
func (st *Stream) Close() {
	st.h.mu.Lock()
	defer st.h.mu.Unlock()
	st.h.streams--
	if st.v != nil {
		if _, ok := st.s.viewers[st.v]; ok {
			delete(st.s.viewers, st.v)
			close(st.v.ch)
		}
	}
}

// Watch joins a session's live stream: ok is false when the hub knows no
// such session.
func (h *Hub) Watch(id string) (*Stream, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[id]
	if s == nil || s.base == nil {
		return nil, false, nil
	}
	if h.streams >= h.opt.MaxViewers {
		return nil, true, ErrTooManyViewers
	}
	h.streams++
	r := s.snapshot()
	title := s.proto + " " + r.Client.String() + " -> " + r.Server.String()
	if r.UserName != "" {
		title = s.proto + " " + r.UserName + "@" + r.Server.String() + " from " + r.Client.String()
	}
	st := &Stream{h: h, s: s, Header: CastHeader{Version: 2, Width: 80, Height: 24, Timestamp: s.start / 1e9,
		Title: title, StartNS: s.start, SessionID: s.id, Terminal: s.terminal, Truncated: s.histCut}}
	tt, cols, rows := terminalOf(r)
	if tt != "" {
		st.Header.Env = map[string]string{"TERM": tt}
	}
	if cols > 0 {
		st.Header.Width, st.Header.Height = cols, rows
	}
	st.Backlog = append([][]byte(nil), s.hist...)
	if !s.final {
		st.v = &viewer{ch: make(chan []byte, h.opt.ViewerBuffer)}
		s.viewers[st.v] = struct{}{}
		st.Lines = st.v.ch
	}
	return st, true, nil
}

// terminalOf is the terminal the client announced, if a record says: its
// type and its last window size (Telnet NAWS, rlogin's window message).
// A size no terminal has is left at 0 (the caller's default).
func terminalOf(r *record.Record) (typ string, cols, rows int) {
	for _, name := range []string{"telnet", "rlogin"} {
		o, ok := r.Objects[name]
		if !ok {
			continue
		}
		b, err := json.Marshal(o)
		if err != nil {
			continue
		}
		var f struct {
			TerminalType string `json:"terminal_type"`
			Window       struct {
				Cols int `json:"cols"`
				Rows int `json:"rows"`
			} `json:"window"`
		}
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		if f.Window.Cols > 0 && f.Window.Cols <= maxTermSide && f.Window.Rows > 0 && f.Window.Rows <= maxTermSide {
			cols, rows = f.Window.Cols, f.Window.Rows
		}
		return strings.ToLower(f.TerminalType), cols, rows
	}
	return "", 0, 0
}

// maxTermSide bounds a window size taken from the wire: a viewer's
// terminal is told to be this big at most.
const maxTermSide = 1000
