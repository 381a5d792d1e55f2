package interop

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// SSH facts, field by field: what the peers say about each SSH session
// (banners, HASSH/HASSHServer, negotiated algorithms, host key, version, login
// outcome) against what psmtap printed for it.
//
//   - Zeek ssh.log baselines: every column, the session matched by its 4-tuple;
//   - Zeek's fingerprints test (scripts.base.protocols.ssh.fingerprints/out):
//     the SSH-2 and SSH-1 host key MD5 and SHA256 fingerprints;
//   - corelight/hassh's ssh_cut.log: banners, hassh and hasshServer of every
//     session of its merged capture, and of the same conversations in the
//     Zeek traces it was merged from;
//   - suricata-verify test.yaml checks on ssh.* (software and protocol
//     versions, hassh hash and string), in ssh events and in alerts;
//   - the local tshark extracts (_tshark/, not upstream): HASSH, HASSHServer
//     and the host key type, only for the sessions and facts no upstream
//     reference gives.
//
// HASSH, banners, negotiated algorithms and host keys must agree everywhere.
// Where psmtap disagrees with a peer on purpose, the disagreement is an entry
// in sshExceptions, with the values on both sides and the reason; an entry
// that no longer matches what the two sides print fails the test too.

// ---------------------------------------------------------------- psmtap's record

type sshSide struct {
	Banner      string `json:"banner"`
	Software    string `json:"software"`
	HASSH       string `json:"hassh"`
	HASSHString string `json:"hassh_string"`
}

type sshHostKey struct {
	Type              string `json:"type"`
	FingerprintSHA256 string `json:"fingerprint_sha256"`
	FingerprintMD5    string `json:"fingerprint_md5"`
}

type sshFields struct {
	Version        int         `json:"version"`
	Client         *sshSide    `json:"client"`
	Server         *sshSide    `json:"server"`
	KexAlg         string      `json:"kex_alg"`
	HostKeyAlg     string      `json:"host_key_alg"`
	CipherAlg      string      `json:"cipher_alg"`
	MacAlg         string      `json:"mac_alg"`
	CompressionAlg string      `json:"compression_alg"`
	HostKey        *sshHostKey `json:"host_key"`
}

type loginFields struct {
	Success  *bool `json:"success"`
	Attempts *int  `json:"attempts"`
	Inferred *bool `json:"inferred"`
}

func (r *record) sshSide(client bool) sshSide {
	if r.SSH == nil {
		return sshSide{}
	}
	s := r.SSH.Server
	if client {
		s = r.SSH.Client
	}
	if s == nil {
		return sshSide{}
	}
	return *s
}

func (r *record) sshHostKey() sshHostKey {
	if r.SSH == nil || r.SSH.HostKey == nil {
		return sshHostKey{}
	}
	return *r.SSH.HostKey
}

func (r *record) isSSH() bool { return r.Network.Protocol == "ssh" || r.SSH != nil }

// bannerProto is the protoversion of an identification line
// ("SSH-1.99-Cisco-1.25" -> "1.99"), as Suricata's proto_version.
func bannerProto(banner string) string {
	rest, ok := strings.CutPrefix(banner, "SSH-")
	if !ok {
		return ""
	}
	proto, _, _ := strings.Cut(rest, "-")
	return proto
}

// bannerVersion is the SSH major version a banner announces (1.99 means 2).
func bannerVersion(banner string) string {
	switch p := bannerProto(banner); {
	case p == "2.0" || p == "1.99":
		return "2"
	case strings.HasPrefix(p, "1."):
		return "1"
	}
	return ""
}

// sshValues gives psmtap's value of a field, as a string; "" when psmtap
// leaves the field out (SCHEMA.md: a field that is not known is absent).
var sshValues = map[string]func(r *record) string{
	"ssh.version": func(r *record) string {
		if r.SSH == nil || r.SSH.Version == 0 {
			return ""
		}
		return fmt.Sprint(r.SSH.Version)
	},
	"ssh.client.banner":        func(r *record) string { return r.sshSide(true).Banner },
	"ssh.server.banner":        func(r *record) string { return r.sshSide(false).Banner },
	"ssh.client.proto_version": func(r *record) string { return bannerProto(r.sshSide(true).Banner) },
	"ssh.server.proto_version": func(r *record) string { return bannerProto(r.sshSide(false).Banner) },
	"ssh.client.software":      func(r *record) string { return r.sshSide(true).Software },
	"ssh.server.software":      func(r *record) string { return r.sshSide(false).Software },
	"ssh.client.hassh":         func(r *record) string { return r.sshSide(true).HASSH },
	"ssh.server.hassh":         func(r *record) string { return r.sshSide(false).HASSH },
	"ssh.client.hassh_string":  func(r *record) string { return r.sshSide(true).HASSHString },
	"ssh.server.hassh_string":  func(r *record) string { return r.sshSide(false).HASSHString },
	"ssh.kex_alg":              func(r *record) string { return sshOr(r).KexAlg },
	"ssh.host_key_alg":         func(r *record) string { return sshOr(r).HostKeyAlg },
	"ssh.cipher_alg":           func(r *record) string { return sshOr(r).CipherAlg },
	"ssh.mac_alg":              func(r *record) string { return sshOr(r).MacAlg },
	"ssh.compression_alg":      func(r *record) string { return sshOr(r).CompressionAlg },
	"ssh.host_key.type":        func(r *record) string { return r.sshHostKey().Type },
	"ssh.host_key.fingerprint_sha256": func(r *record) string {
		return r.sshHostKey().FingerprintSHA256
	},
	"ssh.host_key.fingerprint_md5": func(r *record) string { return r.sshHostKey().FingerprintMD5 },
	"psm.login.success": func(r *record) string {
		if l := r.PSM.Login; l != nil && l.Success != nil {
			return fmt.Sprint(*l.Success)
		}
		return ""
	},
	// Absent means none counted: 0, as Zeek's auth_attempts (&default=0).
	"psm.login.attempts": func(r *record) string {
		if l := r.PSM.Login; l != nil && l.Attempts != nil {
			return fmt.Sprint(*l.Attempts)
		}
		return "0"
	},
}

func sshOr(r *record) sshFields {
	if r.SSH == nil {
		return sshFields{}
	}
	return *r.SSH
}

// ---------------------------------------------------------------- what the peers say

// sshFact is one value a peer gives for one field of one SSH session.
type sshFact struct {
	Capture        string
	Ref            string   // reference label, as refLabel makes it
	Client, Server endpoint // the session; unknown parts match anything, in either order
	Version        int      // the peer names no endpoints, only the SSH version (Zeek's fingerprints test)
	PeerField      string   // the peer's name for it
	Field          string   // psmtap's field (a key of sshValues)
	Want           string   // the peer's value in psmtap's form; "" when the peer leaves it unset
	Prefix         bool     // the peer's value is a prefix of psmtap's (Zeek's shortened SHA256)
	Source         string   // the reference line, for messages
}

func (f *sshFact) flow() string {
	if !f.Client.IP.IsValid() && !f.Server.IP.IsValid() {
		if f.Version != 0 {
			return fmt.Sprintf("the SSH-%d session", f.Version)
		}
		return "some SSH session of the capture"
	}
	return f.Client.String() + " -> " + f.Server.String()
}

func (f *sshFact) agrees(v string) bool {
	if f.Prefix && f.Want != "" {
		return strings.HasPrefix(v, f.Want)
	}
	return v == f.Want
}

// candidates: psmtap's SSH records the fact can be about.
func (f *sshFact) candidates(recs []*record) []*record {
	x := expectation{Client: f.Client, Server: f.Server}
	var out []*record
	for _, r := range recs {
		if !r.isSSH() {
			continue
		}
		if same, _ := samePair(&x, r); !same {
			continue
		}
		if f.Version != 0 && (r.SSH == nil || r.SSH.Version != f.Version) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// Zeek ssh.log columns and the psmtap fields they are compared with.
type zeekColumn struct {
	field  string
	conv   func(string) string
	prefix bool
}

var (
	asIs      = func(v string) string { return v }
	zeekBool  = func(v string) string { return map[string]string{"T": "true", "F": "false"}[v] }
	md5Prefix = func(v string) string {
		if v == "" {
			return ""
		}
		return "MD5:" + v
	}
)

var zeekSSHColumns = map[string]zeekColumn{
	"version":         {"ssh.version", asIs, false},
	"auth_success":    {"psm.login.success", zeekBool, false},
	"auth_attempts":   {"psm.login.attempts", asIs, false},
	"client":          {"ssh.client.banner", asIs, false},
	"server":          {"ssh.server.banner", asIs, false},
	"cipher_alg":      {"ssh.cipher_alg", asIs, false},
	"mac_alg":         {"ssh.mac_alg", asIs, false},
	"compression_alg": {"ssh.compression_alg", asIs, false},
	"kex_alg":         {"ssh.kex_alg", asIs, false},
	"host_key_alg":    {"ssh.host_key_alg", asIs, false},
	// Zeek before 8: the MD5 fingerprint in colon hex, as ssh-keygen -E md5
	// prints it without its "MD5:".
	"host_key": {"ssh.host_key.fingerprint_md5", md5Prefix, false},
	// Zeek 8: "SHA256:" and the first 32 of the 43 unpadded base64 characters
	// ssh-keygen prints (24 of the digest's 32 bytes); compared as a prefix.
	"host_key_fingerprint": {"ssh.host_key.fingerprint_sha256", asIs, true},
	// corelight/hassh's Zeek package, when a baseline has its columns.
	"hassh":                 {"ssh.client.hassh", asIs, false},
	"hasshServer":           {"ssh.server.hassh", asIs, false},
	"hasshAlgorithms":       {"ssh.client.hassh_string", asIs, false},
	"hasshServerAlgorithms": {"ssh.server.hassh_string", asIs, false},
}

// zeekSSHNotCompared: columns with nothing to compare, and why.
var zeekSSHNotCompared = map[string]string{
	"ts":        "canonicalised to XXXXXXXXXX.XXXXXX by btest",
	"uid":       "Zeek's connection id",
	"id.orig_h": "matched on", "id.orig_p": "matched on", "id.resp_h": "matched on", "id.resp_p": "matched on",
	"direction": "Zeek's Site::local_nets setting (INBOUND/OUTBOUND); psmtap has no such field",
}

// zeekSSHFacts reads an ssh.log (or a zeek-cut extract of one with a header).
func zeekSSHFacts(capture, label string, t *zeekTable) (facts []sshFact, notes []string) {
	if !t.has("id.orig_h") || !t.has("id.resp_p") {
		return nil, []string{fmt.Sprintf("%s: %d rows without the 4-tuple columns: nothing to match a session by", label, len(t.Rows))}
	}
	var skipped []string
	for _, h := range t.Header {
		if _, ok := zeekSSHColumns[h]; ok {
			continue
		}
		why := zeekSSHNotCompared[h]
		if why == "" {
			why = "no psmtap field"
		}
		if why != "matched on" {
			skipped = append(skipped, h+" ("+why+")")
		}
	}
	if len(skipped) > 0 {
		notes = append(notes, fmt.Sprintf("%s: not compared: %s", label, strings.Join(skipped, ", ")))
	}
	for _, row := range t.Rows {
		client, server := t.ends(row)
		for _, h := range t.Header {
			col, ok := zeekSSHColumns[h]
			if !ok {
				continue
			}
			facts = append(facts, sshFact{Capture: capture, Ref: label, Client: client, Server: server,
				PeerField: h, Field: col.field, Want: col.conv(t.get(row, h)), Prefix: col.prefix,
				Source: strings.Join(row, " ")})
		}
	}
	return facts, notes
}

// colonHex turns "c7eb77..." into "c7:eb:77:...".
func colonHex(h string) string {
	var b strings.Builder
	for i := 0; i+1 < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// zeekFingerprintFacts reads the fingerprints test's output: Zeek prints, per
// server host key, the hash its ssh_server_host_key event carries (MD5, colon
// hex), the SHA256 fingerprint event, and the test script's own md5_hash of the
// key blob (ssh2_server_host_key) or of modulus + exponent
// (ssh1_server_host_key). A key's lines start with the ssh_server_host_key
// line; the ssh1/ssh2 line tells which session it is.
func zeekFingerprintFacts(capture, label, src string) []sshFact {
	var out []sshFact
	start, version := 0, 0
	flush := func() {
		for i := start; i < len(out); i++ {
			out[i].Version = version
		}
		start, version = len(out), 0
	}
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		name, v, ok := strings.Cut(line, ", ")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		f := sshFact{Capture: capture, Ref: label, Field: "ssh.host_key.fingerprint_md5", Source: line}
		switch name {
		case "ssh server host key":
			flush()
			f.PeerField, f.Want = "ssh_server_host_key hash", "MD5:"+v
		case "ssh2 server host key":
			version = 2
			f.PeerField, f.Want = "ssh2_server_host_key md5_hash(key)", "MD5:"+colonHex(v)
		case "ssh1 server host key":
			version = 1
			f.PeerField, f.Want = "ssh1_server_host_key md5_hash(modulus+exponent)", "MD5:"+colonHex(v)
		case "ssh server host key fingerprint":
			f.PeerField, f.Field, f.Want, f.Prefix = "ssh_server_host_key_fingerprint", "ssh.host_key.fingerprint_sha256", v, true
		default:
			continue
		}
		out = append(out, f)
	}
	flush()
	return out
}

// sshCutFacts reads corelight/hassh's ssh_cut.log: orig_h orig_p resp_h
// resp_p client server hassh hasshServer. keep filters psmtap's fields.
func sshCutFacts(capture, label, src string, keep func(field string) bool) []sshFact {
	cols := []struct{ peer, field string }{
		{"client", "ssh.client.banner"}, {"server", "ssh.server.banner"},
		{"hassh", "ssh.client.hassh"}, {"hasshServer", "ssh.server.hassh"},
	}
	var out []sshFact
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 8 {
			continue
		}
		c := endpoint{IP: parseAddr(f[0]), Port: parsePort(f[1])}
		s := endpoint{IP: parseAddr(f[2]), Port: parsePort(f[3])}
		if !c.known() || !s.known() {
			continue
		}
		for i, col := range cols {
			if keep != nil && !keep(col.field) {
				continue
			}
			v := f[4+i]
			if v == "-" {
				v = ""
			}
			out = append(out, sshFact{Capture: capture, Ref: label, Client: c, Server: s,
				PeerField: col.peer, Field: col.field, Want: v, Source: line})
		}
	}
	return out
}

// suricataSSHKeys: EVE ssh.* keys and psmtap's fields.
var suricataSSHKeys = map[string]string{
	"ssh.client.proto_version":    "ssh.client.proto_version",
	"ssh.client.software_version": "ssh.client.software",
	"ssh.client.hassh.hash":       "ssh.client.hassh",
	"ssh.client.hassh.string":     "ssh.client.hassh_string",
	"ssh.server.proto_version":    "ssh.server.proto_version",
	"ssh.server.software_version": "ssh.server.software",
	"ssh.server.hassh.hash":       "ssh.server.hassh",
	"ssh.server.hassh.string":     "ssh.server.hassh_string",
}

// suricataSSHFacts reads the ssh.* values of a test.yaml's filters (ssh events
// and alerts alike: in both, ssh.client and ssh.server are the flow's roles,
// while an alert's addresses are in packet direction; endpoints are matched
// in either order). Filters expecting no event (count 0) say nothing about a
// value. The same value asserted by several filters counts once.
func suricataSSHFacts(capture, label, src string) (facts []sshFact, notes []string) {
	seen := map[string]bool{}
	for _, f := range suricataFilters(src) {
		if c, ok := f["count"].(string); ok && c == "0" {
			continue
		}
		match, _ := f["match"].(map[string]any)
		str := func(k string) string { s, _ := match[k].(string); return s }
		client := endpoint{IP: parseAddr(str("src_ip")), Port: parsePort(str("src_port"))}
		server := endpoint{IP: parseAddr(str("dest_ip")), Port: parsePort(str("dest_port"))}
		keys := make([]string, 0, len(match))
		for k := range match {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !strings.HasPrefix(k, "ssh.") {
				continue
			}
			field, ok := suricataSSHKeys[k]
			if !ok {
				notes = append(notes, fmt.Sprintf("%s: not compared: %s (no psmtap field)", label, k))
				continue
			}
			a, b := client.String(), server.String()
			if b < a {
				a, b = b, a
			}
			key := a + b + k + str(k)
			if seen[key] {
				continue
			}
			seen[key] = true
			facts = append(facts, sshFact{Capture: capture, Ref: label, Client: client, Server: server,
				PeerField: k, Field: field, Want: str(k), Source: fmt.Sprintf("%s %s", str("event_type"), k)})
		}
	}
	return facts, notes
}

// tsharkSSHFacts reads the "### ssh:" table of a tshark extract: the HASSH of a
// client KEXINIT (sent by the client), the HASSHServer of a server KEXINIT and
// the host key type of the key exchange reply (sent by the server).
func tsharkSSHFacts(capture, label, src string) []sshFact {
	var out []sshFact
	seen := map[string]bool{}
	in := false
	var header []string
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "### ") {
			in, header = strings.HasPrefix(line, "### ssh:"), nil
			continue
		}
		if !in || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if header == nil {
			header = f
			continue
		}
		col, s, d, ok := tsharkRow(header, f)
		if !ok {
			continue
		}
		add := func(peer, field, v string, client, server endpoint) {
			if v == "" {
				return
			}
			a, b := client.String(), server.String()
			if b < a {
				a, b = b, a
			}
			if key := a + b + field; !seen[key] {
				seen[key] = true // the first one: the first key exchange
				out = append(out, sshFact{Capture: capture, Ref: label, Client: client, Server: server,
					PeerField: peer, Field: field, Want: v, Source: "frame " + col("frame.number")})
			}
		}
		add("ssh.kex.hassh", "ssh.client.hassh", col("ssh.kex.hassh"), s, d)
		add("ssh.kex.hasshserver", "ssh.server.hassh", col("ssh.kex.hasshserver"), d, s)
		add("ssh.host_key.type", "ssh.host_key.type", col("ssh.host_key.type"), d, s)
	}
	return out
}

// covers: an upstream fact u speaks about the same fact of the same session
// as f (a tshark fact, with both endpoints).
func covers(u, f *sshFact) bool {
	group := func(field string) string {
		if strings.HasPrefix(field, "ssh.host_key.") {
			return "host key"
		}
		return field
	}
	if group(u.Field) != group(f.Field) {
		return false
	}
	fc := netip.AddrPortFrom(f.Client.IP, f.Client.Port)
	fs := netip.AddrPortFrom(f.Server.IP, f.Server.Port)
	return u.Client.matches(fc) && u.Server.matches(fs) || u.Client.matches(fs) && u.Server.matches(fc)
}

// halfDuplex: captures holding one direction of ssh.pcap's conversations. A
// reference made from the whole conversation speaks for them only about the
// side captured.
var halfDuplex = map[string]string{
	"zeek/Traces/ssh/ssh.client-side-half-duplex.pcap": "client",
	"zeek/Traces/ssh/ssh.server-side-half-duplex.pcap": "server",
}

// sshFactsFor gathers what the peers say about the SSH sessions of a capture.
func sshFactsFor(t *testing.T, c captureRow, res *runResult) (facts []sshFact, notes []string) {
	t.Helper()
	read := func(ref string) (string, bool) {
		b, err := os.ReadFile(filepath.Join(pcapRoot, ref))
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", ref, err))
			return "", false
		}
		return string(b), true
	}
	for _, ref := range c.Refs {
		base := path.Base(ref)
		label := refLabel(ref)
		switch {
		case strings.HasPrefix(ref, "zeek/Baseline/") && strings.HasPrefix(base, "ssh.log"):
			if src, ok := read(ref); ok {
				f, n := zeekSSHFacts(c.Path, label, parseZeekLog(ref, src))
				facts, notes = append(facts, f...), append(notes, n...)
			}
		case strings.HasPrefix(ref, "zeek/Baseline/scripts.base.protocols.ssh.fingerprints/") && base == "out":
			if src, ok := read(ref); ok {
				facts = append(facts, zeekFingerprintFacts(c.Path, label, src)...)
			}
		case base == "ssh_cut.log":
			if src, ok := read(ref); ok {
				facts = append(facts, sshCutFacts(c.Path, label, src, nil)...)
			}
		case strings.HasSuffix(base, "test.yaml"):
			if src, ok := read(ref); ok {
				f, n := suricataSSHFacts(c.Path, label, src)
				facts, notes = append(facts, f...), append(notes, n...)
			}
		}
	}
	// corelight/hassh's rows for the conversations of this capture (see
	// mergedConversations).
	if c.Path != corelightCapture {
		if src, err := os.ReadFile(filepath.Join(pcapRoot, corelightCut)); err == nil {
			side := halfDuplex[c.Path]
			keep := func(field string) bool { return side == "" || strings.HasPrefix(field, "ssh."+side+".") }
			for _, f := range sshCutFacts(c.Path, "corelight-hassh ssh_cut.log (same conversation in the merged capture)", string(src), keep) {
				x := expectation{Client: f.Client, Server: f.Server}
				for _, r := range res.records {
					if same, _ := samePair(&x, r); same {
						facts = append(facts, f)
						break
					}
				}
			}
		}
	}
	// tshark: only what no upstream reference gives.
	if c.Tshark != "" {
		if src, err := os.ReadFile(filepath.Join(pcapRoot, c.Tshark)); err == nil {
			upstream := len(facts)
			left := 0
			for _, f := range tsharkSSHFacts(c.Path, refLabel(c.Tshark), string(src)) {
				covered := false
				for i := 0; i < upstream && !covered; i++ {
					covered = covers(&facts[i], &f)
				}
				if covered {
					left++
					continue
				}
				facts = append(facts, f)
			}
			if left > 0 {
				notes = append(notes, fmt.Sprintf("tshark: %d value(s) an upstream reference already gives: left to it", left))
			}
		}
	}
	return facts, notes
}

// ---------------------------------------------------------------- deliberate disagreements

// versionOfSideSeen as sshException.Ours: the SSH version of the one
// identification line psmtap saw.
const versionOfSideSeen = "(the version of the one side seen)"

type sshException struct {
	Capture string
	Ref     string // prefix of the reference label
	Client  string // the session's client as ip:port; "" for every session of the capture
	Field   string // the peer's field name
	Peer    string // what the peer says ("" = unset)
	Ours    string // what psmtap prints
	Why     string
}

// sshExceptions lists every deliberate disagreement on an SSH fact. Each gives
// the values on both sides: if either side changes, the entry no longer
// applies and the test fails until someone looks again.
var sshExceptions = []sshException{
	// 192.168.1.79:51880 -> 131.159.21.1:22 (OpenSSH_5.9 -> 5.8, aes128-ctr,
	// hmac-md5: SERVICE_ACCEPT 48 bytes, so USERAUTH_SUCCESS would be 32).
	// Zeek leaves auth_success unset because zlib@openssh.com compression was
	// negotiated (its ssh/main.zeek makes no auth guess then), although that
	// "delayed" compression starts only after a successful login, so the
	// authentication records are not compressed. Server records after the
	// "none" probe (64 -> 896: more than a FAILURE, most likely a pre-auth
	// banner sent with it): 80, 80
	// (two public keys refused: USERAUTH_FAILURE size), 64 (a
	// keyboard-interactive prompt, INFO_REQUEST), 80 (the answer was refused:
	// FAILURE), 64 (prompt again); then the client sent FIN. No record has the
	// SUCCESS size and no session followed: a failed login after 3 answered
	// attempts (the last prompt was never answered).
	{Capture: "zeek/Traces/ssh/ssh.pcap", Ref: "zeek ssh.log", Client: "192.168.1.79:51880",
		Field: "auth_success", Peer: "", Ours: "false",
		Why: "zlib@openssh.com makes Zeek give up; the sizes show 2 refused keys, 1 refused keyboard-interactive answer, no SUCCESS-sized record, then the client hung up"},
	{Capture: "zeek/Traces/ssh/ssh.pcap", Ref: "zeek ssh.log", Client: "192.168.1.79:51880",
		Field: "auth_attempts", Peer: "0", Ours: "3",
		Why: "Zeek counts no attempt when it makes no auth guess (zlib@openssh.com); psmtap counts the 3 answered with USERAUTH_FAILURE"},
	// 10.211.55.16:49046 -> 10.211.55.15:2299 (chacha20-poly1305: SERVICE_ACCEPT
	// 44, SUCCESS 28, FAILURE 76 here). After "none": a public key offer
	// refused (148 -> 76), a second key offered (628 -> 588, PK_OK) and signed
	// (1244 -> 28, SUCCESS). OpenSSH's auth2.c counts the refused offer
	// against MaxAuthTries; psmtap counts as OpenSSH does (docs/fields.md,
	// psm.login.attempts).
	{Capture: "zeek/Traces/ssh/ssh_kex_mlkem.pcap", Ref: "zeek ssh.log", Client: "10.211.55.16:49046",
		Field: "auth_attempts", Peer: "1", Ours: "2",
		Why: "psmtap counts the refused public-key offer before the accepted one, as OpenSSH's MaxAuthTries does"},
	// 192.168.249.1:54468 (dh_group18) and 10.0.2.1:55343 (pre-banner): both
	// negotiate zlib@openssh.com, so Zeek makes no auth guess and counts 0.
	// The sizes show answered attempts (a key refused with a FAILURE-sized
	// record; two FAILURE-sized answers), and then the capture ends while the
	// client could still try again: psmtap counts the attempts and leaves
	// psm.login.success absent, like Zeek's auth_success.
	{Capture: "zeek/Traces/ssh/ssh_kex_dh_group18.pcap", Ref: "zeek ssh.log", Client: "192.168.249.1:54468",
		Field: "auth_attempts", Peer: "0", Ours: "1",
		Why: "zlib@openssh.com makes Zeek count nothing; psmtap counts the one FAILURE-sized answer (outcome left open: the capture ends)"},
	{Capture: "zeek/Traces/ssh/server-pre-banner-data.pcap", Ref: "zeek ssh.log", Client: "10.0.2.1:55343",
		Field: "auth_attempts", Peer: "0", Ours: "2",
		Why: "zlib@openssh.com makes Zeek count nothing; psmtap counts the two FAILURE-sized answers (outcome left open: the capture ends)"},
	// SSH-1.5 clients to an SSH-1.99 server: the server sends its SSH-1 public
	// key, which psmtap fingerprints (rsa1, as ssh-keygen did); Zeek's ssh.log
	// has no host key for SSH-1 sessions (its fingerprints script prints it).
	{Capture: "zeek/Traces/ssh/ssh.pcap", Ref: "zeek ssh.log",
		Field: "host_key_fingerprint", Peer: "", Ours: "SHA256:zjM9te65ylq6+bat8LWV9hkpKnsoxa42Aql3uvXqqJg",
		Why: "SSH-1 session: psmtap reports the server's rsa1 host key, which Zeek's ssh.log leaves out"},
	// Zeek's ssh_server_host_key event hash for the SSH-1 key (75:cb:...) is
	// not an MD5 of any arrangement of the key bytes we could find; Zeek's own
	// md5_hash(modulus+exponent) line in the same output (5517eb...) equals
	// psmtap's fingerprint_md5, and the SHA256 fingerprints agree.
	{Capture: "zeek/Traces/ssh/ssh1-ssh2-fingerprints.pcap", Ref: "zeek out",
		Field: "ssh_server_host_key hash", Peer: "MD5:75:cb:a2:67:52:61:81:f7:b0:58:60:7f:1d:bb:1b:2f", Ours: "MD5:55:17:eb:fa:2e:7f:b3:7b:33:42:7c:9d:44:85:56:da",
		Why: "Zeek's event hash for the SSH-1 key is not reproducible from the key; its md5(modulus+exponent) line agrees with psmtap"},
	// Half-duplex captures: Zeek's ssh/main.zeek sets version only when it has
	// both identification lines; psmtap reports the version of the side it
	// saw (docs/fields.md, ssh.version), with the anomaly ssh.one_side_only.
	{Capture: "zeek/Traces/ssh/ssh.client-side-half-duplex.pcap", Ref: "zeek ssh.log",
		Field: "version", Peer: "", Ours: versionOfSideSeen,
		Why: "one side captured: Zeek needs both banners for version, psmtap gives the version of the side seen"},
	{Capture: "zeek/Traces/ssh/ssh.server-side-half-duplex.pcap", Ref: "zeek ssh.log",
		Field: "version", Peer: "", Ours: versionOfSideSeen,
		Why: "one side captured: Zeek needs both banners for version, psmtap gives the version of the side seen"},
}

func (e *sshException) applies(f *sshFact, r *record) bool {
	return e.Capture == f.Capture && strings.HasPrefix(f.Ref, e.Ref) && e.Field == f.PeerField &&
		(e.Client == "" || e.Client == r.client.String())
}

func (e *sshException) holds(f *sshFact, r *record, ours string) bool {
	if f.Want != e.Peer {
		return false
	}
	if e.Ours == versionOfSideSeen {
		c, s := r.sshSide(true).Banner, r.sshSide(false).Banner
		if (c == "") == (s == "") {
			return false // both sides, or none: not the case this entry is about
		}
		return ours == bannerVersion(c+s)
	}
	return ours == e.Ours
}

// ---------------------------------------------------------------- comparing

type fieldTally struct{ agree, total, excepted int }

// sshTally is the agreement with one reference on one capture, per field.
type sshTally struct {
	label, capture string
	order          []string
	fields         map[string]*fieldTally
}

func (ta *sshTally) add(field string, agree, excepted bool) {
	if ta.fields == nil {
		ta.fields = map[string]*fieldTally{}
	}
	ft := ta.fields[field]
	if ft == nil {
		ft = &fieldTally{}
		ta.fields[field] = ft
		ta.order = append(ta.order, field)
	}
	ft.total++
	if agree {
		ft.agree++
	}
	if excepted {
		ft.excepted++
	}
}

func (ta *sshTally) String() string {
	parts := make([]string, 0, len(ta.order))
	for _, k := range ta.order {
		ft := ta.fields[k]
		s := fmt.Sprintf("%s %d/%d", k, ft.agree, ft.total)
		if ft.excepted > 0 {
			s += fmt.Sprintf(" (+%d excepted)", ft.excepted)
		}
		parts = append(parts, s)
	}
	return fmt.Sprintf("%s %s: %s", ta.label, ta.capture, strings.Join(parts, ", "))
}

// refKind groups labels for the summary: the tool and file, without the test.
func refKind(label string) string {
	if strings.HasPrefix(label, "suricata ") {
		return "suricata test.yaml"
	}
	for _, sep := range []string{" [", " ("} {
		if i := strings.Index(label, sep); i >= 0 {
			label = label[:i]
		}
	}
	return label
}

type sshCheck struct {
	used     map[*sshException]bool
	kinds    map[string]*sshTally // per reference kind, all captures
	kindList []string
	failed   []string
	sessions int            // SSH sessions psmtap printed in the captures compared
	compared map[string]int // capture -> sessions with at least one fact
	bare     []string       // SSH sessions no reference gives a field for
	ran      int
}

func (sc *sshCheck) kind(label string) *sshTally {
	k := refKind(label)
	if sc.kinds == nil {
		sc.kinds = map[string]*sshTally{}
	}
	ta := sc.kinds[k]
	if ta == nil {
		ta = &sshTally{label: k, capture: "(all captures)"}
		sc.kinds[k] = ta
		sc.kindList = append(sc.kindList, k)
	}
	return ta
}

// compare checks one capture's facts against psmtap's records.
func (sc *sshCheck) compare(t *testing.T, facts []sshFact, res *runResult) {
	t.Helper()
	tallies := map[string]*sshTally{}
	var order []string
	touched := map[*record]bool{}
	excused := map[*sshException][]string{}
	var excOrder []*sshException
	for i := range facts {
		f := &facts[i]
		ta := tallies[f.Ref]
		if ta == nil {
			ta = &sshTally{label: f.Ref, capture: f.Capture}
			tallies[f.Ref] = ta
			order = append(order, f.Ref)
		}
		cands := f.candidates(res.records)
		for _, r := range cands {
			touched[r] = true
		}
		agree, excepted := false, false
		var printed []string
		var msg string
		for _, r := range cands {
			v := sshValues[f.Field](r)
			if f.agrees(v) {
				agree = true
				break
			}
			printed = append(printed, fmt.Sprintf("%s=%q (%s -> %s)", f.Field, v, r.client, r.server))
		}
		if !agree && len(cands) == 1 {
			r := cands[0]
			v := sshValues[f.Field](r)
			for j := range sshExceptions {
				e := &sshExceptions[j]
				if !e.applies(f, r) {
					continue
				}
				if e.holds(f, r, v) {
					excepted = true
					sc.used[e] = true
					if excused[e] == nil {
						excOrder = append(excOrder, e)
					}
					excused[e] = append(excused[e], fmt.Sprintf("%s (peer %q, psmtap %q)", r.client, f.Want, v))
				} else {
					msg = fmt.Sprintf(" (an exception covers this field of this session for peer %q / psmtap %q, which is no longer what the two sides say)", e.Peer, e.Ours)
				}
				break
			}
		}
		ta.add(f.PeerField, agree, excepted)
		sc.kind(f.Ref).add(f.PeerField, agree, excepted)
		if agree || excepted {
			continue
		}
		got := "no SSH session for it"
		if len(printed) > 0 {
			got = strings.Join(printed, "; ")
		}
		m := fmt.Sprintf("%s: %s: %s: peer says %q, psmtap printed %s%s [peer: %s]", f.Ref, f.flow(), f.PeerField, f.Want, got, msg, f.Source)
		t.Errorf("%s", m)
		sc.failed = append(sc.failed, f.Capture+": "+m)
	}
	for _, e := range excOrder {
		t.Logf("excepted on purpose: %s %s of %d session(s): %s -- %s", e.Ref, e.Field, len(excused[e]), strings.Join(excused[e], ", "), e.Why)
	}
	for _, k := range order {
		t.Log(tallies[k])
	}
	for _, r := range res.records {
		if !r.isSSH() {
			continue
		}
		sc.sessions++
		if touched[r] {
			if sc.compared == nil {
				sc.compared = map[string]int{}
			}
			sc.compared[facts[0].Capture]++
		} else {
			sc.bare = append(sc.bare, fmt.Sprintf("%s: %s -> %s", facts[0].Capture, r.client, r.server))
		}
	}
}

// TestSSHFields compares psmtap's SSH facts with every peer reference that
// gives one (see the top of this file).
func TestSSHFields(t *testing.T) {
	setup(t)
	sc := &sshCheck{used: map[*sshException]bool{}}
	want := 0
	for _, c := range captures(t) {
		res := runPSMTap(t, c.Path)
		facts, notes := sshFactsFor(t, c, res)
		if len(facts) == 0 {
			for _, n := range notes {
				t.Logf("%s: %s", c.Path, n)
			}
			for _, r := range res.records {
				if r.isSSH() {
					sc.sessions++
					sc.bare = append(sc.bare, fmt.Sprintf("%s: %s -> %s (no reference for this capture gives an SSH field)", c.Path, r.client, r.server))
				}
			}
			continue
		}
		want++
		t.Run(c.Path, func(t *testing.T) {
			sc.ran++
			for _, n := range notes {
				t.Log(n)
			}
			sc.compare(t, facts, res)
		})
	}
	for _, k := range sc.kindList {
		t.Log(sc.kinds[k])
	}
	covered := 0
	for _, n := range sc.compared {
		covered += n
	}
	t.Logf("SSH sessions psmtap printed: %d; with at least one peer fact compared: %d (in %d captures)", sc.sessions, covered, want)
	for _, b := range sc.bare {
		t.Logf("  no peer fact for the SSH session %s", b)
	}
	for _, f := range sc.failed {
		t.Logf("  FAIL %s", f)
	}
	if sc.ran != want {
		return // a -run filter: unused exceptions cannot be told
	}
	for i := range sshExceptions {
		if e := &sshExceptions[i]; !sc.used[e] {
			t.Errorf("exception no longer needed (psmtap and the peer agree, or the session is gone): %+v", *e)
		}
	}
}

// TestSSHHasshStrings: wherever psmtap prints a HASSH, it is the MD5 of the
// hassh_string it prints, which has the four parts kex;ciphers;macs;compression.
// (No peer reference in the shared folder gives hassh_string itself.)
func TestSSHHasshStrings(t *testing.T) {
	setup(t)
	checked := 0
	for _, c := range captures(t) {
		for _, r := range runPSMTap(t, c.Path).records {
			for _, side := range []bool{true, false} {
				s := r.sshSide(side)
				if s.HASSH == "" && s.HASSHString == "" {
					continue
				}
				checked++
				sum := md5.Sum([]byte(s.HASSHString))
				if got := hex.EncodeToString(sum[:]); got != s.HASSH {
					t.Errorf("%s: %s -> %s (client side %v): hassh %q, but md5(hassh_string) is %s", c.Path, r.client, r.server, side, s.HASSH, got)
				}
				if n := strings.Count(s.HASSHString, ";"); n != 3 {
					t.Errorf("%s: %s -> %s (client side %v): hassh_string has %d parts, want 4: %q", c.Path, r.client, r.server, side, n+1, s.HASSHString)
				}
			}
		}
	}
	t.Logf("hassh = md5(hassh_string) checked on %d sides of SSH sessions", checked)
}

// ---------------------------------------------------------------- reader self-checks (no captures needed)

func TestSSHReaders(t *testing.T) {
	log := "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tversion\tauth_success\tauth_attempts\tdirection\tclient\thost_key_fingerprint\n" +
		"X\tC1\t10.0.0.1\t5000\t10.0.0.2\t22\t2\t-\t0\tOUTBOUND\tSSH-2.0-A\tSHA256:abcdefghijklmnopqrstuvwxyz012345\n"
	facts, notes := zeekSSHFacts("c", "zeek ssh.log", parseZeekLog("x/ssh.log", log))
	if len(facts) != 5 || len(notes) != 1 || !strings.Contains(notes[0], "direction") {
		t.Fatalf("zeek ssh.log: %+v %v", facts, notes)
	}
	byPeer := map[string]sshFact{}
	for _, f := range facts {
		byPeer[f.PeerField] = f
	}
	if f := byPeer["auth_success"]; f.Want != "" || f.Field != "psm.login.success" {
		t.Fatalf("auth_success: %+v", f)
	}
	if f := byPeer["host_key_fingerprint"]; !f.Prefix || !f.agrees("SHA256:abcdefghijklmnopqrstuvwxyz0123456789abcdefg") || f.agrees("SHA256:x") {
		t.Fatalf("host_key_fingerprint: %+v", f)
	}

	out := "### BTest\nssh server host key, c7:eb\nssh2 server host key, c7eb\nssh server host key fingerprint, SHA256:x\n" +
		"ssh server host key, 75:cb\nssh server host key fingerprint, SHA256:d\nssh1 server host key, 5517\n"
	fp := zeekFingerprintFacts("c", "zeek out", out)
	if len(fp) != 6 || fp[0].Version != 2 || fp[2].Version != 2 || fp[3].Version != 1 || fp[5].Version != 1 ||
		fp[1].Want != "MD5:c7:eb" || fp[5].Want != "MD5:55:17" || fp[3].Want != "MD5:75:cb" {
		t.Fatalf("fingerprints: %+v", fp)
	}

	y := "checks:\n- filter:\n    count: 1\n    match:\n      event_type: alert\n      src_ip: 10.0.0.2\n      src_port: 22\n      dest_ip: 10.0.0.1\n      dest_port: 5000\n      ssh.server.proto_version: '1.99'\n" +
		"- filter:\n    count: 1\n    match:\n      event_type: ssh\n      src_ip: 10.0.0.1\n      src_port: 5000\n      dest_ip: 10.0.0.2\n      dest_port: 22\n      ssh.server.proto_version: '1.99'\n      ssh.client.hassh.hash: abc\n"
	sf, _ := suricataSSHFacts("c", "suricata", y)
	if len(sf) != 2 || sf[0].Field != "ssh.server.proto_version" || sf[0].Want != "1.99" || sf[1].Field != "ssh.client.hassh" {
		t.Fatalf("suricata: %+v", sf)
	}

	ts := "### ssh: tshark\nframe.number\tip.src\tipv6.src\ttcp.srcport\tip.dst\tipv6.dst\ttcp.dstport\tssh.protocol\tssh.kex.hassh\tssh.kex.hasshserver\tssh.host_key.type\n" +
		"8\t10.0.0.1\t\t5000\t10.0.0.2\t\t22\t\tabc\t\t\n" +
		"10\t10.0.0.2\t\t22\t10.0.0.1\t\t5000\t\t\tdef\t\n" +
		"14\t10.0.0.2\t\t22\t10.0.0.1\t\t5000\t\t\t\tssh-ed25519\n"
	tf := tsharkSSHFacts("c", "tshark", ts)
	if len(tf) != 3 || tf[0].Client.String() != "10.0.0.1:5000" || tf[1].Field != "ssh.server.hassh" || tf[1].Client.String() != "10.0.0.1:5000" || tf[2].Want != "ssh-ed25519" {
		t.Fatalf("tshark: %+v", tf)
	}
	if !covers(&sf[1], &tf[0]) || covers(&sf[1], &tf[1]) {
		t.Fatal("covers")
	}

	if bannerProto("SSH-1.99-Cisco_server-1.24 ") != "1.99" || bannerVersion("SSH-1.99-x") != "2" || bannerVersion("SSH-1.5-x") != "1" {
		t.Fatal("banner helpers")
	}
}
