package interop

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Readers for the peers' reference outputs kept next to the shared captures
// (../shared/pcaps, described by its INDEX.md). Each turns one reference file
// into expectations: "there is a <proto> session from <client> to <server>",
// where the peer may leave parts unknown (an address, a port, the roles), or
// "there are at least N <proto> sessions" when it gives no addresses at all.

// ourProtocols maps the names the peers use to network.protocol values.
var ourProtocols = map[string]string{
	"ssh": "ssh", "rdp": "rdp", "telnet": "telnet", "rlogin": "rlogin", "rsh": "rsh", "ftp": "ftp",
	"postgresql": "postgresql", "pgsql": "postgresql", // Zeek; Suricata and tshark
	"mysql": "mysql",
	"rfb":   "vnc", "vnc": "vnc", // Zeek and Suricata call VNC's protocol RFB; tshark vnc
	// Zeek's analyzer for RDP's UDP transport (MS-RDPEUDP), a side channel of an
	// RDP session; kept as rdp over udp so the exception below is visible.
	"rdpeudp": "rdp",
}

// endpoint is one side of a session as a peer names it; the zero parts are unknown.
type endpoint struct {
	IP   netip.Addr
	Port uint16
}

func (e endpoint) String() string {
	ip, port := "*", "*"
	if e.IP.IsValid() {
		ip = e.IP.String()
		if e.IP.Is6() {
			ip = "[" + ip + "]"
		}
	}
	if e.Port != 0 {
		port = strconv.Itoa(int(e.Port))
	}
	return ip + ":" + port
}

func (e endpoint) matches(a netip.AddrPort) bool {
	return (!e.IP.IsValid() || e.IP == a.Addr().Unmap()) && (e.Port == 0 || e.Port == a.Port())
}

func (e endpoint) known() bool { return e.IP.IsValid() && e.Port != 0 }

// expectation is one thing a peer's reference says about a capture.
type expectation struct {
	Capture   string // INDEX.md local path
	Ref       string // which reference says so, e.g. "zeek ssh.log [scripts.base.protocols.ssh.basic]"
	Proto     string // network.protocol psmtap should give
	Transport string // tcp unless the peer says otherwise
	Client    endpoint
	Server    endpoint
	// RolesKnown: Client and Server are the peer's roles. Otherwise the peer only
	// names the two endpoints (in no particular order).
	RolesKnown bool
	Min        int  // at least this many psmtap sessions must match (>= 1)
	Absent     bool // the peer says there is no such session (Suricata count: 0)
	Source     string
}

// named: the peer gives both endpoints' addresses, so this is one flow.
func (x *expectation) named() bool { return x.Client.IP.IsValid() && x.Server.IP.IsValid() }

func (x *expectation) String() string {
	arrow := "->"
	if !x.RolesKnown {
		arrow = "<->"
	}
	s := fmt.Sprintf("%s %s %s %s", x.Proto, x.Client, arrow, x.Server)
	if x.Transport != "tcp" {
		s += " over " + x.Transport
	}
	if x.Absent {
		return "no " + s
	}
	if !x.named() || x.Min > 1 {
		s = fmt.Sprintf(">=%d x %s", x.Min, s)
	}
	return s
}

// communityRef is a Community ID a peer printed for a flow of a capture.
type communityRef struct {
	Capture string
	Ref     string
	ID      string
	Client  endpoint // may be unknown (then: some flow of the capture has ID)
	Server  endpoint
}

var communityIDPattern = regexp.MustCompile(`^1:[A-Za-z0-9+/]{27}=$`)

func parseAddr(s string) netip.Addr {
	// tshark prints tunnelled packets' addresses outer|inner: keep the innermost.
	if i := strings.LastIndexByte(s, '|'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.Trim(strings.TrimSpace(s), "[]")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

func parsePort(s string) uint16 {
	if i := strings.LastIndexByte(s, '|'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSuffix(strings.TrimSpace(s), "/tcp")
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0
	}
	return uint16(n)
}

// ---------------------------------------------------------------- INDEX.md

type captureRow struct {
	Section string
	Path    string   // local path, relative to the pcaps folder
	Refs    []string // upstream reference files
	Tshark  string   // the locally generated second opinion, if any
}

var backticked = regexp.MustCompile("`([^`]+)`")

// parseIndex reads the capture tables of INDEX.md, section by section.
func parseIndex(src string) ([]captureRow, error) {
	var rows []captureRow
	section := ""
	for n, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "## ") {
			section = strings.TrimSpace(strings.TrimPrefix(line, "## "))
			continue
		}
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cols) < 9 {
			return nil, fmt.Errorf("INDEX.md line %d: %d columns, want 9: %q", n+1, len(cols), line)
		}
		m := backticked.FindStringSubmatch(cols[0])
		if m == nil {
			return nil, fmt.Errorf("INDEX.md line %d: no capture path", n+1)
		}
		row := captureRow{Section: section, Path: m[1]}
		for _, r := range backticked.FindAllStringSubmatch(cols[7], -1) {
			if strings.HasPrefix(r[1], "_tshark/") {
				row.Tshark = r[1]
			} else {
				row.Refs = append(row.Refs, r[1])
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("INDEX.md: no capture rows")
	}
	return rows, nil
}

// ---------------------------------------------------------------- Zeek logs

// zeekTable is a Zeek log: ASCII with a #fields header, a zeek-cut extract with
// a plain header line, or a headerless zeek-cut extract (Header nil).
type zeekTable struct {
	Path   string // #path, or guessed from the file name
	Header []string
	Rows   [][]string
}

var zeekHeaderWords = map[string]bool{"ts": true, "uid": true, "id.orig_h": true, "host": true, "service": true}

func parseZeekLog(name, src string) *zeekTable {
	t := &zeekTable{}
	first := true
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.HasPrefix(line, "#fields\t"):
			t.Header = strings.Split(line, "\t")[1:]
			first = false
			continue
		case strings.HasPrefix(line, "#path\t"):
			t.Path = strings.TrimPrefix(line, "#path\t")
			continue
		case strings.HasPrefix(line, "#"), strings.TrimSpace(line) == "":
			continue
		}
		f := strings.Split(line, "\t")
		if first && t.Header == nil {
			first = false
			if zeekHeaderWords[f[0]] || len(f) > 1 && zeekHeaderWords[f[1]] {
				t.Header = f
				continue
			}
		}
		t.Rows = append(t.Rows, f)
	}
	if t.Path == "" {
		base := path.Base(name)
		for _, p := range []string{"known_services", "knownservices", "conn", "ssh", "rdp", "ftp", "telnet", "rlogin", "rsh", "weird", "notice"} {
			if strings.HasPrefix(base, p) {
				t.Path = p
				break
			}
		}
		if t.Path == "knownservices" {
			t.Path = "known_services"
		}
	}
	return t
}

// get returns a row's column value, "" when the column is absent or unset.
func (t *zeekTable) get(row []string, col string) string {
	for i, h := range t.Header {
		if h == col && i < len(row) {
			v := row[i]
			if v == "-" || v == "(empty)" {
				return ""
			}
			return v
		}
	}
	return ""
}

func (t *zeekTable) has(col string) bool {
	for _, h := range t.Header {
		if h == col {
			return true
		}
	}
	return false
}

func (t *zeekTable) ends(row []string) (client, server endpoint) {
	client = endpoint{IP: parseAddr(t.get(row, "id.orig_h")), Port: parsePort(t.get(row, "id.orig_p"))}
	server = endpoint{IP: parseAddr(t.get(row, "id.resp_h")), Port: parsePort(t.get(row, "id.resp_p"))}
	return
}

// zeekExpectations: ssh.log, rdp.log, ftp.log (one session per uid),
// conn.log (the service column), known_services.log (servers only). Other
// logs (weird, notice, analyzer, http, ssl...) do not list sessions of ours.
func zeekExpectations(capture, label string, t *zeekTable) []expectation {
	var out []expectation
	seen := map[string]bool{}
	unnamed := map[string]int{} // proto -> sessions the log lists without addresses
	add := func(proto, transport string, row []string) {
		client, server := t.ends(row)
		key := proto + "|" + t.get(row, "uid") + "|" + client.String() + "|" + server.String()
		if seen[key] {
			return
		}
		seen[key] = true
		if !client.IP.IsValid() && !server.IP.IsValid() {
			unnamed[proto]++
			return
		}
		out = append(out, expectation{Capture: capture, Ref: label, Proto: proto, Transport: transport,
			Client: client, Server: server, RolesKnown: true, Min: 1, Source: strings.Join(row, " ")})
	}
	switch t.Path {
	case "ssh", "rdp", "ftp", "telnet", "rlogin", "rsh":
		for _, row := range t.Rows {
			add(t.Path, "tcp", row)
		}
	case "conn":
		if !t.has("service") {
			return nil
		}
		for _, row := range t.Rows {
			transport := t.get(row, "proto")
			if transport == "" {
				transport = "tcp"
			}
			for _, s := range strings.Split(t.get(row, "service"), ",") {
				if p, ok := ourProtocols[s]; ok {
					add(p, transport, row)
				}
			}
		}
	case "known_services":
		for _, row := range t.Rows {
			p, ok := ourProtocols[strings.ToLower(t.get(row, "service"))]
			if !ok {
				continue
			}
			server := endpoint{IP: parseAddr(t.get(row, "host")), Port: parsePort(t.get(row, "port_num"))}
			key := p + "|" + server.String()
			if seen[key] || !server.IP.IsValid() {
				continue
			}
			seen[key] = true
			out = append(out, expectation{Capture: capture, Ref: label, Proto: p, Transport: t.get(row, "port_proto"),
				Server: server, RolesKnown: true, Min: 1, Source: strings.Join(row, " ")})
		}
	}
	protos := make([]string, 0, len(unnamed))
	for p := range unnamed {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	for _, p := range protos {
		out = append(out, expectation{Capture: capture, Ref: label, Proto: p, Transport: "tcp",
			RolesKnown: true, Min: unnamed[p], Source: fmt.Sprintf("%d %s rows without addresses", unnamed[p], p)})
	}
	return out
}

// zeekCommunityIDs reads a community_id column, or a headerless zeek-cut
// extract whose lines start with orig_h orig_p resp_h resp_p.
func zeekCommunityIDs(capture, label string, t *zeekTable) []communityRef {
	var out []communityRef
	for _, row := range t.Rows {
		if t.Header != nil {
			if id := t.get(row, "community_id"); id != "" {
				c, s := t.ends(row)
				out = append(out, communityRef{Capture: capture, Ref: label, ID: id, Client: c, Server: s})
			}
			continue
		}
		fields := strings.Fields(strings.Join(row, "\t"))
		for _, f := range fields {
			if !communityIDPattern.MatchString(f) {
				continue
			}
			cr := communityRef{Capture: capture, Ref: label, ID: f}
			if len(fields) >= 4 {
				cr.Client = endpoint{IP: parseAddr(fields[0]), Port: parsePort(fields[1])}
				cr.Server = endpoint{IP: parseAddr(fields[2]), Port: parsePort(fields[3])}
			}
			out = append(out, cr)
		}
	}
	return out
}

// ---------------------------------------------------------------- corelight/hassh ssh_cut.log

// sshCutExpectations: zeek-cut of ssh.log, columns (INDEX.md) orig_h orig_p
// resp_h resp_p client server hassh hasshServer.
func sshCutExpectations(capture, label, src string) []expectation {
	var out []expectation
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) < 4 {
			continue
		}
		c := endpoint{IP: parseAddr(f[0]), Port: parsePort(f[1])}
		s := endpoint{IP: parseAddr(f[2]), Port: parsePort(f[3])}
		if !c.known() || !s.known() {
			continue
		}
		out = append(out, expectation{Capture: capture, Ref: label, Proto: "ssh", Transport: "tcp",
			Client: c, Server: s, RolesKnown: true, Min: 1, Source: line})
	}
	return out
}

// ---------------------------------------------------------------- suricata-verify test.yaml

// perFlowEvents are EVE event types Suricata writes once per flow; the others
// of ours (rdp, ftp, telnet) are written per transaction, so their count says
// nothing about how many sessions there are.
var perFlowEvents = map[string]bool{"ssh": true, "flow": true}

func suricataFilters(src string) []map[string]any {
	doc, _ := parseYAML(src).(map[string]any)
	checks, _ := doc["checks"].([]any)
	var out []map[string]any
	for _, c := range checks {
		cm, _ := c.(map[string]any)
		if f, ok := cm["filter"].(map[string]any); ok {
			out = append(out, f)
		}
	}
	return out
}

func suricataExpectations(capture, label, src string) ([]expectation, []communityRef) {
	var exps []expectation
	var ids []communityRef
	for _, f := range suricataFilters(src) {
		match, _ := f["match"].(map[string]any)
		str := func(k string) string { s, _ := match[k].(string); return s }
		client := endpoint{IP: parseAddr(str("src_ip")), Port: parsePort(str("src_port"))}
		server := endpoint{IP: parseAddr(str("dest_ip")), Port: parsePort(str("dest_port"))}
		count := 1
		if s, ok := f["count"].(string); ok {
			n, err := strconv.Atoi(s)
			if err != nil {
				continue
			}
			count = n
		}
		et := str("event_type")
		if id := str("community_id"); id != "" && count != 0 && et != "alert" {
			ids = append(ids, communityRef{Capture: capture, Ref: label, ID: id, Client: client, Server: server})
		}
		// Alerts are logged in packet direction; app-layer and flow events in the
		// flow's (src = client). Only the latter name roles.
		proto := ourProtocols[et]
		if et == "flow" {
			proto = ourProtocols[str("app_proto")]
		}
		if proto == "" {
			continue
		}
		transport := strings.ToLower(str("proto"))
		if transport == "" {
			transport = "tcp"
		}
		x := expectation{Capture: capture, Ref: label, Proto: proto, Transport: transport,
			Client: client, Server: server, RolesKnown: true, Min: 1, Source: fmt.Sprintf("count %d %v", count, match)}
		switch {
		case count == 0:
			x.Absent, x.Min = true, 0
		case perFlowEvents[et] && !x.named():
			x.Min = count
		}
		exps = append(exps, x)
	}
	return exps, ids
}

// ---------------------------------------------------------------- CredSLayer EXPECTED.md

var tcpPortPattern = regexp.MustCompile(`(?i)tcp port (\d+)`)

// credslayerExpectations: one credential pair per listed sample means at least
// one session of that protocol; the table names no addresses.
func credslayerExpectations(capture, label, src string) []expectation {
	var out []expectation
	for _, line := range strings.Split(src, "\n") {
		if !strings.HasPrefix(line, "| samples/") {
			continue
		}
		cols := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cols) < 3 || "credslayer/"+strings.TrimSpace(cols[0]) != capture {
			continue
		}
		words := strings.Fields(cols[1])
		if len(words) == 0 {
			continue
		}
		proto := ourProtocols[strings.ToLower(words[0])]
		if proto == "" {
			continue
		}
		x := expectation{Capture: capture, Ref: label, Proto: proto, Transport: "tcp", RolesKnown: true, Min: 1, Source: line}
		if m := tcpPortPattern.FindStringSubmatch(cols[1]); m != nil {
			x.Server.Port = parsePort(m[1])
		}
		out = append(out, x)
	}
	return out
}

// ---------------------------------------------------------------- tcpdump .out

var tcpdumpLine = regexp.MustCompile(`(?:^|\s)([0-9a-fA-F:.]+)\.(\d+) > ([0-9a-fA-F:.]+)\.(\d+): Flags \[([^\]]*)\]`)

// tcpdumpExpectations: a flow is ours when tcpdump decoded our protocol in it
// ("SSH: SSH-2.0-..." or "[telnet ...]"); a bare SYN names the client.
func tcpdumpExpectations(capture, label, src string) []expectation {
	type flow struct {
		a, b   endpoint
		client int // 0: a, 1: b, -1 unknown
		proto  string
	}
	flows := map[string]*flow{}
	var order []string
	for _, line := range strings.Split(src, "\n") {
		m := tcpdumpLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		src := endpoint{IP: parseAddr(m[1]), Port: parsePort(m[2])}
		dst := endpoint{IP: parseAddr(m[3]), Port: parsePort(m[4])}
		if !src.known() || !dst.known() {
			continue
		}
		a, b := src, dst
		if b.String() < a.String() {
			a, b = b, a
		}
		key := a.String() + " " + b.String()
		f := flows[key]
		if f == nil {
			f = &flow{a: a, b: b, client: -1}
			flows[key] = f
			order = append(order, key)
		}
		if m[5] == "S" {
			f.client = 0
			if src != a {
				f.client = 1
			}
		}
		switch {
		case strings.Contains(line, ": SSH: SSH-"):
			f.proto = "ssh"
		case strings.Contains(line, "[telnet "):
			f.proto = "telnet"
		}
	}
	var out []expectation
	for _, k := range order {
		f := flows[k]
		if f.proto == "" {
			continue
		}
		x := expectation{Capture: capture, Ref: label, Proto: f.proto, Transport: "tcp", Client: f.a, Server: f.b, Min: 1, Source: k}
		if f.client >= 0 {
			x.RolesKnown = true
			if f.client == 1 {
				x.Client, x.Server = f.b, f.a
			}
		}
		out = append(out, x)
	}
	return out
}

// ---------------------------------------------------------------- tshark extracts (second opinion)

// tsharkExpectations reads the "### <proto>: tshark ..." tables. Roles come
// from what a row carries: a client KEXINIT (HASSH) or an FTP request or an
// RDP Connection Request is sent by the client; a server KEXINIT (HASSHServer)
// or an RDP Connection Confirm by the server. Telnet and rlogin rows carry no
// role, and tshark picks those dissectors by port: the pair is unordered.
func tsharkExpectations(capture, label, src string) []expectation {
	type flow struct {
		a, b  endpoint
		votes [2]int // votes for a, b being the client
		proto string
	}
	flows := map[string]*flow{}
	var order []string
	var proto string
	var header []string
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, "### ") {
			name := strings.TrimSuffix(strings.Fields(line)[1], ":")
			proto, header = ourProtocols[name], nil
			continue
		}
		if proto == "" || strings.TrimSpace(line) == "" {
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
		a, b := s, d
		if b.String() < a.String() {
			a, b = b, a
		}
		key := proto + " " + a.String() + " " + b.String()
		fl := flows[key]
		if fl == nil {
			fl = &flow{a: a, b: b, proto: proto}
			flows[key] = fl
			order = append(order, key)
		}
		srcIs := 0
		if s != a {
			srcIs = 1
		}
		fromClient, fromServer := false, false
		switch proto {
		case "ssh":
			fromClient, fromServer = col("ssh.kex.hassh") != "", col("ssh.kex.hasshserver") != ""
		case "ftp":
			fromClient = col("ftp.request.command") != ""
		case "rdp":
			nt := col("rdp.neg_type")
			fromClient = nt == "0x01" || col("rdp.rt_cookie") != "" || col("rdp.negReq.requestedProtocols") != "" || col("rdp.client.name") != ""
			fromServer = nt == "0x02" || nt == "0x03" || col("rdp.negReq.selectedProtocol") != "" || col("rdp.negFailure.failureCode") != "" || col("rdp.serverSelectedProtocol") != ""
		}
		if fromClient && !fromServer {
			fl.votes[srcIs]++
		}
		if fromServer && !fromClient {
			fl.votes[1-srcIs]++
		}
	}
	var out []expectation
	for _, k := range order {
		fl := flows[k]
		x := expectation{Capture: capture, Ref: label, Proto: fl.proto, Transport: "tcp", Client: fl.a, Server: fl.b, Min: 1, Source: k}
		switch {
		case fl.votes[0] > 0 && fl.votes[1] == 0:
			x.RolesKnown = true
		case fl.votes[1] > 0 && fl.votes[0] == 0:
			x.RolesKnown = true
			x.Client, x.Server = fl.b, fl.a
		}
		out = append(out, x)
	}
	return out
}

// ---------------------------------------------------------------- per capture

// refLabel names a reference in messages: tool, file, and the folder that
// tells which upstream test it belongs to.
func refLabel(ref string) string {
	dir, base := path.Split(ref)
	dir = strings.TrimSuffix(dir, "/")
	switch {
	case strings.HasPrefix(ref, "zeek/Baseline/"):
		return fmt.Sprintf("zeek %s [%s]", base, strings.TrimPrefix(dir, "zeek/Baseline/"))
	case strings.HasPrefix(ref, "suricata-verify/"):
		return fmt.Sprintf("suricata %s [%s]", base, strings.TrimPrefix(dir, "suricata-verify/"))
	case strings.HasPrefix(ref, "_tshark/"):
		return "tshark (second opinion, not upstream)"
	}
	return strings.SplitN(ref, "/", 2)[0] + " " + base
}

// referencesFor gathers every expectation the references of one capture make.
// The tshark extract is consulted only when no upstream reference names a
// session of ours by its addresses.
// Reference files INDEX.md lists that are not in the folder are returned in
// missing (the caller reports them).
func referencesFor(root string, c captureRow) (exps []expectation, ids []communityRef, missing []string, err error) {
	read := func(ref string) (string, error) {
		b, err := os.ReadFile(path.Join(root, ref))
		return string(b), err
	}
	for _, ref := range c.Refs {
		base := path.Base(ref)
		label := refLabel(ref)
		switch {
		case base == "ssh_cut.log",
			strings.HasSuffix(base, "test.yaml"),
			base == "EXPECTED.md",
			strings.HasPrefix(ref, "tcpdump/") && strings.HasSuffix(base, ".out"),
			strings.HasPrefix(ref, "zeek/Baseline/") && (strings.Contains(base, ".log") || strings.Contains(base, ".cut")):
		default:
			continue // event dumps, notes, rules, configs: not session listings
		}
		src, err := read(ref)
		if errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, ref)
			continue
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("reference of %s: %w", c.Path, err)
		}
		switch {
		case base == "ssh_cut.log":
			exps = append(exps, sshCutExpectations(c.Path, label, src)...)
		case strings.HasSuffix(base, "test.yaml"):
			e, i := suricataExpectations(c.Path, label, src)
			exps, ids = append(exps, e...), append(ids, i...)
		case base == "EXPECTED.md":
			exps = append(exps, credslayerExpectations(c.Path, label, src)...)
		case strings.HasSuffix(base, ".out"):
			exps = append(exps, tcpdumpExpectations(c.Path, label, src)...)
		default:
			t := parseZeekLog(ref, src)
			exps = append(exps, zeekExpectations(c.Path, label, t)...)
			ids = append(ids, zeekCommunityIDs(c.Path, label, t)...)
		}
	}
	named := false
	for i := range exps {
		named = named || exps[i].named()
	}
	if !named && c.Tshark != "" {
		src, err := read(c.Tshark)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			missing = append(missing, c.Tshark)
		case err != nil:
			return nil, nil, nil, fmt.Errorf("tshark extract of %s: %w", c.Path, err)
		default:
			exps = append(exps, tsharkExpectations(c.Path, refLabel(c.Tshark), src)...)
		}
	}
	return exps, ids, missing, nil
}

// ---------------------------------------------------------------- parser self-checks (no captures needed)

func TestZeekLogReader(t *testing.T) {
	full := "### BTest baseline\n#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\n" +
		"#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\n" +
		"X\tC1\t10.0.0.1\t40000\t10.0.0.2\t3389\ttcp\tssl,rdp\n" +
		"X\tC2\t10.0.0.1\t40001\t10.0.0.2\t80\ttcp\thttp\n" +
		"X\tC3\t::1\t61291\t::1\t3389\tudp\trdpeudp\n#close X\n"
	e := zeekExpectations("c", "zeek conn.log", parseZeekLog("x/conn.log", full))
	if len(e) != 2 || e[0].Proto != "rdp" || e[0].Client.String() != "10.0.0.1:40000" || e[0].Server.String() != "10.0.0.2:3389" ||
		e[1].Transport != "udp" || e[1].Server.String() != "[::1]:3389" {
		t.Fatalf("conn.log: %+v", e)
	}
	cut := "### BTest\nuid\tservice\thistory\nC1\tssh\tShAd\nC2\tssh\tShAd\nC2\tssh\tShAd\nC3\t-\tS\n"
	e = zeekExpectations("c", "zeek conn.log", parseZeekLog("x/conn.log", cut))
	if len(e) != 1 || e[0].Min != 2 || e[0].named() {
		t.Fatalf("zeek-cut without addresses: %+v", e)
	}
	ids := zeekCommunityIDs("c", "r", parseZeekLog("x/conn.log.cut", "### BTest\n141.142.228.5\t59856\t192.150.187.43\t80\ttcp\t-\t1:yvyB8h+3dnggTZW0UEITWCst97w=\n"))
	if len(ids) != 1 || ids[0].Client.String() != "141.142.228.5:59856" || ids[0].Server.String() != "192.150.187.43:80" {
		t.Fatalf("headerless cut: %+v", ids)
	}
}

func TestOtherReaders(t *testing.T) {
	td := "    1  2018-12-23 10:50:09.891237 IP 202.108.87.165.62146 > 223.132.53.222.22: Flags [S], seq 1, length 0\n" +
		"    4  2018-12-23 10:50:09.917574 IP 223.132.53.222.22 > 202.108.87.165.62146: Flags [P.], seq 1:22, ack 1, length 21: SSH: SSH-2.0-OpenSSH_7.4\n"
	e := tcpdumpExpectations("c", "tcpdump", td)
	if len(e) != 1 || !e[0].RolesKnown || e[0].Client.String() != "202.108.87.165:62146" {
		t.Fatalf("tcpdump: %+v", e)
	}
	ts := "### ssh: tshark -Y x\nframe.number\tip.src\tipv6.src\ttcp.srcport\tip.dst\tipv6.dst\ttcp.dstport\tssh.protocol\tssh.kex.hassh\tssh.kex.hasshserver\n" +
		"4\t1.1.1.1|10.0.0.2\t\t22\t2.2.2.2|10.0.0.1\t\t5000\tSSH-2.0-x\t\t\n" +
		"5\t2.2.2.2|10.0.0.1\t\t5000\t1.1.1.1|10.0.0.2\t\t22\t\tabc\t\n\n" +
		"### telnet: tshark\nframe.number\tip.src\ttcp.srcport\tip.dst\ttcp.dstport\ttelnet.cmd\n1\t10.0.0.3\t23\t10.0.0.4\t4000\t253\n"
	e = tsharkExpectations("c", "tshark", ts)
	if len(e) != 2 || !e[0].RolesKnown || e[0].Client.String() != "10.0.0.1:5000" || e[1].RolesKnown || e[1].Proto != "telnet" {
		t.Fatalf("tshark: %+v", e)
	}
	y := "checks:\n- filter:\n    count: 1\n    match:\n      event_type: ssh\n      src_ip: 192.168.100.1\n      src_port: 10000\n      dest_ip: 192.168.200.1\n      dest_port: 22\n" +
		"- filter:\n    count: 4\n    match:\n      event_type: ssh\n      dest_port: 22\n" +
		"- filter:\n    count: 4\n    match:\n      event_type: rdp\n      has-key: community_id\n"
	e, _ = suricataExpectations("c", "suricata", y)
	if len(e) != 3 || !e[0].named() || e[0].Client.String() != "192.168.100.1:10000" || e[1].Min != 4 || e[1].Server.Port != 22 || e[2].Min != 1 {
		t.Fatalf("suricata: %+v", e)
	}
}

// tsharkRow reads one row of a _tshark field extract: a column getter by
// header name and the TCP endpoints (IPv4 or IPv6); ok is false without both.
func tsharkRow(header, f []string) (col func(string) string, s, d endpoint, ok bool) {
	col = func(name string) string {
		for i, h := range header {
			if h == name && i < len(f) {
				return strings.TrimSpace(f[i])
			}
		}
		return ""
	}
	ip := func(v4, v6 string) netip.Addr {
		if a := parseAddr(col(v4)); a.IsValid() {
			return a
		}
		return parseAddr(col(v6))
	}
	s = endpoint{IP: ip("ip.src", "ipv6.src"), Port: parsePort(col("tcp.srcport"))}
	d = endpoint{IP: ip("ip.dst", "ipv6.dst"), Port: parsePort(col("tcp.dstport"))}
	return col, s, d, s.known() && d.known()
}
