#!/usr/bin/env bash
# Ends real sessions from the tap, again and again (issue 14, docs/response.md "Tested for real"):
# real OpenSSH sshd, inetutils telnetd and vsftpd in a server namespace, real clients typed by expect
# in a client namespace, a Linux bridge between them whose ports are mirrored (tc mirred) to the
# sensor's port, psmtap live ending sessions through that port. Kinds, N runs each:
#   telnet  types a command line with forbidden-marker; a Sigma rule with response: terminate ends it
#   ssh     an interactive shell that keeps typing, ended by the API (psmtap terminate): SSH is
#           encrypted, no rule can see what is typed
#   scp     a 64 MB upload in full flow (scp -l 40000), ended by the API
#   ftp     vsftpd; tnftp types cd forbidden-marker; the rule ends it
# A bystander Telnet session between the same two hosts must answer after every termination.
# Prints per kind: success rate (the client saw its connection end within 3 s, and ss shows it
# established in neither namespace), resets seen by the client, bystander survivals, latency from
# the trigger (the packet the rule fired on, or the API request's arrival) to the first reset in a
# tcpdump of the client namespace (p50/p95/p99/max), and the machine's load before and after.
# Needs root, ip netns, tc, bridge, tcpdump, expect, telnet, ssh, ftp (tnftp), inetutils-inetd,
# inetutils-telnetd, openssh-server, vsftpd and the test accounts alice and bob
# (sudo pcaps/make-captures.sh makes them).
#   internal/tools/respondbench.sh [N] [KINDS] [DIR]
#   internal/tools/respondbench.sh 200 telnet,ssh,scp,ftp /tmp/respondbench
# DIR keeps the client's capture (client.pcap), the sensor's output (sensor.ndjson) and the
# servers' logs; without it they go with the test's temporary directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PSMTAP_RESPOND_LOOP=${1:-200}
export PSMTAP_RESPOND_LOOP_KINDS=${2:-telnet,ssh,scp,ftp}
if [ -n "${3:-}" ]; then
	mkdir -p "$3"
	export PSMTAP_RESPOND_LOOP_DIR=$(cd "$3" && pwd)
fi
echo "# $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD), $(nproc) cores, kernel $(uname -r), load before:$(uptime | sed 's/.*load average://')"
go test ./cmd/psmtap/ -run '^TestRespondLoopNetns$' -v -count 1 -timeout 120m 2>&1 | grep -v '^=== RUN'
echo "# load after:$(uptime | sed 's/.*load average://')"
