package main

import (
	"fmt"
	"testing"
)

// TestGroundTruth checks psmtap against what really happened when the
// captures were made (pcaps/README.md): which sessions, who was client and
// server, and the facts that are decoded today. Unlike the golden files, this
// table is written by hand from the ground truth, not from psmtap's output.
func TestGroundTruth(t *testing.T) {
	type want struct {
		proto, client, server string
		fields                map[string]string
	}
	truth := map[string][]want{
		"ssh-password-interactive.pcap": {{"ssh", "192.0.2.10:42012", "192.0.2.20:22", map[string]string{
			"ssh.version": "2", "ssh.client.software": "OpenSSH_9.2p1", "ssh.server.software": "OpenSSH_9.2p1", "psm.state": "closed",
			"ssh.client.hassh": "472b5de333ad665af5cbf10ff892c4df", "ssh.server.hassh": "425d29fe50d8e4f5e37efb6e24bcf660",
			"ssh.kex_alg": "sntrup761x25519-sha512", "ssh.host_key_alg": "ssh-ed25519", "ssh.cipher_alg": "chacha20-poly1305@openssh.com",
			"ssh.compression_alg": "none", "ssh.host_key.type": "ssh-ed25519",
			"ssh.host_key.fingerprint_sha256": "SHA256:yScOgOBHFgfDWHCRbXU5oFkZef6OyO2e5Scm5yUqbEk",
			"psm.login.success":               "true", "psm.login.attempts": "1", "psm.login.inferred": "true", "psm.kind": "interactive"}}},
		"telnet-login.pcap": {{"telnet", "192.0.2.10:41438", "192.0.2.20:23", map[string]string{"psm.state": "closed"}}},
		"ftp-vsftpd.pcap": { // two control connections; the four passive data connections are not sessions
			{"ftp", "192.0.2.10:40362", "192.0.2.20:21", nil},
			{"ftp", "192.0.2.10:36280", "192.0.2.20:21", nil},
		},
		"rlogin.pcap": {{"rlogin", "192.0.2.10:1023", "192.0.2.20:513", map[string]string{
			"rlogin.client_user": "alice", "rlogin.server_user": "alice", "user.name": "alice"}}},
		"rsh.pcap": { // the stderr back-connections are not sessions of their own
			{"rsh", "192.0.2.10:1023", "192.0.2.20:514", map[string]string{"rsh.command": "id", "rsh.server_user": "alice"}},
			{"rsh", "192.0.2.10:1022", "192.0.2.20:514", map[string]string{"rsh.command": "ls /etc/hostname /nonexistent"}},
		},
		"ssh-exec-port2222.pcap": {{"ssh", "192.0.2.10:59970", "192.0.2.20:2222", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "exec",
			"ssh.host_key.fingerprint_sha256": "SHA256:yScOgOBHFgfDWHCRbXU5oFkZef6OyO2e5Scm5yUqbEk"}}},
		"telnet-port2323.pcap": {{"telnet", "192.0.2.10:43514", "192.0.2.20:2323", nil}},
		"http-on-port22.pcap":  nil, // HTTP on port 22 is not SSH
		"rdp-xrdp-tls.pcap": {{"rdp", "192.0.2.10:48366", "192.0.2.20:3389", map[string]string{"psm.state": "reset",
			"rdp.cookie": "alice", "user.name": "alice", "rdp.requested_protocols": "ssl,hybrid", "rdp.selected_protocol": "ssl",
			"rdp.response_flags": "extended_client_data_supported", "rdp.result": "success", "tls.client.server_name": "192.0.2.20",
			"tls.version": "1.3", "tls.cipher": "TLS_AES_256_GCM_SHA384"}}},
		// Standard RDP Security, FreeRDP with clipboard and a drive: client data in clear (xrdp log: keylayout 0x409, client psm-cli).
		"rdp-xrdp-rdpsec.pcap": {{"rdp", "192.0.2.10:55984", "192.0.2.20:3389", map[string]string{
			"rdp.cookie": "alice", "rdp.selected_protocol": "rdp", "rdp.client.name": "psm-cli", "rdp.client.desktop_width": "800",
			"rdp.client.desktop_height": "600", "rdp.client.color_depth": "16", "rdp.client.keyboard_layout_id": "1033",
			"rdp.channels": "rdpdr,rdpsnd,cliprdr,drdynvc", "rdp.encryption_level": "fips", "rdp.encryption_method": "fips"}}},
		// Wrong password over TLS 1.2: the certificate is in clear (openssl x509 -fingerprint -sha256 of the script's cert.pem).
		"rdp-wrong-password.pcap": {{"rdp", "192.0.2.10:53630", "192.0.2.20:3389", map[string]string{
			"rdp.cookie": "alice", "rdp.selected_protocol": "ssl", "tls.version": "1.2", "tls.client.server_name": "192.0.2.20",
			"tls.server.x509.subject.common_name": "psm-srv", "tls.server.x509.issuer.common_name": "psm-srv",
			"tls.server.x509.serial_number": "184A453E123DC357017F24E18F65084350286E66", "tls.server.x509.not_after": "2036-11-23T00:30:55Z",
			"tls.server.hash.sha256": "219CB49389A4CC74657F716427A3DBD656F4418D52EE9F5AD1E24FA270FA982F"}}},
		// rdesktop 1.9 with Standard RDP Security, clipboard and a disk redirected; it asks for TLS|CredSSP, xrdp selects RDP.
		"rdp-rdesktop.pcap": {{"rdp", "192.0.2.10:55260", "192.0.2.20:3389", map[string]string{
			"rdp.cookie": "alice", "rdp.requested_protocols": "ssl,hybrid", "rdp.selected_protocol": "rdp", "rdp.client.name": "psm-cli",
			"rdp.client.desktop_width": "800", "rdp.client.color_depth": "16", "rdp.channels": "cliprdr,rdpsnd,snddbg,rdpdr,drdynvc",
			"rdp.encryption_method": "128bit", "rdp.encryption_level": "high", "rdp.certificate.type": "proprietary"}}},
		"ssh-exec-ipv6.pcap": {{"ssh", "[2001:db8::10]:47500", "[2001:db8::20]:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "exec"}}},
	}
	for file, sessions := range truth {
		t.Run(file, func(t *testing.T) {
			recs := records(t, run(t, "read", "pcaps/"+file).stdout)
			if len(recs) != len(sessions) {
				t.Fatalf("%d sessions, want %d", len(recs), len(sessions))
			}
			for i, w := range sessions {
				r := recs[i]
				client := hostPort(str(r, "source.ip"), str(r, "source.port"))
				server := hostPort(str(r, "destination.ip"), str(r, "destination.port"))
				if str(r, "network.protocol") != w.proto || client != w.client || server != w.server {
					t.Errorf("session %d: %s %s -> %s, want %s %s -> %s", i, str(r, "network.protocol"), client, server, w.proto, w.client, w.server)
				}
				for k, v := range w.fields {
					if got := str(r, k); got != v {
						t.Errorf("session %d: %s = %q, want %q", i, k, got, v)
					}
				}
			}
		})
	}
}

func hostPort(ip, port string) string {
	for _, c := range ip {
		if c == ':' {
			return fmt.Sprintf("[%s]:%s", ip, port)
		}
	}
	return ip + ":" + port
}
