#!/usr/bin/env python3
"""evalgit vs promptfoo on the same workload (called by bench/promptfoo.sh; docs/benchmarks.md).

For each size, one project from `bench/gen.py DIR SIZE BASE_URL --promptfoo` holds both the
evalgit suites and the equivalent promptfooconfig.yaml + tests.yaml (same prompts, vars,
assertions, model parameters; concurrency 64 on both sides). Against one evalgit-mock server,
whole processes are measured with GNU time (peak RSS, CPU) and a wall clock:

  startup       `evalgit --version` / `promptfoo --version`
  cold          evalgit: `evalgit run -o r.jsonl` after deleting .evalgit/ and snapshots/;
                promptfoo: `promptfoo eval -c promptfooconfig.yaml -j 64 --no-table
                -o pf.jsonl` with a fresh, empty PROMPTFOO_CONFIG_DIR and
                PROMPTFOO_CACHE_PATH (`--no-cache` would measure an uncached run, not a
                cold one: nothing would be written for the next run)
  second        the same command once more (promptfoo only: its disk cache, one JSON file
                written behind, can lose the last entries of the cold run at exit, so the
                second run may still call the model; the calls are reported)
  cached        the same command again, every answer from the cache: exactly 0 calls

Model calls are counted by the mock (GET /stats) around every process and checked: SIZE for
a cold run, 0 for a cached one. Exit codes must be 0 (every assertion passes on both sides)
and the results files must hold SIZE lines.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench import Mock, clean_env, git, measure  # noqa: E402


def promptfoo_env(node_bin, state_dir):
    env = clean_env()
    env["PATH"] = node_bin + os.pathsep + env.get("PATH", "")
    env["OPENAI_API_KEY"] = "bench-dummy-key"
    env["PROMPTFOO_DISABLE_TELEMETRY"] = "1"
    env["PROMPTFOO_DISABLE_UPDATE"] = "1"
    env["PROMPTFOO_CONFIG_DIR"] = os.path.join(state_dir, "config")
    env["PROMPTFOO_CACHE_PATH"] = os.path.join(state_dir, "cache")
    env["PROMPTFOO_CACHE_TYPE"] = "disk"
    env["PROMPTFOO_CACHE_ENABLED"] = "true"
    return env


def lines_of(path):
    try:
        with open(path) as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


def row(tool, size, step, runs, expected_calls, results_file=None, expected_lines=None):
    problems = []
    for r in runs:
        if r["exit"] != 0:
            problems.append(f"exit {r['exit']}")
        if expected_calls is not None and r["calls"] != expected_calls:
            problems.append(f"{r['calls']} calls, expected {expected_calls}")
    if results_file is not None and lines_of(results_file) < expected_lines:
        problems.append(f"{os.path.basename(results_file)} has {lines_of(results_file)} lines")
    walls = [r["wall_s"] for r in runs]
    out = {
        "tool": tool,
        "size": size,
        "step": step,
        "runs": len(runs),
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "cpu_s": statistics.median(r["user_s"] + r["sys_s"] for r in runs),
        "peak_rss_mib": max(r["rss_mib"] for r in runs),
        "calls": [r["calls"] for r in runs],
        "problems": sorted(set(problems)),
    }
    flag = "" if not problems else "  !! " + "; ".join(out["problems"])
    print(
        f"  {tool:<9} {step:<8} n={len(runs)} median {out['median_s']:.3f}s "
        f"(min {out['min_s']:.3f}, max {out['max_s']:.3f})  cpu {out['cpu_s']:.2f}s  "
        f"peak {out['peak_rss_mib']:.1f} MiB  calls {out['calls']}{flag}",
        flush=True,
    )
    return out


def bench_size(args, mock, size):
    root = tempfile.mkdtemp(prefix=f"evalgit-vs-promptfoo-{size}-", dir=args.workdir)
    proj = os.path.join(root, "proj")
    logs = os.path.join(root, "logs")
    os.makedirs(logs)
    print(f"size {size}: project in {proj}", flush=True)
    subprocess.run(
        [sys.executable, os.path.join(HERE, "gen.py"), proj, str(size), mock.url + "/v1", "--promptfoo"],
        check=True,
    )
    git(proj, "init", "-q", "-b", "main")
    git(proj, "add", "-A")
    git(proj, "commit", "-q", "-m", "bench project")
    rows = []
    ev = args.evalgit
    pf = [args.promptfoo]
    pf_eval = [*pf, "eval", "-c", "promptfooconfig.yaml", "-j", "64", "--no-table", "-o", "pf.jsonl"]
    rjsonl = os.path.join(proj, "r.jsonl")
    pfjsonl = os.path.join(proj, "pf.jsonl")

    # evalgit
    runs = []
    for i in range(args.cold_repeats):
        for path in [".evalgit", "snapshots"]:
            shutil.rmtree(os.path.join(proj, path), ignore_errors=True)
        if os.path.exists(rjsonl):
            os.remove(rjsonl)
        runs.append(measure([ev, "run", "-o", "r.jsonl"], proj, mock, logs, f"ev-cold{i}"))
    rows.append(row("evalgit", size, "cold", runs, size, rjsonl, size))
    runs = [
        measure([ev, "run", "-o", "r.jsonl"], proj, mock, logs, f"ev-cached{i}")
        for i in range(args.repeats)
    ]
    rows.append(row("evalgit", size, "cached", runs, 0, rjsonl, size))

    # promptfoo
    runs = []
    for i in range(args.pf_cold_repeats):
        state = os.path.join(root, f"promptfoo-state-{i}")
        env = promptfoo_env(args.node_bin, state)
        if os.path.exists(pfjsonl):
            os.remove(pfjsonl)
        runs.append(measure(pf_eval, proj, mock, logs, f"pf-cold{i}", env=env))
    rows.append(row("promptfoo", size, "cold", runs, size, pfjsonl, size))
    # `env` is the last cold run's state: its cache is the one the next runs read.
    second = measure(pf_eval, proj, mock, logs, "pf-second", env=env)
    rows.append(row("promptfoo", size, "second", [second], None, pfjsonl, size))
    runs = [
        measure(pf_eval, proj, mock, logs, f"pf-cached{i}", env=env) for i in range(args.repeats)
    ]
    rows.append(row("promptfoo", size, "cached", runs, 0, pfjsonl, size))

    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"  kept {root}", flush=True)
    return rows


def startup_rows(args, mock):
    logs = tempfile.mkdtemp(prefix="evalgit-vs-promptfoo-startup-", dir=args.workdir)
    state = os.path.join(logs, "promptfoo-state")
    env = promptfoo_env(args.node_bin, state)
    rows = []
    runs = [measure([args.evalgit, "--version"], logs, mock, logs, f"ev-v{i}") for i in range(args.repeats)]
    rows.append(row("evalgit", 0, "startup", runs, 0))
    runs = [
        measure([args.promptfoo, "--version"], logs, mock, logs, f"pf-v{i}", env=env)
        for i in range(args.repeats)
    ]
    rows.append(row("promptfoo", 0, "startup", runs, 0))
    if not args.keep:
        shutil.rmtree(logs, ignore_errors=True)
    return rows


def find(rows, tool, size, step):
    for r in rows:
        if r["tool"] == tool and r["size"] == size and r["step"] == step:
            return r
    return None


def markdown(rows, sizes):
    out = [
        "| scenarios | tool | step | runs | median wall | min..max | CPU (user+sys) | peak RSS | model calls | problems |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        size = "—" if r["size"] == 0 else f"{r['size']:,}"
        calls = ", ".join(f"{c:,}" for c in r["calls"])
        out.append(
            f"| {size} | {r['tool']} | {r['step']} | {r['runs']} | {r['median_s'] * 1000:,.0f} ms | "
            f"{r['min_s'] * 1000:,.0f}..{r['max_s'] * 1000:,.0f} ms | {r['cpu_s']:.2f} s | "
            f"{r['peak_rss_mib']:.1f} MiB | {calls} | {'; '.join(r['problems'])} |"
        )
    out += [
        "",
        "| scenarios | cached: promptfoo / evalgit wall (goal ≥ 10x) | cold throughput evalgit / promptfoo (goal ≥ 1x) | peak RSS evalgit / promptfoo, max of cold and cached (goal ≤ 0.10) |",
        "|---:|---:|---:|---:|",
    ]
    for size in sizes:
        ec, pc = find(rows, "evalgit", size, "cached"), find(rows, "promptfoo", size, "cached")
        eo, po = find(rows, "evalgit", size, "cold"), find(rows, "promptfoo", size, "cold")
        speedup = pc["median_s"] / ec["median_s"]
        ev_tp, pf_tp = size / eo["median_s"], size / po["median_s"]
        ev_mem = max(ec["peak_rss_mib"], eo["peak_rss_mib"])
        pf_mem = max(pc["peak_rss_mib"], po["peak_rss_mib"])
        out.append(
            f"| {size:,} | {speedup:.1f}x ({pc['median_s']:.2f} s / {ec['median_s']:.2f} s) | "
            f"{ev_tp / pf_tp:.2f}x ({ev_tp:,.0f}/s vs {pf_tp:,.0f}/s) | "
            f"{ev_mem / pf_mem:.2f} ({ev_mem:.0f} MiB / {pf_mem:.0f} MiB) |"
        )
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--evalgit", required=True)
    p.add_argument("--mock", required=True)
    p.add_argument("--promptfoo", required=True, help="the promptfoo entry point (node script)")
    p.add_argument("--node-bin", required=True, help="directory holding the node binary")
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3, help="runs of startup and cached steps")
    p.add_argument("--cold-repeats", type=int, default=2, help="evalgit cold runs")
    p.add_argument("--pf-cold-repeats", type=int, default=1, help="promptfoo cold runs")
    p.add_argument("--workdir", default=None)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--json-out", default=None)
    p.add_argument("sizes", nargs="*", type=int, default=[500, 10000])
    args = p.parse_args()

    mock = Mock(args.mock, args.latency_ms)
    print(f"evalgit-mock at {mock.url}, latency {args.latency_ms} ms", flush=True)
    rows = []
    try:
        rows.extend(startup_rows(args, mock))
        for size in args.sizes:
            rows.extend(bench_size(args, mock, size))
    finally:
        mock.stop()
    print()
    print(markdown(rows, args.sizes))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=2)
    sys.exit(1 if any(r["problems"] for r in rows) else 0)


if __name__ == "__main__":
    main()
