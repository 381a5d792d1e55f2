#!/usr/bin/env bash
# Runs every fuzz target in the module for a given time each (default 10m),
# one after another, and stops at the first failure. A crash leaves its input
# in the package's testdata/fuzz/<Target>/: commit it as a seed with a comment.
#   internal/tools/fuzzall.sh [DURATION] [PATTERN]
# Set FUZZ_CPUS (e.g. "0") to pin the run to CPUs with taskset.
set -euo pipefail
cd "$(dirname "$0")/../.."
dur=${1:-10m}
pattern=${2:-.}
pin=()
if [[ -n "${FUZZ_CPUS:-}" ]]; then pin=(taskset -c "$FUZZ_CPUS"); fi
mapfile -t pkgs < <(go list ./...)
for pkg in "${pkgs[@]}"; do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	grep -ls '^func Fuzz' "$dir"/*_test.go >/dev/null 2>&1 || continue
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go | sed 's/^func //'); do
		[[ "$pkg.$target" =~ $pattern ]] || continue
		echo "=== $pkg $target for $dur ($(date -u +%H:%M:%S))"
		"${pin[@]}" go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$dur" -parallel "${FUZZ_PARALLEL:-1}" 2>&1 | tail -3
	done
done
echo "=== all fuzz targets passed ($(date -u +%H:%M:%S))"
