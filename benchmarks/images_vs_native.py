#!/usr/bin/env python3
"""Time `ctrtool images --all-backends -o json` against the native tools run one after another.

    python3 benchmarks/images_vs_native.py [--scenario small|300|all] [--runs 15] [--json]

Needs root: it starts (or reuses) the local lab in --lab-dir, default /var/tmp/ctrtool-bench, and
leaves it running. Every command runs as a subprocess with the lab's environment, as a user would
type it. A and B are alternated (A, B, A, B, ...): 2 warm-up rounds, then --runs measured rounds.

* A: ``ctrtool images --all-backends -o json``
* B: the same listing with the native tools in turn: ``docker images``, ``ctr namespaces ls -q``,
  ``ctr -n NS images ls`` for each namespace listed, ``crictl images``

Scenarios: "small" is the lab as it is (a handful of images); "300" first adds --tags extra tags of
the demo image to docker and to ctr namespaces default and k8s.io (which crictl also shows), and
removes them afterwards, also on errors and Ctrl-C. For reference it also times Python's and
ctrtool's start-up, and counts ctrtool's tool calls per scenario from its trace (CTRTOOL_TRACE).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from ctrtool.lab import DEMO_IMAGE, Lab, LabError, find_crictl  # noqa: E402

DEFAULT_LAB_DIR = "/var/tmp/ctrtool-bench"
BENCH_REPO = "localhost/ctrtool/bench"
TAGGED_NAMESPACES = ("default", "k8s.io")  # crictl shows the k8s.io ones
WARMUP = 2
IMAGES_ARGS = ("images", "--all-backends", "-o", "json")
# inherited variables that would point the tools elsewhere or change what ctrtool lists
DROPPED_ENV = ("DOCKER_CONTEXT", "CONTAINERD_NAMESPACE", "CTRTOOL_TRACE", "CTRTOOL_DEBUG")
# the flags that only say where to connect, left out of call labels
CONNECTION_FLAGS = {
    "--host",
    "--context",
    "--address",
    "--config",
    "--runtime-endpoint",
    "--image-endpoint",
    "--timeout",
}

CTRTOOL = "ctrtool images --all-backends -o json"
NATIVE = "native tools one after another"
PYTHON = "python3 -c pass"
TYPER = "python3 -c 'import typer'"
VERSION = "ctrtool --version"

# targets (docs/performance.md)
RATIO_TARGET = 0.6
RATIO_EXCELLENT = 0.4

Measure = Callable[[], dict[str, float]]  # one run of something: seconds per label


class BenchError(Exception):
    """A command the benchmark depends on failed."""


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# -- running commands ---------------------------------------------------------------------------


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(argv, env=env, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError as exc:
        raise BenchError(f"cannot run `{shlex.join(argv)}`: {exc.strerror}") from None
    if proc.returncode in (-signal.SIGINT, 128 + signal.SIGINT):
        raise KeyboardInterrupt  # Ctrl-C reached the child first
    if proc.returncode != 0:
        raise BenchError(f"`{shlex.join(argv)}` exited with {proc.returncode}: {proc.stderr.strip()[-600:]}")
    return proc


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall time of one command (output captured, as ctrtool captures its tools'), and its stdout."""
    start = time.perf_counter()
    proc = run(argv, env)
    return time.perf_counter() - start, proc.stdout


@dataclass(frozen=True)
class Tools:
    docker: str
    ctr: str
    crictl: str

    @classmethod
    def find(cls, env: dict[str, str] | None = None) -> Tools:
        path = (env or os.environ).get("PATH")  # a modern lab puts its own ctr first
        found = {
            "docker": shutil.which("docker", path=path),
            "ctr": shutil.which("ctr", path=path),
            "crictl": find_crictl(),
        }
        missing = [name for name, path in found.items() if not path]
        if missing:
            raise BenchError(f"not found on PATH: {', '.join(missing)}")
        return cls(**found)


def lab_env(directory: str, profile: str | None = None) -> dict[str, str]:
    """Start the lab if it is not running; the environment that points every tool at it."""
    lab = Lab(directory, profile)
    lab.up(progress=log)
    env = {name: value for name, value in os.environ.items() if name not in DROPPED_ENV}
    env.update(lab.env())
    return env


# -- what is timed ------------------------------------------------------------------------------


def ctrtool_listing(ctrtool: list[str], env: dict[str, str]) -> dict[str, float]:
    seconds, _ = timed([*ctrtool, *IMAGES_ARGS], env)
    return {CTRTOOL: seconds}


def native_listing(tools: Tools, env: dict[str, str]) -> dict[str, float]:
    """The same listing typed by hand, one tool after another: each call's time and the total."""
    times: dict[str, float] = {}
    start = time.perf_counter()
    times["docker images"], _ = timed([tools.docker, "images"], env)
    times["ctr namespaces ls -q"], namespaces = timed([tools.ctr, "namespaces", "ls", "-q"], env)
    for ns in namespaces.split():
        times[f"ctr -n {ns} images ls"], _ = timed([tools.ctr, "-n", ns, "images", "ls"], env)
    times["crictl images"], _ = timed([tools.crictl, "images"], env)
    times[NATIVE] = time.perf_counter() - start
    return times


def startup_measures(ctrtool: list[str], env: dict[str, str]) -> list[Measure]:
    commands = {
        PYTHON: [sys.executable, "-c", "pass"],
        TYPER: [sys.executable, "-c", "import typer"],
        VERSION: [*ctrtool, "--version"],
    }
    return [lambda label=label, argv=argv: {label: timed(argv, env)[0]} for label, argv in commands.items()]


def interleave(measures: list[Measure], runs: int) -> dict[str, list[float]]:
    """Run the measures in turn (A, B, A, B, ...): WARMUP rounds dropped, then `runs` rounds kept."""
    samples: dict[str, list[float]] = {}
    for round_no in range(WARMUP + runs):
        for measure in measures:
            result = measure()
            if round_no >= WARMUP:
                for label, seconds in result.items():
                    samples.setdefault(label, []).append(seconds)
    return samples


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


# -- ctrtool's own tool calls -------------------------------------------------------------------


def call_label(argv: list[str]) -> str:
    """A traced argv without its connection flags: `ctr --namespace k8s.io images ls`."""
    words, skip = [os.path.basename(argv[0])], False
    for word in argv[1:]:
        if skip:
            skip = False
        elif word in CONNECTION_FLAGS:
            skip = True
        else:
            words.append(word[:19] if word.startswith("sha256:") else word)  # short image ids
    return " ".join(words)


def traced_listing(ctrtool: list[str], env: dict[str, str]) -> tuple[list[dict[str, Any]], int]:
    """One more (untimed) ctrtool run with CTRTOOL_TRACE set: the tool calls it made, and its rows."""
    with tempfile.TemporaryDirectory(prefix="ctrtool-bench-") as tmp:
        trace = Path(tmp) / "trace.jsonl"
        proc = run([*ctrtool, *IMAGES_ARGS], {**env, "CTRTOOL_TRACE": str(trace)})
        lines = trace.read_text().splitlines() if trace.exists() else []
    calls = [{"call": call_label(entry["argv"]), "seconds": entry["seconds"]} for entry in map(json.loads, lines)]
    calls.sort(key=lambda call: call["seconds"], reverse=True)
    return calls, len(json.loads(proc.stdout))


# -- the scenario with many tags ----------------------------------------------------------------


@contextlib.contextmanager
def extra_tags(tools: Tools, env: dict[str, str], count: int) -> Iterator[None]:
    """`count` more tags of the demo image in docker and in ctr namespaces default and k8s.io.

    docker tag takes one target per call; ctr (containerd >= 1.6) takes them all in one. Each
    removal is registered before its tags are added, so that whatever was added is removed again,
    also on errors and Ctrl-C.
    """
    refs = [f"{BENCH_REPO}:{n}" for n in range(1, count + 1)]
    removals: dict[str, list[str]] = {}  # store -> the one call that removes its extra tags
    try:
        log(f"docker: adding {count} tags ({count} calls)")
        removals["docker"] = [tools.docker, "rmi", *refs]
        for ref in refs:
            run([tools.docker, "tag", DEMO_IMAGE, ref], env)
        for ns in TAGGED_NAMESPACES:
            log(f"ctr -n {ns}: adding {count} tags (1 call)")
            removals[f"ctr -n {ns}"] = [tools.ctr, "-n", ns, "images", "rm", *refs]
            run([tools.ctr, "-n", ns, "images", "tag", "--force", DEMO_IMAGE, *refs], env)
        settle(env)
        yield
    finally:
        for store, argv in removals.items():
            log(f"{store}: removing the {count} extra tags (1 call)")
            remove_tags(argv, env)


def settle(env: dict[str, str], quiet: float = 2.0, limit: float = 300.0) -> None:
    """Wait until containerd has stopped writing: after thousands of new tags the CRI plugin keeps
    committing (it labels each new image in k8s.io) for a while, and a node at rest is what is
    measured. Quiet: the newest transaction of its meta.db unchanged for ``quiet`` seconds."""
    import glob

    from ctrtool.adapters import boltdb

    found = glob.glob(os.path.join(env.get("CTRTOOL_LAB_DIR", ""), "containerd", "root", "*metadata*", "meta.db"))
    if not found:
        return

    def txid() -> int:
        with open(found[0], "rb", buffering=0) as fh:
            return boltdb.Bolt(os.pread(fh.fileno(), 2 * boltdb.MAX_PAGE, 0)).txid

    start = time.monotonic()
    last, since = txid(), time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() - start < limit:
        time.sleep(0.2)
        now = txid()
        if now != last:
            last, since = now, time.monotonic()
    log(f"containerd quiet after {time.monotonic() - start:.1f} s (transaction {last})")


def remove_tags(argv: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    # a ref that was never added (interrupted while tagging) is no error here
    problems = [line for line in proc.stderr.splitlines() if line.strip() and "no such image" not in line.lower()]
    if proc.returncode != 0 and problems:
        log(f"WARNING: `{shlex.join(argv[:3])} ...` exited with {proc.returncode}: {problems[-1]}")


# -- scenarios ----------------------------------------------------------------------------------


def run_scenario(
    name: str, tags: int, ctrtool: list[str], tools: Tools, env: dict[str, str], runs: int
) -> dict[str, Any]:
    load_before = load_average()
    log(f"scenario {name}: {WARMUP} warm-up + {runs} runs of ctrtool and the native tools, alternated")
    samples = interleave([lambda: ctrtool_listing(ctrtool, env), lambda: native_listing(tools, env)], runs)
    calls, rows = traced_listing(ctrtool, env)
    ctrtool_times, native_times = samples.pop(CTRTOOL), samples.pop(NATIVE)
    ratios = [a / b for a, b in zip(ctrtool_times, native_times)]
    return {
        "name": name,
        "extra_tags": tags,
        "runs": runs,
        "ctrtool": summary(ctrtool_times),
        "native": summary(native_times),
        "native_calls": {label: summary(values) for label, values in samples.items()},
        "ratio": summary(ratios),
        "ctrtool_rows": rows,
        "ctrtool_calls": len(calls),
        "ctrtool_trace": calls,
        "load_avg_before": load_before,
        "load_avg_after": load_average(),
    }


def check_targets(startup: dict[str, Any], scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
    checks = []
    for sc in scenarios:
        ctrtool = sc["ctrtool"]["median"]
        if sc["extra_tags"] == 0:
            typer = startup[TYPER]["median"]
            slowest = max(c["median"] for c in sc["native_calls"].values())
            checks.append(
                {
                    "scenario": sc["name"],
                    "met": ctrtool <= typer + slowest,
                    "value": ctrtool,
                    "limit": typer + slowest,
                    "target": f"ctrtool <= python+typer start-up ({typer:.3f} s) "
                    f"+ slowest single native call ({slowest:.3f} s)",
                }
            )
        else:
            ratio = sc["ratio"]["median"]
            checks.append(
                {
                    "scenario": sc["name"],
                    "met": ratio <= RATIO_TARGET,
                    "value": ratio,
                    "limit": RATIO_TARGET,
                    "excellent": ratio <= RATIO_EXCELLENT,
                    "target": f"ctrtool/native <= {RATIO_TARGET} ({RATIO_EXCELLENT} excellent)",
                }
            )
    if len(scenarios) > 1:
        counts = [sc["ctrtool_calls"] for sc in scenarios]
        checks.append(
            {
                "scenario": "all",
                "met": len(set(counts)) == 1,
                "value": counts,
                "target": "ctrtool makes as many tool calls with many tags as with a handful",
            }
        )
    return checks


# -- the machine --------------------------------------------------------------------------------


def field_values(text: str, key: str) -> list[str]:
    """The values of every `key: value` line."""
    prefix = key + ":"
    return [line.strip()[len(prefix) :].strip() for line in text.splitlines() if line.strip().startswith(prefix)]


def tool_versions(tools: Tools, env: dict[str, str]) -> dict[str, str]:
    def out(*argv: str) -> str:
        return run(list(argv), env).stdout

    docker = out(tools.docker, "version", "--format", "client {{.Client.Version}}, server {{.Server.Version}}")
    ctr = field_values(out(tools.ctr, "version"), "Version")
    crictl = out(tools.crictl, "--version").strip()
    runtime = field_values(out(tools.crictl, "version"), "RuntimeVersion")
    return {
        "docker": docker.strip(),
        "ctr": f"client {ctr[0]}, server {ctr[-1]}" if ctr else "?",
        "crictl": f"{crictl} (runtime containerd {runtime[0] if runtime else '?'})",
        "typer": metadata.version("typer"),
    }


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "?"
    models = field_values(text.replace("\t", ""), "model name")
    return models[0] if models else "?"


def machine_info(tools: Tools, env: dict[str, str]) -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "nproc": len(os.sched_getaffinity(0)),
        "python": f"{platform.python_version()} ({sys.executable})",
        "kernel": platform.release(),
        "versions": tool_versions(tools, env),
    }


# -- report -------------------------------------------------------------------------------------


def seconds(s: dict[str, float]) -> str:
    return f"{s['median']:7.3f} s   (min {s['min']:.3f}, max {s['max']:.3f})"


def print_report(results: dict[str, Any]) -> None:
    m = results["machine"]
    print(f"machine: {m['cpu']}, {m['cpu_count']} CPUs (nproc {m['nproc']}), kernel {m['kernel']}")
    print(f"python:  {m['python']}, typer {m['versions']['typer']}")
    print("tools:   " + "; ".join(f"{k} {v}" for k, v in m["versions"].items() if k != "typer"))
    print(f"\nstart-up, median of {results['runs']} runs")
    for label, s in results["startup"].items():
        print(f"  {label:<40}{seconds(s)}")
    for sc in results["scenarios"]:
        print(
            f"\nscenario {sc['name']}: {sc['extra_tags']} extra tags per store, median of {sc['runs']} "
            f"alternated runs; load average {' '.join(f'{x:.2f}' for x in sc['load_avg_before'])}"
        )
        print(f"  {CTRTOOL:<40}{seconds(sc['ctrtool'])}")
        print(f"  {NATIVE:<40}{seconds(sc['native'])}")
        for label, s in sc["native_calls"].items():
            print(f"    {label:<38}{seconds(s)}")
        print(
            f"  {'ratio ctrtool/native':<40}{sc['ratio']['median']:7.2f}     "
            f"(min {sc['ratio']['min']:.2f}, max {sc['ratio']['max']:.2f})"
        )
        print(f"  ctrtool printed {sc['ctrtool_rows']} rows and made {sc['ctrtool_calls']} tool calls; slowest:")
        for call in sc["ctrtool_trace"][:3]:
            print(f"    {call['call']:<38}{call['seconds']:7.3f} s")
    print("\ntargets")
    for check in results["targets"]:
        verdict = "excellent" if check.get("excellent") else "met" if check["met"] else "NOT met"
        value = check["value"]
        shown = f"{value:.3f} vs {check['limit']:.3f}" if isinstance(value, float) else str(value)
        print(f"  [{verdict:>9}] {check['scenario']}: {check['target']}: {shown}")


# -- main ---------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab-dir", default=DEFAULT_LAB_DIR, help="the lab to use (default %(default)s)")
    parser.add_argument(
        "--profile",
        default=None,
        help="lab profile: debian, modern, modern-overlay2 (default: the lab's own, else debian)",
    )
    parser.add_argument("--runs", type=int, default=15, help="measured runs of each command (default %(default)s)")
    parser.add_argument(
        "--tags", type=int, default=300, help="extra tags per store in the tagged scenario (default %(default)s)"
    )
    parser.add_argument(
        "--scenario",
        choices=("small", "300", "all"),
        default="all",
        help="small: the lab as it is; 300: with --tags extra tags; all: both (default)",
    )
    parser.add_argument(
        "--ctrtool",
        default=shlex.join([sys.executable, "-m", "ctrtool"]),
        help="the ctrtool command, run from the repository root (default: %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.tags < 1:
        parser.error("--runs and --tags must be at least 1")
    return args


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    ctrtool = shlex.split(args.ctrtool)
    env = lab_env(args.lab_dir, args.profile)
    tools = Tools.find(env)
    results: dict[str, Any] = {
        "machine": machine_info(tools, env),
        "lab_dir": args.lab_dir,
        "ctrtool_command": ctrtool,
        "runs": args.runs,
        "warmup": WARMUP,
    }
    log("start-up of Python, typer and ctrtool")
    startup = interleave(startup_measures(ctrtool, env), args.runs)
    results["startup"] = {label: summary(values) for label, values in startup.items()}
    scenarios = []
    if args.scenario in ("small", "all"):
        scenarios.append(run_scenario("small", 0, ctrtool, tools, env, args.runs))
    if args.scenario in ("300", "all"):
        with extra_tags(tools, env, args.tags):
            scenarios.append(run_scenario(f"{args.tags} tags", args.tags, ctrtool, tools, env, args.runs))
    results["scenarios"] = scenarios
    results["targets"] = check_targets(results["startup"], scenarios)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = benchmark(args)
    except (BenchError, LabError) as exc:
        hint = getattr(exc, "hint", None)
        log(f"error: {exc}" + (f" ({hint})" if hint else ""))
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_report(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
