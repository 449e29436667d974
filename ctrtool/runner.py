"""The one way ctrtool runs a tool: an argv list (never a shell), a timeout, typed errors.

Every invocation can be traced: with ``CTRTOOL_TRACE=/path/file`` each call appends one JSON line
(argv, seconds, exit code), which is how the tests count tool calls; with ``CTRTOOL_DEBUG=1`` each
call is also echoed to stderr.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from .errors import OutputNotUnderstood, ToolError, ToolFailed, ToolNotInstalled, ToolTimeout

# Set by scripts/record_fixtures.py: called with every finished call's Result.
_recorder: "Callable[[Result], None] | None" = None


def set_recorder(fn: "Callable[[Result], None] | None") -> None:
    """Record every finished tool call (used to re-record the test fixtures from the lab)."""
    global _recorder
    _recorder = fn


# A classifier looks at a failed call (exit code, stderr) and may return a more precise error,
# e.g. Unreachable for "connection refused". Adapters supply them: they know their tool's words.
Classifier = Callable[[int, str], "ToolError | None"]


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    unset_env: Sequence[str] = (),
    input: str | None = None,
    check: bool = True,
    classify: Classifier | None = None,
) -> Result:
    """Run ``argv`` and return its output, or raise a typed :class:`ToolError`.

    ``env`` entries are added to the current environment, ``unset_env`` names are removed from it
    (e.g. DOCKER_CONTEXT when an explicit ``--host`` is passed).
    """
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("empty argv")
    tool = os.path.basename(argv[0])
    full_env = dict(os.environ)
    for name in unset_env:
        full_env.pop(name, None)
    if env:
        full_env.update(env)
    started = time.monotonic()
    _debug(f"run: {_join(argv)} (timeout {timeout:g}s)")
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            text=True,
            errors="replace",
            start_new_session=True,  # own process group: a timeout kills the tool and its children
        )
    except FileNotFoundError:
        raise ToolNotInstalled(tool, argv=argv) from None
    except PermissionError as exc:
        raise ToolError(tool, f"cannot execute {argv[0]}: {exc.strerror}", "check the file's permissions",
                        argv=argv) from None
    try:
        stdout, stderr = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        _trace(argv, time.monotonic() - started, None)
        raise ToolTimeout(tool, timeout, endpoint=endpoint, argv=argv) from None
    except BaseException:
        _kill_group(proc)
        raise
    seconds = time.monotonic() - started
    _trace(argv, seconds, proc.returncode)
    result = Result(argv, proc.returncode, stdout, stderr, seconds)
    if _recorder is not None:
        _recorder(result)
    if check and proc.returncode != 0:
        raise failure(result, endpoint=endpoint, classify=classify)
    return result


def failure(result: Result, *, endpoint: str | None = None, classify: Classifier | None = None) -> ToolError:
    """The typed error for a finished call that failed."""
    if classify is not None:
        err = classify(result.returncode, result.stderr)
        if err is not None:
            if not err.argv:
                err.argv = list(result.argv)
            return err
    return ToolFailed(os.path.basename(result.argv[0]), result.returncode, result.stderr,
                      endpoint=endpoint, argv=result.argv)


def not_understood(result: Result, what: str, endpoint: str | None = None) -> OutputNotUnderstood:
    """Keep a tool's raw output on disk and return the error that says where it is."""
    tool = os.path.basename(result.argv[0])
    saved = save_raw(tool, result)
    return OutputNotUnderstood(tool, what, saved, endpoint=endpoint, argv=result.argv)


def save_raw(tool: str, result: Result) -> str | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "ctrtool", "raw")
    try:
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{tool}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.txt")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"# argv: {_join(result.argv)}\n# exit code: {result.returncode}\n")
            fh.write("# --- stdout ---\n")
            fh.write(result.stdout)
            fh.write("\n# --- stderr ---\n")
            fh.write(result.stderr)
        return path
    except OSError:
        return None


class Deadline:
    """The time left for one backend's work: every call it makes gets at most what remains."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


def _join(argv: Sequence[str]) -> str:
    import shlex

    return shlex.join(argv)


def _debug(message: str) -> None:
    if os.environ.get("CTRTOOL_DEBUG"):
        print(f"ctrtool: debug: {message}", file=sys.stderr)


def _trace(argv: list[str], seconds: float, returncode: int | None) -> None:
    path = os.environ.get("CTRTOOL_TRACE")
    if not path:
        return
    line = json.dumps({"argv": argv, "seconds": round(seconds, 4), "returncode": returncode})
    # O_APPEND writes of one short line are atomic enough across our threads and processes
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)
