package ssh

import (
	"encoding/binary"
	"testing"

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
