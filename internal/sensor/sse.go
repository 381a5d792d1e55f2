package sensor

import "strings"

// Filter picks what an event stream receives; empty fields match anything.
type Filter struct {
	Session, User, Protocol string
}

func (f *Filter) match(session, user, proto string) bool {
	return (f.Session == "" || f.Session == session) &&
		(f.User == "" || f.User == user) &&
		(f.Protocol == "" || strings.EqualFold(f.Protocol, proto))
}

// Subscriber is one event stream: Frames delivers Server-Sent Events
// frames (event: event|alert|session); it is closed when the hub stops or
// the reader was too slow (Dropped).
type Subscriber struct {
	Frames  <-chan []byte
	ch      chan []byte
	filter  Filter
	dropped bool
	h       *Hub
}

// Dropped reports, once Frames is closed, whether the reader was too slow.
func (s *Subscriber) Dropped() bool { return s.dropped }

// Subscribe opens an event stream.
func (h *Hub) Subscribe(f Filter) (*Subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.streams >= h.opt.MaxViewers {
		return nil, ErrTooManyViewers
	}
	h.streams++
	ch := make(chan []byte, h.opt.ViewerBuffer)
	s := &Subscriber{Frames: ch, ch: ch, filter: f, h: h}
	h.subs[s] = struct{}{}
	return s, nil
}

// Close leaves the event stream.
func (s *Subscriber) Close() {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	h.streams--
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// dropSub ends a subscriber's stream (h.mu held).
func (h *Hub) dropSub(s *Subscriber, slow bool) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	s.dropped = slow
	if slow {
		h.viewersDropped.Add(1)
	}
	close(s.ch)
}

// fanOut sends a frame to every subscriber whose filter takes it, never
// waiting (h.mu held).
func (h *Hub) fanOut(frame []byte, take func(*Filter) bool) {
	for s := range h.subs {
		if !take(&s.filter) {
			continue
		}
		select {
		case s.ch <- frame:
		default:
			h.dropSub(s, true)
		}
	}
}

// sseFrame is one Server-Sent Events message; data is one line of JSON.
func sseFrame(event, id string, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(event)+len(id)+24)
	b = append(b, "event: "...)
	b = append(b, event...)
	if id != "" && !strings.ContainsAny(id, "\r\n") {
		b = append(b, "\nid: "...)
		b = append(b, id...)
	}
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}
