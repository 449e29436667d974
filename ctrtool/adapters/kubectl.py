"""kubectl: the one way ``ctrtool nodes`` reaches a cluster (the Kubernetes API, with the user's
kubeconfig, context and credentials exactly as kubectl uses them).

Like the other adapters it builds argv lists, runs them through :mod:`ctrtool.runner` and returns
plain records; it formats nothing. Every call names the kubeconfig, context and namespace the user
gave (``--kubeconfig``, ``--context``, ``-n``); none given, kubectl's own rules apply (KUBECONFIG,
~/.kube/config, the context's namespace).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ToolError
from ..runner import Result, Stream, run

# how long one API call may take (kubectl's own --request-timeout is passed too)
CALL_TIMEOUT = 30.0


@dataclass(frozen=True)
class NodeInfo:
    name: str
    ready: bool | None  # None: no Ready condition reported yet
    reason: str  # why not Ready ("" when Ready): the condition's reason and message
    unschedulable: bool
    labels: dict[str, str] = field(default_factory=dict)
    runtime: str = ""  # status.nodeInfo.containerRuntimeVersion, e.g. containerd://2.4.2
    kubelet: str = ""  # status.nodeInfo.kubeletVersion
    architecture: str = ""  # status.nodeInfo.architecture (GOARCH: amd64, arm64, ...)


@dataclass(frozen=True)
class PodState:
    """What the API says about one pod: enough to follow ctrtool's own pods, and to find the pods
    that wait for an image."""

    namespace: str
    name: str
    node: str | None
    phase: str
    labels: dict[str, str]
    annotations: dict[str, str]
    images: list[str]  # every container's image (init containers included), as written in the spec
    waiting: list[tuple[str, str, str]]  # (image, reason, message) of each container waiting
    terminated: dict[str, int]  # container name -> exit code, for those that ended
    created: str
    deleting: bool
    conditions: dict[str, tuple[str, str]]  # type -> (status, reason or message)


class Kubectl:
    """kubectl with the user's connection flags. ``binary``: CTRTOOL_KUBECTL, else kubectl on PATH."""

    tool = "kubectl"

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        *,
        as_user: str | None = None,
        as_groups: Sequence[str] = (),
    ):
        self.binary = os.environ.get("CTRTOOL_KUBECTL") or shutil.which("kubectl") or "kubectl"
        self.kubeconfig = kubeconfig
        self.context = context
        self.namespace = namespace
        self.as_user = as_user
        self.as_groups = list(as_groups)
        self.calls = 0  # API-bound calls made (for docs/performance.md and the tests)

    # ---- argv ------------------------------------------------------------------------------

    def _base(self, namespaced: bool = True) -> list[str]:
        argv = [self.binary]
        if self.kubeconfig:
            argv += ["--kubeconfig", self.kubeconfig]
        if self.context:
            argv += ["--context", self.context]
        if self.as_user:
            argv += ["--as", self.as_user]
        argv += [f"--as-group={g}" for g in self.as_groups]
        if namespaced and self.namespace:
            argv += ["--namespace", self.namespace]
        return argv

    @property
    def endpoint(self) -> str:
        parts = [f"context {self.context}" if self.context else "current context"]
        if self.kubeconfig:
            parts.append(f"kubeconfig {self.kubeconfig}")
        return ", ".join(parts)

    def _run(
        self,
        args: Sequence[str],
        *,
        namespaced: bool = True,
        input: str | None = None,
        timeout: float = CALL_TIMEOUT,
        cleanup: bool = False,
        check: bool = True,
        api: bool = True,
    ) -> Result:
        argv = [*self._base(namespaced), *args]
        if api:
            self.calls += 1
            argv.insert(1, f"--request-timeout={int(timeout)}s")
        return run(
            argv,
            timeout=timeout + 5,
            endpoint=self.endpoint,
            input=input,
            cleanup=cleanup,
            check=check,
            classify=_classify,
        )

    def _json(self, args: Sequence[str], **kw: Any) -> Any:
        res = self._run([*args, "-o", "json"], **kw)
        try:
            return json.loads(res.stdout)
        except ValueError:
            raise ToolError(self.tool, f"`{' '.join(args)}` printed no JSON", "run it with -v=6 to see why") from None

    # ---- reads -----------------------------------------------------------------------------

    def current_namespace(self) -> str:
        """The namespace kubectl would use: -n, else the context's, else "default" (no API call)."""
        if self.namespace:
            return self.namespace
        res = self._run(
            ["config", "view", "--minify", "-o", "jsonpath={.contexts[0].context.namespace}"],
            namespaced=False,
            api=False,
            check=False,
        )
        return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else "default"

    def nodes(self, selector: str | None = None) -> list[NodeInfo]:
        """Every node (matching the label selector): one list call."""
        args = ["get", "nodes"] + (["--selector", selector] if selector else [])
        doc = self._json(args, namespaced=False)
        return [_node(item) for item in doc.get("items", [])]

    def pods(
        self, selector: str | None = None, all_namespaces: bool = False, phase: str | None = None
    ) -> list[PodState]:
        args = ["get", "pods"]
        if all_namespaces:
            args.append("--all-namespaces")
        if selector:
            args += ["--selector", selector]
        if phase:
            args += ["--field-selector", f"status.phase={phase}"]
        doc = self._json(args, namespaced=not all_namespaces)
        return [pod_state(item) for item in doc.get("items", [])]

    def logs(self, namespace: str, pod: str, container: str, limit_bytes: int) -> str:
        """One container's log: one request (``kubectl logs`` would first get the pod too)."""
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log?container={container}&limitBytes={limit_bytes}"
        return self._run(["get", "--raw", path], namespaced=False).stdout

    def watch_pods(self, selector: str) -> PodWatch:
        """One watch of the pods matching ``selector`` (see :class:`PodWatch`)."""
        argv = [
            *self._base(),
            "--request-timeout=0",
            "get",
            "pods",
            "--selector",
            selector,
            "--watch",
            "--output-watch-events",
            "-o",
            "json",
        ]
        self.calls += 1
        return PodWatch(argv)

    # ---- changes ---------------------------------------------------------------------------

    def create(self, objects: list[dict]) -> tuple[list[str], str]:
        """Create every object in one call (a List): (the names of those created, ``name`` only,
        and kubectl's stderr about the others). None created at all is an error."""
        doc = {"apiVersion": "v1", "kind": "List", "items": objects}
        # --validate=false: the API server validates anyway; kubectl's own check first downloads the
        # whole OpenAPI document
        res = self._run(["create", "--validate=false", "-f", "-", "-o", "name"], input=json.dumps(doc), check=False)
        created = [n.split("/", 1)[-1] for n in res.stdout.split()]
        if res.returncode != 0 and not created:
            from ..runner import failure

            raise failure(res, endpoint=self.endpoint, classify=_classify)
        return created, res.stderr

    def delete_pods(
        self,
        *,
        selector: str | None = None,
        names: Sequence[str] = (),
        wait: bool,
        timeout: float,
        cleanup: bool,
        force: bool = False,
    ) -> Result:
        """Delete pods by label selector or by names (not found is not an error). ``wait``: until
        they are gone from the API. ``force``: at once, without the kubelet's confirmation (a pod
        on a node whose kubelet is gone would otherwise stay Terminating)."""
        args = ["delete", "pods", "--ignore-not-found", f"--wait={'true' if wait else 'false'}"]
        if force:
            args += ["--force", "--grace-period=0"]
        if wait:
            args.append(f"--timeout={int(timeout)}s")
        args += ["--selector", selector] if selector else list(names)
        return self._run(args, timeout=timeout, cleanup=cleanup, check=False)


class PodWatch:
    """``kubectl get pods --watch``: the pods that exist first (as ADDED), then each change as it
    happens, from one long call. ``with kube.watch_pods(sel) as w: for kind, pod in w.events():``.
    The iteration ends when kubectl ends (:meth:`end`, from any thread; a signal; a dropped
    connection: the caller compares what it saw with what it expected)."""

    def __init__(self, argv: list[str]):
        self.stream = Stream(argv)
        self.bytes = 0

    def __enter__(self) -> PodWatch:
        self.stream.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.end()

    def end(self) -> None:
        self.stream.end()

    def events(self) -> Iterator[tuple[str, PodState]]:
        decoder = json.JSONDecoder()
        buffer = ""
        for chunk in self.stream.chunks():
            self.bytes += len(chunk)
            buffer += chunk.decode(errors="replace")
            while True:
                buffer = buffer.lstrip()
                if not buffer:
                    break
                try:
                    event, end = decoder.raw_decode(buffer)
                except ValueError:
                    break  # an object not complete yet
                buffer = buffer[end:]
                obj = event.get("object") if isinstance(event, dict) else None
                if isinstance(obj, dict) and obj.get("kind") == "Pod":
                    yield str(event.get("type", "")), pod_state(obj)


def _classify(code: int, stderr: str) -> ToolError | None:
    """kubectl's failures that have a better hint than its exit status."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else f"exit status {code}"
    lowered = stderr.lower()
    if "violates podsecurity" in lowered:
        return ToolError(
            "kubectl",
            last,
            "ctrtool's pods are privileged: use a namespace that admits them (`ctrtool nodes rbac` makes "
            "namespace ctrtool; then -n ctrtool)",
        )
    if "forbidden" in lowered:
        return ToolError(
            "kubectl",
            last,
            "your user lacks a permission `ctrtool nodes` needs: `ctrtool nodes rbac` prints the minimal RBAC",
        )
    if "connection refused" in lowered or "unable to connect" in lowered or "no such host" in lowered:
        return ToolError("kubectl", f"cannot reach the API server: {last}", "is this the right kubeconfig and context?")
    if "no configuration has been provided" in lowered or "context was not found" in lowered:
        return ToolError("kubectl", last, "pass --kubeconfig or --context, or set KUBECONFIG, as for kubectl")
    return None


def _node(item: dict) -> NodeInfo:
    meta = item.get("metadata", {})
    status = item.get("status", {})
    ready: bool | None = None
    reason = ""
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Ready":
            ready = cond.get("status") == "True"
            if not ready:
                words = [cond.get("reason") or "", cond.get("message") or ""]
                reason = ": ".join(w for w in words if w)
    info = status.get("nodeInfo") or {}
    return NodeInfo(
        name=meta.get("name", ""),
        ready=ready,
        reason=reason or ("" if ready else "no Ready condition reported"),
        unschedulable=bool(item.get("spec", {}).get("unschedulable")),
        labels=dict(meta.get("labels") or {}),
        runtime=info.get("containerRuntimeVersion", ""),
        kubelet=info.get("kubeletVersion", ""),
        architecture=info.get("architecture", ""),
    )


def pod_state(item: dict) -> PodState:
    meta = item.get("metadata", {})
    spec = item.get("spec", {})
    status = item.get("status", {})
    containers = list(spec.get("initContainers") or []) + list(spec.get("containers") or [])
    images = [c.get("image", "") for c in containers]
    by_name = {c.get("name"): c.get("image", "") for c in containers}
    waiting: list[tuple[str, str, str]] = []
    terminated: dict[str, int] = {}
    for cs in list(status.get("initContainerStatuses") or []) + list(status.get("containerStatuses") or []):
        state = cs.get("state") or {}
        if "waiting" in state:
            w = state["waiting"] or {}
            waiting.append(
                (by_name.get(cs.get("name"), cs.get("image", "")), w.get("reason", ""), w.get("message", ""))
            )
        if "terminated" in state:
            terminated[cs.get("name", "")] = int((state["terminated"] or {}).get("exitCode", -1))
    conditions = {
        c.get("type", ""): (c.get("status", ""), c.get("reason") or c.get("message") or "")
        for c in status.get("conditions") or []
    }
    return PodState(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        node=spec.get("nodeName"),
        phase=status.get("phase", ""),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        images=images,
        waiting=waiting,
        terminated=terminated,
        created=meta.get("creationTimestamp", ""),
        deleting=bool(meta.get("deletionTimestamp")),
        conditions=conditions,
    )
