#!/usr/bin/env python3
"""Generates a synthetic evalgit project for the benchmark (bench/run.sh).

usage: gen.py DIR SIZE BASE_URL [--suites N] [--small M] [--promptfoo]

Layout of the generated project (SIZE scenarios in total):
  evalgit.toml        one `openai` provider `mock` at BASE_URL, max_concurrency 64, a price
  prompts/a.txt       used by the first half of the big suites (prompt_file)
  prompts/b.txt       used by the second half
  prompts/c.txt       used only by the small suite `small` (M scenarios, default 50)
  evals/sNN.toml      N big suites (default 10) sharing SIZE - M scenarios
  evals/small.toml    the small suite

  promptfooconfig.yaml, tests.yaml   with --promptfoo: the same workload for promptfoo
                      (bench/promptfoo.sh): the same three prompt files, one `openai:chat`
                      provider at BASE_URL with the same model and parameters, and one test
                      per scenario with the same vars, the same assertions and a `prompts`
                      filter naming the prompt its suite uses (so SIZE calls, not 3 x SIZE)

Every scenario has its own vars and one or two deterministic assertions that pass against
evalgit-mock, which answers `echo: <last user message>`. The output is a pure function of
the arguments, so two generations of the same size are byte-identical.
"""

import os
import sys


def usage():
    sys.exit(__doc__)


def scenario_values(index):
    return f"item-{index:07d}", f"c{(index * 7919) % 1000003:07d}"


def scenario_block(index):
    item, code = scenario_values(index)
    lines = [
        "[[scenario]]",
        f'id = "{item}"',
        f'vars = {{ item = "{item}", code = "{code}", n = {index} }}',
    ]
    if index % 2 == 0:
        lines.append(f'assert = [{{ type = "contains", value = "{code}" }}]')
    else:
        lines.append(
            "assert = ["
            f'{{ type = "contains", value = "{code}" }}, '
            '{ type = "starts-with", value = "echo:" }]'
        )
    return "\n".join(lines) + "\n\n"


def write_suite(path, prompt_file, first, count, description):
    with open(path, "w") as f:
        f.write(f'description = "{description}"\n')
        f.write('provider = "mock"\n')
        f.write(f'prompt_file = "{prompt_file}"\n')
        f.write("min_pass_rate = 0.9\n\n")
        for i in range(first, first + count):
            f.write(scenario_block(i))


def promptfoo_test(index, prompt_label):
    """One promptfoo test (YAML) equivalent to `scenario_block(index)`."""
    item, code = scenario_values(index)
    lines = [
        f"- description: {item}",
        f"  vars: {{ item: {item}, code: {code}, n: {index} }}",
        f"  prompts: [{prompt_label}]",
        "  assert:",
        f"    - {{ type: contains, value: {code} }}",
    ]
    if index % 2 == 1:
        lines.append('    - { type: starts-with, value: "echo:" }')
    return "\n".join(lines) + "\n"


def write_promptfoo(root, base_url, ranges):
    """promptfooconfig.yaml + tests.yaml; `ranges`: (prompt label, first index, count)."""
    with open(os.path.join(root, "promptfooconfig.yaml"), "w") as f:
        f.write(
            f"""# The evalgit benchmark workload for promptfoo (bench/gen.py --promptfoo).
description: evalgit benchmark workload
prompts:
  - id: file://prompts/a.txt
    label: a
  - id: file://prompts/b.txt
    label: b
  - id: file://prompts/c.txt
    label: c
providers:
  - id: openai:chat:bench-model
    config:
      apiBaseUrl: {base_url}
      temperature: 0
      max_tokens: 32
tests: file://tests.yaml
evaluateOptions:
  maxConcurrency: 64
"""
        )
    with open(os.path.join(root, "tests.yaml"), "w") as f:
        for label, first, count in ranges:
            for i in range(first, first + count):
                f.write(promptfoo_test(i, label))


def main(argv):
    if len(argv) < 3:
        usage()
    root, size, base_url = argv[0], int(argv[1]), argv[2]
    suites, small = 10, 50
    promptfoo = False
    rest = argv[3:]
    while rest:
        if rest[0] == "--promptfoo":
            promptfoo, rest = True, rest[1:]
            continue
        flag, value, rest = rest[0], rest[1] if len(rest) > 1 else usage(), rest[2:]
        if flag == "--suites":
            suites = int(value)
        elif flag == "--small":
            small = int(value)
        else:
            usage()
    if size <= small or suites < 2:
        sys.exit("gen.py: SIZE must exceed the small suite's size and --suites be at least 2")

    os.makedirs(os.path.join(root, "evals"), exist_ok=True)
    os.makedirs(os.path.join(root, "prompts"), exist_ok=True)
    with open(os.path.join(root, "evalgit.toml"), "w") as f:
        f.write(
            f"""[providers.mock]
kind = "openai"
base_url = "{base_url}"
model = "bench-model"
temperature = 0
max_tokens = 32
max_concurrency = 64
max_retries = 0
timeout_secs = 30

[prices."bench-model"]
input = 0.15
output = 0.60
"""
        )
    prompts = {
        "a": "You classify catalogue items.\nItem {{ item }} has code {{ code }} (row {{ n }}). Repeat the code.\n",
        "b": "You label support tickets.\nTicket {{ item }} carries tag {{ code }} (row {{ n }}). Repeat the tag.\n",
        "c": "A small feature with its own prompt.\nEntry {{ item }}: {{ code }} (row {{ n }}).\n",
    }
    for name, text in prompts.items():
        with open(os.path.join(root, "prompts", f"{name}.txt"), "w") as f:
            f.write(text)
    with open(os.path.join(root, ".gitignore"), "w") as f:
        f.write(".evalgit/\n*.jsonl\n")

    big = size - small
    index = 0
    ranges = []
    for s in range(suites):
        count = big // suites + (1 if s < big % suites else 0)
        label = "a" if s < suites // 2 else "b"
        prompt = f"prompts/{label}.txt"
        ranges.append((label, index, count))
        write_suite(
            os.path.join(root, "evals", f"s{s:02d}.toml"),
            prompt,
            index,
            count,
            f"big suite {s}",
        )
        index += count
    write_suite(
        os.path.join(root, "evals", "small.toml"), "prompts/c.txt", index, small, "small suite"
    )
    ranges.append(("c", index, small))
    if promptfoo:
        write_promptfoo(root, base_url, ranges)


if __name__ == "__main__":
    main(sys.argv[1:])
