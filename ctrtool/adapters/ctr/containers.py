"""ctr's containers: ``containers ls`` with ``tasks ls``; a container runs as a task, so start,
stop, kill and rm work on the task (and rm then on the container)."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Sequence
from functools import partial
from typing import Any

from ...errors import InvalidState, Unsupported
from ...model import ContainerRecord, Plan, State
from ..shared import parallel
from .common import CtrBase
from .parse import exec_listed, load_json, parse_containers


class CtrContainers(CtrBase):
    """Containers and their tasks."""

    def containers(self, namespaces: Sequence[str] | None = None) -> list[ContainerRecord]:
        names = list(namespaces) if namespaces else self.namespaces()
        calls: dict[tuple[str, str], Any] = {}
        for ns in names:
            calls[("containers", ns)] = partial(self._table, ns, "containers", ("CONTAINER",))
            calls[("tasks", ns)] = partial(self._table, ns, "tasks", ("TASK", "STATUS"))
        got = parallel(calls)
        records = []
        for ns in names:
            records += parse_containers(got[("containers", ns)], got[("tasks", ns)], ns)
        return records

    def _task_status(self, c: ContainerRecord) -> str | None:
        for row in self._table(c.namespace or "default", "tasks", ("TASK", "STATUS")):
            if row["TASK"] == c.id:
                return row["STATUS"]
        return None

    def inspect_container(self, c: ContainerRecord) -> Any:
        result = self.run(*self.ns_argv(c.namespace, "containers", "info", c.id))
        return load_json(result, self.endpoint.address)

    def logs(self, c: ContainerRecord, follow: bool = False, tail: int | None = None, since: str | None = None) -> int:
        raise Unsupported(
            "ctr keeps no container logs: a task's output goes wherever `ctr run` or "
            "`ctr tasks start` sent it (a FIFO, a --log-uri, or /dev/null)",
            "docker and crictl keep logs; with ctr, start the task with --log-uri file:///PATH and read that file",
        )

    def exec(self, c: ContainerRecord, command: Sequence[str], interactive: bool = False, tty: bool = False) -> int:
        self.require_running(c, "exec")
        # ctr needs an id for every process it adds to a task: one that cannot collide
        exec_id = f"ctrtool-exec-{os.getpid()}-{secrets.token_hex(4)}"
        argv = self.argv(
            *self.ns_argv(
                c.namespace, "tasks", "exec", "--exec-id", exec_id, *(["--tty"] if tty else []), c.id, *command
            )
        )
        if tty:
            return self.interactive(argv).returncode
        # ctr hands its stdin to the process, and passes its end on (CloseIO) only if the process
        # was registered by then: an early EOF (/dev/null, a short pipe) is lost and the process
        # waits for input for ever (containerd issue 4489). So the input's end is held back until
        # `ctr tasks ps` shows this exec.
        ps = self.argv(*self.ns_argv(c.namespace, "tasks", "ps", c.id))

        def started() -> bool:
            from ...runner import run

            got = run(ps, timeout=5, endpoint=self.endpoint.address, check=False)
            return got.returncode != 0 or exec_listed(got.stdout, exec_id)

        return self.stream(argv, stdin=interactive, stdin_gate=started).returncode

    # -- changes ---------------------------------------------------------------------------------
    def _c(self, c: ContainerRecord, *args: str) -> list[str]:
        return self.argv(*self.ns_argv(c.namespace or "default", *args))

    def plan_start(self, c: ContainerRecord) -> Plan:
        """A ctr container runs as a task: ``tasks start -d --null-io`` makes and starts a new one
        (output to /dev/null: ctr keeps no logs). A stopped task is deleted first."""
        what = f"start container {c.id} (ctr namespace {c.namespace})"
        if c.state == State.RUNNING:
            return Plan(what, [], lambda: None, note="already running")
        if c.state == State.PAUSED:
            raise InvalidState(
                f"cannot start container {c.id}: its task is paused",
                f"resume it: ctr -n {c.namespace} tasks resume {c.id}",
            )
        commands = [self._c(c, "tasks", "delete", c.id)] if c.status is not None else []
        commands.append(self._c(c, "tasks", "start", "--detach", "--null-io", c.id))
        return self._plan(what, commands)

    def plan_stop(self, c: ContainerRecord, seconds: int) -> Plan:
        """Like ``docker stop``: the image's stop signal (ctr's default, else SIGTERM), then up to
        ``seconds`` for the task to stop, then SIGKILL. The stopped task is kept (``ps -a`` shows
        the container exited; ``start`` starts it again; ``rm`` deletes both)."""
        what = (
            f"stop container {c.id} (ctr namespace {c.namespace}): its stop signal, "
            f"then SIGKILL if it still runs after {seconds}s"
        )
        if c.state not in (State.RUNNING, State.PAUSED):
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        term = self._c(c, "tasks", "kill", c.id)
        kill = self._c(c, "tasks", "kill", "--signal", "SIGKILL", c.id)

        def execute() -> None:
            self.fresh_deadline()
            self.run_argv(term)
            if self._wait_stopped(c, seconds):
                return
            self.fresh_deadline()
            self.run_argv(kill)
            if not self._wait_stopped(c, self.settings.timeout):
                raise InvalidState(
                    f"container {c.id} (ctr namespace {c.namespace}) still runs after SIGKILL",
                    f"see `ctr -n {c.namespace} tasks ls`",
                )

        return Plan(
            what,
            [term, kill],
            execute,
            destructive=True,
            note=f"the second command runs only if the task still runs after {seconds}s",
        )

    def plan_kill(self, c: ContainerRecord, signal: str) -> Plan:
        """``tasks kill --signal SIG``: the signal goes to the task's main process. After SIGKILL
        ctrtool waits (up to the backend's timeout) until ctr reports the task stopped, as docker
        kill does; the stopped task is kept (``ps -a`` shows the container exited)."""
        what = f"send {signal} to container {c.id} (ctr namespace {c.namespace})"
        if c.state not in (State.RUNNING, State.PAUSED):
            return Plan(what, [], lambda: None, note=f"not running ({c.state})")
        argv = self._c(c, "tasks", "kill", "--signal", signal, c.id)

        def execute() -> None:
            self.fresh_deadline()
            self.run_argv(argv)
            if signal == "SIGKILL" and not self._wait_stopped(c, self.settings.timeout):
                raise InvalidState(
                    f"container {c.id} (ctr namespace {c.namespace}) still runs after SIGKILL",
                    f"see `ctr -n {c.namespace} tasks ls`; a paused task gets the signal "
                    f"when resumed: ctr -n {c.namespace} tasks resume {c.id}",
                )

        return Plan(what, [argv], execute, destructive=True)

    def _wait_stopped(self, c: ContainerRecord, seconds: float) -> bool:
        end = time.monotonic() + seconds
        delay = 0.05
        while True:
            self.fresh_deadline()
            if self._task_status(c) in (None, "STOPPED"):
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(min(delay, max(0.0, end - time.monotonic())))
            delay = min(delay * 2, 0.5)

    def plan_rm(self, c: ContainerRecord, force: bool = False) -> Plan:
        """``containers rm`` (which also removes its snapshot), after deleting its task: a stopped
        one plainly, a running one only with --force (``tasks delete --force`` kills it)."""
        if not force:
            self.refuse_running(c, "remove it")
        commands = []
        if c.status is not None:
            force_task = ["--force"] if c.state in (State.RUNNING, State.PAUSED, State.UNKNOWN) else []
            commands.append(self._c(c, "tasks", "delete", *force_task, c.id))
        commands.append(self._c(c, "containers", "rm", c.id))
        return self._plan(f"remove container {c.id} (ctr namespace {c.namespace})", commands, destructive=True)
