"""docker's containers: listing, inspect, logs, exec, and the plans that start, stop, kill and
remove them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...model import ContainerRecord, Plan, State
from ...runner import not_understood
from .common import DockerBase
from .parse import load_json, parse_ps


class DockerContainers(DockerBase):
    """Containers, with docker's own commands."""

    # -- containers ----------------------------------------------------------------------------
    def containers(self, namespaces: Sequence[str] | None = None) -> list[ContainerRecord]:
        # --size=false: a template that prints every field would otherwise make docker compute
        # each container's disk usage
        result = self.run("ps", "--all", "--no-trunc", "--size=false", "--format", "{{json .}}")
        try:
            return parse_ps(result.stdout)
        except ValueError as exc:
            raise not_understood(result, str(exc), self.endpoint.address) from None

    def inspect_container(self, c: ContainerRecord) -> Any:
        return load_json(self.run("container", "inspect", c.id), self.endpoint.address)[0]

    def logs(self, c: ContainerRecord, follow: bool = False, tail: int | None = None, since: str | None = None) -> int:
        return self.stream(self.argv("logs", *self._logs_flags(follow, tail, since), c.id)).returncode

    def exec(self, c: ContainerRecord, command: Sequence[str], interactive: bool = False, tty: bool = False) -> int:
        from ..shared import docker_style_exec

        return docker_style_exec(self, c, command, interactive, tty)

    # -- changes ---------------------------------------------------------------------------------
    def plan_start(self, c: ContainerRecord) -> Plan:
        if c.state == State.RUNNING:
            return Plan(f"start container {c.name} (docker)", [], lambda: None, note="already running")
        return self._plan(f"start container {c.name} (docker)", [self.argv("start", c.name)])

    def plan_stop(self, c: ContainerRecord, seconds: int) -> Plan:
        what = f"stop container {c.name} (docker): its stop signal, then SIGKILL after {seconds}s"
        if c.state not in (State.RUNNING, State.PAUSED):
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        return self._plan(what, [self.argv("stop", "-t", str(seconds), c.name)], destructive=True, grace=seconds)

    def plan_kill(self, c: ContainerRecord, signal: str) -> Plan:
        what = f"send {signal} to container {c.name} (docker)"
        if c.state not in (State.RUNNING, State.PAUSED):
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        return self._plan(what, [self.argv("kill", "--signal", signal, c.name)], destructive=True)

    def plan_rm(self, c: ContainerRecord, force: bool = False) -> Plan:
        if not force:
            self.refuse_running(c, "remove it")
        flags = ["--force"] if force else []
        return self._plan(f"remove container {c.name} (docker)", [self.argv("rm", *flags, c.name)], destructive=True)
