package ssh

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
)

// Message numbers (RFC 4250 §4.1.2, RFC 4253 §12, RFC 4419 §5).
const (
	msgKexInit        = 20
	msgNewKeys        = 21
	msgKexDHReply     = 31 // also KEX_ECDH_REPLY, hybrid PQ replies; GEX_GROUP under group exchange
	msgKexDHGexReply  = 33
	msgServiceRequest = 5
)

// maxPacket bounds a cleartext binary packet. RFC 4253 §6.1 requires
// support for 35000 bytes; OpenSSH accepts up to 256 KiB.
const maxPacket = 256 << 10

// Errors of the binary packet layer. Values, so they cost nothing to return.
var (
	errPacketTooLong = errors.New("packet length over limit")
	errBadPadding    = errors.New("padding length out of range")
	errTruncated     = errors.New("message truncated")
)

// cutPacket frames one cleartext binary packet (RFC 4253 §6):
// uint32 packet_length, byte padding_length, payload, padding (no MAC before
// the first NEWKEYS). It returns the payload and the bytes consumed, or
// consumed == 0 when more bytes are needed.
func cutPacket(b []byte) (payload []byte, consumed int, err error) {
	if len(b) < 5 {
		return nil, 0, nil
	}
	n := binary.BigEndian.Uint32(b)
	if n > maxPacket || n < 2 {
		return nil, 0, errPacketTooLong
	}
	if len(b) < 4+int(n) {
		return nil, 0, nil
	}
	pad := int(b[4])
	if pad+1 > int(n) {
		return nil, 0, errBadPadding
	}
	return b[5 : 4+int(n)-pad], 4 + int(n), nil
}

// reader walks the SSH data types of RFC 4251 §5 without allocating.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte1() byte {
	if r.err != nil || len(r.b) < 1 {
		r.err = errTruncated
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *reader) skip(n int) {
	if r.err != nil || len(r.b) < n {
		r.err = errTruncated
		return
	}
	r.b = r.b[n:]
}

func (r *reader) uint32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.err = errTruncated
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

// str reads a string (uint32 length + bytes); the result aliases the input.
func (r *reader) str() []byte {
	n := r.uint32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(r.b)) {
		r.err = errTruncated
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// Name-list indexes in KEXINIT (RFC 4253 §7.1).
const (
	listKex = iota
	listHostKey
	listEncCS
	listEncSC
	listMacCS
	listMacSC
	listCompCS
	listCompSC
	listLangCS
	listLangSC
	numLists
)

// maxNameList caps what is kept of one name-list as a string; HASSH is still
// computed over the whole list as sent.
const maxNameList = 4096

// KexInit is a parsed SSH_MSG_KEXINIT (RFC 4253 §7.1).
type KexInit struct {
	Lists           [numLists]string // name-lists as sent (each capped to maxNameList)
	Capped          bool             // a list was longer than the cap
	FirstKexFollows bool
	// HASSH as this KEXINIT's sender would get it as a client (over the
	// client-to-server lists) and as a server (HASSHServer, server-to-client
	// lists). The session picks by role: SSH roles can differ from TCP roles.
	AsClient, AsServer Fingerprint
}

// Fingerprint is a HASSH value and its input string.
type Fingerprint struct {
	Hash  string // MD5, lower-case hex
	Input string // "kex;enc;mac;comp", capped
}

// ParseKexInit parses a KEXINIT payload (message number included).
func ParseKexInit(p []byte) (KexInit, error) {
	var k KexInit
	r := reader{b: p}
	if r.byte1() != msgKexInit {
		return k, errors.New("not a KEXINIT")
	}
	r.skip(16) // cookie
	var raw [numLists][]byte
	for i := range raw {
		raw[i] = r.str()
	}
	k.FirstKexFollows = r.byte1() != 0
	r.uint32() // reserved
	if r.err != nil {
		return k, r.err
	}
	for i, l := range raw {
		if len(l) > maxNameList {
			k.Capped = true
			l = l[:maxNameList]
		}
		k.Lists[i] = string(l)
	}
	k.AsClient = hassh(raw[listKex], raw[listEncCS], raw[listMacCS], raw[listCompCS])
	k.AsServer = hassh(raw[listKex], raw[listEncSC], raw[listMacSC], raw[listCompSC])
	return k, nil
}

// hassh computes HASSH (Salesforce, BSD-3): MD5 of "kex;enc;mac;comp" over the
// lists exactly as sent. The hash covers the whole lists even when they are
// longer than what is kept as text.
func hassh(lists ...[]byte) Fingerprint {
	h := md5.New()
	n := 0
	for i, l := range lists {
		if i > 0 {
			h.Write([]byte{';'})
		}
		h.Write(l)
		n += len(l) + 1
	}
	in := make([]byte, 0, min(n, 4*maxNameList))
	for i, l := range lists {
		if i > 0 {
			in = append(in, ';')
		}
		in = append(in, l[:min(len(l), max(0, 4*maxNameList-len(in)))]...)
	}
	if len(in) > 4*maxNameList {
		in = in[:4*maxNameList]
	}
	return Fingerprint{Hash: hex.EncodeToString(h.Sum(nil)), Input: string(in)}
}

// Negotiate applies RFC 4253 §7.1: the first algorithm on the client's list
// that is also on the server's. It returns "" when there is none.
func Negotiate(client, server string) string {
	for c := range strings.SplitSeq(client, ",") {
		if c == "" {
			continue
		}
		for s := range strings.SplitSeq(server, ",") {
			if c == s {
				return c
			}
		}
	}
	return ""
}

// HostKey is the server's public host key as sent in the key exchange.
type HostKey struct {
	Type              string `json:"type,omitempty"`               // e.g. "ssh-ed25519"
	FingerprintSHA256 string `json:"fingerprint_sha256,omitempty"` // "SHA256:" + unpadded base64, as ssh-keygen -l prints
	FingerprintMD5    string `json:"fingerprint_md5,omitempty"`    // "MD5:aa:bb:..." as ssh-keygen -l -E md5 prints
}

// hostKeyOf describes a public key blob (RFC 4253 §6.6: it starts with the
// key type as a string).
func hostKeyOf(blob []byte) (HostKey, error) {
	r := reader{b: blob}
	typ := r.str()
	if r.err != nil || len(typ) == 0 || len(typ) > 128 {
		return HostKey{}, errors.New("bad host key blob")
	}
	for _, c := range typ {
		if c < 0x21 || c > 0x7e {
			return HostKey{}, errors.New("bad host key type")
		}
	}
	return fingerprints(string(typ), blob), nil
}

func fingerprints(typ string, blob []byte) HostKey {
	s := sha256.Sum256(blob)
	m := md5.Sum(blob)
	return HostKey{Type: typ, FingerprintSHA256: "SHA256:" + base64.RawStdEncoding.EncodeToString(s[:]), FingerprintMD5: "MD5:" + colonHex(m[:])}
}

// ParseKexReply extracts the host key from the server's key-exchange reply:
// KEXDH_REPLY / KEX_ECDH_REPLY (RFC 4253 §8, RFC 5656 §4, RFC 8731, and the
// hybrid post-quantum methods sntrup761x25519 and mlkem768x25519, which use
// the same message number and layout) or KEX_DH_GEX_REPLY (RFC 4419 §3).
// All begin with string K_S, the host key blob.
func ParseKexReply(p []byte) (HostKey, error) {
	r := reader{b: p}
	r.byte1()
	blob := r.str()
	if r.err != nil {
		return HostKey{}, r.err
	}
	return hostKeyOf(blob)
}

// replyMessage is the message number that carries the host key for a kex method.
func replyMessage(kex string) byte {
	if strings.HasPrefix(kex, "diffie-hellman-group-exchange-") {
		return msgKexDHGexReply
	}
	return msgKexDHReply
}

// isGSSKex reports GSS-API key exchange (RFC 4462), whose reply has no host key.
func isGSSKex(kex string) bool { return strings.HasPrefix(kex, "gss-") }
