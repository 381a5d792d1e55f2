package sensor

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"
)

// API paths.
const (
	PathSessions = "/api/v1/sessions"
	PathEvents   = "/api/v1/events"
	PathMetrics  = "/metrics"
)

// ContentTypeCast is the live stream's media type.
const ContentTypeCast = "application/x-asciicast"

// TrailerEnd is the live stream's trailer saying how it ended: EndSession,
// EndDropped (the viewer did not keep up) or EndShutdown.
const TrailerEnd = "Psm-Stream-End"

// Values of TrailerEnd.
const (
	EndSession  = "session-ended"
	EndDropped  = "dropped"
	EndShutdown = "shutdown"
)

// writeTimeout bounds one write to a stream: a reader that takes longer is
// gone (its buffer in the hub filled long before, and it was dropped).
const writeTimeout = 10 * time.Second

// Server serves the API over a hub.
type Server struct {
	Hub *Hub
	// Token, when set, is required as "Authorization: Bearer <token>" on
	// every request (401 without it).
	Token  string
	Logger *slog.Logger
	// Heartbeat is how often an idle event stream gets a comment line
	// (default 15 s), so proxies and clients see it is alive.
	Heartbeat time.Duration
	// Mount, when set, adds routes to the API's mux (behind the token):
	// the web console's own endpoints (internal/console).
	Mount func(*http.ServeMux)
	// Static, when set, serves what is outside /api/ and /metrics without
	// the token: the console's page and scripts, which hold no data (a
	// browser cannot send a bearer token when it opens a page).
	Static http.Handler
	// Terminate, when set (live --enable-response terminate), queues the end of an
	// open session (POST .../{id}/terminate); nil answers 409: terminate is
	// not enabled (live --enable-response terminate).
	// It must not block; false means the request queue is full.
	Terminate func(id string) bool
}

// Handler returns the API's handler.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Heartbeat <= 0 {
		s.Heartbeat = 15 * time.Second
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathSessions, s.sessions)
	mux.HandleFunc("GET "+PathSessions+"/{id}", s.session)
	mux.HandleFunc("GET "+PathSessions+"/{id}/live", s.live)
	mux.HandleFunc("POST "+PathSessions+"/{id}/terminate", s.terminate)
	mux.HandleFunc("GET "+PathEvents, s.events)
	mux.HandleFunc("GET "+PathMetrics, s.metrics)
	if s.Mount != nil {
		s.Mount(mux)
	}
	return Guard(s.Token, s.Static, mux)
}

// Guard requires the bearer token (when one is set) on every request but
// those static serves: the paths outside /api/ and /metrics.
func Guard(token string, static, next http.Handler) http.Handler {
	var want [32]byte
	if token != "" {
		want = sha256.Sum256([]byte(token))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if static != nil && !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != PathMetrics {
			static.ServeHTTP(w, r)
			return
		}
		if token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="psmtap"`)
				httpError(w, http.StatusUnauthorized, "a bearer token is required")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// SessionList is GET /api/v1/sessions.
type SessionList struct {
	Sessions []*Entry `json:"sessions"`
}

func (s *Server) sessions(w http.ResponseWriter, r *http.Request) {
	var all bool
	switch st := r.URL.Query().Get("state"); st {
	case "", "open":
	case "all":
		all = true
	default:
		httpError(w, http.StatusBadRequest, fmt.Sprintf("state %q: use open or all", st))
		return
	}
	writeJSON(w, SessionList{Sessions: s.Hub.Sessions(all)})
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	e := s.Hub.Session(r.PathValue("id"))
	if e == nil {
		httpError(w, http.StatusNotFound, "no such session (or forgotten: finished ones are kept a while)")
		return
	}
	writeJSON(w, e)
}

// TerminateReply is POST /api/v1/sessions/{id}/terminate's answer (202):
// the request is queued; the outcome is psm.response on the session's
// record and a response event.
type TerminateReply struct {
	SessionID string `json:"session_id"`
	Status    string `json:"status"` // queued
}

func (s *Server) terminate(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if s.Terminate == nil {
		httpError(w, http.StatusConflict, "terminate is not enabled on this sensor: start live with --enable-response terminate --inject-interface IFACE")
		return
	}
	if e := s.Hub.Session(id); e == nil || !e.Open {
		httpError(w, http.StatusNotFound, "no such open session")
		return
	}
	if !s.Terminate(id) {
		httpError(w, http.StatusServiceUnavailable, "too many responses waiting; try again")
		return
	}
	s.Logger.Warn("terminate asked through the API", "session", id, "remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(TerminateReply{SessionID: id, Status: "queued"})
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	st, ok, err := s.Hub.Watch(r.PathValue("id"))
	if !ok {
		httpError(w, http.StatusNotFound, "no such session")
		return
	}
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer st.Close()
	w.Header().Set("Content-Type", ContentTypeCast)
	// How the stream ended, for clients that care (psmtap watch): a trailer,
	// since the body is asciicast and has no place for it.
	w.Header().Set("Trailer", TrailerEnd)
	end := func(why string) { w.Header().Set(TrailerEnd, why) }
	rc := http.NewResponseController(w)
	hdr, _ := json.Marshal(st.Header)
	rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := w.Write(append(hdr, '\n')); err != nil {
		return
	}
	for _, l := range st.Backlog {
		if _, err := w.Write(l); err != nil {
			return
		}
	}
	if rc.Flush() != nil {
		return
	}
	if st.Lines == nil {
		end(EndSession)
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case l, ok := <-st.Lines:
			if !ok {
				switch {
				case st.Dropped():
					end(EndDropped)
					s.Logger.Warn("live viewer too slow: dropped", "session", st.Header.SessionID, "remote", r.RemoteAddr)
				case st.Ended():
					end(EndSession)
				default:
					end(EndShutdown)
				}
				return
			}
			rc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := w.Write(l); err != nil {
				return
			}
			// Write what else waits before flushing: one flush per burst.
			for more := true; more; {
				select {
				case l, ok = <-st.Lines:
					if !ok {
						// back to the outer loop, which says why
						more = false
						break
					}
					if _, err := w.Write(l); err != nil {
						return
					}
				default:
					more = false
				}
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sub, err := s.Hub.Subscribe(Filter{Session: q.Get("session"), User: q.Get("user"), Protocol: q.Get("protocol")})
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer sub.Close()
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := w.Write([]byte(": psmtap events\nretry: 2000\n\n")); err != nil || rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(s.Heartbeat)
	defer beat.Stop()
	for {
		var b []byte
		select {
		case <-r.Context().Done():
			return
		case <-beat.C:
			b = []byte(": ping\n\n")
		case f, ok := <-sub.Frames:
			if !ok {
				if sub.Dropped() {
					s.Logger.Warn("event stream reader too slow: dropped", "remote", r.RemoteAddr)
				}
				return
			}
			b = f
		}
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil || rc.Flush() != nil {
			return
		}
	}
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	WriteMetrics(w, s.Hub.Metrics())
}

// CheckListen resolves --listen: a port alone, or an address without a
// host, means loopback. Anywhere but loopback needs TLS and a token: the
// API shows what privileged users type.
func CheckListen(addr string, tls, token bool) (string, error) {
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--listen %q: %w", addr, err)
	}
	if port == "" {
		return "", fmt.Errorf("--listen %q: no port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if !isLoopback(host) && !(tls && token) {
		return "", fmt.Errorf("--listen %s is not a loopback address: the API shows what privileged users type, so it needs --tls-cert, --tls-key and --api-token-file there", addr)
	}
	return net.JoinHostPort(host, port), nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ReadToken reads a token file: the first line, trimmed; empty is an error.
func ReadToken(data []byte) (string, error) {
	tok, _, _ := strings.Cut(string(data), "\n")
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", errors.New("the token file is empty")
	}
	return tok, nil
}
