"""The adapter: the interface by resource (:mod:`.interface`: images, containers, stores) and the
one way every adapter runs its tool (deadline, errors, noise, plans). The helpers adapters share
(name matching, places in words, chain ids, parallel calls) are :mod:`.shared`'s, re-exported here.

An adapter is the only place that knows one tool's flags and output format. It builds argv lists,
runs them through :mod:`ctrtool.runner`, parses the output and returns the typed records of
:mod:`ctrtool.model`. It never formats anything for people.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import ClassVar

from ..config import Endpoint, Settings
from ..errors import PullFailed, ToolError, ToolTimeout
from ..model import ImageRecord, ImageTarget, Plan
from ..runner import Deadline, LineFilter, Result, Streamed, run, run_interactive, run_passthrough
from .interface.containers import ContainersPart
from .interface.images import ImagesPart
from .interface.stores import StoresPart
from .shared import (
    canonical_ref,
    chain_ids,
    describe_container,
    image_names,
    is_image_layer,
    match_containers,
    match_images,
    named_images,
    parallel,
    place,
    realpath_or_none,
    resolve_container,
    stderr_mentions,
    tree_size,
)

# the helpers' home is shared.py; base re-exports them, the names the rest of ctrtool imports
__all__ = [
    "Adapter",
    "all_lines",
    "canonical_ref",
    "chain_ids",
    "describe_container",
    "image_names",
    "is_image_layer",
    "match_containers",
    "match_images",
    "named_images",
    "parallel",
    "place",
    "plan_copy",
    "pull_failure",
    "realpath_or_none",
    "resolve_container",
    "stderr_mentions",
    "tree_size",
]


def all_lines(_line: str) -> bool:
    """A stderr filter that keeps everything back: for a pull, whose failure ctrtool reports in
    one line of its own (the tool's progress, on stdout, still shows)."""
    return True


def pull_failure(adapter: Adapter, ref: str, got: Streamed) -> ToolError:
    """The error for a failed pull: registry unreachable, image not in the registry, or the
    tool's own failure. It names the tool and the reference."""
    text = got.stderr_tail
    detail = _pull_detail(text)
    tool = adapter.binary
    if stderr_mentions(
        text,
        "connection refused",
        "no such host",
        "i/o timeout",
        "network is unreachable",
        "no route to host",
        "tls handshake timeout",
        "server misbehaving",
        "dial tcp",
    ):
        return PullFailed(
            tool,
            ref,
            f"registry unreachable: {detail}",
            "check the registry's name and port, the network, DNS and any proxy (for docker "
            "and the CRI, the daemon's own proxy settings count, not this shell's)",
            endpoint=adapter.endpoint.address,
            argv=got.argv,
        )
    if stderr_mentions(text, "not found", "manifest unknown", "does not exist"):
        return PullFailed(
            tool,
            ref,
            f"not found in the registry: {detail}",
            "check the repository and the tag",
            endpoint=adapter.endpoint.address,
            argv=got.argv,
        )
    err = adapter.classify(got.returncode, text)
    if err is not None:
        return err
    from ..errors import ToolFailed

    return ToolFailed(tool, got.returncode, text, endpoint=adapter.endpoint.address, argv=got.argv)


def _pull_detail(stderr: str) -> str:
    """The most telling line of a failed pull, without the tools' log decorations."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in reversed(lines):
        m = re.search(r'msg="(.*?)"(?: |$)', line)
        text = m[1].replace('\\"', '"') if m else line
        text = re.sub(r"^(Error response from daemon: |ctr: |E\d{4} [\d:.]+\s+\d+ \S+\] )", "", text)
        if text:
            return text
    return "(no message)"


class Adapter(ImagesPart, ContainersPart, StoresPart):
    """Base of the docker, ctr and crictl adapters.

    One adapter object serves one command: its :class:`Deadline` bounds the time all of its tool
    calls may take together (the per-backend timeout). What it answers is declared by resource in
    its parts (:class:`ImagesPart`, :class:`ContainersPart`, :class:`StoresPart`); this class runs
    the tool.
    """

    def __init__(self, settings: Settings, endpoint: Endpoint | None = None, timeout: float | None = None):
        self.settings = settings
        self.endpoint = endpoint or settings.endpoint(self.name)
        self.binary = settings.binary(self.name)
        self.deadline = Deadline(settings.timeout if timeout is None else timeout)
        # facts the user should know about a result that is still usable (printed on stderr)
        self.warnings: list[str] = []

    # -- plans: what every change runs through ---------------------------------------------------
    def _plan(self, what: str, commands: list[list[str]], destructive: bool = False, grace: float = 0) -> Plan:
        """A plan that runs ``commands`` one after another, each through the runner. ``grace``: time
        the tool itself waits on purpose (a stop's grace period), on top of the per-backend timeout."""

        def execute() -> None:
            self.fresh_deadline(grace)
            for argv in commands:
                self.run_argv(argv)

        return Plan(what, commands, execute, destructive)

    def _save_plan(self, what: str, argv: list[str], path: str) -> Plan:
        """A save: the tool writes the archive to its stdout, which ctrtool points at a temporary file
        next to ``path`` and renames onto it once complete (or leaves as its own stdout for "-").
        ``what``: "save IMAGES from docker", without the target."""
        from ..runner import run_to_file

        to_file = path != "-"
        replacing = to_file and os.path.exists(path)
        return Plan(
            f"{what} to {path if to_file else 'stdout'}" + (f", replacing {path}" if replacing else ""),
            [argv],
            lambda: (
                run_to_file(
                    argv, path, endpoint=self.endpoint.address, unset_env=self.unset_env(), classify=self.classify
                )
                and None
            ),
            destructive=replacing,
            note=f"the archive is written to a temporary file next to {path} and renamed onto it once complete"
            if to_file
            else None,
        )

    def _pull_plan(self, argv: list[str], ref: str, what: str) -> Plan:
        """A pull: the tool's progress goes to stderr, its own error lines are kept back and
        replaced by one line of ctrtool's (:func:`pull_failure`); returns the reference pulled."""

        def execute() -> str:
            got = self.stream(argv, stdout_to_stderr=True, withhold=all_lines)
            if got.returncode != 0:
                raise pull_failure(self, ref, got)
            return ref

        return Plan(what, [argv], execute)

    # -- shared checks ---------------------------------------------------------------------------
    def fresh_deadline(self, grace: float = 0) -> None:
        """A Plan runs after the user said yes, which may have taken a while: its calls get the
        whole per-backend timeout again, plus ``grace``: what the tool waits on purpose (``docker stop
        -t 10`` takes 10 s with a container that ignores SIGTERM, and was cut off at 10 s: issue 10).
        What the adapter read before is forgotten too (:meth:`forget`): a plan's calls, and the
        check after a change, read the truth, not what was so before the change."""
        self.deadline = Deadline(self.settings.timeout + grace)
        self.forget()

    # what an adapter keeps of what it read (attribute names in its __dict__): dropped by forget()
    cached: tuple[str, ...] = ()

    def forget(self) -> None:
        """Drop every cached read (containerd's meta.db, ...): no cache survives a change that
        ctrtool itself made."""
        for key in self.cached:
            self.__dict__.pop(key, None)

    # -- running the tool ------------------------------------------------------------------
    def connection_args(self) -> list[str]:
        """The flags that point the tool at :attr:`endpoint`."""
        raise NotImplementedError

    def unset_env(self) -> Sequence[str]:
        return ()

    def classify(self, returncode: int, stderr: str) -> ToolError | None:
        """A failed call's precise error (unreachable, permission denied), marked with this backend
        so that the CLI layer can word its hint from the backend's descriptor."""
        err = self.classify_stderr(returncode, stderr)
        if err is not None:
            err.backend = self.name
        return err

    def classify_stderr(self, returncode: int, stderr: str) -> ToolError | None:
        """Map a failed call's stderr to a precise error. The tool's words only: no hints here."""
        return None

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *self.connection_args(), *args]

    # stderr lines this tool prints on every call that say nothing about the call (ctr 2.x on a
    # cgroup v1 host: a deprecation warning): held back unless CTRTOOL_DEBUG is set
    noise: ClassVar[tuple[str, ...]] = ()

    def is_noise(self, line: str) -> bool:
        return (
            bool(self.noise)
            and not self.settings.env.get("CTRTOOL_DEBUG")
            and any(re.search(pattern, line) for pattern in self.noise)
        )

    def _quiet(self, result: Result, check: bool) -> Result:
        if self.noise and result.stderr:
            from dataclasses import replace

            result = replace(
                result,
                stderr="".join(line for line in result.stderr.splitlines(keepends=True) if not self.is_noise(line)),
            )
        if check and result.returncode != 0:
            raise self.failed(result)
        return result

    def _require_socket(self, argv: Sequence[str]) -> None:
        """A unix socket endpoint that does not exist is unreachable now: say so at once. (ctr 1.6
        keeps dialing a missing socket until its deadline, so the user waited the whole timeout.)
        Only a missing file counts; a path ctrtool may not look at is left to the tool."""
        address = self.endpoint.address or ""
        path = address[len("unix://") :] if address.startswith("unix://") else address
        if not path.startswith("/"):
            return
        try:
            os.stat(path)
        except FileNotFoundError:
            from ..errors import Unreachable

            err = Unreachable(self.binary, address, f"no socket at {path}", argv=list(argv))
            err.backend = self.name
            raise err from None
        except OSError:
            return

    def run(self, *args: str, check: bool = True, input: str | None = None) -> Result:
        self._require_socket(self.argv(*args))
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise ToolTimeout(self.binary, self.deadline.seconds, endpoint=self.endpoint.address, argv=self.argv(*args))
        try:
            result = run(
                self.argv(*args),
                timeout=remaining,
                endpoint=self.endpoint.address,
                unset_env=self.unset_env(),
                check=False,
                input=input,
                classify=self.classify,
            )
        except ToolTimeout as exc:
            # report the backend's whole budget, which is what the user configured
            raise ToolTimeout(exc.tool, self.deadline.seconds, endpoint=exc.endpoint, argv=exc.argv) from None
        return self._quiet(result, check)

    def run_argv(self, argv: Sequence[str], check: bool = True, bounded: bool = True) -> Result:
        """Run a full argv made by this adapter (a step of a Plan). ``bounded=False``: no deadline,
        for calls that move data for as long as it takes (load, save)."""
        self._require_socket(argv)
        timeout = None
        if bounded:
            timeout = self.deadline.remaining()
            if timeout <= 0:
                raise ToolTimeout(self.binary, self.deadline.seconds, endpoint=self.endpoint.address, argv=list(argv))
        return self._quiet(
            run(
                argv,
                timeout=timeout,
                endpoint=self.endpoint.address,
                unset_env=self.unset_env(),
                check=False,
                classify=self.classify,
            ),
            check,
        )

    def stream(
        self,
        argv: Sequence[str],
        stdin: bool = False,
        stdout_to_stderr: bool = False,
        withhold: LineFilter | None = None,
        stdin_gate: Callable[[], bool] | None = None,
    ) -> Streamed:
        """Run a full argv with its output going straight to the user (logs, exec, pull).
        Not bounded by the backend's timeout: it runs until the tool ends or the user stops it."""
        self._require_socket(argv)
        return run_passthrough(
            argv,
            endpoint=self.endpoint.address,
            unset_env=self.unset_env(),
            stdin=stdin,
            stdout_to_stderr=stdout_to_stderr,
            withhold=self._withhold(withhold),
            stdin_gate=stdin_gate,
        )

    def _withhold(self, withhold: LineFilter | None) -> LineFilter | None:
        if not self.noise:
            return withhold
        return lambda line: self.is_noise(line) or bool(withhold and withhold(line))

    def interactive(self, argv: Sequence[str], withhold: LineFilter | None = None) -> Streamed:
        self._require_socket(argv)
        return run_interactive(
            argv, endpoint=self.endpoint.address, unset_env=self.unset_env(), withhold=self._withhold(withhold)
        )

    def failed(self, result: Result) -> ToolError:
        from ..runner import failure

        return failure(result, endpoint=self.endpoint.address, classify=self.classify)


def plan_copy(
    source: Adapter,
    image: ImageTarget,
    target: Adapter,
    target_ns: str | None,
    verify: Adapter,
    verify_ns: str | None,
    exists: bool,
    what: str,
) -> Plan:
    """``source export | target import``, streamed through ctrtool (no temporary file), then a
    listing by ``verify`` (the tool that must see the image: crictl for the CRI) that it is there.
    ``exists``: the target already has this reference, which the copy replaces (destructive).
    ``execute()`` returns the matching records in the target, or raises a typed error that names
    the failing side."""
    from ..runner import failure, run_pipe

    src_argv = source.export_argv(image.ref, image.namespace)
    dst_argv = target.import_argv(target_ns)

    def execute() -> list[ImageRecord]:
        piped = run_pipe(
            src_argv,
            dst_argv,
            source_unset_env=source.unset_env(),
            target_unset_env=target.unset_env(),
            label=f"copying {image.ref}",
        )
        bad = piped.failed_side()
        if bad is not None:
            side = source if bad is piped.source else target
            raise failure(bad, endpoint=side.endpoint.address, classify=side.classify)
        # the check is a call of its own: the copy may have taken longer than the whole timeout
        verify.fresh_deadline()
        records = verify.images([verify_ns] if verify_ns else None)
        found = match_images(records, image.ref)[0]
        if image.id and not found:
            # the same image by id, under no name or its id-name: never another name it had there
            found = [r for r in records if r.id == image.id and (not r.ref or r.ref.startswith("sha256:"))]
        if not found:
            loaded = ", ".join(target.parse_import(piped.target.stdout)) or "nothing it named"
            raise ToolError(
                verify.binary,
                f"after the copy, {place(verify.name, verify_ns)} does not list "
                f"{image.ref} (the import reported: {loaded})",
                "list what is there with: ctrtool images --backend " + verify.name,
                argv=dst_argv,
            )
        return found

    return Plan(
        what,
        [src_argv, dst_argv],
        execute,
        destructive=exists,
        piped=True,
        note=f"{image.ref} is already in {place(verify.name, verify_ns)}: the copy replaces it" if exists else None,
    )
