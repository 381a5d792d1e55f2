package rdp

import (
	"encoding/hex"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// Connection Confirm with RDP_NEG_FAILURE SSL_NOT_ALLOWED_BY_SERVER (2.2.1.2.2):
// TPKT 03 00 00 13 | LI 0e CC d0 | dst 00 00 | src 12 34 | class 00 | 03 00 08 00 02 00 00 00
const ccFailure = "\x03\x00\x00\x13\x0e\xd0\x00\x00\x12\x34\x00\x03\x00\x08\x00\x02\x00\x00\x00"

// Connection Request with a routing token and RDP_NEG_REQ asking for
// SSL|HYBRID|HYBRID_EX with the correlation info flag and structure (2.2.1.1.2).
var crToken = func() string {
	v := "Cookie: msts=3640205228.15629.0000\r\n" +
		"\x01\x08\x08\x00\x0b\x00\x00\x00" + // RDP_NEG_REQ flags CORRELATION_INFO_PRESENT, protocols 0x0b
		"\x06\x00\x24\x00" + "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10" + strings.Repeat("\x00", 16)
	n := 11 + len(v)
	return "\x03\x00" + string([]byte{byte(n >> 8), byte(n)}) + string([]byte{byte(n - 5)}) + "\xe0\x00\x00\x00\x00\x00" + v
}()

func fixture(t testing.TB, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestX224Parsers(t *testing.T) {
	cr, err := ParseConnectionRequest([]byte(crCookie))
	if err != nil || cr.Cookie != "eltons" || !cr.HasNegReq || cr.Requested != 3 {
		t.Errorf("cookie request: %+v %v", cr, err)
	}
	cr, err = ParseConnectionRequest([]byte(crToken))
	if err != nil || cr.Cookie != "" || cr.RoutingToken != "msts=3640205228.15629.0000" || cr.Requested != 0x0b || cr.Correlation == nil {
		t.Errorf("token request: %+v %v", cr, err)
	}
	if got := ProtocolList(0x0b); !slices.Equal(got, []string{"ssl", "hybrid", "hybrid_ex"}) {
		t.Errorf("protocols %v", got)
	}
	cc, err := ParseConnectionConfirm([]byte(ccFailure))
	if err != nil || !cc.Failure || FailureName(cc.FailureCode) != "ssl_not_allowed_by_server" {
		t.Errorf("failure: %+v %v", cc, err)
	}
	cc, err = ParseConnectionConfirm([]byte(ccNegRsp))
	if err != nil || cc.Selected != 2 || cc.Flags != 0x1f {
		t.Errorf("rsp: %+v %v", cc, err)
	}
	// Malformed: cookie without CR LF; negotiation structure with a wrong length.
	bad := []string{
		"\x03\x00\x00\x12\x0d\xe0\x00\x00\x00\x00\x00Cookie: x",
		"\x03\x00\x00\x13\x0e\xe0\x00\x00\x00\x00\x00\x01\x00\x09\x00\x03\x00\x00\x00",
	}
	for _, b := range bad {
		if _, err := ParseConnectionRequest([]byte(b)); err == nil {
			t.Errorf("accepted %q", b)
		}
	}
}

func TestMCSConnect(t *testing.T) {
	ci := fixture(t, "freerdp-mcs-connect-initial.bin")
	d, ok := X224Data(ci)
	if !ok {
		t.Fatal("not X.224 data")
	}
	ud, err := ParseConnectInitial(d)
	if err == nil {
		ud, err = GCCUserData(ud, "Duca")
	}
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := Blocks(ud)
	if err != nil || len(blocks) < 4 || blocks[0].Type != csCore {
		t.Fatalf("blocks %v %v", len(blocks), err)
	}
	core, err := ParseClientCore(blocks[0].Data)
	if err != nil || core.ClientName != "psm-cli" || core.KeyboardLayout != 0x409 || core.DesktopWidth != 800 || core.ColorDepthBits() != 16 {
		t.Errorf("core %+v %v", core, err)
	}
	cr := fixture(t, "xrdp-mcs-connect-response.bin")
	d, _ = X224Data(cr)
	res, ud, err := ParseConnectResponse(d)
	if err == nil {
		ud, err = GCCUserData(ud, "McDn")
	}
	if err != nil || res != 0 {
		t.Fatalf("response %d %v", res, err)
	}
	if _, err := Blocks(ud); err != nil {
		t.Error(err)
	}
	// Every truncation of either PDU is an error or a shorter result, never a panic.
	for _, p := range [][]byte{ci, cr} {
		for i := range p {
			if d, ok := X224Data(p[:i]); ok {
				if ud, err := ParseConnectInitial(d); err == nil {
					GCCUserData(ud, "Duca")
				}
				ParseConnectResponse(d)
			}
		}
	}
}

// feed runs a session over client and server byte streams, each cut into
// pieces of at most step bytes, client first.
func feed(client, server []string, step int) *record.Record {
	r := &record.Record{}
	s := newSession(r)
	n := max(len(client), len(server))
	for i := 0; i < n; i++ {
		for d, side := range [][]string{client, server} {
			if i >= len(side) {
				continue
			}
			b := []byte(side[i])
			for len(b) > 0 {
				k := min(step, len(b))
				s.Feed(dissectors.Direction(d), b[:k], 0)
				b = b[k:]
			}
		}
	}
	s.Close(r)
	return r
}

func TestSession(t *testing.T) {
	ci := string(fixture(t, "freerdp-mcs-connect-initial.bin"))
	cresp := string(fixture(t, "xrdp-mcs-connect-response.bin"))
	crRDP := "\x03\x00\x00\x23\x1e\xe0\x00\x00\x00\x00\x00Cookie: mstshash=alice\r\n" // no RDP_NEG_REQ
	ccPlain := "\x03\x00\x00\x0b\x06\xd0\x00\x00\x12\x34\x00"
	tlsHello := "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03"
	cases := []struct {
		name           string
		client, server []string
		step           int
		user, sel, res string
		channels       string
		anomaly        string
	}{
		{"standard security, whole", []string{crRDP, ci}, []string{ccPlain, cresp}, 1 << 16, "alice", "rdp", "success", "rdpdr,rdpsnd,cliprdr,drdynvc", ""},
		{"standard security, byte by byte", []string{crRDP, ci}, []string{ccPlain, cresp}, 1, "alice", "rdp", "success", "rdpdr,rdpsnd,cliprdr,drdynvc", ""},
		{"pipelined request and MCS", []string{crRDP + ci}, []string{ccPlain + cresp}, 1 << 16, "alice", "rdp", "success", "rdpdr,rdpsnd,cliprdr,drdynvc", ""},
		{"negotiation failure", []string{crCookie}, []string{ccFailure}, 7, "eltons", "", "ssl_not_allowed_by_server", "", ""},
		{"truncated MCS", []string{crRDP, ci[:200]}, []string{ccPlain}, 1 << 16, "alice", "rdp", "success", "", ""},
		{"bad TPKT after negotiation", []string{crRDP, "\x03\x00\x00\x02"}, []string{ccPlain}, 1 << 16, "alice", "rdp", "success", "", "rdp.bad_tpkt"},
		{"MCS garbage", []string{crRDP, "\x03\x00\x00\x0c\x02\xf0\x80\x7f\x65\x82\xff\xff"}, []string{ccPlain}, 3, "alice", "rdp", "success", "", "rdp.bad_mcs_connect_initial"},
		{"TLS after selecting ssl, hello cut", []string{crCookie, tlsHello}, []string{ccNegRsp}, 2, "eltons", "hybrid", "success", "", "tls.bad_client_hello"},
	}
	for _, c := range cases {
		r := feed(c.client, c.server, c.step)
		f, _ := r.Objects["rdp"].(*Fields)
		if f == nil {
			t.Fatalf("%s: no rdp object", c.name)
		}
		// The cookie is a claim, not a login: never user.name.
		if f.Cookie != c.user || r.UserName != "" || f.SelectedProtocol != c.sel || f.Result != c.res || strings.Join(f.Channels, ",") != c.channels {
			t.Errorf("%s: cookie %q user %q selected %q result %q channels %v", c.name, f.Cookie, r.UserName, f.SelectedProtocol, f.Result, f.Channels)
		}
		if c.anomaly != "" && !slices.Contains(r.Anomalies, c.anomaly) {
			t.Errorf("%s: anomalies %v, want %s", c.name, r.Anomalies, c.anomaly)
		}
	}
}

func TestUDP(t *testing.T) {
	syn, _ := hex.DecodeString("ffffffff004018010b127f1504d004d07855d064fbaf43f0b6e8f8aadfad0000" + strings.Repeat("00", 16) + "00010003")
	synack, _ := hex.DecodeString("0b127f15004010050f94ea0b04d004d000010002")
	in := &dissectors.ProbeInput{UDP: true, Data: [2][]byte{synack, syn}, Client: 0}
	if got := (Dissector{}).Probe(in); got.Verdict != dissectors.Match || got.Client != 1 {
		t.Errorf("probe %+v", got)
	}
	dns := []byte("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01")
	in = &dissectors.ProbeInput{UDP: true, Data: [2][]byte{dns, nil}}
	if got := (Dissector{}).Probe(in); got.Verdict != dissectors.NoMatch {
		t.Errorf("dns probe %+v", got)
	}
	u := &udpSession{}
	u.Feed(dissectors.FromClient, syn, 0)
	if st := u.Feed(dissectors.FromServer, synack, 0); st != dissectors.Done {
		t.Error("not done after SYN+ACK")
	}
	r := &record.Record{}
	u.Close(r)
	f := r.Objects["rdp"].(*Fields)
	if f.Result != "success" || f.UDP == nil || f.UDP.Version != "2" || f.UDP.MTU != 1232 {
		t.Errorf("udp %+v %+v", f, f.UDP)
	}
}
