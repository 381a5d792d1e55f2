package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/psmtap/psmtap/internal/sensor"
)

// Archive is what psmtap serve shows: the session records and alerts in the
// files read -w and live -w wrote (rotated psmtap-*.ndjson.zst, or .ndjson),
// in a directory and below. Load reads them again (files still being
// written, .part, are left out); the handlers see the last complete load.
type Archive struct {
	Dir string
	// MaxSessions and MaxAlerts bound what is kept (default 100 000 and
	// 20 000): past them the oldest go.
	MaxSessions, MaxAlerts int

	mu   sync.RWMutex
	snap *archiveSnap
}

type archiveSnap struct {
	sessions []*archived // newest first
	byID     map[string]*archived
	alerts   []json.RawMessage // newest first
	files    int
	bad      int
}

// archived is one session: its last record (the final one when written).
type archived struct {
	entry     sensor.Entry
	final     bool
	recording string   // psm.recording.path
	hosts     []string // client and server addresses, observer
	commands  string   // the commands, lower case, one per line
}

// doc is what the archive reads of a document.
type doc struct {
	Timestamp time.Time `json:"@timestamp"`
	Event     struct {
		Dataset string    `json:"dataset"`
		ID      string    `json:"id"`
		Type    []string  `json:"type"`
		Start   time.Time `json:"start"`
		End     time.Time `json:"end"`
	} `json:"event"`
	Source      endpoint `json:"source"`
	Destination endpoint `json:"destination"`
	Network     struct {
		Protocol string `json:"protocol"`
	} `json:"network"`
	Observer struct {
		Hostname string `json:"hostname"`
	} `json:"observer"`
	User struct {
		Name string `json:"name"`
	} `json:"user"`
	Psm struct {
		SessionID json.RawMessage `json:"session_id"`
		Login     struct {
			Success *bool `json:"success"`
		} `json:"login"`
		Kind      string   `json:"kind"`
		Commands  []string `json:"commands"`
		Recording struct {
			Path string `json:"path"`
		} `json:"recording"`
	} `json:"psm"`
}

type endpoint struct {
	IP   string `json:"ip"`
	Port int    `json:"port"`
}

func (e endpoint) String() string {
	a, err := netip.ParseAddr(e.IP)
	if err != nil {
		return e.IP
	}
	return netip.AddrPortFrom(a, uint16(e.Port)).String()
}

func sessionIDs(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var many []string
	json.Unmarshal(raw, &many)
	return many
}

// maxLine bounds one document (a record holds at most 10 000 commands of
// 4 KiB and 64 KiB of screen text).
const maxLine = 64 << 20

// Load reads the directory again.
func (a *Archive) Load(ctx context.Context) error {
	maxS, maxA := a.MaxSessions, a.MaxAlerts
	if maxS <= 0 {
		maxS = 100000
	}
	if maxA <= 0 {
		maxA = 20000
	}
	var files []string
	err := filepath.WalkDir(a.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && (strings.HasSuffix(p, ".ndjson.zst") || strings.HasSuffix(p, ".ndjson")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("records: %w", err)
	}
	sort.Strings(files) // rotated names carry their start time: written order
	s := &archiveSnap{byID: map[string]*archived{}}
	alertsPer := map[string]int{}
	var alerts []json.RawMessage
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		bad, err := readDocs(f, func(line []byte, d *doc) {
			switch d.Event.Dataset {
			case "psmtap.session":
				s.add(line, d)
			case "psmtap.alert":
				alerts = append(alerts, json.RawMessage(line))
				if len(alerts) > 2*maxA { // keep the newest
					alerts = append(alerts[:0], alerts[len(alerts)-maxA:]...)
				}
				for _, id := range sessionIDs(d.Psm.SessionID) {
					alertsPer[id]++
				}
			}
		})
		if err != nil {
			return err
		}
		s.files++
		s.bad += bad
	}
	for id, n := range alertsPer {
		if x := s.byID[id]; x != nil {
			x.entry.Alerts = n
		}
	}
	s.sessions = make([]*archived, 0, len(s.byID))
	for _, x := range s.byID {
		s.sessions = append(s.sessions, x)
	}
	sort.Slice(s.sessions, func(i, j int) bool {
		a, b := s.sessions[i].entry, s.sessions[j].entry
		if !a.Start.Equal(b.Start) {
			return a.Start.After(b.Start)
		}
		return a.ID < b.ID
	})
	if len(s.sessions) > maxS {
		for _, x := range s.sessions[maxS:] {
			delete(s.byID, x.entry.ID)
		}
		s.sessions = s.sessions[:maxS]
	}
	if len(alerts) > maxA {
		alerts = alerts[len(alerts)-maxA:]
	}
	for i, j := 0, len(alerts)-1; i < j; i, j = i+1, j-1 {
		alerts[i], alerts[j] = alerts[j], alerts[i]
	}
	s.alerts = alerts
	a.mu.Lock()
	a.snap = s
	a.mu.Unlock()
	return nil
}

// Stats says how many files, sessions and alerts the last load found, and
// how many lines were no document.
func (a *Archive) Stats() (files, sessions, alerts, bad int) {
	s := a.get()
	return s.files, len(s.sessions), len(s.alerts), s.bad
}

func (s *archiveSnap) add(line []byte, d *doc) {
	final := false
	for _, t := range d.Event.Type {
		final = final || t == "end"
	}
	id := d.Event.ID
	if id == "" {
		return
	}
	if old := s.byID[id]; old != nil && old.final && !final {
		return // a late interim copy does not replace the final record
	}
	start := d.Event.Start
	if start.IsZero() {
		start = d.Timestamp
	}
	e := sensor.Entry{ID: id, Protocol: d.Network.Protocol, User: d.User.Name, Client: d.Source.String(),
		Server: d.Destination.String(), Start: start.UTC(), Last: d.Event.End.UTC(), Kind: d.Psm.Kind,
		Commands: len(d.Psm.Commands), Open: !final, Record: json.RawMessage(line)}
	e.Terminal = e.Protocol == "telnet" || e.Protocol == "rlogin"
	if e.Last.IsZero() {
		e.Last = e.Start
	}
	if d.Psm.Login.Success != nil {
		e.Login = map[bool]string{true: "success", false: "failure"}[*d.Psm.Login.Success]
	}
	s.byID[id] = &archived{entry: e, final: final, recording: d.Psm.Recording.Path,
		hosts:    []string{d.Source.IP, d.Destination.IP, strings.ToLower(d.Observer.Hostname)},
		commands: strings.ToLower(strings.Join(d.Psm.Commands, "\n"))}
}

// readDocs calls fn with each line of a file that is a JSON document; it
// returns how many were not.
func readDocs(path string, fn func([]byte, *doc)) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".zst") {
		dec, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		defer dec.Close()
		r = dec
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	bad := 0
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var d doc
		if json.Unmarshal(line, &d) != nil {
			bad++
			continue
		}
		fn(append([]byte(nil), line...), &d)
	}
	if err := sc.Err(); err != nil {
		// A file cut short (a sensor that stopped hard) still gives what it had.
		bad++
	}
	return bad, nil
}

func (a *Archive) get() *archiveSnap {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.snap == nil {
		return &archiveSnap{byID: map[string]*archived{}}
	}
	return a.snap
}

// Lookup returns a session's recording path (for Recordings).
func (a *Archive) Lookup(id string) (string, bool) {
	x := a.get().byID[id]
	if x == nil {
		return "", false
	}
	return x.recording, true
}

// Query is a search over the archive; zero fields match all.
type Query struct {
	User, Host, Protocol string
	Since, Until         time.Time // the session started in [Since, Until)
	Text                 string    // in a command typed (case-insensitive)
	Limit                int
}

func (q *Query) match(x *archived) bool {
	e := &x.entry
	if q.User != "" && !strings.EqualFold(q.User, e.User) {
		return false
	}
	if q.Protocol != "" && !strings.EqualFold(q.Protocol, e.Protocol) {
		return false
	}
	if q.Host != "" {
		h, ok := strings.ToLower(q.Host), false
		for _, v := range x.hosts {
			ok = ok || (v != "" && strings.Contains(v, h))
		}
		if !ok {
			return false
		}
	}
	if !q.Since.IsZero() && e.Start.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !e.Start.Before(q.Until) {
		return false
	}
	return q.Text == "" || strings.Contains(x.commands, strings.ToLower(q.Text))
}

// Search returns the sessions that match, newest first, at most q.Limit,
// and how many matched in all. Their Record is left out (GET the session).
func (a *Archive) Search(q Query) ([]*sensor.Entry, int) {
	out := []*sensor.Entry{}
	n := 0
	for _, x := range a.get().sessions {
		if !q.match(x) {
			continue
		}
		n++
		if len(out) < q.Limit {
			e := x.entry
			e.Record = nil
			out = append(out, &e)
		}
	}
	return out, n
}

// ArchiveList is GET /api/v1/sessions on psmtap serve.
type ArchiveList struct {
	Sessions []*sensor.Entry `json:"sessions"`
	Total    int             `json:"total"` // matches, of which the first limit are listed
}

// parseWhen reads a time in a query: RFC 3339, or a date (UTC).
func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q: not a time (2026-11-26, 2026-11-26T00:09, or RFC 3339)", s)
}

// Mount adds the archive's endpoints: GET /api/v1/sessions (search),
// /api/v1/sessions/{id}, /api/v1/alerts.
func (a *Archive) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+sensor.PathSessions, func(w http.ResponseWriter, r *http.Request) {
		v := r.URL.Query()
		q := Query{User: v.Get("user"), Host: v.Get("host"), Protocol: v.Get("protocol"), Text: v.Get("q"), Limit: 500}
		var err error
		if q.Since, err = parseWhen(v.Get("since")); err == nil {
			q.Until, err = parseWhen(v.Get("until"))
		}
		if err != nil {
			jsonError(w, http.StatusBadRequest, err.Error())
			return
		}
		if l := v.Get("limit"); l != "" {
			n, err := strconv.Atoi(l)
			if err != nil || n < 1 || n > 5000 {
				jsonError(w, http.StatusBadRequest, "limit: 1 to 5000")
				return
			}
			q.Limit = n
		}
		list, total := a.Search(q)
		writeJSON(w, ArchiveList{Sessions: list, Total: total})
	})
	mux.HandleFunc("GET "+sensor.PathSessions+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		x := a.get().byID[r.PathValue("id")]
		if x == nil {
			jsonError(w, http.StatusNotFound, "no such session")
			return
		}
		e := x.entry
		writeJSON(w, &e)
	})
	mux.HandleFunc("GET "+PathAlerts, func(w http.ResponseWriter, r *http.Request) {
		s := a.get()
		sess := r.URL.Query().Get("session")
		out := []json.RawMessage{}
		for _, al := range s.alerts {
			if len(out) == 500 {
				break
			}
			if sess != "" {
				var d doc
				json.Unmarshal(al, &d)
				found := false
				for _, id := range sessionIDs(d.Psm.SessionID) {
					found = found || id == sess
				}
				if !found {
					continue
				}
			}
			out = append(out, al)
		}
		writeJSON(w, map[string]any{"alerts": out})
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
