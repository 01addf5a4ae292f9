#!/usr/bin/env python3
"""The evalgit benchmark harness (called by bench/run.sh; see docs/benchmarks.md).

For each size it generates a project (bench/gen.py), commits it in a fresh git repository,
and measures whole `evalgit` processes against one evalgit-mock server:

  cold      `evalgit run -o r.jsonl` with an empty cache and no snapshots (every scenario
            calls the mock); throughput against the ideal concurrency / latency
  cached    the same command again: every scenario replays, zero calls
  validate  `evalgit validate`: loading and checking the project only (a floor for the rest)
  plan-0    `evalgit plan --base HEAD` with nothing changed
  plan-a    the same after editing prompts/a.txt (half of the scenarios affected)
  affected  `evalgit run --affected-since HEAD -o r2.jsonl` after that edit (half the calls)
  plan-c    `evalgit plan --base HEAD` after editing prompts/c.txt (only the small suite)

Wall time comes from time.perf_counter around the process, peak memory (maximum resident set
size), user and system CPU from GNU time (/usr/bin/time). Model calls are counted by
the mock (GET /stats) before and after each process and checked against what is expected.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TIME = "/usr/bin/time"


class Mock:
    def __init__(self, binary, latency_ms):
        self.proc = subprocess.Popen(
            [binary, "--port", "0", "--latency-ms", str(latency_ms)],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        prefix = "listening on "
        if not line.startswith(prefix):
            self.stop()
            sys.exit(f"bench: evalgit-mock did not start (first line: {line!r})")
        self.url = line[len(prefix):]

    def requests(self):
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as resp:
            return json.load(resp)["requests"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def clean_env():
    env = dict(os.environ)
    # `CI` implies `run --check` (no snapshot writes): measure the default local behaviour.
    for key in ["CI", "GITHUB_ACTIONS", "EVALGIT_PROFILE", "OPENAI_API_KEY"]:
        env.pop(key, None)
    env["NO_COLOR"] = "1"
    return env


def measure(cmd, cwd, mock, log_dir, label, env=None):
    """Runs one process; returns wall seconds, peak RSS (MiB), exit code and mock calls.

    `env`: the process environment (default `clean_env()`); bench/compare.py passes
    promptfoo's."""
    before = mock.requests()
    out = open(os.path.join(log_dir, f"{label}.out"), "w")
    err = open(os.path.join(log_dir, f"{label}.err"), "w")
    # /usr/bin/time (GNU) measures the peak RSS: a child forked straight from this Python
    # process would inherit Python's resident-set high-water mark in its own ru_maxrss.
    usage_file = os.path.join(log_dir, f"{label}.time")
    wrapped = [TIME, "-f", "%e %U %S %M", "-o", usage_file, *cmd]
    start = time.perf_counter()
    proc = subprocess.run(wrapped, cwd=cwd, stdout=out, stderr=err, env=env or clean_env())
    wall = time.perf_counter() - start
    out.close()
    err.close()
    calls = mock.requests() - before
    last = open(usage_file).read().strip().splitlines()[-1].split()
    return {
        "wall_s": wall,
        "time_wall_s": float(last[0]),
        "rss_mib": int(last[3]) / 1024.0,
        "exit": proc.returncode,
        "calls": calls,
        "user_s": float(last[1]),
        "sys_s": float(last[2]),
    }


def git(cwd, *args):
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def plan_json(evalgit, cwd):
    out = subprocess.run(
        [evalgit, "plan", "--base", "HEAD", "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    try:
        return json.loads(out.stdout)
    except json.JSONDecodeError:
        sys.exit(f"bench: `plan --json` printed no JSON (exit {out.returncode}): {out.stderr[-2000:]}")


def summarize(name, size, runs, expected_calls, note="", affected=None):
    """`affected`: (measured, expected) from `plan --json`, checked too."""
    walls = [r["wall_s"] for r in runs]
    problems = []
    for r in runs:
        if r["exit"] != 0:
            problems.append(f"exit {r['exit']}")
        if expected_calls is not None and r["calls"] != expected_calls:
            problems.append(f"{r['calls']} calls, expected {expected_calls}")
    if affected is not None:
        note = f"affected {affected[0]} (expected {affected[1]})"
        if affected[0] != affected[1]:
            problems.append(f"plan says {affected[0]} affected, expected {affected[1]}")
    row = {
        "size": size,
        "step": name,
        "runs": len(runs),
        "median_s": statistics.median(walls),
        "min_s": min(walls),
        "max_s": max(walls),
        "peak_rss_mib": max(r["rss_mib"] for r in runs),
        "cpu_s": statistics.median(r["user_s"] + r["sys_s"] for r in runs),
        "calls": runs[-1]["calls"],
        "problems": sorted(set(problems)),
        "note": note,
    }
    flag = "" if not row["problems"] else "  !! " + "; ".join(row["problems"])
    print(
        f"  {name:<9} n={len(runs)} median {row['median_s']:.3f}s "
        f"(min {row['min_s']:.3f}, max {row['max_s']:.3f})  cpu {row['cpu_s']:.2f}s  "
        f"peak {row['peak_rss_mib']:.1f} MiB  calls {row['calls']}  {note}{flag}",
        flush=True,
    )
    return row


def bench_size(args, mock, size):
    rows = []
    root = tempfile.mkdtemp(prefix=f"evalgit-bench-{size}-", dir=args.workdir)
    proj = os.path.join(root, "proj")
    logs = os.path.join(root, "logs")
    os.makedirs(logs)
    print(f"size {size}: project in {proj}", flush=True)
    subprocess.run(
        [sys.executable, os.path.join(HERE, "gen.py"), proj, str(size), mock.url + "/v1"],
        check=True,
    )
    git(proj, "init", "-q", "-b", "main")
    git(proj, "add", "-A")
    git(proj, "commit", "-q", "-m", "bench project")
    ev = args.evalgit
    small = 50
    big = size - small
    suites = 10
    half_a = sum(big // suites + (1 if s < big % suites else 0) for s in range(suites // 2))

    cold_repeats = args.cold_repeats if size <= 10_000 else 1
    repeats = args.repeats if size <= 10_000 else max(1, min(args.repeats, 2))

    runs = []
    for i in range(cold_repeats):
        for path in [".evalgit", "snapshots"]:
            shutil.rmtree(os.path.join(proj, path), ignore_errors=True)
        r = measure([ev, "run", "-o", "r.jsonl"], proj, mock, logs, f"cold{i}")
        with open(os.path.join(proj, "r.jsonl")) as f:
            lines = sum(1 for _ in f)
        if lines < size:
            r["exit"] = f"{r['exit']} (r.jsonl has {lines} lines)"
        runs.append(r)
    row = summarize("cold", size, runs, size)
    row["throughput_per_s"] = size / row["median_s"]
    row["ideal_per_s"] = args.concurrency / (args.latency_ms / 1000.0)
    row["note"] = (
        f"{row['throughput_per_s']:.0f} scenarios/s = "
        f"{100 * row['throughput_per_s'] / row['ideal_per_s']:.0f}% of ideal {row['ideal_per_s']:.0f}/s"
    )
    print(f"            {row['note']}", flush=True)
    rows.append(row)

    runs = [
        measure([ev, "run", "-o", "r.jsonl"], proj, mock, logs, f"cached{i}") for i in range(repeats)
    ]
    rows.append(summarize("cached", size, runs, 0))

    runs = [measure([ev, "validate"], proj, mock, logs, f"validate{i}") for i in range(repeats)]
    rows.append(summarize("validate", size, runs, 0))

    runs = [
        measure([ev, "plan", "--base", "HEAD"], proj, mock, logs, f"plan0-{i}")
        for i in range(repeats)
    ]
    affected = plan_json(ev, proj).get("affected")
    rows.append(summarize("plan-0", size, runs, 0, affected=(affected, 0)))

    prompt_a = os.path.join(proj, "prompts", "a.txt")
    original_a = open(prompt_a).read()
    with open(prompt_a, "a") as f:
        f.write("Answer in one line.\n")
    runs = [
        measure([ev, "plan", "--base", "HEAD"], proj, mock, logs, f"plana-{i}")
        for i in range(repeats)
    ]
    affected = plan_json(ev, proj).get("affected")
    rows.append(summarize("plan-a", size, runs, 0, affected=(affected, half_a)))

    runs = [
        measure(
            [ev, "run", "--affected-since", "HEAD", "-o", "r2.jsonl"], proj, mock, logs, "affected"
        )
    ]
    rows.append(summarize("affected", size, runs, half_a, f"expected {half_a} calls"))
    with open(prompt_a, "w") as f:
        f.write(original_a)

    prompt_c = os.path.join(proj, "prompts", "c.txt")
    original_c = open(prompt_c).read()
    with open(prompt_c, "a") as f:
        f.write("Be brief.\n")
    runs = [
        measure([ev, "plan", "--base", "HEAD"], proj, mock, logs, f"planc-{i}")
        for i in range(repeats)
    ]
    affected = plan_json(ev, proj).get("affected")
    rows.append(summarize("plan-c", size, runs, 0, affected=(affected, small)))
    with open(prompt_c, "w") as f:
        f.write(original_c)

    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"  kept {root}", flush=True)
    return rows


def markdown(rows):
    out = [
        "| scenarios | step | runs | median wall | min..max | CPU (user+sys) | peak RSS | model calls | notes |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        notes = r["note"] + ("; PROBLEMS: " + "; ".join(r["problems"]) if r["problems"] else "")
        out.append(
            f"| {r['size']:,} | {r['step']} | {r['runs']} | {r['median_s'] * 1000:,.0f} ms | "
            f"{r['min_s'] * 1000:,.0f}..{r['max_s'] * 1000:,.0f} ms | {r['cpu_s']:.2f} s | "
            f"{r['peak_rss_mib']:.1f} MiB | {r['calls']:,} | {notes} |"
        )
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--evalgit", required=True)
    p.add_argument("--mock", required=True)
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--concurrency", type=int, default=64, help="what gen.py configures")
    p.add_argument("--repeats", type=int, default=5, help="runs of each fast step (median)")
    p.add_argument("--cold-repeats", type=int, default=3, help="cold runs (up to 10,000)")
    p.add_argument("--workdir", default=None, help="parent of the temporary projects")
    p.add_argument("--keep", action="store_true", help="keep the generated projects and logs")
    p.add_argument("--json-out", default=None)
    p.add_argument("sizes", nargs="*", type=int, default=[1000, 10000])
    args = p.parse_args()

    mock = Mock(args.mock, args.latency_ms)
    print(f"evalgit-mock at {mock.url}, latency {args.latency_ms} ms", flush=True)
    rows = []
    try:
        for size in args.sizes:
            rows.extend(bench_size(args, mock, size))
    finally:
        mock.stop()
    print()
    print(markdown(rows))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(rows, f, indent=2)
    sys.exit(1 if any(r["problems"] for r in rows) else 0)


if __name__ == "__main__":
    main()
