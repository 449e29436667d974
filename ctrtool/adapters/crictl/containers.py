"""The CRI's containers and pods through crictl: listing, inspect, logs, exec, and the plans that
start, stop, kill and remove containers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import Ambiguous, InvalidState, NotFound, Unsupported
from ...model import ContainerRecord, Plan, PodRecord, State
from ...runner import not_understood
from ..shared import parallel
from .common import CrictlBase
from .parse import cri_namespace, exec_status, is_exit_report, load_json, parse_pods, parse_ps, pod_items


class CrictlContainers(CrictlBase):
    """Containers and pod sandboxes."""

    # -- containers and pods ----------------------------------------------------------------------
    def _listing(self, namespaces: Sequence[str] | None = None) -> tuple[str | None, Any, Any]:
        got = parallel(
            {
                "ps": lambda: self.run("ps", "--all", "--output", "json"),
                "pods": lambda: self.run("pods", "--output", "json"),
                "version": self.version,
            }
        )
        return cri_namespace(got["version"]), got["ps"], got["pods"]

    def containers(self, namespaces: Sequence[str] | None = None) -> list[ContainerRecord]:
        namespace, ps, pods = self._listing()
        if namespaces and namespace not in namespaces:
            return []
        try:
            return parse_ps(load_json(ps, self.endpoint.address), load_json(pods, self.endpoint.address), namespace)
        except ValueError as exc:
            raise not_understood(ps, str(exc), self.endpoint.address) from None

    def containers_view(self, namespaces: Sequence[str] | None = None) -> tuple[list[ContainerRecord], set[str]]:
        """The containers and, from the same listing, the pod sandboxes' ids (ctr -n k8s.io shows
        each sandbox as a container)."""
        namespace, ps, pods = self._listing()
        if namespaces and namespace not in namespaces:
            return [], set()
        try:
            records = parse_ps(load_json(ps, self.endpoint.address), load_json(pods, self.endpoint.address), namespace)
            return records, {str(p.get("id")) for p in pod_items(load_json(pods, self.endpoint.address))}
        except ValueError as exc:
            raise not_understood(ps, str(exc), self.endpoint.address) from None

    def pods(self) -> list[PodRecord]:
        namespace, ps, pods = self._listing()
        try:
            return parse_pods(load_json(pods, self.endpoint.address), load_json(ps, self.endpoint.address), namespace)
        except ValueError as exc:
            raise not_understood(pods, str(exc), self.endpoint.address) from None

    def find_pod(self, ref: str) -> PodRecord:
        pods = self.pods()
        for test in (lambda p: p.id == ref, lambda p: p.name == ref, lambda p: len(ref) >= 3 and p.id.startswith(ref)):
            found = [p for p in pods if test(p)]
            if len(found) > 1:
                raise Ambiguous(
                    f"{ref!r} matches {len(found)} pods",
                    [f"{p.id[:12]} ({p.name}, namespace {p.pod_namespace}, {p.state})" for p in found],
                    "give the pod's ID",
                )
            if found:
                return found[0]
        raise NotFound("pod", ref, "crictl")

    def inspect_container(self, c: ContainerRecord) -> Any:
        return self._inspect("inspect", c.id)

    def inspect_pod(self, pod: PodRecord) -> Any:
        return self._inspect("inspectp", pod.id)

    def logs(self, c: ContainerRecord, follow: bool = False, tail: int | None = None, since: str | None = None) -> int:
        return self.stream(self.argv("logs", *self._logs_flags(follow, tail, since), c.id)).returncode

    def exec(self, c: ContainerRecord, command: Sequence[str], interactive: bool = False, tty: bool = False) -> int:
        """crictl exits 1 whatever the command's exit status, and reports the status in a log
        line ("command terminated with exit code N"): that line is kept back and N returned."""
        self.require_running(c, "exec")
        flags = (["--interactive"] if interactive else []) + (["--tty"] if tty else [])
        argv = self.argv("exec", *flags, c.id, *command)
        got = (
            self.interactive(argv, withhold=is_exit_report)
            if tty
            else self.stream(argv, stdin=interactive, withhold=is_exit_report)
        )
        return exec_status(got)

    # -- changes ---------------------------------------------------------------------------------
    def plan_start(self, c: ContainerRecord) -> Plan:
        what = f"start container {c.name} (crictl, pod {c.pod})"
        if c.state == State.RUNNING:
            return Plan(what, [], lambda: None, note="already running")
        if c.state != State.CREATED:
            raise InvalidState(
                f"cannot start container {c.name} ({c.id[:12]}): it is {c.state}, and the "
                "CRI starts a container only once",
                "the kubelet replaces an exited container with a new one; with crictl, "
                "`crictl create` a new container in the pod",
            )
        return self._plan(what, [self.argv("start", c.id)])

    def plan_stop(self, c: ContainerRecord, seconds: int) -> Plan:
        what = f"stop container {c.name} (crictl, pod {c.pod}): its stop signal, then SIGKILL after {seconds}s"
        if c.state != State.RUNNING:
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        # crictl's own default is 0: SIGKILL at once. Its request timeout (in connection_args) must
        # outlast the grace period: the argv is made with the plan's deadline
        self.fresh_deadline(seconds)
        return self._plan(what, [self.argv("stop", "--timeout", str(seconds), c.id)], destructive=True, grace=seconds)

    def plan_kill(self, c: ContainerRecord, signal: str) -> Plan:
        """The CRI has no kill call: StopContainer with timeout 0 is SIGKILL at once
        (``crictl stop --timeout 0``), and no other signal can be sent through it."""
        if signal != "SIGKILL":
            raise Unsupported(
                f"crictl cannot send {signal}: the CRI has no kill call, it only stops containers "
                "(the stop signal, then SIGKILL after a timeout)",
                f"drop --signal for SIGKILL (crictl stop --timeout 0), or use `ctrtool stop`; to send "
                f"{signal} to the task behind the CRI's back, in containerd namespace k8s.io: "
                f"ctrtool kill --backend ctr -n k8s.io --signal {signal} {c.id}",
            )
        what = f"send SIGKILL to container {c.name} (crictl, pod {c.pod})"
        if c.state != State.RUNNING:
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        return self._plan(what, [self.argv("stop", "--timeout", "0", c.id)], destructive=True)

    def plan_rm(self, c: ContainerRecord, force: bool = False) -> Plan:
        if not force:
            self.refuse_running(c, "remove it")
        flags = ["--force"] if force else []
        return self._plan(
            f"remove container {c.name} ({c.id[:12]}, crictl, pod {c.pod})",
            [self.argv("rm", *flags, c.id)],
            destructive=True,
        )
