#!/usr/bin/env bash
# Measures live capture drops on a veth between two network namespaces: bulk TCP
# (pcaptool bench) mixed with 200 copies of bundled sessions, replayed at 100 Mbit/s,
# 1 Gbit/s and top speed into psmtap live with each configuration; prints a table of
# frames sent, arrived, received, kernel and interface drops, sessions expected and
# written (docs/PERFORMANCE.md, "Live capture"). Needs root and ip netns.
#   internal/tools/livebench.sh [RATES] [CONFIGS] [SECONDS]
#   internal/tools/livebench.sh 100M,1G,top ';--immediate;--snaplen 262144 --buffer-mb 64 --immediate' 8
# CONFIGS are ';'-separated psmtap live flags; an empty one is the defaults.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PSMTAP_LIVEBENCH=1
export PSMTAP_LIVEBENCH_RATES=${1:-100M,1G,top}
export PSMTAP_LIVEBENCH_CONFIGS=${2-;--immediate;--snaplen 262144 --buffer-mb 64 --immediate}
export PSMTAP_LIVEBENCH_SECONDS=${3:-8}
echo "# $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD), load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, kernel $(uname -r)"
go test ./cmd/psmtap/ -run '^TestLiveDropsNetns$' -v -count 1 -timeout 60m 2>&1 | grep -v '^=== RUN'
