package tls

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/psmtap/psmtap/internal/record"
)

// Fields is the "tls" object of the record (docs/fields.md, RDP and TLS).
// MarshalJSON writes it as Elastic reads TLS: what ECS defines under tls.*
// (and its tls.server.subject, issuer, not_before, not_after next to
// x509.*), the rest under tls.detailed.* as Packetbeat does.
type Fields struct {
	Version         string
	VersionProtocol string
	Cipher          string
	NextProtocol    string
	// Established: the server answered the hello and no fatal alert was
	// seen in clear (what is encrypted after the ServerHello cannot say more).
	Established bool
	Client      *Client
	Server      *Server
}

// Client is what the ClientHello said.
type Client struct {
	ServerName          string // tls.client.server_name (SNI)
	JA3                 string
	JA3String           string // tls.detailed.client.ja3_string
	JA4                 string // tls.detailed.client.ja4 (ECS has no JA4 field)
	Version             string // legacy_version, tls.detailed.client.version
	SupportedVersions   []string
	SupportedCiphers    []string // tls.client.supported_ciphers
	ALPN                []string
	Extensions          []uint16
	SupportedGroups     []uint16
	SignatureAlgorithms []uint16
}

// Server is what the ServerHello and the server certificate said.
type Server struct {
	JA3S       string
	JA3SString string // tls.detailed.server.ja3s_string
	X509       *X509
	Hash       *Hash
	// Subject and Issuer are the leaf certificate's distinguished names
	// (RFC 4514), ECS tls.server.subject and tls.server.issuer.
	Subject, Issuer string
	// CertificateCount is the number of certificates in the chain the
	// server sent (tls.detailed.server.certificate_count).
	CertificateCount int
}

type ecsTLS struct {
	Version         string       `json:"version,omitempty"`
	VersionProtocol string       `json:"version_protocol,omitempty"`
	Cipher          string       `json:"cipher,omitempty"`
	NextProtocol    string       `json:"next_protocol,omitempty"`
	Established     bool         `json:"established"`
	Client          *ecsClient   `json:"client,omitempty"`
	Server          *ecsServer   `json:"server,omitempty"`
	Detailed        *ecsDetailed `json:"detailed,omitempty"`
}

type ecsClient struct {
	ServerName       string   `json:"server_name,omitempty"`
	JA3              string   `json:"ja3,omitempty"`
	SupportedCiphers []string `json:"supported_ciphers,omitempty"`
}

type ecsServer struct {
	JA3S      string `json:"ja3s,omitempty"`
	Hash      *Hash  `json:"hash,omitempty"`
	Subject   string `json:"subject,omitempty"`
	Issuer    string `json:"issuer,omitempty"`
	NotBefore string `json:"not_before,omitempty"`
	NotAfter  string `json:"not_after,omitempty"`
	X509      *X509  `json:"x509,omitempty"`
}

type ecsDetailed struct {
	Client *detailedClient `json:"client,omitempty"`
	Server *detailedServer `json:"server,omitempty"`
}

type detailedClient struct {
	JA3String           string   `json:"ja3_string,omitempty"`
	JA4                 string   `json:"ja4,omitempty"`
	Version             string   `json:"version,omitempty"`
	SupportedVersions   []string `json:"supported_versions,omitempty"`
	ALPN                []string `json:"alpn,omitempty"`
	Extensions          []uint16 `json:"extensions,omitempty"`
	SupportedGroups     []uint16 `json:"supported_groups,omitempty"`
	SignatureAlgorithms []uint16 `json:"signature_algorithms,omitempty"`
}

type detailedServer struct {
	JA3SString       string `json:"ja3s_string,omitempty"`
	CertificateCount int    `json:"certificate_count,omitempty"`
}

// MarshalJSON writes the ECS layout (see Fields).
func (f *Fields) MarshalJSON() ([]byte, error) {
	o := ecsTLS{Version: f.Version, VersionProtocol: f.VersionProtocol, Cipher: f.Cipher,
		NextProtocol: f.NextProtocol, Established: f.Established}
	var det ecsDetailed
	if c := f.Client; c != nil {
		o.Client = &ecsClient{ServerName: c.ServerName, JA3: c.JA3, SupportedCiphers: c.SupportedCiphers}
		det.Client = &detailedClient{JA3String: c.JA3String, JA4: c.JA4, Version: c.Version,
			SupportedVersions: c.SupportedVersions, ALPN: c.ALPN, Extensions: c.Extensions,
			SupportedGroups: c.SupportedGroups, SignatureAlgorithms: c.SignatureAlgorithms}
	}
	if s := f.Server; s != nil {
		o.Server = &ecsServer{JA3S: s.JA3S, Hash: s.Hash, Subject: s.Subject, Issuer: s.Issuer, X509: s.X509}
		if s.X509 != nil {
			o.Server.NotBefore, o.Server.NotAfter = s.X509.NotBefore, s.X509.NotAfter
		}
		if s.JA3SString != "" || s.CertificateCount != 0 {
			det.Server = &detailedServer{JA3SString: s.JA3SString, CertificateCount: s.CertificateCount}
		}
	}
	if det.Client != nil || det.Server != nil {
		o.Detailed = &det
	}
	return json.Marshal(&o)
}

// AddFacts implements record.FactSource: the fingerprints, and the name the
// client asked for (an SNI that is an address is no domain: RFC 6066
// section 3 forbids it, yet RDP clients send one).
func (f *Fields) AddFacts(r *record.Facts) {
	if c := f.Client; c != nil {
		r.Hashes = append(r.Hashes, c.JA3, c.JA4)
		if c.ServerName != "" {
			if _, err := netip.ParseAddr(c.ServerName); err != nil {
				r.Hosts = append(r.Hosts, c.ServerName)
				r.Domain = c.ServerName
			}
		}
	}
	if s := f.Server; s != nil {
		r.Hashes = append(r.Hashes, s.JA3S)
		if h := s.Hash; h != nil {
			r.Hashes = append(r.Hashes, h.SHA256, h.SHA1)
		}
	}
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

// Hash is the certificate's digests (ECS tls.server.hash.*: upper-case hex of the DER).
type Hash struct {
	SHA256 string `json:"sha256"`
	SHA1   string `json:"sha1,omitempty"`
}

// HashOf digests a DER certificate.
func HashOf(der []byte) *Hash {
	s256, s1 := sha256.Sum256(der), sha1.Sum(der)
	return &Hash{SHA256: strings.ToUpper(hex.EncodeToString(s256[:])), SHA1: strings.ToUpper(hex.EncodeToString(s1[:]))}
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
		f.Established = !s.fatal
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
		f.Server.Hash = HashOf(leaf)
		x, bad := DescribeCertificate(leaf)
		f.Server.X509 = x
		if bad {
			anomalies = append(anomalies, "tls.bad_certificate")
		} else if c, err := x509.ParseCertificate(leaf); err == nil {
			f.Server.Subject, f.Server.Issuer = c.Subject.String(), c.Issuer.String()
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
