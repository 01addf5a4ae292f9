#!/usr/bin/env bash
# evalgit benchmark: bench/run.sh [SIZES...]   (default: 1000 10000)
#
# Builds the release binaries into $CARGO_TARGET_DIR (default: target/), starts evalgit-mock
# with 50 ms latency, generates a project per size (bench/gen.py) and measures whole
# processes (bench/bench.py): cold run, fully cached run, validate, plan with no change,
# plan after a prompt used by half the scenarios changed, run --affected-since, plan after a
# prompt used by 50 scenarios changed. Prints a Markdown table; see docs/benchmarks.md.
#
# Environment: BENCH_REPEATS (runs of each fast step, default 5), BENCH_COLD_REPEATS
# (default 3; one run above 10,000), BENCH_LATENCY_MS (default 50), BENCH_KEEP=1 (keep the
# generated projects), BENCH_JSON (write the rows as JSON), BENCH_NO_BUILD=1 (use the binaries
# as they are), BENCH_WORKDIR (parent of the temporary projects).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
target="${CARGO_TARGET_DIR:-$repo/target}"
if [ "$#" -eq 0 ]; then set -- 1000 10000; fi

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  (cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --release --bins --quiet)
fi
for bin in evalgit evalgit-mock; do
  if [ ! -x "$target/release/$bin" ]; then
    echo "bench: $target/release/$bin is missing; build with cargo build --release --bins" >&2
    exit 2
  fi
done

echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}'), $(uname -sr)"
echo "rustc: $(rustc --version)"
echo "evalgit: $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$repo" && git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

extra=()
[ "${BENCH_KEEP:-0}" = 1 ] && extra+=(--keep)
[ -n "${BENCH_JSON:-}" ] && extra+=(--json-out "$BENCH_JSON")
[ -n "${BENCH_WORKDIR:-}" ] && extra+=(--workdir "$BENCH_WORKDIR")

exec python3 "$here/bench.py" \
  --evalgit "$target/release/evalgit" \
  --mock "$target/release/evalgit-mock" \
  --latency-ms "${BENCH_LATENCY_MS:-50}" \
  --repeats "${BENCH_REPEATS:-5}" \
  --cold-repeats "${BENCH_COLD_REPEATS:-3}" \
  "${extra[@]}" \
  "$@"
