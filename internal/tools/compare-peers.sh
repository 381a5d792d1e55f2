#!/usr/bin/env bash
# compare-peers.sh — time `psmtap read` against Suricata and tshark on one capture,
# same machine, same run, each pinned to ONE core. Figures and method: docs/PERFORMANCE.md.
#
# usage: internal/tools/compare-peers.sh CAPTURE [OUTDIR]
#
#   CAPTURE  the benchmark capture (make bench-pcap makes bench/bench.pcap)
#   OUTDIR   where every run's output, /usr/bin/time report and the summary go
#            (default: a new /tmp/compare-peers.XXXXXX); summary.md is printed at the end
#
# environment: CORE (default 1) the core everything is pinned to; RUNS (default 3) runs per
# configuration, the median is reported; SKIP_GOBENCH=1 skips the Go benchmark.
#
# needs (Debian 12): golang 1.26+, tshark (also gives capinfos), suricata 7 from
# bookworm-backports, jq, time (/usr/bin/time), util-linux (taskset).
# Suricata and tshark run with OUTDIR as working directory so that nothing (not even a core
# file) lands in the repository. The script starts no background process.
set -euo pipefail

die() { echo "compare-peers: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: $0 CAPTURE [OUTDIR]"
CAP=$(realpath "$1")
[ -r "$CAP" ] || die "cannot read $CAP"
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${2:-$(mktemp -d /tmp/compare-peers.XXXXXX)}
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
CORE=${CORE:-1}
RUNS=${RUNS:-3}
ulimit -c 0

for t in go tshark capinfos suricata jq taskset /usr/bin/time; do
	command -v "$t" >/dev/null || die "$t not found (see the header of this script)"
done

SUM=$OUT/summary.md
: >"$SUM"
say() { printf '%s\n' "$*" | tee -a "$SUM"; }

# ---------------------------------------------------------------- machine, versions, capture
say "# compare-peers $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say ""
say "- CPU: $(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo), $(nproc) cores online; pinned to core $CORE"
# shellcheck disable=SC1091
say "- RAM: $(awk '/^MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r); $(. /etc/os-release && echo "$PRETTY_NAME")"
dirty=""
[ -z "$(git -C "$REPO" status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty=" (working tree has uncommitted changes)"
say "- psmtap: commit $(git -C "$REPO" rev-parse --short HEAD)$dirty, $(go version | awk '{print $3}')"
say "- Suricata: $(suricata -V | sed 's/This is Suricata version //') ($(dpkg-query -W -f '${Version}' suricata 2>/dev/null || echo '?'))"
say "- tshark: $(tshark -v 2>/dev/null | head -1 | sed 's/^TShark (Wireshark) //')"

read -r _ PKTS FSIZE DSIZE DUR < <(capinfos -T -M -r -c -s -d -u "$CAP")
say "- capture: $CAP: $PKTS packets, $FSIZE bytes file, $DSIZE bytes of packet data, spans ${DUR}s, sha256 $(sha256sum "$CAP" | cut -c1-16)…"
say "- load average before measuring: $(cut -d' ' -f1-3 /proc/loadavg)"
say ""

# ---------------------------------------------------------------- helpers
cache() { cat "$CAP" >/dev/null; }

# elapsed "h:mm:ss.xx" or "m:ss.xx" -> seconds
secs() { awk -F: '{ s=0; for (i=1; i<=NF; i++) s = s*60 + $i; printf "%.2f", s }'; }

median() { sort -g | awk '{a[NR]=$1} END{ if (NR==0) {print "nan"; exit}; if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

ROWS=$OUT/rows.tsv
: >"$ROWS"

# measure LABEL STDOUT-FILE CMD... : RUNS runs pinned to CORE under /usr/bin/time -v.
# {run} in the arguments is replaced by the run number (fresh log directories).
measure() {
	local label=$1 sink=$2; shift 2
	local i walls=() rsss=() cpus=() pcts=() args a
	cache
	for ((i = 1; i <= RUNS; i++)); do
		args=()
		for a in "$@"; do args+=("${a//\{run\}/$i}"); done
		for ((a = 1; a < ${#args[@]}; a++)); do # Suricata wants its -l directory to exist
			if [ "${args[a - 1]}" = -l ]; then rm -rf "${args[a]}" && mkdir -p "${args[a]}"; fi
		done
		local tf=$OUT/$label.$i.time
		local so=$sink
		[ "$so" = "-" ] && so=$OUT/$label.$i.stdout
		(cd "$OUT" && /usr/bin/time -v -o "$tf" taskset -c "$CORE" "${args[@]}" >"$so" 2>"$OUT/$label.$i.stderr") ||
			die "$label run $i failed: see $OUT/$label.$i.stderr and $tf"
		walls+=("$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$tf" | secs)")
		rsss+=("$(awk -F': ' '/Maximum resident set size/{print $2}' "$tf")")
		pcts+=("$(awk -F': ' '/Percent of CPU/{sub(/%/, "", $2); print $2}' "$tf")")
		cpus+=("$(awk -F': ' '/User time|System time/{s += $2} END{printf "%.2f", s}' "$tf")")
	done
	local w r c
	w=$(printf '%s\n' "${walls[@]}" | median)
	r=$(printf '%s\n' "${rsss[@]}" | median)
	c=$(printf '%s\n' "${cpus[@]}" | median)
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$w" "$r" "${walls[*]}" "$c" "${pcts[*]}" >>"$ROWS"
	echo "  $label: wall ${walls[*]} s -> median $w s, cpu median $c s, peak RSS median $((${r%.*} / 1024)) MiB" >&2
}

# ---------------------------------------------------------------- psmtap
echo "building psmtap" >&2
(cd "$REPO" && go build -o "$OUT/psmtap" ./cmd/psmtap)
PSM=$OUT/psmtap
echo "measuring (core $CORE, $RUNS runs each)" >&2
GOMAXPROCS=1 measure psmtap /dev/null "$PSM" read "$CAP"
GOMAXPROCS=1 measure psmtap-all /dev/null "$PSM" read --all "$CAP"

# ---------------------------------------------------------------- Suricata
# 1. default suricata.yaml: every app-layer parser on, EVE with every default event type.
SURI=(suricata --runmode single -r "$CAP" -S /dev/null -k none)
measure suricata-default - "${SURI[@]}" -l "$OUT/suri-default.{run}"
# 2. EVE limited to ssh, rdp, ftp and flow events. Each other entry of outputs.N.eve-log.types is
#    renamed to an unknown logger ("off-<name>"; Suricata warns and skips it). Adding
#    "<name>.enabled=no" under a scalar list entry (- nfs) makes Suricata 7.0.10 segfault.
SETS=()
while IFS= read -r s; do SETS+=(--set "$s"); done < <(
	suricata --dump-config 2>/dev/null |
		awk -F' = ' '$1 ~ /^outputs\.[0-9]+\.eve-log\.types\.[0-9]+$/ && $2 !~ /^(ssh|rdp|ftp|flow)$/ {print $1 "=off-" $2}')
measure suricata-eve4 - "${SURI[@]}" -l "$OUT/suri-eve4.{run}" "${SETS[@]}"

# ---------------------------------------------------------------- tshark
measure tshark-conv - tshark -r "$CAP" -q -z conv,tcp
measure tshark-q - tshark -r "$CAP" -q
measure tshark-lines /dev/null tshark -r "$CAP"

# ---------------------------------------------------------------- fixed cost (start + stop)
TINY=$REPO/pcaps/rsh.pcap
if [ -r "$TINY" ]; then
	read -r _ TPKTS < <(capinfos -T -M -r -c "$TINY")
	CAP0=$CAP
	CAP=$TINY
	GOMAXPROCS=1 measure tiny-psmtap /dev/null "$PSM" read "$TINY"
	measure tiny-suricata - suricata --runmode single -r "$TINY" -S /dev/null -k none -l "$OUT/suri-tiny.{run}"
	measure tiny-tshark-conv - tshark -r "$TINY" -q -z conv,tcp
	CAP=$CAP0
fi

# ---------------------------------------------------------------- table
say "## Wall time and memory (median of $RUNS runs, one core)"
say ""
say "| tool / configuration | wall s (median) | runs s | CPU % of runs | user+sys s | packets/s | Gbit/s | peak RSS MiB | wall ÷ psmtap wall |"
say "|---|---:|---|---|---:|---:|---:|---:|---:|"
PSMW=$(awk -F'\t' '$1=="psmtap"{print $2}' "$ROWS")
while IFS=$'\t' read -r label w r runs c pcts; do
	case $label in tiny-*) continue ;; esac
	awk -v l="$label" -v w="$w" -v r="$r" -v runs="$runs" -v c="$c" -v pc="$pcts" -v p="$PKTS" -v d="$DSIZE" -v pw="$PSMW" 'BEGIN{
		if (w <= 0 || pw <= 0) { printf "| %s | %.2f | %s | %s | %s | - | - | %.0f | - |\n", l, w, runs, pc, c, r/1024; exit }
		printf "| %s | %.2f | %s | %s | %.2f | %.0f | %.2f | %.0f | %.1f |\n", l, w, runs, pc, c, p/w, d*8/w/1e9, r/1024, w/pw }' | tee -a "$SUM"
done <"$ROWS"
say ""
say "packets/s = $PKTS packets / median wall; Gbit/s = $DSIZE bytes of packet data × 8 / median wall."
say "Commands: psmtap = \`GOMAXPROCS=1 taskset -c $CORE psmtap read CAPTURE >/dev/null\` (psmtap-all adds --all);"
say "suricata-default = \`taskset -c $CORE suricata --runmode single -r CAPTURE -S /dev/null -l DIR -k none\`;"
say "suricata-eve4 = the same plus --set outputs.1.eve-log.types.N=off-NAME for every EVE type but ssh, rdp, ftp, flow;"
say "tshark-conv = \`tshark -r CAPTURE -q -z conv,tcp\`; tshark-q = \`tshark -r CAPTURE -q\`; tshark-lines = \`tshark -r CAPTURE >/dev/null\`."
if [ -r "$TINY" ]; then
	say ""
	say "Fixed cost, start to exit on $(basename "$TINY") ($TPKTS packets):"
	while IFS=$'\t' read -r label w r _ c _; do
		case $label in tiny-*) say "- ${label#tiny-}: wall ${w} s (10 ms resolution), user+sys ${c} s, peak RSS $((${r%.*} / 1024)) MiB" ;; esac
	done <"$ROWS"
fi
say ""

# ---------------------------------------------------------------- did they all see everything?
say "## Packets seen"
say ""
# untimed run for the counts below; the run summary is logged at debug level
GOMAXPROCS=1 "$PSM" read --log-level debug "$CAP" >"$OUT/psmtap.ndjson" 2>"$OUT/psmtap.debug.log"
psm_sum=$(grep -ho 'summary="[^"]*"' "$OUT/psmtap.debug.log" | head -1 || true)
say "- psmtap: ${psm_sum:-no summary line in $OUT/psmtap.debug.log}"
for d in "$OUT"/suri-default.1 "$OUT"/suri-eve4.1; do
	st=$d/stats.log
	[ -r "$st" ] || { say "- $(basename "$d"): no stats.log"; continue; }
	last=$(awk '/^Date:/{b=""} {b=b $0 "\n"} END{printf "%s", b}' "$st")
	dp=$(printf '%s' "$last" | awk -F'|' '$1 ~ /^decoder\.pkts /{gsub(/ /,"",$3); print $3}')
	drops=$(printf '%s' "$last" | awk -F'|' '$1 ~ /drop/ {gsub(/ /,"",$1); gsub(/ /,"",$3); printf "%s=%s ", $1, $3}')
	mp=$(printf '%s' "$last" | awk -F'|' '$1 ~ /^memcap_pressure_max /{gsub(/ /,"",$3); print $3}')
	say "- Suricata $(basename "$d" .1): decoder.pkts=$dp (capture has $PKTS), drop counters: ${drops:-none}, memcap_pressure_max=${mp:-?}%"
done
say ""

# ---------------------------------------------------------------- comparable work?
say "## Sessions of interest found (sanity check)"
say ""
GOMAXPROCS=1 "$PSM" read --all "$CAP" >"$OUT/psmtap-all.ndjson" 2>/dev/null
EVE=$OUT/suri-default.1/eve.json
say "| protocol | psmtap records | Suricata flows (app_proto in EVE flow events) | Suricata EVE events of that type |"
say "|---|---:|---:|---:|"
for p in ssh rdp ftp telnet rlogin rsh tls; do
	a=$(jq -r '.network.protocol // empty' "$OUT/psmtap.ndjson" | grep -cx "$p" || true)
	b=$(jq -r 'select(.event_type=="flow") | .app_proto // empty' "$EVE" | grep -cx "$p" || true)
	c=$(jq -r '.event_type' "$EVE" | grep -cx "$p" || true)
	say "| $p | $a | $b | $c |"
done
say ""
say "psmtap by protocol and server port: $(jq -r '[.network.protocol, .destination.port] | @tsv' "$OUT/psmtap.ndjson" | sort | uniq -c | awk '{printf "%s/%s=%s ", $2, $3, $1}')"
say ""
say "Suricata flows by app_proto and server port (those protocols): $(jq -r 'select(.event_type=="flow" and ((.app_proto // "") | test("^(ssh|rdp|ftp|telnet|tls)$"))) | [.app_proto, .dest_port] | @tsv' "$EVE" | sort | uniq -c | awk '{printf "%s/%s=%s ", $2, $3, $1}')"
say ""
say "psmtap --all: $(wc -l <"$OUT/psmtap-all.ndjson") records; Suricata TCP flows: $(jq -r 'select(.event_type=="flow" and .proto=="TCP") | 1' "$EVE" | wc -l); tshark TCP conversations: $(grep -c '<->' "$OUT/tshark-conv.1.stdout" || true)"
say ""

# ---------------------------------------------------------------- Go benchmark
if [ "${SKIP_GOBENCH:-}" != 1 ]; then
	say "## Go benchmark (internal/engine BenchmarkRead)"
	say ""
	cache
	(cd "$REPO" && PSMTAP_BENCH_PCAP=$CAP go test -run '^$' -bench Read -benchtime 3x ./internal/engine/) >"$OUT/gobench.txt" 2>&1
	(cd "$REPO" && go test -c -o "$OUT/engine.test" ./internal/engine/)
	(cd "$REPO/internal/engine" && PSMTAP_BENCH_PCAP=$CAP GOMAXPROCS=1 taskset -c "$CORE" "$OUT/engine.test" \
		-test.run '^$' -test.bench Read -test.benchtime 3x) >"$OUT/gobench-1core.txt" 2>&1
	say "As written (\`go test -run '^\$' -bench Read -benchtime 3x ./internal/engine/\`, GOMAXPROCS=$(nproc), not pinned):"
	say '```'
	grep '^BenchmarkRead' "$OUT/gobench.txt" | tee -a "$SUM"
	say '```'
	say "Pinned (GOMAXPROCS=1 taskset -c $CORE engine.test -test.bench Read -test.benchtime 3x):"
	say '```'
	grep '^BenchmarkRead' "$OUT/gobench-1core.txt" | tee -a "$SUM"
	say '```'
fi

say ""
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "all output in $OUT; summary: $SUM" >&2
