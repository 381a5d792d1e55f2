#!/bin/sh
# nft-lockdown.sh: a psmtap --response-exec hook that blocks a session's
# client with nftables for the lockdown's duration (docs/response.md).
#
#   psmtap live ... --enable-response lockdown \
#       --response-exec /usr/local/lib/psmtap/nft-lockdown.sh --lockdown-duration 1h
#
# psmtap runs it without a shell, with one line of JSON on stdin:
#   {"action":"lockdown","client":{"ip":"192.0.2.10","port":52816},
#    "server":{"ip":"192.0.2.20","port":23},"user":"alice",
#    "rule":{"id":"...","title":"..."},"duration":"1h0m0s","duration_seconds":3600,...}
# It adds client.ip to the set blocked4 (or blocked6) of table inet psmtap,
# with a timeout of duration_seconds: nftables drops the address's packets
# until then, and forgets it after. The table, its sets and its input and
# forward chains are made on first use (or by "nft-lockdown.sh setup").
# Run it where the firewall is: on the server, or on a router in the path
# (NFT="ssh fw nft" or "ip netns exec NS nft" runs nft there).
#
# Environment: NFT (default nft), PSMTAP_NFT_TABLE (default psmtap).
# Needs jq. Exit 0: blocked; otherwise psmtap records the lockdown as failed
# with the exit status and the last line this script wrote.
set -eu
NFT=${NFT:-nft}
TABLE=${PSMTAP_NFT_TABLE:-psmtap}

setup() {
	# shellcheck disable=SC2086 # NFT may be a command with arguments
	$NFT list table inet "$TABLE" >/dev/null 2>&1 && return 0
	$NFT -f - <<NFT
table inet $TABLE {
	set blocked4 { type ipv4_addr; flags timeout; }
	set blocked6 { type ipv6_addr; flags timeout; }
	chain input {
		type filter hook input priority filter - 10; policy accept;
		ip saddr @blocked4 drop
		ip6 saddr @blocked6 drop
	}
	chain forward {
		type filter hook forward priority filter - 10; policy accept;
		ip saddr @blocked4 drop
		ip6 saddr @blocked6 drop
	}
}
NFT
}

if [ "${1:-}" = setup ]; then
	setup
	exit 0
fi

input=$(cat)
ip=$(printf '%s\n' "$input" | jq -r '.client.ip // empty')
secs=$(printf '%s\n' "$input" | jq -r '.duration_seconds // 3600 | floor')
if [ -z "$ip" ]; then
	echo "nft-lockdown: no client address in the input" >&2
	exit 2
fi
case $secs in
'' | *[!0-9]*) secs=3600 ;;
esac
[ "$secs" -ge 1 ] || secs=1
case $ip in
*:*) set=blocked6 ;;
*.*) set=blocked4 ;;
*)
	echo "nft-lockdown: not an address: $ip" >&2
	exit 2
	;;
esac
setup
$NFT add element inet "$TABLE" "$set" "{ $ip timeout ${secs}s }"
echo "nft-lockdown: $ip blocked for ${secs}s (rule $(printf '%s\n' "$input" | jq -r '.rule.id // ""'))"
