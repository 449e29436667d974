"""One ``ctrtool nodes`` run: one short-lived pod per selected node, watched, read, deleted.

How it scales (docs/nodes.md has the figures):

* the nodes are listed once (``kubectl get nodes``, with the label selector);
* the pods are created in batches (one ``kubectl create`` per batch) and at most ``parallel`` run
  at once; a batch is created as soon as there is room;
* completion is watched: ONE ``kubectl get pods --watch`` on the run's label, started before the
  first pod, reports every pod's changes; nothing is polled node by node;
* each finished pod's log (one line of gzip+base64 JSON) is read once, by a small pool of
  threads, while the others still run;
* at the end, on failure, on timeout and on Ctrl-C, the run's pods are deleted with one call on the
  run's label. Every pod also carries ``activeDeadlineSeconds`` and an expiry annotation; each run
  first deletes the expired pods an earlier, crashed run left (same namespace).

API requests: 1 (nodes) + 1 (expired pods) + 1 watch (and its initial list; again if the API server
ends it while pods still run) + per node 1 create, 1 log, 1 delete + 1 final delete (its list), and
1 more (pending pods, all namespaces) for ``where``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import queue
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..adapters.kubectl import Kubectl, NodeInfo, PodState, PodWatch
from ..doctor.result import Result
from ..errors import UsageError
from ..model import ImageRecord
from . import onnode
from .answers import NodeDiskUsage

MANAGED_BY = "app.kubernetes.io/managed-by"
NAME_LABEL = "app.kubernetes.io/name"
RUN_LABEL = "ctrtool.io/run"
NODE_ANNOTATION = "ctrtool.io/node"
EXPIRES_ANNOTATION = "ctrtool.io/expires"
COMMAND_ANNOTATION = "ctrtool.io/command"
APP = "ctrtool-node"
CONTAINER = "ctrtool"
OURS = f"{MANAGED_BY}=ctrtool,{NAME_LABEL}={APP}"
# a pod that waits with one of these will not start by itself
STUCK = {
    "ErrImageNeverPull": "no-image",
    "ImagePullBackOff": "no-image",
    "ErrImagePull": "no-image",
    "InvalidImageName": "no-image",
    "CreateContainerConfigError": "failed",
    "CreateContainerError": "failed",
    "RunContainerError": "failed",
}
LOG_LIMIT = 64 * 1024 * 1024
LOG_READERS = 8  # kubectl processes reading finished pods' logs at once
CLEANUP_TIMEOUT = 30.0
GRACEFUL_TIMEOUT = 10.0

Progress = Callable[[str], None]


@dataclass
class NodeOutcome:
    """What one node gave. ``status``: ok, partial (ctrtool on the node answered, some of its
    backends failed), failed, timeout, not-ready, no-image (ctrtool's image is not on the node),
    not-found (a --nodes name the API does not know)."""

    node: str
    status: str
    reason: str | None = None
    result: dict[str, Any] | None = None  # onnode's JSON: found, reports
    # its `images` and `doctor` reports, parsed back into records where they arrived (None: no report)
    images: list[ImageRecord] | None = None
    checks: list[Result] | None = None
    df: NodeDiskUsage | None = None
    pod: str | None = None
    seconds: float | None = None
    log_bytes: int = 0

    @property
    def answered(self) -> bool:
        return self.result is not None


@dataclass
class FleetRun:
    namespace: str
    run_id: str
    image: str
    outcomes: list[NodeOutcome] = field(default_factory=list)
    manifests: list[dict] = field(default_factory=list)
    calls: int = 0
    watch_bytes: int = 0
    log_bytes: int = 0
    manifest_bytes: int = 0
    expired_removed: int = 0
    seconds: float = 0.0
    cleanup_error: str | None = None


def select_nodes(
    kube: Kubectl, *, selector: str | None, names: Sequence[str], all_nodes: bool, arch: str | None = None
) -> tuple[list[NodeInfo], list[NodeOutcome]]:
    """The nodes to visit (Ready ones), and rows for the others: NotReady, names not found, and,
    when ``arch`` is given (the node image's CPU architecture), nodes of another one."""
    chosen = [bool(selector), bool(names), all_nodes]
    if sum(chosen) != 1:
        raise UsageError(
            "choose the nodes: exactly one of --all, --nodes NAME[,NAME...] or -l/--selector",
            "e.g. `ctrtool nodes images --all`; each chosen node runs a short-lived privileged pod",
        )
    listed = kube.nodes(selector)
    by_name = {n.name: n for n in listed}
    outcomes: list[NodeOutcome] = []
    if names:
        wanted = list(dict.fromkeys(names))
        outcomes += [NodeOutcome(n, "not-found", "no such node") for n in wanted if n not in by_name]
        listed = [by_name[n] for n in wanted if n in by_name]
    if selector and not listed:
        raise UsageError(f"no node matches the selector {selector!r}", "`kubectl get nodes --show-labels`")
    if all_nodes and not listed:
        from ..errors import CtrtoolError

        raise CtrtoolError(f"the cluster has no nodes ({kube.endpoint})", "`kubectl get nodes` shows the same")
    targets = []
    for node in listed:
        if arch and node.architecture and node.architecture != arch:
            outcomes.append(
                NodeOutcome(
                    node.name,
                    "failed",
                    f"the node is {node.architecture}, ctrtool's node image is {arch}: build it on a "
                    f"{node.architecture} machine (`ctrtool nodes build-image`) and pass --node-image",
                )
            )
        elif node.ready:
            targets.append(node)
        else:
            outcomes.append(
                NodeOutcome(node.name, "not-ready", f"NotReady ({node.reason})" if node.reason else "NotReady")
            )
    return targets, outcomes


def pod_name(run_id: str, node: str) -> str:
    """DNS-1123: ``ctrtool-RUN-NODE`` when the node's name fits, else its start and a hash."""
    safe = "".join(c if c.isalnum() or c == "-" else "-" for c in node.lower()).strip("-") or "node"
    head = f"ctrtool-{run_id}-"
    if len(head) + len(safe) <= 63:
        return head + safe
    digest = hashlib.sha256(node.encode()).hexdigest()[:8]
    return head + safe[: 63 - len(head) - 9].rstrip("-") + "-" + digest


def pod_manifest(
    *, run_id: str, node: str, image: str, reports: list[list[str]], deadline: int, expires: str, command: str
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(run_id, node),
            "labels": {MANAGED_BY: "ctrtool", NAME_LABEL: APP, RUN_LABEL: run_id},
            "annotations": {NODE_ANNOTATION: node, EXPIRES_ANNOTATION: expires, COMMAND_ANNOTATION: command},
        },
        "spec": {
            "nodeName": node,  # bypasses the scheduler, as `kubectl debug node/NODE` does
            "restartPolicy": "Never",
            "hostPID": True,  # the image's files are reached from the host's root as /proc/PID/root
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 1,
            "activeDeadlineSeconds": deadline,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": CONTAINER,
                    "image": image,
                    # ctrtool's own image (localhost/...) is imported, never pulled; one from a
                    # registry is pulled once per node
                    "imagePullPolicy": "Never" if image.startswith("localhost/") else "IfNotPresent",
                    "args": ["run", node, json.dumps(reports, separators=(",", ":"))],
                    "securityContext": {"privileged": True},
                    "volumeMounts": [{"name": "host", "mountPath": "/host"}],
                    "resources": {"requests": {"cpu": "10m", "memory": "64Mi"}},
                }
            ],
            "volumes": [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}],
        },
    }


def plan(
    kube: Kubectl,
    targets: list[NodeInfo],
    reports_for: Callable[[str], list[list[str]]],
    *,
    image: str,
    timeout: float,
    command: str,
) -> FleetRun:
    run_id = secrets.token_hex(4)
    deadline = int(timeout) + 60
    expires = (datetime.now(timezone.utc) + timedelta(seconds=deadline + 60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fleet = FleetRun(namespace=kube.current_namespace(), run_id=run_id, image=image)
    fleet.manifests = [
        pod_manifest(
            run_id=run_id,
            node=n.name,
            image=image,
            reports=reports_for(n.name),
            deadline=deadline,
            expires=expires,
            command=command,
        )
        for n in targets
    ]
    return fleet


def remove_expired(kube: Kubectl, now: datetime | None = None) -> int:
    """Delete the pods an earlier run left behind whose expiry has passed (that run crashed, or its
    clean-up was interrupted). Pods of a run still under way are not expired."""
    now = now or datetime.now(timezone.utc)
    stale = []
    for pod in kube.pods(selector=OURS):
        expires = pod.annotations.get(EXPIRES_ANNOTATION, "")
        try:
            when = datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            when = now  # not ours to judge by date: a pod with our labels and no valid expiry
        if when <= now:
            stale.append(pod.name)
    if stale:
        kube.delete_pods(names=stale, wait=False, timeout=CLEANUP_TIMEOUT, cleanup=False)
    return len(stale)


def execute(
    kube: Kubectl,
    fleet: FleetRun,
    *,
    timeout: float,
    parallel: int,
    progress: Progress,
) -> FleetRun:
    """Create the pods, follow them, read their results; always delete them."""
    started = time.monotonic()
    deadline = started + timeout
    fleet.expired_removed = remove_expired(kube)
    node_of = {m["metadata"]["name"]: m["metadata"]["annotations"][NODE_ANNOTATION] for m in fleet.manifests}
    manifest_of = {m["metadata"]["name"]: m for m in fleet.manifests}
    waiting = deque(manifest_of)
    active: dict[str, float] = {}  # pod -> when created
    last_seen: dict[str, PodState] = {}
    outcomes: dict[str, NodeOutcome] = {}
    events: queue.Queue[PodState | None] = queue.Queue()
    selector = f"{RUN_LABEL}={fleet.run_id}"
    readers = concurrent.futures.ThreadPoolExecutor(max_workers=LOG_READERS, thread_name_prefix="ctrtool-log")
    reading: list[concurrent.futures.Future] = []
    finished_pods: list[str] = []  # their containers have ended: deleted at once, without waiting
    lock = threading.Lock()

    def read_result(pod: str, state: PodState, created: float) -> None:
        node = node_of[pod]
        try:
            log = kube.logs(fleet.namespace, pod, CONTAINER, LOG_LIMIT)
        except Exception as exc:  # noqa: BLE001  (one node's failure is one row)
            outcome = NodeOutcome(node, "failed", f"reading the pod's log: {getattr(exc, 'message', exc)}", pod=pod)
        except BaseException:  # a signal ended the call: the main thread reports it
            return
        else:
            outcome = _outcome(node, pod, state, log)
        outcome.seconds = round(time.monotonic() - created, 3)
        with lock:
            outcomes[node] = outcome
        progress(f"{node}: {outcome.status}" + (f" ({outcome.reason})" if outcome.reason else ""))

    watcher = _Watcher(kube, selector, events)
    watch_ended = False
    try:
        with watcher:
            while (waiting or active) and time.monotonic() < deadline:
                room = parallel - len(active)
                if waiting and room > 0:
                    batch = [waiting.popleft() for _ in range(min(room, len(waiting)))]
                    progress(f"creating {len(batch)} pod(s) in namespace {fleet.namespace}")
                    created, errors = kube.create([manifest_of[p] for p in batch])
                    now = time.monotonic()
                    active.update({p: now for p in batch if p in created})
                    why = (errors.strip().splitlines() or ["kubectl create said nothing"])[-1]
                    for p in batch:
                        if p not in created:
                            with lock:
                                outcomes[node_of[p]] = NodeOutcome(
                                    node_of[p], "failed", f"pod not created: {why}", pod=p
                                )
                if watch_ended:
                    break
                try:
                    state = events.get(timeout=max(0.05, min(1.0, deadline - time.monotonic())))
                except queue.Empty:
                    continue
                if state is None:  # kubectl's watch ended
                    if (waiting or active) and time.monotonic() < deadline - 1 and watcher.restart():
                        continue
                    watch_ended = True  # what is still running times out
                    continue
                if state.name not in active:
                    continue
                last_seen[state.name] = state
                finished = state.phase in ("Succeeded", "Failed") or CONTAINER in state.terminated
                stuck = next((w for w in state.waiting if w[1] in STUCK), None)
                if finished:
                    finished_pods.append(state.name)
                    since = active.pop(state.name)
                    reading.append(readers.submit(read_result, state.name, state, since))
                elif stuck is not None:
                    active.pop(state.name)
                    node = node_of[state.name]
                    image, reason, message = stuck
                    words = f"{reason}: {message}" if message else reason
                    if STUCK[reason] == "no-image":
                        words = f"ctrtool's node image {image} is not on this node ({words})"
                    with lock:
                        outcomes[node] = NodeOutcome(node, STUCK[reason], words, pod=state.name)
                    progress(f"{node}: {STUCK[reason]} ({reason})")
            concurrent.futures.wait(reading, timeout=max(0.0, deadline - time.monotonic()) + 5)
    finally:
        readers.shutdown(wait=False, cancel_futures=True)
        fleet.watch_bytes = watcher.bytes
        fleet.cleanup_error = cleanup(kube, selector, finished_pods)
        fleet.calls = kube.calls
    watch_words = " | ".join(ln for ln in watcher.stderr.strip().splitlines()[-2:])
    for pod in manifest_of:  # every node has a row, whatever happened to its pod
        node = node_of[pod]
        with lock:
            if node in outcomes:
                continue
        seen = last_seen.get(pod)
        if pod in waiting:
            reason = "not started: the run's time was up before there was room for it"
        elif pod not in active:
            reason = "its pod ended, but reading its result did not finish in time"
        elif watch_ended and time.monotonic() < deadline:
            reason = "the watch of ctrtool's pods ended early" + (f": {watch_words}" if watch_words else "")
        elif seen is None:
            reason = "the pod was created but the API reported nothing about it"
        else:
            detail = ", ".join(f"{r}: {m}" if m else r for _i, r, m in seen.waiting) or seen.phase
            reason = f"pod {seen.phase or 'not started'} ({detail})"
        with lock:
            outcomes[node] = NodeOutcome(node, "timeout", f"no result in {timeout:g}s: {reason}", pod=pod)
    with lock:
        fleet.outcomes += [outcomes[node_of[p]] for p in manifest_of if node_of[p] in outcomes]
    fleet.seconds = round(time.monotonic() - started, 3)
    fleet.manifest_bytes = sum(len(json.dumps(m)) for m in fleet.manifests)
    fleet.log_bytes = sum(o.log_bytes for o in fleet.outcomes)
    _debug(
        f"nodes: {len(fleet.manifests)} pod(s) in {fleet.seconds:.3f}s; {fleet.calls} kubectl call(s) to the API; "
        f"bytes: manifests {fleet.manifest_bytes}, watch {fleet.watch_bytes}, logs {fleet.log_bytes}"
    )
    return fleet


def _debug(message: str) -> None:
    import os
    import sys

    if os.environ.get("CTRTOOL_DEBUG"):
        print(f"ctrtool: debug: {message}", file=sys.stderr)


class _Watcher:
    """The run's one watch of its pods, started again when kubectl's watch ends while pods still run:
    an API server ends every watch after a while (--min-request-timeout), and a connection may drop.
    A new watch first lists the pods as they are, so no pod's end is missed."""

    RESTARTS = 5

    def __init__(self, kube: Kubectl, selector: str, events: queue.Queue):
        self.kube, self.selector, self.events = kube, selector, events
        self.restarts = 0
        self.bytes = 0
        self.stderr = ""
        self._watch: PodWatch | None = None

    def __enter__(self) -> _Watcher:
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._end()

    def _start(self) -> None:
        watch = self.kube.watch_pods(self.selector)
        watch.__enter__()
        self._watch = watch

        def pump() -> None:
            try:
                for _kind, state in watch.events():
                    self.events.put(state)
            except BaseException:  # noqa: BLE001  (ended by a signal, or output not understood)
                pass
            self.events.put(None)  # one None per watch, after its last event

        threading.Thread(target=pump, name="ctrtool-watch", daemon=True).start()

    def _end(self) -> None:
        if self._watch is not None:
            self._watch.end()
            self.bytes += self._watch.bytes
            self.stderr = self._watch.stream.stderr
            self._watch = None

    def restart(self) -> bool:
        """A new watch after the last one ended; False once it has been restarted too often."""
        self._end()
        if self.restarts >= self.RESTARTS:
            return False
        self.restarts += 1
        _debug(f"nodes: the watch ended ({self.stderr.strip()[-200:] or 'no message'}); watching again")
        time.sleep(min(2.0, 0.2 * self.restarts))
        self._start()
        return True


def cleanup(kube: Kubectl, selector: str, finished: Sequence[str] = ()) -> str | None:
    """Delete the run's pods; runs even after Ctrl-C. The pods whose container has ended are
    deleted at once (their kubelet would take seconds to confirm what is already true); the others
    are deleted gracefully, waiting until they are gone. A pod whose node does not confirm in time
    (its kubelet is down) is then deleted by force: it is ctrtool's own, and its kubelet ends its
    container, if it ever started, when it comes back."""
    if finished:
        kube.delete_pods(names=finished, wait=False, timeout=CLEANUP_TIMEOUT, cleanup=True, force=True)
    res = kube.delete_pods(selector=selector, wait=True, timeout=GRACEFUL_TIMEOUT, cleanup=True)
    if res.returncode == 0:
        return None
    res = kube.delete_pods(selector=selector, wait=True, timeout=CLEANUP_TIMEOUT, cleanup=True, force=True)
    if res.returncode != 0:
        return (res.stderr.strip().splitlines() or ["kubectl delete failed"])[-1]
    return None


def _outcome(node: str, pod: str, state: PodState, log: str) -> NodeOutcome:
    result = onnode.decode(log)
    size = len(log.encode())
    if result is None:
        code = state.terminated.get(CONTAINER)
        tail = " | ".join(line for line in log.strip().splitlines()[-3:]) or "(empty log)"
        return NodeOutcome(
            node, "failed", f"ctrtool on the node exited {code} without a result: {tail}", pod=pod, log_bytes=size
        )
    reports = result.get("reports", [])
    for report in reports:  # each report's JSON, parsed once here
        try:
            report["data"] = json.loads(report.get("stdout") or "null")
        except ValueError:
            report["data"] = None
    # an answer is a report that printed its JSON; doctor's exit 1 is its verdict, not a failure
    answered = [r for r in reports if r["data"] is not None]
    complete = [
        r for r in answered if r.get("exit") == 0 or (r.get("argv", [""])[0] == "doctor" and r.get("exit") == 1)
    ]
    status = "ok" if len(complete) == len(reports) else "partial" if answered else "failed"
    reason = None
    if status != "ok":
        bad = next(r for r in reports if r not in complete)
        lines = [ln for ln in str(bad.get("stderr", "")).splitlines() if ln.strip()]
        reason = f"`ctrtool {' '.join(bad.get('argv', []))}` exited {bad.get('exit')}" + (
            f": {lines[0].strip()}" if lines else ""
        )
    from .answers import disk_usage, doctor_results, image_records

    def data(command: str) -> Any:
        return next((r["data"] for r in reports if r.get("argv", [""])[0] == command), None)

    return NodeOutcome(
        node,
        status,
        reason,
        result=result,
        images=image_records(data("images")),
        checks=doctor_results(data("doctor")),
        df=disk_usage(data("df")),
        pod=pod,
        log_bytes=size,
    )
