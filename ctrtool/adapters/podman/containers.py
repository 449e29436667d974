"""podman's containers: listing (the rootful store through podman, the rootless ones from their
containers.json), inspect, logs, exec, and the plans that start, stop, kill and remove them, on the
rootful store only. podman's container commands are docker's; the words are podman's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...model import ContainerRecord, Plan, State
from ...runner import not_understood
from .common import PodmanBase
from .discover import PodmanStore
from .parse import load_json, parse_ps, store_containers


class PodmanContainers(PodmanBase):
    """Containers, with podman's own commands."""

    def containers(self, namespaces: Sequence[str] | None = None) -> list[ContainerRecord]:
        """One ``podman ps --all --format json`` (rootful store, when it exists), then each rootless
        store's containers.json (their state is in the user's libpod database: unknown here)."""
        records: list[ContainerRecord] = []
        if self.rootful().exists:
            result = self.run("ps", "--all", "--format", "json")
            try:
                records = parse_ps(load_json(result) if result.stdout.strip() else [])
            except ValueError as exc:
                raise not_understood(result, str(exc), None) from None
        for store in self.rootless():
            records.extend(store_containers(self.files(store)))
        return records

    def _owner(self, c: ContainerRecord) -> PodmanStore | None:
        """The rootless store a container is in (None: the rootful one): its id in the store's
        containers.json (read once)."""
        return next(
            (s for s in self.rootless() if any(i.id == c.id for i in self.files(s).containers)),
            None,
        )

    def _rootful_only(self, c: ContainerRecord, doing: str) -> None:
        owner = self._owner(c)
        if owner is not None:
            raise self.refuse_rootless(owner, f"{doing} container {c.name}")

    def inspect_container(self, c: ContainerRecord) -> Any:
        self._rootful_only(c, "inspect")
        data = load_json(self.run("container", "inspect", c.id))
        return data[0] if isinstance(data, list) and data else data

    def logs(self, c: ContainerRecord, follow: bool = False, tail: int | None = None, since: str | None = None) -> int:
        self._rootful_only(c, "show the logs of")
        self.require_store([])
        return self.stream(self.argv("logs", *self._logs_flags(follow, tail, since), c.id)).returncode

    def exec(self, c: ContainerRecord, command: Sequence[str], interactive: bool = False, tty: bool = False) -> int:
        self._rootful_only(c, "exec in")
        self.require_running(c, "exec")
        flags = (["--interactive"] if interactive else []) + (["--tty"] if tty else [])
        argv = self.argv("exec", *flags, c.id, *command)
        if tty:
            return self.interactive(argv).returncode
        return self.stream(argv, stdin=interactive).returncode

    # -- changes ---------------------------------------------------------------------------------
    def plan_start(self, c: ContainerRecord) -> Plan:
        self._rootful_only(c, "start")
        if c.state == State.RUNNING:
            return Plan(f"start container {c.name} (podman)", [], lambda: None, note="already running")
        return self._plan(f"start container {c.name} (podman)", [self.argv("start", c.id)])

    def plan_stop(self, c: ContainerRecord, seconds: int) -> Plan:
        self._rootful_only(c, "stop")
        what = f"stop container {c.name} (podman): its stop signal, then SIGKILL after {seconds}s"
        if c.state not in (State.RUNNING, State.PAUSED):
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        return self._plan(what, [self.argv("stop", "--time", str(seconds), c.id)], destructive=True, grace=seconds)

    def plan_kill(self, c: ContainerRecord, signal: str) -> Plan:
        self._rootful_only(c, "kill")
        what = f"send {signal} to container {c.name} (podman)"
        if c.state not in (State.RUNNING, State.PAUSED):
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        return self._plan(what, [self.argv("kill", "--signal", signal, c.id)], destructive=True)

    def plan_rm(self, c: ContainerRecord, force: bool = False) -> Plan:
        self._rootful_only(c, "remove")
        if not force:
            self.refuse_running(c, "remove it")
        flags = ["--force"] if force else []
        return self._plan(f"remove container {c.name} (podman)", [self.argv("rm", *flags, c.id)], destructive=True)
