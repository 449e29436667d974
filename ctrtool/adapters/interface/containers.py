"""The adapter interface for containers and pods: listing, inspect, logs, exec, and the plans
that start, stop, kill and remove them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...errors import InvalidState, Unsupported
from ...model import ContainerRecord, Plan, PodRecord, State
from ..shared import place
from .where import PartBase


class ContainersPart(PartBase):
    """What every backend answers of its containers (and pods, the CRI's)."""

    # -- containers and pods ---------------------------------------------------------------
    def containers(self, namespaces: Sequence[str] | None = None) -> list[ContainerRecord]:
        """Every container (any state), with a constant number of tool calls."""
        raise NotImplementedError

    def containers_view(self, namespaces: Sequence[str] | None = None) -> tuple[list[ContainerRecord], set[str]]:
        """The containers, and the ids of the pod sandboxes among what other views show (the CRI
        knows them from the same listing; others know none)."""
        return self.containers(namespaces), set()

    def pods(self) -> list[PodRecord]:
        raise Unsupported(
            f"{self.name} has no pods: pods are the CRI's (kubelet's) view", "use `ctrtool pods` (crictl)"
        )

    def inspect_container(self, c: ContainerRecord) -> Any:
        raise NotImplementedError

    def inspect_pod(self, pod: PodRecord) -> Any:
        raise Unsupported(f"{self.name} has no pods", "use `ctrtool inspect --backend crictl --type pod`")

    def find_pod(self, ref: str) -> PodRecord:
        raise Unsupported(f"{self.name} has no pods", "pods are the CRI's: use --backend crictl")

    # -- streaming and interactive -------------------------------------------------------------
    def logs(self, c: ContainerRecord, follow: bool = False, tail: int | None = None, since: str | None = None) -> int:
        raise Unsupported(f"{self.name} cannot show logs")

    @staticmethod
    def _logs_flags(follow: bool, tail: int | None, since: str | None) -> list[str]:
        """`logs` flags as docker and crictl both spell them."""
        return (
            (["--follow"] if follow else [])
            + (["--tail", str(tail)] if tail is not None else [])
            + (["--since", since] if since else [])
        )

    def exec(self, c: ContainerRecord, command: Sequence[str], interactive: bool = False, tty: bool = False) -> int:
        raise NotImplementedError

    # -- changes: each returns a Plan (the exact commands) before anything runs ------------------
    def plan_start(self, c: ContainerRecord) -> Plan:
        raise NotImplementedError

    def plan_stop(self, c: ContainerRecord, seconds: int) -> Plan:
        raise NotImplementedError

    def plan_kill(self, c: ContainerRecord, signal: str) -> Plan:
        """Send ``signal`` (a normalised name, ``SIGKILL``, ``SIGUSR1``, or a number) to the
        container's main process."""
        raise NotImplementedError

    def plan_rm(self, c: ContainerRecord, force: bool = False) -> Plan:
        raise NotImplementedError

    @staticmethod
    def require_running(c: ContainerRecord, doing: str) -> None:
        if c.state != State.RUNNING:
            raise InvalidState(
                f"cannot {doing}: container {c.name} ({place(c.backend, c.namespace)}) is {c.state}, not running",
                f"start it first: ctrtool start --backend {c.backend}"
                + (f" -n {c.namespace}" if c.backend == "ctr" else "")
                + f" {c.name}",
            )

    @staticmethod
    def refuse_running(c: ContainerRecord, doing: str) -> None:
        if c.state in (State.RUNNING, State.PAUSED):
            raise InvalidState(
                f"cannot {doing}: container {c.name} ({place(c.backend, c.namespace)}) is {c.state}",
                "stop it first, or add --force to kill it",
            )
