package ssh

import "github.com/psmtap/psmtap/dissectors"

// Login outcome from the sizes of encrypted records (psm.login.*, inferred).
//
// After NEWKEYS the client asks for the "ssh-userauth" service and the server
// accepts (SSH_MSG_SERVICE_ACCEPT, RFC 4253 §10: 17 bytes of payload). Then
// each authentication request of the client (RFC 4252 §5) gets exactly one
// final answer: USERAUTH_FAILURE, or USERAUTH_SUCCESS, whose payload is a
// single byte, the smallest message there is. Every other message a server
// sends during authentication carries at least as much as SERVICE_ACCEPT
// (a FAILURE names at least one method: 14 bytes or more, which pads to the
// same block count), so with any cipher and MAC a server record smaller than
// its SERVICE_ACCEPT is a SUCCESS: OpenSSH's is 16 bytes smaller, dropbear's
// (minimum packet length 16) 8 bytes smaller. The first FAILURE
// (usually the answer to the "none" probe OpenSSH sends first) calibrates the
// FAILURE size. Sizes are taken per TCP delivery, as messages of this phase
// are sent one per segment; where that fails, the fallback is what happened
// next: a login that failed cannot be followed by a working session.
//
// This looks only at record sizes and ordering, never at individual
// keystrokes (see DESIGN.md, lines not to cross).

type respClass uint8

const (
	respNone    respClass = iota // no answer yet
	respOther                    // banner, PK_OK, INFO_REQUEST, ...
	respFailure                  // USERAUTH_FAILURE
	respSuccess                  // USERAUTH_SUCCESS
)

type exchange struct {
	reqSize  int
	reqTS    int64
	resp     respClass
	respSize int
	respTS   int64
	// all server records until the client's next one
	srvChunks, srvBytes int
}

// maxExchanges bounds the tracked requests; a brute-force connection that
// tries more is summarised, not stored.
const maxExchanges = 64

type authInference struct {
	stage     uint8 // 0 wait SERVICE_REQUEST, 1 wait SERVICE_ACCEPT, 2 auth, 3 success seen
	accept    int   // SERVICE_ACCEPT record size
	failure   int   // learned USERAUTH_FAILURE size
	ex        []exchange
	extra     int // requests beyond maxExchanges
	after     [2]struct{ chunks, bytes int }
	lostTrack bool // a gap in the encrypted phase
}

func (a *authInference) done() bool { return a.stage == 3 }

func (a *authInference) gap() {
	if a.stage < 3 {
		a.lostTrack = true
	}
}

// chunk takes one encrypted delivery of size n from dir.
func (a *authInference) chunk(dir dissectors.Direction, n int, ts int64) {
	if a.lostTrack {
		return
	}
	switch a.stage {
	case 0:
		if dir == dissectors.FromClient {
			a.stage = 1
		}
	case 1:
		if dir == dissectors.FromServer {
			a.accept = n
			a.stage = 2
		}
	case 2:
		if dir == dissectors.FromClient {
			a.request(n, ts)
			return
		}
		if len(a.ex) == 0 {
			return // unsolicited server record (e.g. a late EXT_INFO)
		}
		e := &a.ex[len(a.ex)-1]
		if a.extra > 0 {
			e = &exchange{reqSize: e.reqSize} // beyond the cap: classify but do not store
		}
		e.srvChunks++
		e.srvBytes += n
		switch {
		case n < a.accept:
			e.resp, e.respSize, e.respTS = respSuccess, n, ts
			a.stage = 3
		case e.resp == respNone || e.resp == respOther:
			c := a.classify(n)
			if c == respFailure && a.failure == 0 {
				a.failure = n
			}
			if e.resp == respNone || c == respFailure {
				e.resp, e.respSize, e.respTS = c, n, ts
			}
		}
	default:
		a.after[dir].chunks++
		a.after[dir].bytes += n
	}
}

func (a *authInference) request(n int, ts int64) {
	if k := len(a.ex); k > 0 && a.ex[k-1].srvChunks == 0 {
		// No answer yet: this is more of the same request, split across
		// segments (some clients write a message in pieces).
		a.ex[k-1].reqSize += n
		return
	}
	if a.extra > 0 || len(a.ex) >= maxExchanges {
		a.extra++
		return
	}
	a.ex = append(a.ex, exchange{reqSize: n, reqTS: ts})
}

// classify sizes a non-success answer.
func (a *authInference) classify(n int) respClass {
	if a.failure != 0 {
		if n == a.failure {
			return respFailure
		}
		return respOther
	}
	// FAILURE carries a list of method names: a little larger than SUCCESS,
	// at most a few blocks larger than SERVICE_ACCEPT.
	if n >= a.accept && n <= a.accept+64 {
		return respFailure
	}
	return respOther
}

// result gives (success known, success, attempts).
func (a *authInference) result() (known, success bool, attempts int) {
	list, known, success := a.attempts(nil, false)
	return known, success, len(list)
}

// attempt is one login attempt as result counts it.
type attempt struct {
	success bool
	ts      int64 // when its answer came; 0 when no one record says
}

// attempts appends to buf the attempts result counts, in order, and says
// whether the outcome is known. live: the session goes on, so leave out what
// a later record could still change (an answered first request that may yet
// turn out to be a "none" probe) and what only the end can tell (a lone
// quick "none" and the client gave up; a working session that proves a
// login; requests beyond maxExchanges). What live returns is always the
// start of what the end will: the events published live stay true.
func (a *authInference) attempts(buf []attempt, live bool) (list []attempt, known, success bool) {
	list = buf
	ex := a.ex
	// OpenSSH and most clients first try "none" to learn the methods: a
	// request without credentials, smaller than the next one, answered at
	// once by FAILURE. It is not a login attempt.
	// Its answer may be coalesced with a pre-auth banner, so it is told by the
	// request's size, not the answer's.
	// Some clients send it twice (libssh's sample client does): leading
	// requests of the same size, answered at once, count as probes too.
	j, decided := probes(ex)
	switch {
	case live && !decided:
		return list, false, false
	case j > 0:
		ex = ex[j:]
	case len(ex) == 1 && ex[0].resp == respFailure && ex[0].respTS-ex[0].reqTS < 20e6 && a.after[0].chunks == 0:
		ex = ex[:0] // a lone quick "none" and the client gave up
	}
	for _, e := range ex {
		switch e.resp {
		case respFailure:
			list = append(list, attempt{ts: e.respTS})
		case respSuccess:
			list = append(list, attempt{success: true, ts: e.respTS})
			return list, true, true
		}
	}
	// No SUCCESS seen by size: a working session after the last FAILURE still
	// proves a login (the client kept talking and the server kept answering
	// with more than an authentication exchange would carry). Only the end
	// says so: a FAILURE may still come.
	if a.stage == 2 && !live {
		lastFail := -1
		for i, e := range a.ex {
			if e.resp == respFailure {
				lastFail = i
			}
		}
		var chunks, bytes int
		var ts int64
		for _, e := range a.ex[lastFail+1:] {
			chunks += e.srvChunks
			bytes += e.srvBytes
			if ts == 0 {
				ts = e.respTS
			}
		}
		if chunks >= 4 && bytes >= 2048 {
			return append(list, attempt{success: true, ts: ts}), true, true
		}
	}
	if !live {
		for range a.extra {
			list = append(list, attempt{})
		}
	}
	if a.lostTrack || a.stage < 2 {
		return list, false, false
	}
	return list, len(list) > 0, false
}

// unanswered reports whether the last request, not the first, got no final
// answer: a login attempt whose outcome the capture does not show.
func (a *authInference) unanswered() bool {
	n := len(a.ex)
	return a.stage == 2 && !a.lostTrack && a.extra == 0 && n >= 2 && a.ex[n-1].resp != respFailure && a.ex[n-1].resp != respSuccess
}

// quickAnswer is how fast a server refuses the "none" method; a refused
// password takes longer (PAM's fail delay, OpenSSH's own minimum delay).
const quickAnswer = 50e6

// probes returns how many leading exchanges are "none" probes: the first
// request, and any that repeat its size while answered at once, when a
// larger request follows. decided is false while every request so far could
// still be a probe (a later, larger request would make them so), or while
// the request that decides has no answer yet (more of it may come: request
// sums a request's pieces until the server answers).
func probes(ex []exchange) (n int, decided bool) {
	if len(ex) == 0 {
		return 0, false
	}
	if ex[0].resp == respSuccess {
		return 0, true
	}
	j := 1
	for j < len(ex) && ex[j].reqSize == ex[0].reqSize && ex[j].resp != respSuccess && ex[j].respTS-ex[j].reqTS < quickAnswer {
		j++
	}
	if j == len(ex) {
		return 0, false
	}
	decided = ex[j].srvChunks > 0
	if ex[0].reqSize < ex[j].reqSize {
		return j, decided
	}
	return 0, decided
}
