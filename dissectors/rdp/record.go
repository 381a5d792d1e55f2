package rdp

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/dissectors/tls"
	"github.com/psmtap/psmtap/internal/record"
)

// Fields is the "rdp" object of the record (SCHEMA.md, RDP and TLS).
type Fields struct {
	Cookie             string       `json:"cookie,omitempty"`
	RoutingToken       string       `json:"routing_token,omitempty"`
	CorrelationID      string       `json:"correlation_id,omitempty"`
	RequestedProtocols []string     `json:"requested_protocols,omitempty"`
	RequestFlags       []string     `json:"request_flags,omitempty"`
	SelectedProtocol   string       `json:"selected_protocol,omitempty"`
	ResponseFlags      []string     `json:"response_flags,omitempty"`
	Result             string       `json:"result,omitempty"`
	Client             *Client      `json:"client,omitempty"`
	Channels           []string     `json:"channels,omitempty"`
	EncryptionMethod   string       `json:"encryption_method,omitempty"`
	EncryptionLevel    string       `json:"encryption_level,omitempty"`
	Certificate        *Certificate `json:"certificate,omitempty"`
	UDP                *UDP         `json:"udp,omitempty"`
}

// Client is what the client's data blocks say (Client Core, Security,
// Network and Cluster Data, 2.2.1.3.2-2.2.1.3.5).
type Client struct {
	Name                string        `json:"name,omitempty"`
	Version             string        `json:"version,omitempty"`
	Build               *uint32       `json:"build,omitempty"`
	BuildName           string        `json:"build_name,omitempty"`
	DesktopWidth        int           `json:"desktop_width,omitempty"`
	DesktopHeight       int           `json:"desktop_height,omitempty"`
	ColorDepth          int           `json:"color_depth,omitempty"`
	KeyboardLayout      string        `json:"keyboard_layout,omitempty"`
	KeyboardLayoutID    *uint32       `json:"keyboard_layout_id,omitempty"`
	KeyboardType        *uint32       `json:"keyboard_type,omitempty"`
	ProductID           string        `json:"product_id,omitempty"`
	ConnectionType      string        `json:"connection_type,omitempty"`
	Capabilities        []string      `json:"capabilities,omitempty"`
	EncryptionMethods   []string      `json:"encryption_methods,omitempty"`
	ChannelDefs         []ChannelInfo `json:"channel_defs,omitempty"`
	ClusterFlags        []string      `json:"cluster_flags,omitempty"`
	RedirectedSessionID *uint32       `json:"redirected_session_id,omitempty"`
}

// ChannelInfo is one static virtual channel the client asks for.
type ChannelInfo struct {
	Name    string   `json:"name"`
	Options []string `json:"options,omitempty"`
}

// Certificate is the server certificate of Standard RDP Security (2.2.1.4.3.1).
type Certificate struct {
	Type      string    `json:"type"` // proprietary, x509
	Count     int       `json:"count,omitempty"`
	Permanent *bool     `json:"permanent,omitempty"`
	X509      *tls.X509 `json:"x509,omitempty"`
	Hash      *tls.Hash `json:"hash,omitempty"`
}

// UDP is what the MS-RDPEUDP handshake says.
type UDP struct {
	Version string `json:"version,omitempty"` // 1, 2, or 3 (MS-RDPEUDP2)
	Lossy   bool   `json:"lossy,omitempty"`
	MTU     int    `json:"mtu,omitempty"`
}

// clientVersions names TS_UD_CS_CORE version (2.2.1.3.2).
var clientVersions = map[uint32]string{
	0x00080001: "4.0", 0x00080004: "5.0", 0x00080005: "10.0", 0x00080006: "10.1", 0x00080007: "10.2",
	0x00080008: "10.3", 0x00080009: "10.4", 0x0008000A: "10.5", 0x0008000B: "10.6", 0x0008000C: "10.7",
	0x0008000D: "10.8", 0x0008000E: "10.9", 0x0008000F: "10.10", 0x00080010: "10.11", 0x00080011: "10.12",
	0x00080012: "10.13",
}

func (c *Client) block(b Block, f *Fields) error {
	switch b.Type {
	case csCore:
		cc, err := ParseClientCore(b.Data)
		if err != nil {
			return err
		}
		c.Name = cc.ClientName
		if v, ok := clientVersions[cc.Version]; ok {
			c.Version = v
		} else {
			c.Version = fmt.Sprintf("0x%08x", cc.Version)
		}
		build, layout, kt := cc.ClientBuild, cc.KeyboardLayout, cc.KeyboardType
		c.Build, c.BuildName = &build, clientBuilds[build]
		c.DesktopWidth, c.DesktopHeight = int(cc.DesktopWidth), int(cc.DesktopHeight)
		c.ColorDepth = cc.ColorDepthBits()
		c.KeyboardLayout, c.KeyboardLayoutID, c.KeyboardType = KeyboardLayoutName(layout), &layout, &kt
		c.ProductID = cc.DigProductID
		if cc.HasEarlyCaps {
			c.Capabilities = flagNames(uint32(cc.EarlyCapabilityFlags), earlyCaps)
			if cc.HasConnectionType && cc.EarlyCapabilityFlags&0x0020 != 0 {
				c.ConnectionType = connectionTypes[cc.ConnectionType]
			}
		}
	case csSecurity:
		if len(b.Data) < 8 {
			return ErrTruncated
		}
		m := binary.LittleEndian.Uint32(b.Data)
		if m == 0 {
			m = binary.LittleEndian.Uint32(b.Data[4:]) // extEncryptionMethods: French locale clients
		}
		c.EncryptionMethods = flagNames(m, encryptionMethods)
	case csNet:
		chans, err := ParseClientNetwork(b.Data)
		for _, ch := range chans {
			f.Channels = append(f.Channels, ch.Name)
			c.ChannelDefs = append(c.ChannelDefs, ChannelInfo{Name: ch.Name, Options: flagNames(ch.Options, channelOptions)})
		}
		return err
	case csCluster:
		if len(b.Data) < 8 {
			return ErrTruncated
		}
		fl := binary.LittleEndian.Uint32(b.Data)
		// Bits 2-5 are ServerSessionRedirectionVersionMask, not flags.
		c.ClusterFlags = flagNames(fl&^0x3c, clusterFlags)
		if fl&0x02 != 0 {
			sid := binary.LittleEndian.Uint32(b.Data[4:])
			c.RedirectedSessionID = &sid
		}
	}
	return nil
}

// guid formats a 16-byte little-endian GUID.
func guid(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(b[0:4]), binary.LittleEndian.Uint16(b[4:6]),
		binary.LittleEndian.Uint16(b[6:8]), b[8:10], b[10:16])
}

// AddFacts implements record.FactSource: the cookie is a user name the
// client claims, the client's name a workstation name.
func (f *Fields) AddFacts(r *record.Facts) {
	r.Users = append(r.Users, f.Cookie)
	if f.Client != nil {
		r.Hosts = append(r.Hosts, f.Client.Name)
	}
	if c := f.Certificate; c != nil && c.Hash != nil {
		r.Hashes = append(r.Hashes, c.Hash.SHA256, c.Hash.SHA1)
	}
}

// Summary is a short human description for the table output.
func (f *Fields) Summary() string {
	var p []string
	if f.SelectedProtocol != "" {
		p = append(p, f.SelectedProtocol)
	}
	if f.Result != "" && f.Result != "success" {
		p = append(p, f.Result)
	}
	if f.Client != nil && f.Client.Name != "" {
		p = append(p, "client "+f.Client.Name)
	}
	if len(f.Channels) > 0 {
		p = append(p, "channels "+strings.Join(f.Channels, ","))
	}
	return strings.Join(p, " ")
}

// Close implements dissectors.Session.
func (s *session) Close(r *record.Record) { s.fill(r) }

// Snapshot implements dissectors.Snapshotter: what the negotiation and the
// data blocks said so far.
func (s *session) Snapshot(r *record.Record) { s.fill(r) }

// fill writes the record from a copy of the fields: the session is left as
// it is (Snapshot calls it while the session goes on).
func (s *session) fill(r *record.Record) {
	f := s.f
	if f.Result == "" && s.cc {
		f.Result = "success"
	}
	// The cookie is a name the client claims before any authentication
	// (MS-RDPBCGR 2.2.1.1): it stays rdp.cookie (and related.user), never
	// user.name, which names the user of a login seen on the wire.
	if f.Certificate != nil {
		c := *f.Certificate
		f.Certificate = &c
	}
	if len(s.certs) > 0 && f.Certificate != nil {
		// The chain ends with the server's own certificate (MS-RDPELE 2.2.1.4.2).
		leaf := s.certs[len(s.certs)-1]
		f.Certificate.Hash = tls.HashOf(leaf)
		x, bad := tls.DescribeCertificate(leaf)
		f.Certificate.X509 = x
		if bad {
			r.AddAnomaly("rdp.bad_server_certificate")
		}
	}
	r.Set("rdp", &f)
	if s.tls != nil {
		for _, a := range s.tls.Anomalies() {
			r.AddAnomaly(a)
		}
		if tf, anomalies := s.tls.Fields(); tf != nil {
			r.Set("tls", tf)
			for _, a := range anomalies {
				r.AddAnomaly(a)
			}
		}
	}
}

// udpSession follows an RDP-UDP (MS-RDPEUDP) flow: the SYN and SYN+ACK.
type udpSession struct {
	f      Fields
	syn    *UDPSyn
	synack bool
	n      int
}

// Feed implements dissectors.Session: one datagram per call.
func (u *udpSession) Feed(dir dissectors.Direction, d []byte, ts int64) dissectors.Status {
	u.n++
	if dir == dissectors.FromClient && u.syn == nil {
		if s, ok := ParseUDPSyn(d, false); ok {
			u.syn = s
		}
	} else if dir == dissectors.FromServer && !u.synack {
		if s, ok := ParseUDPSyn(d, true); ok && (u.syn == nil || s.SourceAck == u.syn.InitialSeq) {
			u.synack = true
			ver := s.Version
			if ver == 0 && u.syn != nil {
				ver = u.syn.Version
			}
			u.f.UDP = &UDP{Version: UDPVersionName(ver), Lossy: s.Flags&udpFlagSYNLossy != 0, MTU: int(min(s.UpMTU, s.DownMTU))}
			u.f.Result = "success"
			return dissectors.Done
		}
	}
	if u.n >= 16 {
		return dissectors.Done
	}
	return dissectors.Continue
}

// Gap implements dissectors.Session (UDP has none).
func (u *udpSession) Gap(dissectors.Direction, int, int64) {}

// Close implements dissectors.Session.
func (u *udpSession) Close(r *record.Record) {
	if u.f.UDP == nil && u.syn != nil {
		u.f.UDP = &UDP{Version: UDPVersionName(u.syn.Version), Lossy: u.syn.Flags&udpFlagSYNLossy != 0}
		r.AddAnomaly("rdp.udp_no_synack")
	}
	r.Set("rdp", &u.f)
}
