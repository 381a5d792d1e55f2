package alertout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/psmtap/psmtap/index/spool"
)

// WebhookOptions configure one webhook.
type WebhookOptions struct {
	URL    string
	Header http.Header // added to every request (e.g. Authorization, from a file)
	TLS    *tls.Config // nil: the system's CAs, certificate verified
	// SpoolDir is this webhook's own spool directory (SpoolDirFor): alerts
	// wait there, in order, while the receiver is down.
	SpoolDir string
	SpoolMax int64         // bound of the spool (default 256 MiB); past it alerts are lost, loudly
	Queue    int           // alerts waiting in memory at most (default DefaultQueue)
	Timeout  time.Duration // one request (default 10s)
	Attempts int           // tries of one alert before it goes to the spool (default 4)
	// Backoff is the first wait between tries, doubled after each (default
	// 500ms) up to MaxBackoff (default 1m), which also bounds the wait
	// between attempts to send what waits in the spool.
	Backoff, MaxBackoff time.Duration
	// CloseTimeout bounds Close: past it what is left goes to the spool
	// without another try (default 10s).
	CloseTimeout time.Duration
	Logger       *slog.Logger
}

// WebhookStats are a webhook's counters.
type WebhookStats struct {
	Sent      int64 // taken by the receiver (2xx)
	Retried   int64 // POSTs sent again after a failure
	Spooled   int64 // alerts written to the spool (receiver down)
	FromSpool int64 // spooled alerts delivered later (counted in Sent too)
	Rejected  int64 // refused for good (4xx other than 408/429): in the spool's dead-letter.ndjson
	Dropped   int64 // lost: the queue or the spool full
	Waiting   int64 // in the spool now
}

// Webhook POSTs each alert as JSON to one URL, from a goroutine of its own.
type Webhook struct {
	opt     WebhookOptions
	log     *slog.Logger
	client  *http.Client
	sp      *spool.Spool
	display string

	mu      sync.Mutex // guards closed and sends on ch
	closed  bool
	ch      chan item
	done    chan struct{}
	ctx     context.Context // requests; cancelled at the Close deadline
	cancel  context.CancelFunc
	waiting int64 // the spool's count when it was closed

	sent, retried, spooled, fromSpool, rejected, drop atomic.Int64
}

// SpoolDirFor is the spool directory of the webhook at rawURL under base:
// one per URL, so that a receiver that is down holds up no other, and a
// later run with the same URL finds what waits for it.
func SpoolDirFor(base, rawURL string) string {
	sum := sha256.Sum256([]byte(rawURL))
	return filepath.Join(base, "webhook-"+hex.EncodeToString(sum[:8]))
}

// Redact shows a webhook URL without what may be a secret (path, query,
// user info): receivers often carry a token in the path.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "(bad URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// NewWebhook checks the URL, opens the webhook's spool and starts its
// goroutine; alerts left in the spool by an earlier run go first.
func NewWebhook(opt WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(opt.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("webhook %s: want an http:// or https:// URL", Redact(opt.URL))
	}
	if opt.SpoolDir == "" {
		return nil, errors.New("webhook: no spool directory")
	}
	if opt.SpoolMax <= 0 {
		opt.SpoolMax = 256 << 20
	}
	if opt.Queue <= 0 {
		opt.Queue = DefaultQueue
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Attempts <= 0 {
		opt.Attempts = 4
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 500 * time.Millisecond
	}
	if opt.MaxBackoff < opt.Backoff {
		opt.MaxBackoff = max(time.Minute, opt.Backoff)
	}
	if opt.CloseTimeout <= 0 {
		opt.CloseTimeout = 10 * time.Second
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.DiscardHandler)
	}
	sp, err := spool.Open(opt.SpoolDir, spool.Options{MaxBytes: opt.SpoolMax, SegmentBytes: 4 << 20})
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", Redact(opt.URL), err)
	}
	tlsCfg := opt.TLS
	if tlsCfg == nil {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	w := &Webhook{opt: opt, sp: sp, display: "webhook " + Redact(opt.URL),
		ch: make(chan item, opt.Queue), done: make(chan struct{})}
	w.log = opt.Logger.With("output", w.display)
	w.client = &http.Client{
		Timeout: opt.Timeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: opt.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:     tlsCfg,
			TLSHandshakeTimeout: opt.Timeout,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
		},
		// A redirect of a POST is a misconfigured URL: say so rather than follow.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	if u.Scheme == "http" {
		w.log.Warn("alerts go to this webhook in cleartext (http://)")
	}
	if n := sp.Pending(); n > 0 {
		w.log.Info("alerts wait in the webhook's spool from an earlier run; they go first", "waiting", n, "spool", sp.Dir())
	}
	go w.run()
	return w, nil
}

func (w *Webhook) name() string           { return w.display }
func (w *Webhook) dropped() *atomic.Int64 { return &w.drop }

func (w *Webhook) offer(it item) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	select {
	case w.ch <- it:
		return true
	default:
		return false
	}
}

// Stats returns the counters.
func (w *Webhook) Stats() WebhookStats {
	st := WebhookStats{Sent: w.sent.Load(), Retried: w.retried.Load(), Spooled: w.spooled.Load(),
		FromSpool: w.fromSpool.Load(), Rejected: w.rejected.Load(), Dropped: w.drop.Load()}
	select {
	case <-w.done:
		st.Waiting = w.waiting
	default:
		st.Waiting = w.sp.Pending()
	}
	return st
}

type verdict int

const (
	delivered verdict = iota
	retry             // the receiver is down or busy: try again later
	rejected          // refused for good
)

// post sends one alert once.
func (w *Webhook) post(id string, body []byte) (verdict, string) {
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, w.opt.URL, bytes.NewReader(body))
	if err != nil {
		return rejected, err.Error()
	}
	for k, vs := range w.opt.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "psmtap")
	// The alert's id (stable: event.id): a receiver that sees it twice (a
	// reply lost on the way back) can tell.
	req.Header.Set("Idempotency-Key", id)
	res, err := w.client.Do(req)
	if err != nil {
		return retry, err.Error()
	}
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20)) // let the connection be reused
	res.Body.Close()
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		return delivered, ""
	case res.StatusCode == 408 || res.StatusCode == 429 || res.StatusCode >= 500:
		return retry, res.Status
	}
	return rejected, res.Status + ": " + string(bytes.TrimSpace(msg))
}

// wait sleeps d, or less when the Close deadline comes first.
func (w *Webhook) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.ctx.Done():
		return false
	}
}

func (w *Webhook) backoff(n int) time.Duration {
	d := w.opt.Backoff << min(n, 20)
	if d <= 0 || d > w.opt.MaxBackoff {
		d = w.opt.MaxBackoff
	}
	return d
}

func (w *Webhook) run() {
	defer close(w.done)
	var retryAt time.Time // when to try the spool again; zero: now
	failures := 0         // spool attempts failed in a row
	down := false
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	drain := func() {
		if w.drainSpool() {
			if down {
				w.log.Info("webhook receiver answers again: alerts from the spool delivered", "sent", w.sent.Load(), "from_spool", w.fromSpool.Load())
			}
			down, failures = false, 0
			return
		}
		if !down {
			w.log.Warn("webhook receiver not answering: alerts go to the spool and are sent when it is back", "spool", w.sp.Dir())
		}
		down = true
		retryAt = time.Now().Add(w.backoff(failures))
		failures++
	}
	if w.sp.Pending() > 0 {
		drain()
	}
	for {
		var tick <-chan time.Time
		if w.sp.Pending() > 0 {
			timer.Reset(time.Until(retryAt))
			tick = timer.C
		}
		select {
		case it, ok := <-w.ch:
			if !ok {
				w.finish()
				return
			}
			if w.sp.Pending() > 0 {
				w.toSpool(it) // behind those waiting: order kept
				continue
			}
			if !w.deliver(it) {
				w.toSpool(it)
				if !down {
					w.log.Warn("webhook receiver not answering: alerts go to the spool and are sent when it is back", "spool", w.sp.Dir())
				}
				down = true
				retryAt = time.Now().Add(w.backoff(failures))
				failures++
			}
		case <-tick:
			drain()
		}
		if tick != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// deliver tries one alert up to Attempts times; false: not delivered (the
// caller spools it).
func (w *Webhook) deliver(it item) bool {
	for attempt := 0; attempt < w.opt.Attempts; attempt++ {
		if attempt > 0 {
			if !w.wait(w.backoff(attempt - 1)) {
				return false // past the Close deadline
			}
			w.retried.Add(1)
		}
		v, why := w.post(it.id, it.body)
		switch v {
		case delivered:
			w.sent.Add(1)
			return true
		case rejected:
			w.reject(it.id, it.body, why)
			return true
		}
		w.log.Debug("webhook POST failed", "id", it.id, "attempt", attempt+1, "err", why)
		if w.ctx.Err() != nil {
			return false
		}
	}
	return false
}

// drainSpool sends what waits in the spool, oldest first; true when the
// spool is empty after it.
func (w *Webhook) drainSpool() bool {
	_, err := w.sp.Drain(func(docs []spool.Doc) error {
		for _, d := range docs {
			w.retried.Add(1)
			v, why := w.post(d.ID, d.Body)
			switch v {
			case delivered:
				w.sent.Add(1)
				w.fromSpool.Add(1)
			case rejected:
				w.reject(d.ID, d.Body, why)
			default:
				return errors.New(why)
			}
		}
		return nil
	})
	return err == nil && w.sp.Pending() == 0
}

func (w *Webhook) toSpool(it item) {
	err := w.sp.Append([]spool.Doc{{Index: "alert", ID: it.id, Body: it.body}})
	if err == nil {
		w.spooled.Add(1)
		return
	}
	n := w.drop.Add(1)
	w.log.Error("ALERT LOST: the webhook's spool is full or cannot be written", "id", it.id, "rule", it.rule,
		"err", err, "spool", w.sp.Dir(), "lost_total", n)
}

// reject keeps a refused alert in dead-letter.ndjson in the spool
// directory, with the receiver's answer.
func (w *Webhook) reject(id string, body []byte, why string) {
	w.rejected.Add(1)
	w.log.Error("webhook receiver refused an alert; kept in the dead-letter file", "id", id, "answer", why,
		"file", filepath.Join(w.sp.Dir(), "dead-letter.ndjson"))
	line, _ := json.Marshal(map[string]any{"@timestamp": time.Now().UTC().Format(time.RFC3339Nano), "answer": why, "alert": json.RawMessage(body)})
	f, err := os.OpenFile(filepath.Join(w.sp.Dir(), "dead-letter.ndjson"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		w.log.Error("dead-letter file", "err", err)
		return
	}
	f.Write(append(line, '\n'))
	f.Sync()
	f.Close()
}

// finish: the queue is closed and empty. One more try at the spool while
// time is left; what stays there goes on the next run.
func (w *Webhook) finish() {
	if w.sp.Pending() > 0 && w.ctx.Err() == nil {
		w.drainSpool()
	}
	w.waiting = w.sp.Pending()
	w.sp.Close()
}

func (w *Webhook) close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.closed = true
	close(w.ch)
	w.mu.Unlock()
	// What is queued is tried as usual until the deadline; then requests
	// are cancelled and the rest goes to the spool.
	t := time.AfterFunc(w.opt.CloseTimeout, w.cancel)
	<-w.done
	t.Stop()
	w.cancel()
	st := w.Stats()
	w.log.Info("alert webhook", "sent", st.Sent, "retried", st.Retried, "spooled", st.Spooled, "from_spool", st.FromSpool,
		"rejected", st.Rejected, "dropped", st.Dropped, "waiting", st.Waiting)
	if st.Waiting > 0 {
		w.log.Warn("alerts wait in the webhook's spool; they are sent first by the next run with the same --alert-webhook",
			"waiting", st.Waiting, "spool", w.opt.SpoolDir)
	}
	if st.Dropped > 0 {
		return fmt.Errorf("%d alerts lost (queue or spool full)", st.Dropped)
	}
	return nil
}

// ReadHeaderFile reads HTTP headers for webhooks from a file, one
// "Name: value" a line (blank lines and # comments skipped): the way to give
// a token without putting it on the command line.
func ReadHeaderFile(path string) (http.Header, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" || strings.ContainsAny(name, " \t") || value == "" {
			// The line itself may be a secret: name only its number.
			return nil, fmt.Errorf("%s:%d: want \"Name: value\"", path, i+1)
		}
		h.Add(name, value)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("%s: no header in it", path)
	}
	return h, nil
}
