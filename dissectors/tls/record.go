package tls

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Fields is the "tls" object of the record (SCHEMA.md, RDP and TLS; ECS tls.*).
type Fields struct {
	Version         string  `json:"version,omitempty"`
	VersionProtocol string  `json:"version_protocol,omitempty"`
	Cipher          string  `json:"cipher,omitempty"`
	NextProtocol    string  `json:"next_protocol,omitempty"`
	Client          *Client `json:"client,omitempty"`
	Server          *Server `json:"server,omitempty"`
}

// Client is what the ClientHello said.
type Client struct {
	ServerName          string   `json:"server_name,omitempty"`
	JA3                 string   `json:"ja3,omitempty"`
	JA3String           string   `json:"ja3_string,omitempty"`
	JA4                 string   `json:"ja4,omitempty"`
	Version             string   `json:"version,omitempty"` // legacy_version
	SupportedVersions   []string `json:"supported_versions,omitempty"`
	SupportedCiphers    []string `json:"supported_ciphers,omitempty"`
	ALPN                []string `json:"alpn,omitempty"`
	Extensions          []uint16 `json:"extensions,omitempty"`
	SupportedGroups     []uint16 `json:"supported_groups,omitempty"`
	SignatureAlgorithms []uint16 `json:"signature_algorithms,omitempty"`
}

// Server is what the ServerHello and the server certificate said.
type Server struct {
	JA3S       string `json:"ja3s,omitempty"`
	JA3SString string `json:"ja3s_string,omitempty"`
	X509       *X509  `json:"x509,omitempty"`
	Hash       *Hash  `json:"hash,omitempty"`
	// CertificateCount is the number of certificates in the chain the server sent.
	CertificateCount int `json:"certificate_count,omitempty"`
}

// X509 is the server's (leaf) certificate, ECS x509.*.
type X509 struct {
	Subject          *Name    `json:"subject,omitempty"`
	Issuer           *Name    `json:"issuer,omitempty"`
	AlternativeNames []string `json:"alternative_names,omitempty"`
	NotBefore        string   `json:"not_before,omitempty"`
	NotAfter         string   `json:"not_after,omitempty"`
	SerialNumber     string   `json:"serial_number,omitempty"`
}

// Name is a distinguished name's common name.
type Name struct {
	CommonName string `json:"common_name,omitempty"`
}

// Hash is the certificate's digest (ECS tls.server.hash.sha256: upper-case hex of the DER).
type Hash struct {
	SHA256 string `json:"sha256"`
}

// CipherName is the IANA name of a cipher suite, or 0xNNNN.
func CipherName(id uint16) string {
	if n, ok := extraCiphers[id]; ok {
		return n
	}
	n := tls.CipherSuiteName(id)
	if strings.HasPrefix(n, "0x") {
		return fmt.Sprintf("0x%04X", id)
	}
	return n
}

// extraCiphers names suites that crypto/tls does not know (IANA registry).
var extraCiphers = map[uint16]string{
	0x0004: "TLS_RSA_WITH_RC4_128_MD5",
	0x0009: "TLS_RSA_WITH_DES_CBC_SHA",
	0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
	0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
	0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
	0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
	0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
	0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
	0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
	0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
	0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
	0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
	0x5600: "TLS_FALLBACK_SCSV",
	0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
	0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
	0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}

// Fields sums up what the stream learned; nil when it saw no hello at all.
// Anomalies found in the certificate are returned by name.
func (s *Stream) Fields() (*Fields, []string) {
	if s.Hello == nil && s.Server == nil {
		return nil, nil
	}
	var anomalies []string
	f := &Fields{}
	if h := s.Hello; h != nil {
		c := &Client{ServerName: h.ServerName, ALPN: h.ALPN, Extensions: h.Extensions,
			SupportedGroups: h.SupportedGroups, SignatureAlgorithms: h.SignatureAlgs}
		c.JA3String, c.JA3 = JA3(h)
		c.JA4, _ = JA4(h, false)
		c.Version, _ = VersionName(h.Version)
		for _, v := range h.SupportedVersions {
			if n, p := VersionName(v); n != "" && !IsGREASE(v) {
				c.SupportedVersions = append(c.SupportedVersions, p+n)
			}
		}
		for _, cs := range h.CipherSuites {
			if !IsGREASE(cs) {
				c.SupportedCiphers = append(c.SupportedCiphers, CipherName(cs))
			}
		}
		f.Client = c
	}
	if sh := s.Server; sh != nil {
		f.Version, f.VersionProtocol = VersionName(sh.ChosenVersion())
		f.Cipher = CipherName(sh.CipherSuite)
		f.NextProtocol = sh.ALPN
		sv := &Server{}
		sv.JA3SString, sv.JA3S = JA3S(sh)
		f.Server = sv
	}
	if len(s.Certs) > 0 {
		if f.Server == nil {
			f.Server = &Server{}
		}
		f.Server.CertificateCount = len(s.Certs)
		leaf := s.Certs[0]
		sum := sha256.Sum256(leaf)
		f.Server.Hash = &Hash{SHA256: strings.ToUpper(hex.EncodeToString(sum[:]))}
		x, bad := DescribeCertificate(leaf)
		f.Server.X509 = x
		if bad {
			anomalies = append(anomalies, "tls.bad_certificate")
		}
	}
	return f, anomalies
}

// DescribeCertificate reads the ECS x509 facts of a DER certificate; bad
// reports a certificate crypto/x509 cannot parse (x is then nil).
func DescribeCertificate(der []byte) (x *X509, bad bool) {
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, true
	}
	x = &X509{
		NotBefore:    c.NotBefore.UTC().Format(time.RFC3339),
		NotAfter:     c.NotAfter.UTC().Format(time.RFC3339),
		SerialNumber: strings.ToUpper(c.SerialNumber.Text(16)),
	}
	if c.Subject.CommonName != "" {
		x.Subject = &Name{CommonName: c.Subject.CommonName}
	}
	if c.Issuer.CommonName != "" {
		x.Issuer = &Name{CommonName: c.Issuer.CommonName}
	}
	x.AlternativeNames = append(x.AlternativeNames, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		x.AlternativeNames = append(x.AlternativeNames, ip.String())
	}
	x.AlternativeNames = append(x.AlternativeNames, c.EmailAddresses...)
	for _, u := range c.URIs {
		x.AlternativeNames = append(x.AlternativeNames, u.String())
	}
	return x, false
}
