package es

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/index/es/standin"
)

// TLS and authentication against the stand-in served over HTTPS.
func TestTLSAndAuth(t *testing.T) {
	srv := standin.New()
	srv.APIKey = "aWQ6a2V5"
	srv.Username, srv.Password = "psmtap", "s3cret"
	srv.ServiceToken = "AAEAAWVsYXN0aWMvZmxlZXQtc2VydmVyL3Rva2VuLTE"
	ts := httptest.NewUnstartedServer(srv)
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are expected
	ts.StartTLS()
	defer ts.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600)
	sum := sha256.Sum256(ts.Certificate().Raw)
	fp := hex.EncodeToString(sum[:])

	info := func(cfg Config) int {
		cfg.URLs = []string{ts.URL}
		cl, err := NewClient(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := cl.Info()
		if err != nil {
			return -1
		}
		res.Body.Close()
		return res.StatusCode
	}
	cases := []struct {
		name string
		cfg  Config
		want int
	}{
		{"verification on by default", Config{APIKey: srv.APIKey}, -1},
		{"CA file + API key", Config{CAFile: caFile, APIKey: srv.APIKey}, 200},
		{"CA fingerprint + basic", Config{CAFingerprint: fp, Username: "psmtap", Password: "s3cret"}, 200},
		{"wrong fingerprint", Config{CAFingerprint: fp[:60] + "0000", APIKey: srv.APIKey}, -1},
		{"service token", Config{CAFile: caFile, ServiceToken: srv.ServiceToken}, 200},
		{"wrong password", Config{CAFile: caFile, Username: "psmtap", Password: "nope"}, 401},
		{"no credentials", Config{CAFile: caFile}, 401},
		{"insecure", Config{Insecure: true, APIKey: srv.APIKey}, 200},
	}
	for _, c := range cases {
		if got := info(c.cfg); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
	for _, c := range cases {
		s := c.cfg.String()
		for _, secret := range []string{srv.APIKey, "s3cret", srv.ServiceToken} {
			if secret != "" && contains(s, secret) {
				t.Errorf("Config.String shows a secret: %s", s)
			}
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
