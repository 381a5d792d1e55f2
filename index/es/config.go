// Package es ships session records to Elasticsearch through the
// go-elasticsearch bulk indexer, into the data stream
// logs-psmtap.session-<namespace> (activity events and alerts into
// logs-psmtap.activity-<namespace> and logs-psmtap.alert-<namespace>, signed
// checkpoints into logs-psmtap.integrity-<namespace>), and
// never loses a record: what the cluster
// does not acknowledge goes to a disk spool (index/spool) and is sent again
// later; what it rejects for good goes to a dead-letter file with the reason.
// docs/elasticsearch.md is the operator's description.
package es

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/psmtap/psmtap/internal/record"
)

// Config says how to reach the cluster. Secrets are never logged: String
// prints which kind of credential is set, not its value.
type Config struct {
	URLs          []string
	Username      string
	Password      string
	APIKey        string // base64 "id:key" as Elasticsearch returns it in "encoded"
	ServiceToken  string
	CAFile        string // PEM file of the CA(s) to trust
	CAFingerprint string // SHA-256 of a certificate in the server's chain, hex (colons allowed)
	Insecure      bool   // skip certificate verification (never the default)
	Timeout       time.Duration
	MaxRetries    int // re-sends of one request after a 429, 502, 503, 504 or a connection failure
}

// String describes the configuration without secrets.
func (c Config) String() string {
	auth := "none"
	switch {
	case c.APIKey != "":
		auth = "api-key"
	case c.ServiceToken != "":
		auth = "service-token"
	case c.Username != "":
		auth = "basic(" + c.Username + ")"
	}
	tlsMode := "system CAs"
	switch {
	case c.Insecure:
		tlsMode = "verification OFF"
	case c.CAFingerprint != "":
		tlsMode = "CA fingerprint"
	case c.CAFile != "":
		tlsMode = "CA file " + c.CAFile
	}
	return fmt.Sprintf("urls=%s auth=%s tls=%s", strings.Join(c.URLs, ","), auth, tlsMode)
}

// dataStream names the data stream of a dataset: logs-<dataset>-<namespace>
// (the namespace "default" when none is given).
func dataStream(dataset, namespace string) string {
	if namespace == "" {
		namespace = "default"
	}
	return "logs-" + dataset + "-" + namespace
}

// DataStream is the data stream records go to.
func DataStream(namespace string) string { return dataStream(record.DatasetSession, namespace) }

// ActivityDataStream is the data stream activity events go to.
func ActivityDataStream(namespace string) string {
	return dataStream(record.DatasetActivity, namespace)
}

// AlertDataStream is the data stream alerts go to.
func AlertDataStream(namespace string) string { return dataStream(record.DatasetAlert, namespace) }

// IntegrityDataStream is the data stream signed checkpoints go to (with
// --signing-key; index/integrity).
func IntegrityDataStream(namespace string) string { return dataStream("psmtap.integrity", namespace) }

// CheckNamespace applies Elastic's data stream naming rules to a namespace.
func CheckNamespace(ns string) error {
	if ns == "" || len(ns) > 100 || strings.ToLower(ns) != ns || strings.ContainsAny(ns, `-\/*?"<>| ,#:`) {
		return fmt.Errorf("namespace %q: lower case, no '-', none of \\/*?\"<>| ,#:, at most 100 bytes", ns)
	}
	return nil
}

type attemptsKey struct{}

// countingTransport counts attempts per logical request so that re-sends by
// the client's retry loop can be counted as retries.
type countingTransport struct {
	next    http.RoundTripper
	retried *atomic.Int64
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if n, ok := r.Context().Value(attemptsKey{}).(*atomic.Int64); ok {
		if n.Add(1) > 1 && t.retried != nil {
			t.retried.Add(1)
		}
	}
	return t.next.RoundTrip(r)
}

// withAttempts marks ctx so that the transport counts the attempts of one request.
func withAttempts(ctx context.Context) context.Context {
	return context.WithValue(ctx, attemptsKey{}, new(atomic.Int64))
}

// NewClient builds a go-elasticsearch client. retried, when not nil, counts
// re-sent requests.
func NewClient(cfg Config, retried *atomic.Int64) (*elasticsearch.Client, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("no Elasticsearch URL (--es-url or PSMTAP_ES_URL)")
	}
	tlsCfg, err := TLSConfig(cfg)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsCfg,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
	}
	retries := cfg.MaxRetries
	if retries < 0 {
		retries = 0
	}
	return elasticsearch.NewClient(elasticsearch.Config{
		Addresses:     cfg.URLs,
		Username:      cfg.Username,
		Password:      cfg.Password,
		APIKey:        cfg.APIKey,
		ServiceToken:  cfg.ServiceToken,
		Transport:     &countingTransport{next: tr, retried: retried},
		RetryOnStatus: []int{429, 502, 503, 504},
		MaxRetries:    retries,
		DisableRetry:  retries == 0,
		RetryBackoff: func(attempt int) time.Duration {
			d := 100 * time.Millisecond << min(attempt-1, 5)
			return d
		},
	})
}

// verifyPinned accepts a chain when a certificate in it has the pinned SHA-256
// and the leaf verifies up to that certificate.
func verifyPinned(chain []*x509.Certificate, want []byte) error {
	if len(chain) == 0 {
		return errors.New("server sent no certificate")
	}
	for _, c := range chain {
		sum := sha256.Sum256(c.Raw)
		if string(sum[:]) != string(want) {
			continue
		}
		if c == chain[0] {
			return nil
		}
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(c)
		for _, ic := range chain[1:] {
			inter.AddCert(ic)
		}
		if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
			return fmt.Errorf("server certificate does not chain to the pinned CA: %w", err)
		}
		return nil
	}
	return errors.New("no certificate in the server's chain has the configured CA fingerprint")
}

// TLSConfig builds the TLS settings of cfg (also used for Kibana).
func TLSConfig(cfg Config) (*tls.Config, error) {
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	if fp := strings.ToLower(strings.ReplaceAll(cfg.CAFingerprint, ":", "")); fp != "" {
		want, err := hex.DecodeString(fp)
		if err != nil || len(want) != sha256.Size {
			return nil, errors.New("CA fingerprint: want the SHA-256 of a certificate, 64 hex digits")
		}
		// Trust the chain when one of its certificates has that fingerprint
		// (what Elasticsearch prints at first start) and the leaf chains up to
		// it, as go-elasticsearch's own fingerprint pinning does.
		tlsCfg.InsecureSkipVerify = true
		tlsCfg.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyPinned(cs.PeerCertificates, want)
		}
	}
	if cfg.Insecure {
		tlsCfg.InsecureSkipVerify = true
		tlsCfg.VerifyConnection = nil
	}
	return tlsCfg, nil
}
