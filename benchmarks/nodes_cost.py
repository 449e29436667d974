#!/usr/bin/env python3
"""What `ctrtool nodes images` costs on the kube lab, for 1 and 2 nodes, side by side with the
native way (`kubectl debug node/N --profile=sysadmin` node by node, then wait, logs, delete).

    python3 benchmarks/nodes_cost.py [--lab-dir DIR] [--runs 5] [--json]

Needs root: it starts (or reuses) a kube lab (default /var/tmp/ctrtool-bench-kube) and leaves it
running (`ctrtool lab down --purge --dir DIR` removes it). For each selection it times --runs runs
(after one warm-up) and, from one more run, counts:

* the API requests, from the apiserver's audit log (the lab logs every request of its admin user,
  i.e. of kubectl and therefore of ctrtool), by verb and resource;
* the bytes moved, from ctrtool's own count (CTRTOOL_DEBUG): the pod manifests sent, the watch
  stream and the pod logs received.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter

DEFAULT_LAB_DIR = "/var/tmp/ctrtool-bench-kube"
CTRTOOL = [sys.executable, "-m", "ctrtool"]
DEBUG_LINE = re.compile(
    r"nodes: (\d+) pod\(s\) in [\d.]+s; (\d+) kubectl call\(s\) to the API; "
    r"bytes: manifests (\d+), watch (\d+), logs (\d+)"
)


def log(message: str) -> None:
    print(f"nodes_cost: {message}", file=sys.stderr, flush=True)


def lab_env(lab_dir: str) -> dict[str, str]:
    up = subprocess.run(
        [*CTRTOOL, "lab", "up", "--profile", "kube", "--nodes", "2", "--dir", lab_dir], stdout=subprocess.DEVNULL
    )
    if up.returncode != 0:
        sys.exit("nodes_cost: the kube lab did not start")
    out = subprocess.run([*CTRTOOL, "lab", "env", "--dir", lab_dir], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ, NO_COLOR="1")
    for line in out.splitlines():
        words = shlex.split(line)
        if words[:1] == ["export"]:
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


def audit_since(path: str, offset: int) -> Counter:
    """Requests of the lab's admin logged after ``offset``: (verb, resource) -> count."""
    seen: dict[str, tuple[str, str]] = {}
    with open(path, encoding="utf-8") as fh:
        fh.seek(offset)
        for line in fh:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            ref = event.get("objectRef") or {}
            resource = ref.get("resource") or event.get("requestURI", "").split("?")[0]
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            seen[event["auditID"]] = (event.get("verb", ""), resource)
    return Counter(seen.values())


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    res = subprocess.run(argv, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, res


def ctrtool_run(selection: list[str], env: dict[str, str], runs: int, audit: str) -> dict:
    argv = [*CTRTOOL, "nodes", "images", "-o", "json", *selection]
    timed(argv, env)  # warm-up
    times = []
    for _ in range(runs):
        seconds, res = timed(argv, env)
        if res.returncode != 0:
            sys.exit(f"nodes_cost: ctrtool failed: {res.stderr}")
        times.append(seconds)
    offset = os.path.getsize(audit)
    _seconds, res = timed(argv, dict(env, CTRTOOL_DEBUG="1"))
    time.sleep(1.5)  # the audit backend writes in batches
    found = DEBUG_LINE.search(res.stderr)
    if not found:
        sys.exit(f"nodes_cost: no cost line in ctrtool's debug output:\n{res.stderr[-2000:]}")
    pods, calls, manifests, watch, logs = (int(g) for g in found.groups())
    return {
        "seconds": statistics.median(times),
        "runs": times,
        "pods": pods,
        "kubectl_calls": calls,
        "api_requests": dict(sorted((f"{v} {r}", n) for (v, r), n in audit_since(audit, offset).items())),
        "bytes": {"manifests": manifests, "watch": watch, "logs": logs},
    }


def native_run(nodes: list[str], env: dict[str, str], runs: int, audit: str, lab_dir: str) -> dict:
    """What an operator types per node: a debug pod that runs crictl on the host, then wait for it,
    read its log, delete it."""
    crictl = shutil.which("crictl", path=env.get("PATH")) or "crictl"

    def once() -> None:
        for node in nodes:
            sock = f"unix://{lab_dir}/nodes/{node}/containerd/containerd.sock"
            created = subprocess.run(
                [
                    "kubectl",
                    "debug",
                    f"node/{node}",
                    "--profile=sysadmin",
                    "--image=localhost/ctrtool/demo:1.0",
                    "--image-pull-policy=Never",
                    "--",
                    "chroot",
                    "/host",
                    crictl,
                    "-r",
                    sock,
                    "images",
                    "-o",
                    "json",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            pod = re.search(r"debugging pod (\S+)", created.stdout + created.stderr)
            if not pod:
                sys.exit(f"nodes_cost: kubectl debug said: {created.stdout}{created.stderr}")
            name = pod.group(1)
            subprocess.run(
                ["kubectl", "wait", f"pod/{name}", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s"],
                env=env,
                capture_output=True,
                check=True,
            )
            subprocess.run(["kubectl", "logs", name], env=env, capture_output=True, check=True)
            subprocess.run(["kubectl", "delete", "pod", name, "--wait=true"], env=env, capture_output=True, check=True)

    once()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    offset = os.path.getsize(audit)
    once()
    time.sleep(1.5)
    return {
        "seconds": statistics.median(times),
        "runs": times,
        "api_requests": dict(sorted((f"{v} {r}", n) for (v, r), n in audit_since(audit, offset).items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab-dir", default=DEFAULT_LAB_DIR)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = lab_env(args.lab_dir)
    audit = os.path.join(args.lab_dir, "kube", "audit.log")
    results = {}
    for label, selection, nodes in (
        ("1 node", ["--nodes", "node-1"], ["node-1"]),
        ("2 nodes", ["--all"], ["node-1", "node-2"]),
    ):
        log(f"{label}: ctrtool nodes images")
        mine = ctrtool_run(selection, env, args.runs, audit)
        log(f"{label}: kubectl debug node/N, node by node")
        native = native_run(nodes, env, args.runs, audit, args.lab_dir)
        results[label] = {"ctrtool": mine, "native": native, "ratio": mine["seconds"] / native["seconds"]}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        "| nodes | ctrtool nodes images | kubectl debug, node by node | ratio | API requests (ctrtool) | bytes moved |"
    )
    print("|---|---|---|---|---|---|")
    for label, r in results.items():
        mine, native = r["ctrtool"], r["native"]
        requests = ", ".join(f"{k} {v}" for k, v in mine["api_requests"].items())
        moved = mine["bytes"]
        print(
            f"| {label} | {mine['seconds']:.2f} s | {native['seconds']:.2f} s | {r['ratio']:.2f}× | "
            f"{sum(mine['api_requests'].values())} ({requests}) | manifests {moved['manifests']}, "
            f"watch {moved['watch']}, logs {moved['logs']} |"
        )
    for label, r in results.items():
        requests = ", ".join(f"{k} {v}" for k, v in r["native"]["api_requests"].items())
        print(f"\nnative, {label}: {sum(r['native']['api_requests'].values())} API requests ({requests})")


if __name__ == "__main__":
    main()
