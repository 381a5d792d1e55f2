package ssh

import (
	"encoding/binary"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/psmtap/psmtap/dissectors"
	"github.com/psmtap/psmtap/internal/record"
)

// packet frames a cleartext binary packet (RFC 4253 §6) with 4 bytes of padding.
func packet(payload ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)+4))
	b = append(b, 4)
	b = append(b, payload...)
	return append(b, 0, 0, 0, 0)
}

func str(s string) []byte { return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...) }

func kexinit(kex, hostkey, enc, mac, comp string) []byte {
	p := []byte{msgKexInit}
	p = append(p, make([]byte, 16)...)
	for _, l := range []string{kex, hostkey, enc, enc, mac, mac, comp, comp, "", ""} {
		p = append(p, str(l)...)
	}
	return append(p, 0, 0, 0, 0, 0)
}

// handshake runs banners, KEXINITs, an ECDH reply with an ed25519 host key
// blob and NEWKEYS both ways. The last client packet shares its segment with
// the first encrypted bytes (a case Zeek documents as hard).
func handshake(t testing.TB, s *session) {
	s.Feed(dissectors.FromClient, []byte("SSH-2.0-OpenSSH_9.9\r\n"), 1)
	s.Feed(dissectors.FromServer, []byte("SSH-2.0-dropbear_2022.83\r\n"), 2)
	s.Feed(dissectors.FromClient, packet(kexinit("curve25519-sha256,ext-info-c", "ssh-ed25519", "chacha20-poly1305@openssh.com,aes128-ctr", "hmac-sha2-256", "none")...), 3)
	s.Feed(dissectors.FromServer, packet(kexinit("curve25519-sha256", "ssh-ed25519,rsa-sha2-256", "aes128-ctr,chacha20-poly1305@openssh.com", "hmac-sha2-256", "none,zlib")...), 4)
	blob := append(str("ssh-ed25519"), str(string(make([]byte, 32)))...)
	reply := append([]byte{msgKexDHReply}, str(string(blob))...)
	reply = append(reply, str("ephemeral")...)
	srv := append(packet(reply...), packet(msgNewKeys)...)
	s.Feed(dissectors.FromServer, srv, 5)
	s.Feed(dissectors.FromClient, append(packet(msgNewKeys), make([]byte, 44)...), 6) // + SERVICE_REQUEST, encrypted
}

func TestHandshakeFacts(t *testing.T) {
	r := &record.Record{}
	s := newSession(r)
	handshake(t, s)
	// Encrypted: SERVICE_ACCEPT (44), then none -> FAILURE (52), password -> FAILURE, password -> SUCCESS (28).
	for _, x := range []struct {
		dir dissectors.Direction
		n   int
	}{{1, 44}, {0, 60}, {1, 52}, {0, 92}, {1, 52}, {0, 92}, {1, 28}, {0, 44}, {1, 600}} {
		s.Feed(x.dir, make([]byte, x.n), 10)
	}
	s.Close(r)
	f := r.Objects["ssh"].(*Fields)
	if f.KexAlg != "curve25519-sha256" || f.HostKeyAlg != "ssh-ed25519" || f.CipherAlg != "chacha20-poly1305@openssh.com" || f.CompressionAlg != "none" {
		t.Errorf("negotiated %+v", f)
	}
	if f.HostKey == nil || f.HostKey.Type != "ssh-ed25519" || f.HostKey.FingerprintSHA256[:7] != "SHA256:" {
		t.Errorf("host key %+v", f.HostKey)
	}
	if f.Client.HASSHString != "curve25519-sha256,ext-info-c;chacha20-poly1305@openssh.com,aes128-ctr;hmac-sha2-256;none" {
		t.Errorf("hassh string %q", f.Client.HASSHString)
	}
	if r.Login == nil || r.Login.Success == nil || !*r.Login.Success || r.Login.Attempts != 2 || !r.Login.Inferred {
		t.Errorf("login %+v", r.Login)
	}
}

func TestFailedLogin(t *testing.T) {
	r := &record.Record{}
	s := newSession(r)
	handshake(t, s)
	for _, x := range []struct {
		dir dissectors.Direction
		n   int
	}{{1, 44}, {0, 60}, {1, 52}, {0, 92}, {1, 52}, {0, 92}, {1, 52}} {
		s.Feed(x.dir, make([]byte, x.n), 10)
	}
	s.Close(r)
	if r.Login == nil || r.Login.Success == nil || *r.Login.Success || r.Login.Attempts != 2 || r.Kind != "" {
		t.Errorf("login %+v kind %q", r.Login, r.Kind)
	}
}

// TestEncryptedNoAlloc: once encrypted, a record costs no allocation.
func TestEncryptedNoAlloc(t *testing.T) {
	r := &record.Record{}
	s := newSession(r)
	handshake(t, s)
	buf := make([]byte, 1400)
	ts := int64(100)
	n := testing.AllocsPerRun(1000, func() {
		ts += 1e6
		s.Feed(dissectors.FromServer, buf, ts)
		s.Feed(dissectors.FromClient, buf[:36], ts)
	})
	if n != 0 {
		t.Fatalf("%.1f allocations per encrypted record", n)
	}
}

func BenchmarkEncrypted(b *testing.B) {
	s := newSession(&record.Record{})
	handshake(b, s)
	buf := make([]byte, 1400)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	ts := int64(0)
	for b.Loop() {
		ts += 1e6
		s.Feed(dissectors.FromServer, buf, ts)
	}
}

// TestHostileKexInit: a KEXINIT with a thousand names per list costs little
// and is capped.
func TestHostileKexInit(t *testing.T) {
	var long []byte
	for i := 0; i < 1000; i++ {
		if i > 0 {
			long = append(long, ',')
		}
		long = append(long, "algorithm-name-number-xxxxxxxx"...)
	}
	k, err := ParseKexInit(kexinit(string(long), string(long), string(long), string(long), string(long)))
	if err != nil || !k.Capped || len(k.Lists[listKex]) > maxNameList || len(k.AsClient.Input) > 4*maxNameList {
		t.Fatalf("err %v capped %v", err, k.Capped)
	}
	if got := Negotiate(k.Lists[listKex], "zzz,algorithm-name-number-xxxxxxxx"); got != "algorithm-name-number-xxxxxxxx" {
		t.Fatalf("negotiate %q", got)
	}
}

// BenchmarkEncryptedEvents is BenchmarkEncrypted with a listener: once the
// login and the kind are settled (here: the kind never is), a record costs
// the same and allocates nothing.
func BenchmarkEncryptedEvents(b *testing.B) {
	s := newSession(&record.Record{})
	s.ev = &events{ctx: &dissectors.Context{Events: func(*record.Event) {}}, watch: true}
	handshake(b, s)
	for _, x := range []struct {
		dir dissectors.Direction
		n   int
	}{{1, 44}, {0, 60}, {1, 52}, {0, 92}, {1, 28}} {
		s.Feed(x.dir, make([]byte, x.n), 10)
	}
	buf := make([]byte, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	ts := int64(0)
	for b.Loop() {
		ts += 1e6
		s.Feed(dissectors.FromServer, buf, ts)
	}
}

// listen gives s a listener and returns the events it gets.
func listen(s *session) *[]*record.Event {
	var evs []*record.Event
	s.ev = &events{ctx: &dissectors.Context{Events: func(ev *record.Event) { evs = append(evs, ev) }}, watch: true}
	return &evs
}

func TestWeakAlgorithms(t *testing.T) {
	for _, c := range []struct {
		kex, enc, mac, want string
	}{
		{"diffie-hellman-group1-sha1", "3des-cbc,aes128-ctr", "hmac-md5", "weak SSH algorithms negotiated: kex diffie-hellman-group1-sha1, cipher 3des-cbc, mac hmac-md5"},
		{"curve25519-sha256", "aes128-ctr", "hmac-md5-96", "weak SSH algorithms negotiated: mac hmac-md5-96"},
		{"curve25519-sha256", "chacha20-poly1305@openssh.com", "hmac-md5", ""}, // an AEAD cipher uses no MAC
		{"curve25519-sha256", "aes256-gcm@openssh.com", "hmac-sha2-256", ""},
		{"curve25519-sha256", "none", "none", "weak SSH algorithms negotiated: cipher none, mac none"},
	} {
		s := newSession(&record.Record{})
		evs := listen(s)
		s.Feed(dissectors.FromClient, []byte("SSH-2.0-OpenSSH_9.9\r\n"), 1)
		s.Feed(dissectors.FromServer, []byte("SSH-2.0-OpenSSH_9.9\r\n"), 2)
		s.Feed(dissectors.FromClient, packet(kexinit(c.kex, "ssh-ed25519", c.enc, c.mac, "none")...), 3)
		s.Feed(dissectors.FromServer, packet(kexinit(c.kex, "ssh-ed25519", c.enc, c.mac, "none")...), 4)
		got := ""
		if len(*evs) == 1 && (*evs)[0].Action == record.ActionSecurity && (*evs)[0].Time.UnixNano() == 4 {
			got = (*evs)[0].Reason
		}
		if got != c.want || len(*evs) > 1 {
			t.Errorf("%s %s %s: %q (%d events)", c.kex, c.enc, c.mac, got, len(*evs))
		}
	}
}

func TestSSH1Event(t *testing.T) {
	s := newSession(&record.Record{})
	evs := listen(s)
	s.Feed(dissectors.FromServer, []byte("SSH-1.99-OpenSSH_3.9\r\n"), 1)
	s.Feed(dissectors.FromClient, []byte("SSH-1.5-PuTTY\r\n"), 2)
	if len(*evs) != 1 || (*evs)[0].Action != record.ActionSecurity || !strings.Contains((*evs)[0].Reason, "version 1") {
		t.Fatalf("%+v", *evs)
	}
	s = newSession(&record.Record{})
	evs = listen(s)
	s.Feed(dissectors.FromServer, []byte("SSH-1.99-OpenSSH_3.9\r\n"), 1)
	s.Feed(dissectors.FromClient, []byte("SSH-2.0-PuTTY\r\n"), 2)
	if len(*evs) != 0 {
		t.Fatalf("SSH-2 with a 1.99 server: %+v", *evs)
	}
}

// TestLoginEventsLiveAndUnanswered: failures go out as they are answered
// (once the "none" probe is told apart), an attempt cut short by the end of
// the capture goes out at Close with outcome unknown, and Close adds no
// attempt the record does not count.
func TestLoginEventsLiveAndUnanswered(t *testing.T) {
	r := &record.Record{End: time.Unix(0, 99)}
	s := newSession(r)
	evs := listen(s)
	handshake(t, s)
	steps := []struct {
		dir dissectors.Direction
		n   int
		ts  int64
	}{{1, 44, 10}, {0, 60, 11}, {1, 52, 12}, {0, 92, 13}, {1, 52, 14e9}, {0, 92, 15e9}, {1, 52, 20e9}, {0, 92, 21e9}}
	wantAfter := []int{0, 0, 0, 0, 1, 1, 2, 2} // events after each step
	for i, x := range steps {
		s.Feed(x.dir, make([]byte, x.n), x.ts)
		if len(*evs) != wantAfter[i] {
			t.Fatalf("after step %d: %d events", i, len(*evs))
		}
	}
	r.State = record.StateCaptureEnd
	s.Close(r)
	var logins []*record.Event
	for _, ev := range *evs {
		if ev.Action == record.ActionLogin {
			logins = append(logins, ev)
		}
	}
	evs = &logins
	if len(*evs) != 3 || r.Login.Attempts != 2 {
		t.Fatalf("%d events, record %+v", len(*evs), r.Login)
	}
	for i, want := range []string{"failure@14000000000", "failure@20000000000", "unknown@99"} {
		ev := (*evs)[i]
		if got := ev.Outcome + "@" + strconv.FormatInt(ev.Time.UnixNano(), 10); got != want || ev.Login.Attempt != i+1 {
			t.Errorf("event %d: %s attempt %d, want %s", i, got, ev.Login.Attempt, want)
		}
	}
}

// TestSnapshot: snapshots along the way say what is known and leave the
// session as it was: Close writes the same record as without them.
func TestSnapshot(t *testing.T) {
	feed := func(s *session, each func()) {
		handshake(t, s)
		each()
		for _, x := range []struct {
			dir dissectors.Direction
			n   int
		}{{1, 44}, {0, 60}, {1, 52}, {0, 92}, {1, 52}, {0, 92}, {1, 28}, {0, 44}, {1, 600}} {
			s.Feed(x.dir, make([]byte, x.n), 10)
			each()
		}
	}
	plain := &record.Record{}
	s0 := newSession(plain)
	feed(s0, func() {})
	s0.Close(plain)

	r := &record.Record{}
	s := newSession(r)
	var snaps []*record.Record
	feed(s, func() {
		var x record.Record
		s.Snapshot(&x)
		snaps = append(snaps, &x)
	})
	s.Close(r)
	a, _ := r.MarshalJSON()
	b, _ := plain.MarshalJSON()
	if string(a) != string(b) {
		t.Fatalf("snapshots changed the record:\n%s\n%s", a, b)
	}
	first, last := snaps[0], snaps[len(snaps)-1]
	if f, _ := first.Objects["ssh"].(*Fields); f == nil || f.KexAlg != "curve25519-sha256" || first.Login != nil {
		t.Fatalf("first snapshot %+v", first)
	}
	if last.Login == nil || last.Login.Success == nil || !*last.Login.Success || last.Login.Attempts != 2 {
		t.Fatalf("last snapshot login %+v", last.Login)
	}
	// A failure so far is not a failed login while the session goes on.
	if mid := snaps[5]; mid.Login == nil || mid.Login.Success != nil || mid.Login.Attempts != 1 {
		t.Fatalf("snapshot after a failure: %+v", mid.Login)
	}
}
