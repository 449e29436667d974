#!/usr/bin/env python3
"""How `ctrtool df --all-backends -o json` scales with the number of image tags: 10 vs 300.

    python3 benchmarks/df_scale.py [--lab-dir DIR] [--small 10] [--large 300] [--runs 7] [--json]

Needs root: it starts (or reuses) the local lab (default /var/tmp/ctrtool-bench) and leaves it
running. For each size it adds that many extra tags of the demo image to docker and to ctr
namespaces default and k8s.io (removed again afterwards, also on errors and Ctrl-C; the helpers of
images_vs_native.py), then times --runs runs of df (after one warm-up) and counts its tool calls and
its directory walks (the distinct unpacked directories it reports) from one traced run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from images_vs_native import DEFAULT_LAB_DIR, BenchError, Tools, call_label, extra_tags, lab_env, log  # noqa: E402

DF = [sys.executable, "-m", "ctrtool", "df", "--all-backends", "-o", "json"]


def measure(env: dict[str, str], runs: int) -> dict:
    subprocess.run(DF, env=env, capture_output=True, check=True)  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(DF, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.jsonl")
        out = subprocess.run(DF, env=dict(env, CTRTOOL_TRACE=trace), capture_output=True, text=True, check=True)
        with open(trace) as fh:
            calls = [json.loads(line)["argv"] for line in fh]
    data = json.loads(out.stdout)
    walks = sum(s["items"] for s in data["stores"] if s["kind"] == "unpacked")
    return {
        "median_seconds": round(statistics.median(times), 3),
        "min_seconds": round(min(times), 3),
        "tool_calls": len(calls),
        "calls": sorted(call_label(a) for a in calls),
        "directory_walks": walks,
        "could_save": data["could_save"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab-dir", default=DEFAULT_LAB_DIR)
    ap.add_argument("--small", type=int, default=10)
    ap.add_argument("--large", type=int, default=300)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    try:
        tools = Tools.find()
        env = lab_env(args.lab_dir)
        env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        results = {}
        for tags in (args.small, args.large):
            with extra_tags(tools, env, tags):
                log(f"df with {tags} extra tags")
                results[tags] = measure(env, args.runs)
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    small, large = results[args.small], results[args.large]
    ratio = large["median_seconds"] / small["median_seconds"]
    if args.json:
        print(json.dumps({"results": results, "ratio": round(ratio, 2)}, indent=2))
    else:
        for tags, r in results.items():
            print(
                f"{tags:>4} tags: median {r['median_seconds']:.3f} s (min {r['min_seconds']:.3f}), "
                f"{r['tool_calls']} tool calls, {r['directory_walks']} directory walks"
            )
        print(f"time ratio {args.large}/{args.small}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
