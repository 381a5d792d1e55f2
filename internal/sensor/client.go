package sensor

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Client talks to a sensor's API (psmtap sessions, psmtap watch).
type Client struct {
	Base  string // http(s)://host:port
	Token string
	HTTP  *http.Client
}

// NewClient builds a client; caFile, when set, is the PEM bundle that
// verifies the sensor's certificate.
func NewClient(base, token, caFile string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sensor URL %q: want http(s)://host:port", base)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Transport: tr}}, nil
}

func (c *Client) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+path, nil)
	if err != nil {
		return nil, err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		var e struct{ Error string }
		json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&e)
		return nil, fmt.Errorf("%s: %s %s", path, resp.Status, e.Error)
	}
	return resp, nil
}

// Sessions lists the sensor's open sessions (all: and the recently finished).
func (c *Client) Sessions(ctx context.Context, all bool) ([]*Entry, error) {
	path := PathSessions
	if all {
		path += "?state=all"
	}
	resp, err := c.get(ctx, path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var l SessionList
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l.Sessions, nil
}

// Terminate asks the sensor to end an open session (it must run with
// --enable-response terminate); the request is queued there.
func (c *Client) Terminate(ctx context.Context, id string) error {
	path := PathSessions + "/" + url.PathEscape(id) + "/terminate"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Base+path, nil)
	if err != nil {
		return err
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		var e struct{ Error string }
		json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&e)
		return fmt.Errorf("%s: %s %s", path, resp.Status, e.Error)
	}
	return nil
}

// ErrDropped: the sensor cut the stream because this viewer did not keep up.
var ErrDropped = errors.New("live stream: dropped by the sensor, this viewer was too slow")

// CastEvent is one event of a live stream.
type CastEvent struct {
	Time float64
	Code string
	Data string
}

// Live follows a session's live stream: header first, then each event as
// it comes, until the session ends (nil) or ctx is done.
func (c *Client) Live(ctx context.Context, id string, header func(CastHeader), event func(CastEvent) error) error {
	resp, err := c.get(ctx, PathSessions+"/"+url.PathEscape(id)+"/live")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	if !sc.Scan() {
		return errors.New("live stream: no header")
	}
	var h CastHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Version != 2 {
		return fmt.Errorf("live stream: not an asciicast v2 header: %v", err)
	}
	header(h)
	for sc.Scan() {
		var raw []json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &raw); err != nil || len(raw) != 3 {
			return fmt.Errorf("live stream: not an event: %.80q", sc.Text())
		}
		var e CastEvent
		if json.Unmarshal(raw[0], &e.Time) != nil || json.Unmarshal(raw[1], &e.Code) != nil || json.Unmarshal(raw[2], &e.Data) != nil {
			return fmt.Errorf("live stream: bad event: %.80q", sc.Text())
		}
		if err := event(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("live stream: %w", err)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch why := resp.Trailer.Get(TrailerEnd); why {
	case EndSession:
		return nil
	case EndDropped:
		return ErrDropped
	case EndShutdown:
		return errors.New("live stream: the sensor is shutting down")
	default:
		return fmt.Errorf("live stream: cut (%q)", why)
	}
}
