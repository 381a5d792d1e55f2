package engine

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/capture/decode"
	"github.com/psmtap/psmtap/capture/flow"
	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// frame builds a raw-IPv4 TCP packet (link type 101).
func frame(src, dst byte, sport, dport uint16, seq, ack uint32, flags uint8, payload string) []byte {
	b := make([]byte, 40+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	b[8], b[9] = 64, decode.ProtoTCP
	copy(b[12:], []byte{192, 0, 2, src})
	copy(b[16:], []byte{192, 0, 2, dst})
	t := b[20:]
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12] = 5 << 4
	t[13] = flags
	copy(t[20:], payload)
	return b
}

// conv drives one TCP connection between 192.0.2.1:sport and 192.0.2.2:dport.
type conv struct {
	e            *Engine
	sport, dport uint16
	seq          [2]uint32
	ts           int64
}

func newConv(e *Engine, sport, dport uint16, ts int64) *conv {
	return &conv{e: e, sport: sport, dport: dport, seq: [2]uint32{1000, 5000}, ts: ts}
}

func (c *conv) send(fromClient bool, flags uint8, payload string) {
	c.ts += 1e6
	i, src, dst, sp, dp := 0, byte(1), byte(2), c.sport, c.dport
	if !fromClient {
		i, src, dst, sp, dp = 1, 2, 1, c.dport, c.sport
	}
	f := frame(src, dst, sp, dp, c.seq[i], c.seq[1-i], flags|decode.FlagACK, payload)
	c.e.Packet(decode.LinkRaw, f, c.ts, len(f))
	c.seq[i] += uint32(len(payload))
	if flags&(decode.FlagSYN|decode.FlagFIN) != 0 {
		c.seq[i]++
	}
}

func (c *conv) handshake() {
	c.ts += 1e6
	f := frame(1, 2, c.sport, c.dport, c.seq[0], 0, decode.FlagSYN, "")
	c.e.Packet(decode.LinkRaw, f, c.ts, len(f))
	c.seq[0]++
	c.send(false, decode.FlagSYN, "")
}

func (c *conv) close() {
	c.send(true, decode.FlagFIN, "")
	c.send(false, decode.FlagFIN, "")
}

// boom is a test protocol: it matches "BOOM" and its parser panics on "!".
type boom struct{ probePanics bool }

func (boom) Name() string    { return "boom" }
func (boom) Ports() []uint16 { return nil }
func (b boom) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	if b.probePanics {
		panic("probe bug")
	}
	for i := 0; i < 2; i++ {
		if strings.HasPrefix(string(in.Data[i]), "BOOM") {
			return dissectors.ProbeResult{Verdict: dissectors.Match, Client: i}
		}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
}
func (boom) NewSession(*dissectors.Context) dissectors.Session { return &boomSession{} }

type boomSession struct{ fed int }

func (s *boomSession) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	s.fed += len(data)
	if bytes.IndexByte(data, '!') >= 0 {
		panic("parser bug")
	}
	return dissectors.Continue
}
func (s *boomSession) Gap(dissectors.Direction, int, int64) {}
func (s *boomSession) Close(r *record.Record)               { r.UserName = "fed" }

func newEngine(all bool, ds ...dissectors.Dissector) (*Engine, *[]*record.Record) {
	var out []*record.Record
	e := New(Config{Dissectors: ds, All: all, Emit: func(r *record.Record) { out = append(out, r) }})
	return e, &out
}

func TestParserPanicIsContained(t *testing.T) {
	e, out := newEngine(false, boom{})
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(true, 0, "BOOM hello")
	a.send(true, 0, "kaboom!")
	a.send(true, 0, "after the panic")
	a.close()
	b := newConv(e, 40001, 7000, 2e9)
	b.handshake()
	b.send(true, 0, "BOOM second flow")
	b.close()
	e.Flush()
	if len(*out) != 2 {
		t.Fatalf("%d records, want 2", len(*out))
	}
	first, second := (*out)[0], (*out)[1]
	if first.Protocol != "boom" || len(first.Anomalies) != 1 || first.Anomalies[0] != "parser.panic" {
		t.Fatalf("first: %+v", first)
	}
	if first.UserName != "" {
		t.Fatalf("detached parser's Close was called")
	}
	if second.UserName != "fed" || len(second.Anomalies) != 0 {
		t.Fatalf("second flow affected by the first's panic: %+v", second)
	}
	if e.Stats().Panics != 1 {
		t.Fatalf("panics = %d", e.Stats().Panics)
	}
}

func TestProbePanicIsNoMatch(t *testing.T) {
	e, out := newEngine(true, boom{probePanics: true})
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(true, 0, "BOOM")
	a.close()
	e.Flush()
	if len(*out) != 1 || (*out)[0].Protocol != "" || e.Stats().Panics != 1 {
		t.Fatalf("records %+v panics %d", *out, e.Stats().Panics)
	}
}

func TestRolesStatesAndCounters(t *testing.T) {
	e, out := newEngine(true, boom{})
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(false, 0, "BOOM from the server side") // content says endpoint 1 is client, handshake wins
	a.send(true, 0, "hi")
	a.send(false, decode.FlagRST, "")
	// Mid-stream flow: no SYN; content decides the roles.
	m := newConv(e, 50000, 7001, 1e9)
	m.send(false, 0, "BOOM")
	m.send(true, 0, "x")
	// Flow of no interest, with --all.
	o := newConv(e, 50001, 80, 1e9)
	o.handshake()
	o.send(true, 0, "GET / HTTP/1.1\r\n\r\n")
	o.close()
	e.Flush()
	if len(*out) != 3 {
		t.Fatalf("%d records", len(*out))
	}
	byPort := map[uint16]*record.Record{}
	for _, r := range *out {
		byPort[r.Server.Port()] = r
		if r.Server.Port() == 50000 || r.Server.Port() == 40000 {
			byPort[r.Client.Port()] = r
		}
	}
	r := byPort[7000]
	if r == nil || r.Client.Port() != 40000 || r.State != record.StateReset || r.ClientBytes != 2 || r.ServerBytes != 25 || r.ClientPkts != 2 {
		t.Fatalf("handshake flow: %+v", r)
	}
	r = byPort[50000]
	if r == nil || r.Client.Port() != 7001 || r.State != record.StatePartial {
		t.Fatalf("mid-stream flow: %+v", r)
	}
	r = byPort[80]
	if r == nil || r.Protocol != "" || r.State != record.StateClosed || r.CommunityID == "" || r.ID == "" {
		t.Fatalf("--all flow: %+v", r)
	}
}

func TestTimeoutAndEviction(t *testing.T) {
	var out []*record.Record
	cfg := Config{Dissectors: []dissectors.Dissector{boom{}}, Emit: func(r *record.Record) { out = append(out, r) }}
	cfg.Flow = flow.DefaultConfig()
	cfg.Flow.MaxFlows = 2
	cfg.Flow.Timeouts[flow.ClassSession] = 10e9
	e := New(cfg)
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(true, 0, "BOOM a")
	// 20 s of packet time later, another flow's packet expires the idle session.
	b := newConv(e, 40001, 7000, 21e9)
	b.handshake()
	b.send(true, 0, "BOOM b")
	if len(out) != 1 || out[0].Client.Port() != 40000 || out[0].State != record.StateTimeout {
		t.Fatalf("after idle: %+v", out)
	}
	// Two more flows with a limit of two: the oldest is evicted, and says so.
	c := newConv(e, 40002, 7000, 22e9)
	c.handshake()
	c.send(true, 0, "BOOM c")
	d := newConv(e, 40003, 7000, 23e9)
	d.handshake()
	d.send(true, 0, "BOOM d")
	e.Flush()
	evicted := 0
	for _, r := range out {
		for _, an := range r.Anomalies {
			if an == "flow.evicted" {
				evicted++
			}
		}
	}
	if len(out) != 4 || evicted == 0 {
		t.Fatalf("records %d evicted %d", len(out), evicted)
	}
	seen := map[string]bool{}
	for _, r := range out {
		if seen[r.ID] {
			t.Fatalf("session %s emitted twice", r.ID)
		}
		seen[r.ID] = true
	}
}

// TestSteadyStateAllocations: packets of an established, classified flow cost
// no allocation.
func TestSteadyStateAllocations(t *testing.T) {
	e, _ := newEngine(false, boom{})
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(true, 0, "GET / HTTP/1.1\r\n")
	a.send(false, 0, "HTTP/1.1 200 OK\r\n")
	payload := strings.Repeat("x", 1400)
	f := frame(2, 1, 7000, 40000, a.seq[1], a.seq[0], decode.FlagACK, payload)
	ts := int64(2e9)
	if n := testing.AllocsPerRun(1000, func() {
		binary.BigEndian.PutUint32(f[24:], a.seq[1])
		a.seq[1] += 1400
		ts += 1e3
		e.Packet(decode.LinkRaw, f, ts, len(f))
	}); n != 0 {
		t.Fatalf("%.2f allocations per packet", n)
	}
	// A session being parsed (in-order data to the parser) allocates nothing either.
	b := newConv(e, 40001, 7000, 3e9)
	b.handshake()
	b.send(true, 0, "BOOM")
	g := frame(1, 2, 40001, 7000, b.seq[0], b.seq[1], decode.FlagACK, payload)
	if n := testing.AllocsPerRun(1000, func() {
		binary.BigEndian.PutUint32(g[24:], b.seq[0])
		b.seq[0] += 1400
		ts += 1e3
		e.Packet(decode.LinkRaw, g, ts, len(g))
	}); n != 0 {
		t.Fatalf("%.2f allocations per parsed packet", n)
	}
}

// TestPortReuse: a new SYN on the 4-tuple of a closed connection starts a new session.
func TestPortReuse(t *testing.T) {
	e, out := newEngine(false, boom{})
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(true, 0, "BOOM one")
	a.close()
	b := newConv(e, 40000, 7000, 2e9)
	b.seq = [2]uint32{900000, 700000}
	b.handshake()
	b.send(true, 0, "BOOM two")
	b.close()
	e.Flush()
	if len(*out) != 2 || (*out)[0].ClientBytes != 8 || (*out)[1].ClientBytes != 8 || (*out)[0].ID == (*out)[1].ID {
		t.Fatalf("records: %d", len(*out))
	}
}

// TestGlobalReassemblyBudget: when out-of-order data across flows exceeds the
// budget, the flow adding to it declares its holes and says why.
func TestGlobalReassemblyBudget(t *testing.T) {
	var out []*record.Record
	e := New(Config{Dissectors: []dissectors.Dissector{boom{}}, MaxBufferedTotal: 100,
		Emit: func(r *record.Record) { out = append(out, r) }})
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(true, 0, "BOOM")
	for i := 0; i < 5; i++ { // 5 segments of 50 bytes, each after a 10-byte hole
		a.seq[0] += 10
		a.send(true, 0, strings.Repeat("z", 50))
	}
	if e.buffered > 100 {
		t.Fatalf("buffered %d > budget", e.buffered)
	}
	e.Flush()
	if e.buffered != 0 || len(out) != 1 || out[0].MissedBytes != 50 {
		t.Fatalf("buffered %d records %d missed %d", e.buffered, len(out), out[0].MissedBytes)
	}
	found := false
	for _, an := range out[0].Anomalies {
		found = found || an == "reassembly.memory_pressure"
	}
	if !found {
		t.Fatalf("anomalies %v", out[0].Anomalies)
	}
}

// TestInterimRecords: a long session gets a "start" snapshot once it has
// been open Interim long, then "info" ones, and one final "end" record; all
// share its event.id.
func TestInterimRecords(t *testing.T) {
	var out []*record.Record
	cfg := Config{Dissectors: []dissectors.Dissector{boom{}}, Interim: 60e9, Emit: func(r *record.Record) { out = append(out, r) }}
	e := New(cfg)
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(true, 0, "BOOM")
	for i := 0; i < 150; i++ { // 150 s of activity, one packet a second
		a.ts += 1e9
		a.send(true, 0, "x")
	}
	a.close()
	e.Flush()
	var types []string
	for _, r := range out {
		types = append(types, r.EventType)
		if r.ID != out[0].ID {
			t.Fatalf("ids differ")
		}
	}
	if strings.Join(types, ",") != "start,info,end" {
		t.Fatalf("event types %v", types)
	}
	if out[0].State != "" || out[2].State != record.StateClosed || out[0].End.After(out[1].End) {
		t.Fatalf("states %q %q", out[0].State, out[2].State)
	}
}

// talker is a test protocol that matches "HELO" and publishes events: a
// line "LOGIN u ok|bad" is a login attempt, any other line a command. Its
// snapshot says how many lines it saw.
type talker struct{}

func (talker) Name() string    { return "talker" }
func (talker) Ports() []uint16 { return nil }
func (talker) Probe(in *dissectors.ProbeInput) dissectors.ProbeResult {
	if strings.HasPrefix(string(in.Data[0]), "HELO") {
		return dissectors.ProbeResult{Verdict: dissectors.Match, Client: 0}
	}
	return dissectors.ProbeResult{Verdict: dissectors.NoMatch}
}
func (talker) NewSession(ctx *dissectors.Context) dissectors.Session { return &talkerSession{ctx: ctx} }

type talkerSession struct {
	ctx   *dissectors.Context
	lines int
}

func (s *talkerSession) Feed(dir dissectors.Direction, data []byte, ts int64) dissectors.Status {
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		s.lines++
		if f := strings.Fields(l); len(f) == 3 && f[0] == "LOGIN" {
			outcome := record.OutcomeFailure
			if f[2] == "ok" {
				outcome = record.OutcomeSuccess
			}
			s.ctx.Publish(record.LoginEvent(ts, f[1], outcome, "password", false))
		} else if l != "HELO" {
			s.ctx.Publish(record.CommandEvent(ts, l))
		}
	}
	return dissectors.Continue
}
func (s *talkerSession) Gap(dissectors.Direction, int, int64) {}
func (s *talkerSession) Close(r *record.Record)               { r.Commands = []string{"closed"} }
func (s *talkerSession) Snapshot(r *record.Record)            { r.Commands = []string{strconv.Itoa(s.lines)} }

// Events carry their session's context and id, in order, with the user of
// the login that succeeded; the session record has the same psm.session_id.
func TestActivityEvents(t *testing.T) {
	var recs []*record.Record
	var evs []*record.Event
	e := New(Config{Dissectors: []dissectors.Dissector{talker{}}, Observer: "obs",
		Emit: func(r *record.Record) { recs = append(recs, r) }, EmitEvent: func(ev *record.Event) { evs = append(evs, ev) }})
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(true, 0, "HELO\n")
	a.send(true, 0, "LOGIN mallory bad\n")
	a.send(true, 0, "ls\n")
	a.send(true, 0, "LOGIN alice ok\n")
	a.send(true, 0, "id\n")
	a.send(true, 0, "LOGIN bob bad\n")
	a.send(true, 0, "whoami\n")
	a.close()
	e.Flush()
	if len(recs) != 1 || len(evs) != 6 {
		t.Fatalf("%d records, %d events", len(recs), len(evs))
	}
	wantUsers := []string{"mallory", "mallory", "alice", "alice", "bob", "alice"}
	for i, ev := range evs {
		if ev.SessionID != recs[0].ID || ev.ID != recs[0].ID+"-"+strconv.Itoa(i+1) || ev.Sequence != i+1 {
			t.Errorf("event %d: ids %q %q seq %d, session %q", i, ev.SessionID, ev.ID, ev.Sequence, recs[0].ID)
		}
		if ev.Client != recs[0].Client || ev.Server != recs[0].Server || ev.Protocol != "talker" ||
			ev.CommunityID != recs[0].CommunityID || ev.Observer != "obs" || ev.Transport != "tcp" {
			t.Errorf("event %d context: %+v", i, ev)
		}
		if ev.UserName != wantUsers[i] {
			t.Errorf("event %d user %q, want %q", i, ev.UserName, wantUsers[i])
		}
		if ev.Time.Before(recs[0].Start) || ev.Time.After(recs[0].End) || i > 0 && ev.Time.Before(evs[i-1].Time) {
			t.Errorf("event %d at %v outside its session or out of order", i, ev.Time)
		}
	}
	if st := e.Stats(); st.Events != 6 {
		t.Fatalf("stats count %d events", st.Events)
	}
	b, _ := evs[2].MarshalJSON()
	for _, want := range []string{`"action":"login"`, `"outcome":"success"`, `"category":["authentication"]`,
		`"dataset":"psmtap.activity"`, `"session_id":"` + recs[0].ID + `"`, `"user":{"name":"alice"}`, `"method":"password"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("login event JSON lacks %s: %s", want, b)
		}
	}
}

// Without a listener, sessions see no publisher and nothing is counted.
func TestActivityEventsOff(t *testing.T) {
	e, recs := newEngine(false, talker{})
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(true, 0, "HELO\nls\n")
	a.close()
	e.Flush()
	if len(*recs) != 1 || e.Stats().Events != 0 {
		t.Fatalf("%d records, %d events", len(*recs), e.Stats().Events)
	}
}

// Interim records carry what the session learned so far (Snapshotter).
func TestInterimSnapshot(t *testing.T) {
	var out []*record.Record
	e := New(Config{Dissectors: []dissectors.Dissector{talker{}}, Interim: 60e9, Emit: func(r *record.Record) { out = append(out, r) }})
	a := newConv(e, 40000, 7000, 1e9)
	a.handshake()
	a.send(true, 0, "HELO\n")
	for i := 0; i < 70; i++ {
		a.ts += 1e9
		a.send(true, 0, "x\n")
	}
	a.close()
	e.Flush()
	if len(out) != 2 || out[0].EventType != "start" || len(out[0].Commands) != 1 {
		t.Fatalf("records %+v", out)
	}
	if n, _ := strconv.Atoi(out[0].Commands[0]); n < 50 || n > 71 {
		t.Fatalf("snapshot saw %q lines", out[0].Commands[0])
	}
	if out[1].Commands[0] != "closed" {
		t.Fatalf("final record %v", out[1].Commands)
	}
}
