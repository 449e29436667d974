#!/usr/bin/env python3
"""ctrtool's start-up against Python's own (issue 23): --version, --help, and a Tab (a command
name, an option name, an image name), each run as the shell runs it, alternated with a bare
``python -c pass`` of the same interpreter.

    python3 benchmarks/startup.py [--runs 21] [--ctrtool .venv/bin/ctrtool] [--json]

The image-name completion and its native listing (``ctr -n default images ls -q``, the names the
Tab offers) use the environment's containerd: run it with a lab's environment, e.g.
``eval "$(ctrtool lab env)"``; read-only. Every command runs as a subprocess, output to a pipe.
Rounds alternate every command (A, B, C, ..., A, B, C, ...); 2 warm-up rounds are dropped; the
report gives medians (min-max), each command's ratio to ``python -c pass`` (the median of the
per-round ratios) and the targets of issue 23, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

WARMUP = 2


def _bash(line: str) -> dict[str, str]:
    """The environment ctrtool's bash script gives it for ``line`` (the cursor at its end)."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    return {"_CTRTOOL_COMPLETE": "complete_bash", "COMP_WORDS": line, "COMP_CWORD": str(cword)}


IMAGE_LINE = "ctrtool rmi -b ctr -n default localhost/ctrtool/de"
NATIVE_LISTING = "native listing: ctr -n default images ls -q"
IMAGES_NATIVE = "native: docker images, ctr namespaces ls, ctr images ls per namespace, crictl images"


def commands(
    python: str, ctrtool: str, ctr: str | None, before: str | None = None
) -> dict[str, tuple[list[str], dict[str, str]]]:
    out: dict[str, tuple[list[str], dict[str, str]]] = {"python -c pass": ([python, "-c", "pass"], {})}
    for suffix, binary in (("", ctrtool), (" [before]", before)):
        if not binary:
            continue
        out[f"ctrtool --version{suffix}"] = ([binary, "--version"], {})
        out[f"ctrtool --help{suffix}"] = ([binary, "--help"], {"COLUMNS": "100"})
        # the same help rendered by typer each time (the help cache off: its first run's cost)
        out[f"ctrtool --help, no cache{suffix}"] = (
            [binary, "--help"],
            {"COLUMNS": "100", "CTRTOOL_HELP_CACHE": "0"},
        )
        out[f"Tab: ctrtool ima{suffix}"] = ([binary], _bash("ctrtool ima"))
        out[f"Tab: ctrtool images --all-b{suffix}"] = ([binary], _bash("ctrtool images --all-b"))
        if ctr:
            out[f"Tab: {IMAGE_LINE}{suffix}"] = ([binary], _bash(IMAGE_LINE))
    if ctr:
        out[NATIVE_LISTING] = ([ctr, "-n", "default", "images", "ls", "-q"], {})
    return out


PROFILED = (
    "site",
    "ctrtool.launch",
    "typer",
    "typer._click",
    "ctrtool.cli",
    "typer.rich_utils",
    "rich.markdown",
    "markdown_it",
    "ctrtool.config",
    "ctrtool.adapters.base",
    "ctrtool.runner",
    "ctrtool.core",
)


def import_profile(argv: list[str], extra: dict[str, str], runs: int) -> dict[str, float]:
    """Median cumulative import time (seconds) of PROFILED modules, from ``python -X importtime``
    (each module with everything it imported first); the command must be a Python script."""
    seen: dict[str, list[float]] = {}
    for _ in range(runs):
        env = {**os.environ, **extra, "PYTHONPROFILEIMPORTTIME": "1"}
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        for line in proc.stderr.splitlines():
            if line.startswith("import time:") and line.count("|") == 2:
                _, cumulative, name = line.split("|")
                if name.strip() in PROFILED and cumulative.strip().isdigit():
                    seen.setdefault(name.strip(), []).append(int(cumulative) / 1e6)
    return {name: statistics.median(ts) for name, ts in seen.items()}


def run_once(argv: list[str], extra: dict[str, str]) -> float:
    """Seconds of one run; argv "native sequence" runs NATIVE_SEQUENCE's commands one after another."""
    env = {**os.environ, **extra}
    sequence = NATIVE_SEQUENCE if argv == ["native sequence"] else [argv]
    start = time.perf_counter()
    for one in sequence:
        proc = subprocess.run(one, env=env, capture_output=True)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(one)} failed ({proc.returncode}): {proc.stderr.decode()[-400:]}")
    return time.perf_counter() - start


# `images -A -o json` by hand, as benchmarks/images_vs_native.py times it: docker images, ctr
# namespaces ls -q, ctr -n NS images ls for each, crictl images (filled in by main with --images)
NATIVE_SEQUENCE: list[list[str]] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--ctrtool", default=os.path.join(os.path.dirname(sys.executable), "ctrtool"))
    parser.add_argument("--python", default=sys.executable, help="the interpreter of `python -c pass`")
    parser.add_argument("--before", help="another ctrtool to time in the same rounds (e.g. the previous commit's)")
    parser.add_argument("--importtime", type=int, default=0, metavar="N", help="also profile the imports, N runs each")
    parser.add_argument("--images", action="store_true", help="also `images -A -o json` against the native sequence")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ctr = shutil.which("ctr") if os.environ.get("CONTAINERD_ADDRESS") else None
    cmds = commands(args.python, args.ctrtool, ctr, args.before)
    if args.images:
        docker, crictl = shutil.which("docker"), shutil.which("crictl")
        if not (ctr and docker and crictl):
            raise SystemExit("--images needs docker, ctr and crictl, and CONTAINERD_ADDRESS set (a lab's environment)")
        spaces = subprocess.run(
            [ctr, "namespaces", "ls", "-q"], capture_output=True, text=True, check=True
        ).stdout.split()
        NATIVE_SEQUENCE[:] = [
            [docker, "images"],
            [ctr, "namespaces", "ls", "-q"],
            *[[ctr, "-n", ns, "images", "ls"] for ns in spaces],
            [crictl, "images"],
        ]
        for suffix, binary in (("", args.ctrtool), (" [before]", args.before)):
            if binary:
                cmds[f"ctrtool images -A -o json{suffix}"] = ([binary, "images", "-A", "-o", "json"], {})
        cmds[IMAGES_NATIVE] = (["native sequence"], {})
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {label: [] for label in cmds}
    for round_ in range(WARMUP + args.runs):
        for label, (argv, extra) in cmds.items():
            took = run_once(argv, extra)
            if round_ >= WARMUP:
                times[label].append(took)
    load_after = os.getloadavg()
    base = times["python -c pass"]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "runs": args.runs,
        "python": sys.version.split()[0],
        "commands": {
            label: {
                "median": statistics.median(ts),
                "min": min(ts),
                "max": max(ts),
                "ratio_to_pass": statistics.median(t / b for t, b in zip(ts, base)),
            }
            for label, ts in times.items()
        },
    }
    med = {label: r["median"] for label, r in result["commands"].items()}
    ratio = {label: r["ratio_to_pass"] for label, r in result["commands"].items()}
    targets = [
        ("--version <= 4x python -c pass", ratio["ctrtool --version"], 4.0),
        ("--help <= 4x python -c pass", ratio["ctrtool --help"], 4.0),
        ("Tab on a command <= 6x python -c pass", ratio["Tab: ctrtool ima"], 6.0),
        ("Tab on an option <= 6x python -c pass", ratio["Tab: ctrtool images --all-b"], 6.0),
    ]
    verdicts = [{"target": t, "ratio": round(r, 2), "limit": lim, "met": r <= lim} for t, r, lim in targets]
    image = f"Tab: {IMAGE_LINE}"
    if image in med:
        budget = med["python -c pass"] + med[NATIVE_LISTING]
        verdicts.append(
            {
                "target": "Tab on an image name <= python -c pass + the native listing",
                "seconds": round(med[image], 4),
                "limit": round(budget, 4),
                "met": med[image] <= budget,
            }
        )
    if IMAGES_NATIVE in med:
        ratio_images = statistics.median(
            a / b for a, b in zip(times["ctrtool images -A -o json"], times[IMAGES_NATIVE])
        )
        verdicts.append(
            {
                "target": "images -A -o json <= 1.5x the native sequence",
                "ratio": round(ratio_images, 2),
                "limit": 1.5,
                "met": ratio_images <= 1.5,
            }
        )
    result["targets"] = verdicts
    if args.importtime:
        result["imports"] = {
            label: import_profile(cmds[label][0], cmds[label][1], args.importtime)
            for label in cmds
            if label.startswith(("ctrtool --", "Tab: ", "ctrtool images")) and not label.endswith("[before]")
        }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['date']}, {args.runs} alternated rounds after {WARMUP} warm-ups, Python {result['python']}")
    print(f"load average before {result['load_before']}, after {result['load_after']}")
    for label, r in result["commands"].items():
        print(
            f"  {label:68} {r['median'] * 1000:7.1f} ms ({r['min'] * 1000:.1f}-{r['max'] * 1000:.1f})  "
            f"{r['ratio_to_pass']:5.2f}x pass"
        )
    for label, found in result.get("imports", {}).items():
        print(
            f"  imports of {label} (cumulative, median): "
            + ", ".join(f"{m} {t * 1000:.1f} ms" for m, t in found.items())
        )
    for v in verdicts:
        print(
            f"  {'met    ' if v['met'] else 'NOT met'}  {v['target']}: {v.get('ratio', v.get('seconds'))} (limit {v['limit']})"
        )


if __name__ == "__main__":
    main()
