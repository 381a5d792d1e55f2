package ssh

import "github.com/psmtap/psmtap/dissectors"

// Session kind (psm.kind) from coarse traffic shape: volumes per direction,
// the share of small and large records, and which side speaks first after a
// silence. This is classification of the whole session, not inference of
// what was typed (DESIGN.md forbids keystroke inference from SSH timing).

const (
	smallRecord = 128  // bytes: a keystroke, an echo, a window adjust
	bigRecord   = 1000 // bytes: bulk data
	silence     = 300e6
)

type shapeCounts struct {
	chunks, bytes, small, big int
	initiations               int // records sent after both sides were silent
}

type shape struct {
	all, post [2]shapeCounts
	last      int64 // time of the last record, either side
	first     int64
	lastPost  int64
	firstPost int64
}

// chunk counts one record; it reports whether the record could change the
// kind mid-session (bulk, or the first after a silence: see early).
func (s *shape) chunk(dir dissectors.Direction, n int, ts int64, afterAuth bool) bool {
	initiated := s.last != 0 && ts-s.last >= silence
	add := func(c *shapeCounts) {
		c.chunks++
		c.bytes += n
		if n <= smallRecord {
			c.small++
		}
		if n >= bigRecord {
			c.big++
		}
		if initiated {
			c.initiations++
		}
	}
	add(&s.all[dir])
	if afterAuth {
		add(&s.post[dir])
		if s.firstPost == 0 {
			s.firstPost = ts
		}
		s.lastPost = ts
	}
	if s.first == 0 {
		s.first = ts
	}
	s.last = ts
	return afterAuth && (initiated || n >= bigRecord)
}

// early is the kind as soon as the traffic after the login is clear enough
// to say it while the session runs, or "": reverse and tunnel when kind says
// so (they need several exchanges after silences), file transfer when kind
// says so and the client has not yet started anything after a silence (the
// first download through a tunnel looks like a file transfer until the
// client starts a second one). Interactive and exec are only told at the
// end.
func (s *shape) early() string {
	switch k := s.kind(true); k {
	case KindReverse, KindTunnel:
		return k
	case KindFileTransfer:
		if s.post[dissectors.FromClient].initiations == 0 {
			return k
		}
	}
	return ""
}

// bulk is the side that carried the most bytes after the login, and how many.
func (s *shape) bulk() (dissectors.Direction, int64) {
	cl, sv := s.post[dissectors.FromClient].bytes, s.post[dissectors.FromServer].bytes
	if cl > sv {
		return dissectors.FromClient, int64(cl)
	}
	return dissectors.FromServer, int64(sv)
}

// Session kinds.
const (
	KindInteractive  = "interactive"
	KindExec         = "exec"
	KindFileTransfer = "file_transfer"
	KindTunnel       = "tunnel"
	KindReverse      = "reverse" // the server side drives: keystrokes flow to the client
	KindUnknown      = "unknown"
)

// kind classifies; usePost selects the counts after the login.
func (s *shape) kind(usePost bool) string {
	c := s.all
	if usePost {
		c = s.post
	}
	cl, sv := c[dissectors.FromClient], c[dissectors.FromServer]
	if cl.chunks+sv.chunks < 4 {
		return KindUnknown
	}
	hi, lo := cl, sv
	if sv.bytes > cl.bytes {
		hi, lo = sv, cl
	}
	switch {
	case sv.initiations >= 3 && sv.initiations > 2*cl.initiations && sv.small >= 10:
		// The server side starts the exchanges: someone types at the far end
		// of a remote forward (ssh -R) into a shell on the client's side.
		return KindReverse
	case cl.big+sv.big >= 16 && cl.initiations <= 1:
		// Bulk without pauses on the client side: scp, sftp, a tar over ssh.
		return KindFileTransfer
	case cl.initiations >= 1 && cl.small >= 10 && sv.small >= 8 && cl.big*4 < cl.chunks:
		// Many small records each way with pauses: a person at a terminal.
		return KindInteractive
	case (cl.big >= 4 || sv.big >= 4) && cl.initiations >= 2:
		// Repeated bulk exchanges after silences without typing: forwarded
		// connections (web pages through -L, a database through -R).
		return KindTunnel
	case hi.bytes >= 64<<10 && lo.bytes >= 16<<10:
		return KindTunnel
	case cl.small >= 20 && sv.small >= 20 && cl.big == 0 && cl.small*10 >= cl.chunks*9 && sv.small*2 >= sv.chunks:
		// Many small records each way, no bulk, even without a pause: typed
		// by a script or a quick typist (commands sent as soon as the prompt
		// shows). Counts over the whole session only.
		return KindInteractive
	case cl.chunks <= 16:
		return KindExec
	}
	return KindUnknown
}
