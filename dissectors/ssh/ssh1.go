package ssh

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
)

// SSH protocol version 1 (draft-ylonen-ssh-protocol-00, "The SSH (Secure
// Shell) Remote Login Protocol", 1995). Still answered by old appliances.

const ssh1PublicKey = 2 // SSH_SMSG_PUBLIC_KEY

// cutPacket1 frames an SSH-1 packet: uint32 length (of type, data and CRC),
// 1-8 bytes of padding so that padding+length is a multiple of 8, type,
// data, CRC-32. It returns type and data.
func cutPacket1(b []byte) (typ byte, data []byte, consumed int, err error) {
	if len(b) < 4 {
		return 0, nil, 0, nil
	}
	n := binary.BigEndian.Uint32(b)
	if n < 5 || n > maxPacket {
		return 0, nil, 0, errPacketTooLong
	}
	pad := 8 - int(n)%8
	total := 4 + pad + int(n)
	if len(b) < total {
		return 0, nil, 0, nil
	}
	body := b[4+pad : total-4]
	return body[0], body[1:], total, nil
}

// mpint1 reads an SSH-1 multiple-precision integer: uint16 bit count, then
// the big-endian bytes.
func (r *reader) mpint1() []byte {
	if r.err != nil || len(r.b) < 2 {
		r.err = errTruncated
		return nil
	}
	bits := int(binary.BigEndian.Uint16(r.b))
	n := (bits + 7) / 8
	r.b = r.b[2:]
	if len(r.b) < n {
		r.err = errTruncated
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// ParsePublicKey1 reads the host key from SSH_SMSG_PUBLIC_KEY. Fingerprints
// are computed as OpenSSH did for RSA1 keys: over the modulus then the
// exponent, both as unsigned big-endian bytes.
func ParsePublicKey1(data []byte) (HostKey, error) {
	r := reader{b: data}
	r.skip(8) // anti-spoofing cookie
	r.uint32()
	r.mpint1() // server key exponent
	r.mpint1() // server key modulus
	r.uint32()
	e := r.mpint1()
	n := r.mpint1()
	if r.err != nil {
		return HostKey{}, r.err
	}
	if len(n) == 0 {
		return HostKey{}, errors.New("empty modulus")
	}
	buf := append(append([]byte(nil), n...), e...)
	s := sha256.Sum256(buf)
	m := md5.Sum(buf)
	k := HostKey{Type: "rsa1", FingerprintSHA256: "SHA256:" + base64.RawStdEncoding.EncodeToString(s[:])}
	k.FingerprintMD5 = "MD5:" + colonHex(m[:])
	return k, nil
}

func colonHex(b []byte) string {
	out := make([]byte, 0, len(b)*3)
	for i, x := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hex.EncodeToString([]byte{x})...)
	}
	return string(out)
}
