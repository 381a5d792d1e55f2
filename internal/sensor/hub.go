// Package sensor is the live state of a running sensor and its HTTP API:
// a registry of open and recently finished sessions, each session's live
// terminal stream, Server-Sent Events of activity events and alerts, and
// the counters in the Prometheus text format (docs/api.md).
//
// The registry is fed from two places, and neither may slow capture:
//
//   - the document stream, behind the output queue (Tee, on the output
//     goroutine): records (interim and final), activity events, alerts;
//   - the engine, on the packet path (Attach, Ended): a notice when a
//     session starts and the terminal bytes of Telnet, rlogin and rsh sessions as
//     they are decoded. These only copy and hand over to the hub's goroutine
//     through a bounded channel; when it is full they are dropped and
//     counted, never waited for.
//
// Viewers (live streams, event streams) get bounded buffers: one that does
// not keep up is dropped and its stream closed, and nobody waits for it.
// Memory is bounded: sessions kept, screen history per session and in all.
package sensor

import (
	"bytes"
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// Options bound the hub. Zero values take the defaults.
type Options struct {
	MaxOpen      int // open sessions kept (default 20000); past it the least recently active is forgotten
	MaxFinished  int // finished sessions kept for ?state=all (default 256)
	History      int // bytes of terminal history kept per session for late viewers (default 64 KiB)
	HistoryTotal int // bytes of history across sessions (default 32 MiB)
	ViewerBuffer int // messages waiting per viewer before it is dropped (default 1024)
	MaxViewers   int // live and event streams at once (default 1000)
	FeedBuffer   int // engine notices waiting for the hub's goroutine (default 16384)
	Observer     string
	Interface    string
	Logger       *slog.Logger
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxOpen, 20000)
	def(&o.MaxFinished, 256)
	def(&o.History, 64<<10)
	def(&o.HistoryTotal, 32<<20)
	def(&o.ViewerBuffer, 1024)
	def(&o.MaxViewers, 1000)
	def(&o.FeedBuffer, 16384)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// maxSinceCommands bounds the commands an open session collects from
// events between two snapshots.
const maxSinceCommands = 10000

// Hub is the sensor's live state. Its methods are safe for concurrent use.
type Hub struct {
	opt  Options
	feed chan feedMsg
	done chan struct{}
	stop sync.Once
	wg   sync.WaitGroup

	mu        sync.Mutex
	sessions  map[string]*session
	finished  []*session // oldest first
	nOpen     int
	histBytes int
	streams   int // live and event streams open
	subs      map[*Subscriber]struct{}

	// counters
	feedDropped    atomic.Uint64
	viewersDropped atomic.Uint64
	evicted        atomic.Uint64
	events, alerts atomic.Uint64
	opened         atomic.Uint64

	metricsMu sync.Mutex
	published []Metric
	gatherers []func() []Metric
}

type feedKind uint8

const (
	feedOpened feedKind = iota
	feedChunk
	feedEnded
	feedSync
)

type feedMsg struct {
	kind feedKind
	dir  dissectors.Direction
	id   string
	ts   int64
	data []byte
	open *openNotice
	sync chan struct{}
}

type openNotice struct {
	id, proto, cid, transport string
	client, server            netip.AddrPort
	start                     int64
}

// New starts a hub; Close stops it.
func New(opt Options) *Hub {
	opt.defaults()
	h := &Hub{opt: opt, feed: make(chan feedMsg, opt.FeedBuffer), done: make(chan struct{}),
		sessions: map[string]*session{}, subs: map[*Subscriber]struct{}{}}
	h.wg.Add(1)
	go h.run()
	return h
}

// Close stops the hub: every stream still open ends.
func (h *Hub) Close() {
	h.stop.Do(func() {
		close(h.done)
		h.wg.Wait()
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, s := range h.sessions {
			for v := range s.viewers {
				h.closeViewer(s, v, false)
			}
		}
		for sub := range h.subs {
			h.dropSub(sub, false)
		}
	})
}

// Attach is the engine's Config.Live: it announces a session the moment a
// dissector takes its flow, and returns the function its terminal bytes go
// through. Packet path: it copies and hands over, never waits.
func (h *Hub) Attach(ctx *dissectors.Context, start int64) func(dir dissectors.Direction, ts int64, data []byte) {
	r := ctx.Record
	n := &openNotice{id: r.ID, proto: r.Protocol, cid: r.CommunityID, transport: ctx.Transport,
		client: ctx.Client, server: ctx.Server, start: start}
	h.send(feedMsg{kind: feedOpened, id: n.id, open: n})
	id := n.id
	return func(dir dissectors.Direction, ts int64, data []byte) {
		if len(data) > 0 {
			h.send(feedMsg{kind: feedChunk, id: id, dir: dir, ts: ts, data: bytes.Clone(data)})
		}
	}
}

// Ended is told of a session's final record as the engine emits it (before
// the output queue), so that a live stream ends after the session's last
// bytes, in order. The record itself arrives later through Tee.
func (h *Hub) Ended(r *record.Record) {
	if r.EventType == "" || r.EventType == "end" {
		h.send(feedMsg{kind: feedEnded, id: r.ID, ts: r.End.UnixNano()})
	}
}

// Sync waits until the hub has applied every notice sent before it (for
// tests; it waits for room in the feed).
func (h *Hub) Sync() {
	done := make(chan struct{})
	select {
	case h.feed <- feedMsg{kind: feedSync, sync: done}:
		select {
		case <-done:
		case <-h.done:
		}
	case <-h.done:
	}
}

func (h *Hub) send(m feedMsg) {
	select {
	case h.feed <- m:
	default:
		h.feedDropped.Add(1)
	}
}

func (h *Hub) run() {
	defer h.wg.Done()
	for {
		select {
		case <-h.done:
			return
		case m := <-h.feed:
			h.mu.Lock()
			h.apply(m)
			// Take what else waits under the same lock.
			for more := true; more; {
				select {
				case m = <-h.feed:
					h.apply(m)
				default:
					more = false
				}
			}
			h.mu.Unlock()
		}
	}
}

func (h *Hub) apply(m feedMsg) {
	switch m.kind {
	case feedOpened:
		n := m.open
		s := h.sessions[n.id]
		if s == nil {
			s = h.newSession(n.id, n.proto, n.start)
		}
		if s.base == nil || s.synthetic {
			s.base = &record.Record{ID: n.id, Start: time.Unix(0, n.start), End: time.Unix(0, n.start), EventType: "start",
				Client: n.client, Server: n.server, Transport: n.transport, Protocol: n.proto, CommunityID: n.cid,
				Observer: h.opt.Observer, Interface: h.opt.Interface}
			s.synthetic = true
		}
		if !s.terminal {
			s.text(n.start, "%s session %s -> %s opened", n.proto, n.client, n.server)
			h.flushText(s)
		}
		h.publishSession(s)
	case feedChunk:
		s := h.sessions[m.id]
		if s == nil || s.final {
			return // forgotten, or its end overtook it
		}
		s.terminal = true
		s.touch(m.ts)
		code := byte('o')
		if m.dir == dissectors.FromClient {
			code = 'i'
		}
		h.push(s, s.castLine(m.ts, code, int(m.dir), m.data))
	case feedEnded:
		if s := h.sessions[m.id]; s != nil {
			s.touch(m.ts)
			h.finish(s)
		}
	case feedSync:
		close(m.sync)
	}
}

// newSession registers an open session (h.mu held).
func (h *Hub) newSession(id, proto string, start int64) *session {
	if h.nOpen >= h.opt.MaxOpen {
		h.evictOpen()
	}
	s := &session{id: id, proto: proto, start: start, last: start, viewers: map[*viewer]struct{}{},
		terminal: proto == "telnet" || proto == "rlogin" || proto == "rsh", seen: time.Now()}
	h.sessions[id] = s
	h.nOpen++
	h.opened.Add(1)
	return s
}

// evictOpen forgets the open session active least recently (h.mu held):
// only when the cap is reached, so a scan is fine.
func (h *Hub) evictOpen() {
	var old *session
	for _, s := range h.sessions {
		if !s.final && (old == nil || s.seen.Before(old.seen)) {
			old = s
		}
	}
	if old == nil {
		return
	}
	h.evicted.Add(1)
	h.finish(old)
	h.forget(old)
}

// finish marks s ended: its viewers get what they have and their streams
// end. The record may still come (Tee) and replace the snapshot.
func (h *Hub) finish(s *session) {
	if s.final {
		return
	}
	s.final = true
	s.finishedAt = time.Now()
	h.nOpen--
	for v := range s.viewers {
		h.closeViewer(s, v, false)
	}
	h.finished = append(h.finished, s)
	for len(h.finished) > h.opt.MaxFinished {
		h.forget(h.finished[0])
		h.finished = h.finished[1:]
	}
	h.publishSession(s)
}

// forget drops a session from the registry.
func (h *Hub) forget(s *session) {
	if h.sessions[s.id] == s {
		delete(h.sessions, s.id)
	}
	if !s.final {
		h.nOpen--
		s.final = true
	}
	h.histBytes -= s.histBytes
	s.hist, s.histBytes = nil, 0
}

// push appends an encoded line to a session's history and sends it to its
// viewers (h.mu held).
func (h *Hub) push(s *session, line []byte) {
	s.hist = append(s.hist, line)
	s.histBytes += len(line)
	h.histBytes += len(line)
	// Per session: drop whole lines from the front.
	drop := 0
	for s.histBytes > h.opt.History && drop < len(s.hist)-1 {
		s.histBytes -= len(s.hist[drop])
		h.histBytes -= len(s.hist[drop])
		drop++
	}
	if drop > 0 {
		s.hist = append(s.hist[:0], s.hist[drop:]...)
	}
	if h.histBytes > h.opt.HistoryTotal {
		h.trimHistory(s)
	}
	for v := range s.viewers {
		select {
		case v.ch <- line:
		default:
			h.closeViewer(s, v, true) // slow: dropped, never waited for
		}
	}
}

// trimHistory frees the history of the sessions active least recently
// until the total is back under half the budget (h.mu held).
func (h *Hub) trimHistory(keep *session) {
	all := make([]*session, 0, len(h.sessions))
	for _, s := range h.sessions {
		if s != keep && s.histBytes > 0 {
			all = append(all, s)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].seen.Before(all[j].seen) })
	for _, s := range all {
		if h.histBytes <= h.opt.HistoryTotal/2 {
			break
		}
		h.histBytes -= s.histBytes
		s.hist, s.histBytes = nil, 0
		s.histCut = true
	}
}

// session is one session's live state.
type session struct {
	id, proto  string
	start      int64 // packet time of the first packet, ns
	last       int64 // packet time of the latest thing known
	seen       time.Time
	base       *record.Record // latest record (interim or final), or one made from the open notice
	synthetic  bool
	final      bool
	finishedAt time.Time
	terminal   bool // its live stream is a terminal (Telnet, rlogin, rsh)

	// learned from events since base
	user         string
	userLoggedIn bool
	attempts     int
	success      *bool
	cmds         []string
	kind         string
	nEvents      int
	nAlerts      int

	hist      [][]byte // encoded asciicast lines, oldest first
	histBytes int
	histCut   bool
	carry     [2][]byte // an unfinished UTF-8 rune per stream
	// pendingText: lines of the textual feed (non-terminal sessions) not yet sent
	pendingText [][]byte
	viewers     map[*viewer]struct{}
}

func (s *session) touch(ts int64) {
	if ts > s.last {
		s.last = ts
	}
	s.seen = time.Now()
}

// castLine encodes one asciicast v2 event, at packet time ts, keeping an
// unfinished UTF-8 rune for the stream's next chunk.
func (s *session) castLine(ts int64, code byte, stream int, data []byte) []byte {
	if c := s.carry[stream]; len(c) > 0 {
		data = append(c, data...)
		s.carry[stream] = nil
	}
	if n := partialTail(data); n > 0 {
		s.carry[stream] = bytes.Clone(data[len(data)-n:])
		data = data[:len(data)-n]
	}
	return castEvent(float64(max(ts-s.start, 0))/1e9, code, data)
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

// viewer is one live stream's buffer.
type viewer struct {
	ch      chan []byte
	dropped bool // closed because it was slow (set before ch is closed)
}

// closeViewer ends a viewer's stream (h.mu held).
func (h *Hub) closeViewer(s *session, v *viewer, slow bool) {
	if _, ok := s.viewers[v]; !ok {
		return
	}
	delete(s.viewers, v)
	v.dropped = slow
	if slow {
		h.viewersDropped.Add(1)
	}
	close(v.ch)
}
