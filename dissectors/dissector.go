// Package dissectors holds the contract between the flow engine and the
// protocol parsers, and the registry the parsers join from their init().
//
// Detection is by content: the engine shows every candidate the first bytes
// each endpoint sent (Probe), and the first one to say Match gets the flow.
// Ports are only hints, used to break ties and to pick the server when the
// TCP handshake was not seen. The protocol packages live one per directory:
// dissectors/ssh, dissectors/rdp, dissectors/telnet, dissectors/rlogin,
// dissectors/rsh, dissectors/ftp, dissectors/vnc.
package dissectors

import (
	"fmt"
	"net/netip"
	"sort"
	"sync"

	"github.com/psmtap/psmtap/internal/record"
)

// Verdict is a probe's answer.
type Verdict uint8

// Probe verdicts.
const (
	NeedMore Verdict = iota // not enough bytes yet to say
	Match                   // this is my protocol
	NoMatch                 // this is not my protocol; do not ask again
)

// Endpoint indexes in a ProbeInput are the flow's two endpoints, in an order
// fixed by the engine (not by role).
const Unknown = -1

// ProbeInput shows a candidate what each endpoint sent so far.
type ProbeInput struct {
	// Data[i] is the prefix of the byte stream endpoint i sent (bounded).
	Data [2][]byte
	// Port[i] is endpoint i's TCP port.
	Port [2]uint16
	// Done[i] is true when endpoint i will send nothing more in this probe
	// window (FIN, RST, flow end, or the probe buffer is full).
	Done [2]bool
	// Client is the endpoint the TCP handshake names as client (SYN sender),
	// or Unknown when the handshake was not captured.
	Client int
	// UDP is true for a UDP flow (only DatagramDissectors are asked).
	UDP bool
}

// ProbeResult is a candidate's answer. When Verdict is Match, Client names
// the endpoint that is the client by protocol content, or Unknown to let the
// handshake (or the ports) decide.
type ProbeResult struct {
	Verdict Verdict
	Client  int
}

// Direction of bytes within a session, once roles are known.
type Direction uint8

// Directions.
const (
	FromClient Direction = 0
	FromServer Direction = 1
)

func (d Direction) String() string {
	if d == FromClient {
		return "client"
	}
	return "server"
}

// Status tells the engine whether a session wants more bytes.
type Status uint8

// Session statuses.
const (
	Continue Status = iota
	// Done: nothing more to learn from content (e.g. SSH after NEWKEYS); the
	// engine stops reassembling and only counts packets.
	Done
)

// Session parses one flow. The engine calls it from one goroutine, in packet
// order; data slices are borrowed (copy what you keep).
type Session interface {
	// Feed gives the next bytes of one direction's stream. ts is packet time (ns).
	Feed(dir Direction, data []byte, ts int64) Status
	// Gap says n bytes of dir's stream were lost by the capture.
	Gap(dir Direction, n int, ts int64)
	// Close ends the session: write everything learned into r. The fields
	// every session has (addresses, counters, psm.state) are already set.
	// Events still pending (a login whose outcome never came) are published
	// here, before Close returns.
	Close(r *record.Record)
}

// Snapshotter is implemented by sessions that can say what they learned so
// far without ending: the engine calls Snapshot for the interim records of
// long sessions (user, login, protocol facts). r is a copy the session may
// fill but must not keep; nothing in the session may change.
type Snapshotter interface {
	Snapshot(r *record.Record)
}

// Dissector is one protocol.
type Dissector interface {
	// Name is the value of network.protocol, e.g. "ssh".
	Name() string
	// Ports are the well-known ports, used only as hints.
	Ports() []uint16
	// Probe looks at the first bytes of a flow. It must be cheap and must not
	// keep the slices.
	Probe(in *ProbeInput) ProbeResult
	// NewSession starts parsing a flow this dissector matched.
	NewSession(ctx *Context) Session
}

// Context is what a new session is given.
type Context struct {
	// Record is the session's record; a session may note anomalies in it as
	// it goes, and fills it in Close.
	Record *record.Record
	// Client and Server are the flow's endpoints, once roles are decided.
	Client, Server netip.AddrPort
	// Transport is "tcp" or "udp".
	Transport string
	// Options are the operator's choices that parsers must respect.
	Options *Options
	// Expect announces a related connection that this session opened on the
	// wire (an FTP data connection after PASV/PORT, rsh's stderr
	// back-connection): when a TCP connection from Expectation.From to
	// Expectation.To starts within the deadline, its bytes go to the
	// session the expectation builds, and it gets no record of its own.
	// Nil when the engine cannot follow related connections.
	Expect func(Expectation)
	// Events receives the session's activity events (login attempts,
	// commands, files...) as they happen; nil when nobody listens. Use
	// Publish, which checks.
	Events func(*record.Event)
	// Live receives an interactive session's terminal bytes as they are
	// decoded, for the sensor's live view: server output, and client input
	// masked exactly as in recordings. nil when nobody watches. data is
	// borrowed; the callee copies what it keeps and must never block.
	Live func(dir Direction, ts int64, data []byte)
}

// Listening reports whether activity events are wanted: a dissector may
// skip building them when not.
func (c *Context) Listening() bool { return c != nil && c.Events != nil }

// Publish sends an activity event that happened now (ev.Time is packet
// time). The engine adds the session's context: addresses, protocol,
// session id, sequence, and the user when ev has none.
func (c *Context) Publish(ev *record.Event) {
	if c != nil && c.Events != nil && ev != nil {
		c.Events(ev)
	}
}

// TermLive adapts Live for internal/term's Terminal.Live (input: bytes from
// the client); nil when nobody watches.
func (c *Context) TermLive() func(input bool, ts int64, data []byte) {
	if c == nil || c.Live == nil {
		return nil
	}
	live := c.Live
	return func(input bool, ts int64, data []byte) {
		dir := FromServer
		if input {
			dir = FromClient
		}
		live(dir, ts, data)
	}
}

// Options are run-wide choices passed to every session.
type Options struct {
	// RevealCredentials turns off password masking (--reveal-credentials).
	RevealCredentials bool
	// RecordingsDir, when set, asks interactive sessions for timed
	// recordings in that directory (--recordings).
	RecordingsDir string
	// WaitForRecordings lets a recorder that runs off the packet path make
	// the reader wait when it falls behind, instead of dropping (and
	// marking the recording incomplete). For reading files (psmtap read),
	// where nothing is lost by waiting; live capture never waits.
	WaitForRecordings bool
	// NoClipboardContent keeps clipboard text out of events: only the
	// direction and the length (--no-clipboard-content).
	NoClipboardContent bool
}

// Expectation is a related connection announced by a session.
type Expectation struct {
	// From is the connecting side: its port may be 0 (any port).
	From netip.AddrPort
	// To is where the connection goes (address and port must match).
	To netip.AddrPort
	// Deadline is the packet time (ns) after which the expectation lapses.
	Deadline int64
	// Session builds the parser for the related connection's bytes. Its
	// Close receives a scratch record that is not written anywhere: report
	// what matters through the parent session instead.
	Session func() Session
}

// Tunnel is implemented by the dissectors of proxy handshakes (SOCKS, HTTP
// CONNECT): their Probe says Match once the client's request and the
// proxy's acceptance are both there. The engine then asks Unwrap what the
// handshake took, takes it off the stream, and detects again on the bytes
// after it, as if the connection began there. The session found inside
// gets the record, with Proxy in psm.proxy. NewSession is never called.
type Tunnel interface {
	Dissector
	Unwrap(in *ProbeInput) Unwrapped
}

// Unwrapped is a completed proxy handshake.
type Unwrapped struct {
	// Consumed is how many bytes of each endpoint's data the handshake took.
	Consumed [2]int
	// Client is the endpoint that asked the proxy.
	Client int
	// TargetPort is the port asked for: the port hint for what follows.
	TargetPort uint16
	Proxy      record.Proxy
}

// DatagramDissector is implemented by dissectors that also recognise UDP
// flows (e.g. RDP over UDP). For UDP, ProbeInput.Data[i] holds the first
// datagram endpoint i sent, and Feed receives one datagram per call.
type DatagramDissector interface {
	Dissector
	// UDP reports whether UDP flows should be offered to this dissector.
	UDP() bool
}

var (
	mu       sync.Mutex
	registry = map[string]Dissector{}
)

// Register adds d. Registering a name twice is a programming error.
func Register(d Dissector) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[d.Name()]; dup {
		panic(fmt.Sprintf("dissectors: %q registered twice", d.Name()))
	}
	registry[d.Name()] = d
}

// All returns the registered dissectors sorted by name, without those named in
// disabled.
func All(disabled ...string) []Dissector {
	mu.Lock()
	defer mu.Unlock()
	off := map[string]bool{}
	for _, n := range disabled {
		off[n] = true
	}
	var out []Dissector
	for n, d := range registry {
		if !off[n] {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

// Names returns every registered name, sorted.
func Names() []string {
	var out []string
	for _, d := range All() {
		out = append(out, d.Name())
	}
	return out
}
