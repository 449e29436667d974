"""The one way ctrtool runs a tool: an argv list (never a shell), a timeout, typed errors.

Every invocation can be traced: with ``CTRTOOL_TRACE=/path/file`` each call appends one JSON line
(argv, seconds, exit code, and for a bounded call its timeout), which is how the tests count tool
calls; with ``CTRTOOL_DEBUG=1`` each call is also echoed to stderr.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import OutputNotUnderstood, Terminated, ToolError, ToolFailed, ToolNotInstalled, ToolTimeout

# Set by scripts/record_fixtures.py: called with every finished call's Result.
_recorder: Callable[[Result], None] | None = None


def set_recorder(fn: Callable[[Result], None] | None) -> None:
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


# -- every child tool, so that a signal ends them all ------------------------------------------------

# Tools started by ctrtool that may still run: Popen -> whether it leads its own process group
# (run, run_pipe: start_new_session) or shares ours (run_passthrough). On SIGINT, SIGTERM, SIGHUP
# (cli.main) and at exit, :func:`end_children` ends them all and waits for them; once it has run,
# no new tool is started (a backend's thread would otherwise go on to its next call).
_children: dict[subprocess.Popen, bool] = {}
_children_lock = threading.Lock()
_stopping = threading.Event()


def _started(proc: subprocess.Popen, own_group: bool = True, cleanup: bool = False) -> None:
    with _children_lock:
        _children[proc] = own_group
    if _stopping.is_set() and not cleanup:  # a signal came while it was starting
        _end(proc, own_group)
        raise Terminated(_stop_signal[0] if _stop_signal else signal.SIGTERM)


_main_spawning = 0  # the main thread is between fork and recording a tool (see _Spawning)


def deferring() -> bool:
    """Whether a signal handler must not raise now: the main thread is starting a tool, and an
    exception raised inside Popen would leave the started tool unrecorded, so that nothing would
    end it. The handler ends the tools it knows; the start is recorded, ended, and raised after."""
    return _main_spawning > 0


class _Spawning:
    """Around Popen and _started in the main thread: a signal that comes in between is raised
    when the tool is recorded (by _started, or here at the end), never in the middle."""

    def __init__(self, cleanup: bool = False):
        self.cleanup = cleanup

    def __enter__(self) -> None:
        global _main_spawning
        self.main = threading.current_thread() is threading.main_thread()
        if self.main:
            _main_spawning += 1

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        global _main_spawning
        if not self.main:
            return
        _main_spawning -= 1
        if exc_type is None and not _main_spawning and _stopping.is_set() and _stop_signal and not self.cleanup:
            raise Terminated(_stop_signal[0])


def _finished(proc: subprocess.Popen) -> None:
    with _children_lock:
        _children.pop(proc, None)


_passthrough = threading.Event()  # a tool runs in our process group and decides about signals


def stopping() -> bool:
    """Whether ctrtool is ending every tool (a signal came): their failures are not news."""
    return _stopping.is_set()


def stop_signal() -> int | None:
    """The signal that ended the tools, if one did."""
    return _stop_signal[0] if _stop_signal else None


def passing_through() -> bool:
    return _passthrough.is_set()


def _refuse_if_stopping() -> None:
    if _stopping.is_set():
        raise Terminated(_stop_signal[0] if _stop_signal else signal.SIGTERM)


def _end(proc: subprocess.Popen, own_group: bool) -> None:
    try:
        if own_group:
            os.killpg(proc.pid, signal.SIGKILL)  # the tool and whatever it started
        elif proc.poll() is None:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


_stop_signal: list[int] = []


def end_children(wait: float | None = 5.0, signum: int | None = None) -> int:
    """Kill every tool ctrtool started (each one's whole process group) and, unless ``wait`` is
    None, wait up to ``wait`` seconds for each to be gone. From then on no tool is started.
    ``signum``: the signal that asked for it (see :func:`stop_signal`). Safe in a signal handler
    (``wait=None``). Returns how many were running."""
    if signum is not None and not _stop_signal:
        _stop_signal.append(signum)
    _stopping.set()
    with _children_lock:
        procs = list(_children.items())
    for proc, own_group in procs:
        _end(proc, own_group)
    if wait is not None:
        for proc, _own in procs:
            try:
                proc.wait(timeout=wait)
            except (subprocess.TimeoutExpired, OSError):
                pass
            _finished(proc)
    return len(procs)


def children() -> list[int]:
    """The pids of the tools running now (for tests and debugging)."""
    with _children_lock:
        return [p.pid for p in _children if p.poll() is None]


def _popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
    """subprocess.Popen, with the tool's absence or a binary that cannot run as typed errors."""
    try:
        return subprocess.Popen(argv, **kwargs)
    except FileNotFoundError:
        raise ToolNotInstalled(os.path.basename(argv[0]), argv=list(argv)) from None
    except PermissionError as exc:
        raise ToolError(
            os.path.basename(argv[0]),
            f"cannot execute {argv[0]}: {exc.strerror}",
            "check the file's permissions",
            argv=list(argv),
        ) from None


def run(
    argv: Sequence[str],
    *,
    timeout: float | None,
    endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    unset_env: Sequence[str] = (),
    input: str | None = None,
    check: bool = True,
    classify: Classifier | None = None,
    cleanup: bool = False,
) -> Result:
    """Run ``argv`` and return its output, or raise a typed :class:`ToolError`.

    ``env`` entries are added to the current environment, ``unset_env`` names are removed from it
    (e.g. DOCKER_CONTEXT when an explicit ``--host`` is passed). ``timeout=None`` is only for
    calls that move data for as long as it takes (load, save): the user interrupts them.

    ``cleanup``: a call that undoes what ctrtool made (``nodes`` deleting its pods), which runs even
    after a signal ended every other tool; it needs a timeout, and a second signal still ends it.
    """
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("empty argv")
    tool = os.path.basename(argv[0])
    full_env = _environment(env, unset_env)
    started = time.monotonic()
    _debug(f"run: {_join(argv)} ({_timeout_words(timeout)})")
    if not cleanup:
        _refuse_if_stopping()
    elif timeout is None:
        raise ValueError("a clean-up call needs a timeout")
    with _Spawning(cleanup):
        proc = _popen(
            argv,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            text=True,
            errors="replace",
            start_new_session=True,  # own process group: a timeout kills the tool and its children
        )
        _started(proc, cleanup=cleanup)
    try:
        stdout, stderr = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        _trace(argv, time.monotonic() - started, None, timeout)
        raise ToolTimeout(tool, timeout or 0.0, endpoint=endpoint, argv=argv) from None
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        _finished(proc)
    result = _done(argv, started, proc.returncode, stdout, stderr, timeout)
    if check and proc.returncode != 0:
        raise failure(result, endpoint=endpoint, classify=classify)
    return result


def _done(
    argv: list[str],
    started: float,
    returncode: int,
    stdout: str,
    stderr: str,
    timeout: float | None = None,
    status: int | None = None,
) -> Result:
    """A finished call's Result, traced and recorded; ``status``: its exit status where that is not
    ``returncode`` (the trace has the raw one)."""
    seconds = time.monotonic() - started
    _trace(argv, seconds, returncode, timeout)
    result = Result(argv, returncode if status is None else status, stdout, stderr, seconds)
    if _recorder is not None:
        _recorder(result)
    return result


def _environment(env: Mapping[str, str] | None, unset_env: Sequence[str]) -> dict[str, str]:
    full_env = dict(os.environ)
    for name in unset_env:
        full_env.pop(name, None)
    if env:
        full_env.update(env)
    return full_env


def _timeout_words(timeout: float | None) -> str:
    return "no timeout" if timeout is None else f"timeout {timeout:g}s"


# -- data written to a file, atomically --------------------------------------------------------------


def run_to_file(
    argv: Sequence[str],
    path: str,
    *,
    endpoint: str | None = None,
    unset_env: Sequence[str] = (),
    classify: Classifier | None = None,
) -> Result:
    """Run ``argv``, whose stdout is data (an image archive), into ``path``; no timeout.

    ``path`` "-": the tool writes straight to our stdout. Otherwise the tool writes a temporary
    file in the same directory, which is flushed to disk (fsync) and only then renamed onto
    ``path``: an existing file is never truncated before the new one is complete (a full disk, a
    failing tool, Ctrl-C, SIGTERM leave it as it was), and the temporary file is removed on any
    failure. A new file gets the mode a plain create would (0666 less the umask); a replaced
    file keeps its mode (and, as root, its owner).
    """
    import tempfile

    from .errors import CtrtoolError

    argv = [str(a) for a in argv]
    if path == "-":
        sys.stdout.flush()
        return _run_into(argv, 1, endpoint=endpoint, unset_env=unset_env, classify=classify)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".ctrtool-part", dir=directory)
    except OSError as exc:
        raise CtrtoolError(
            f"cannot write {path}: {exc.strerror}", "check the directory exists and is writable"
        ) from None
    try:
        try:
            old = os.stat(path)
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        else:
            os.fchmod(fd, old.st_mode & 0o7777)
            if os.geteuid() == 0:
                try:
                    os.fchown(fd, old.st_uid, old.st_gid)
                except OSError:
                    pass
        result = _run_into(argv, fd, endpoint=endpoint, unset_env=unset_env, classify=classify)
        try:
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(tmp, path)
        except OSError as exc:
            raise CtrtoolError(
                f"cannot write {path}: {exc.strerror}",
                f"nothing was changed at {path}; check the free space and the directory",
            ) from None
        try:  # the rename itself is on disk too
            dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        except OSError:
            pass
        return result
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _run_into(
    argv: list[str], out_fd: int, *, endpoint: str | None, unset_env: Sequence[str], classify: Classifier | None
) -> Result:
    """Run ``argv`` with its stdout on ``out_fd``, its stderr kept; a failure is a typed error."""
    _debug(f"run (into a file): {_join(argv)} (no timeout)")
    _refuse_if_stopping()
    started = time.monotonic()
    with _Spawning():
        proc = _popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out_fd,
            stderr=subprocess.PIPE,
            env=_environment(None, unset_env),
            start_new_session=True,
        )
        _started(proc)
    try:
        _out, err = proc.communicate()
    except BaseException:
        _kill_group(proc)
        raise
    finally:
        _finished(proc)
    result = _done(
        argv, started, proc.returncode, "", err.decode(errors="replace"), status=_exit_status(proc.returncode)
    )
    if result.returncode != 0:
        if _reader_gone(out_fd):
            from .errors import ArchiveReaderGone

            raise ArchiveReaderGone(None, "the reader went away")
        raise failure(result, endpoint=endpoint, classify=classify)
    return result


def _reader_gone(fd: int) -> bool:
    """Whether ``fd`` is a pipe whose reading end is closed (poll says POLLERR): what the tool
    writing into it failed of (SIGPIPE, EPIPE) was the reader's choice, not an error."""
    import select
    import stat as stat_

    try:
        if not stat_.S_ISFIFO(os.fstat(fd).st_mode):
            return False
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(events & select.POLLERR for _fd, events in poller.poll(0))
    except (OSError, ValueError):
        return False


# -- streaming and interactive calls -------------------------------------------------------------

# What a line of a tool's stderr is: withheld (returned to the adapter, not shown) or passed on.
LineFilter = Callable[[str], bool]


@dataclass(frozen=True)
class Streamed:
    """A call whose output went straight to the user. ``stderr_tail`` is the end of what the tool
    wrote on stderr (for classifying a failure); ``withheld`` the stderr lines kept back by the
    adapter's filter (e.g. crictl's own report of the command's exit code)."""

    argv: list[str]
    returncode: int
    stderr_tail: str
    withheld: list[str]
    seconds: float


STDERR_TAIL = 16384


def _exit_status(returncode: int) -> int:
    """A child killed by signal N reports -N; a shell reports 128+N, and so do we."""
    return 128 - returncode if returncode < 0 else returncode


def run_passthrough(
    argv: Sequence[str],
    *,
    timeout: float | None = None,
    endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    unset_env: Sequence[str] = (),
    stdin: bool = True,
    stdout_to_stderr: bool = False,
    withhold: LineFilter | None = None,
    stdin_gate: Callable[[], bool] | None = None,
) -> Streamed:
    """Run ``argv`` with its output going straight to ours; return its exit status.

    ``stdin_gate``: the tool reads a pipe fed from our stdin (or from nothing, with
    ``stdin=False``), and the end of that input is passed on only once ``stdin_gate()`` says the
    tool is ready for it (polled while the tool runs). For tools that lose an early EOF (ctr).

    stdin is ours (``stdin=False``: /dev/null), stdout is ours (or our stderr with
    ``stdout_to_stderr``, for progress that is not data). stderr is copied to ours line by line,
    except the lines ``withhold`` picks; its end is kept in ``stderr_tail`` either way. The tool stays in our process group, so Ctrl-C on the
    terminal reaches it as it would reach the native tool; meanwhile we ignore SIGINT/SIGQUIT
    (as ``system()`` does) and pass SIGTERM/SIGHUP on to it, then report its exit status.
    """
    argv = [str(a) for a in argv]
    tool = os.path.basename(argv[0])
    full_env = _environment(env, unset_env)
    _debug(f"run (passthrough): {_join(argv)} ({_timeout_words(timeout)})")
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    started = time.monotonic()
    tail = bytearray()
    withheld: list[str] = []

    def emit(data: bytes) -> None:
        tail.extend(data)
        del tail[:-STDERR_TAIL]
        text = data.rstrip(b"\n").decode(errors="replace")
        if withhold is not None and withhold(text):
            withheld.append(text)
            return
        out = getattr(sys.stderr, "buffer", None)
        if out is not None:
            out.write(data)
            out.flush()

    def pump(proc: subprocess.Popen) -> None:
        # whole lines, so that the filter sees each line once; a last line without "\n" at EOF
        pending = b""
        assert proc.stderr is not None
        fd = proc.stderr.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                if pending:
                    emit(pending)
                return
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                emit(line + b"\n")

    # the signal handlers are in place before the tool starts: a Ctrl-C at any moment goes to the
    # tool, never kills ctrtool first
    _refuse_if_stopping()
    with _SignalsPassedOn() as signals:
        proc = _popen(
            argv,
            stdin=subprocess.PIPE if stdin_gate else None if stdin else subprocess.DEVNULL,
            stdout=sys.stderr.fileno() if stdout_to_stderr else None,
            stderr=subprocess.PIPE,
            env=full_env,
        )
        signals.proc = proc
        try:
            _started(proc, own_group=False)
            reader = threading.Thread(target=pump, args=(proc,), daemon=True)
            reader.start()
            if stdin_gate is not None:
                threading.Thread(target=_feed, args=(proc, stdin, stdin_gate), daemon=True).start()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                reader.join(timeout=5)
                _trace(argv, time.monotonic() - started, None)
                raise ToolTimeout(tool, timeout or 0, endpoint=endpoint, argv=argv) from None
        except BaseException:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            raise
        finally:
            _finished(proc)
    reader.join(timeout=5)
    assert proc.stderr is not None
    proc.stderr.close()
    seconds = time.monotonic() - started
    _trace(argv, seconds, proc.returncode)
    return Streamed(argv, _exit_status(proc.returncode), tail.decode(errors="replace"), withheld, seconds)


class Stream:
    """A tool whose stdout is read as it comes, for as long as the caller wants (``kubectl get
    --watch``): ``with Stream(argv) as s: for chunk in s.chunks(): ...``. It is one of the tools a
    signal ends (its own process group); leaving the block ends it. ``stderr`` holds the end of
    what it wrote there, once it has ended."""

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None):
        self.argv = [str(a) for a in argv]
        self.env = _environment(env, ())
        self.stderr = ""
        self.returncode: int | None = None
        self._proc: subprocess.Popen | None = None

    def __enter__(self) -> Stream:
        _debug(f"run (stream): {_join(self.argv)}")
        _refuse_if_stopping()
        self._started = time.monotonic()
        with _Spawning():
            proc = _popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                start_new_session=True,
            )
            self._proc = proc
            _started(proc)
        self._tail = bytearray()

        def drain() -> None:
            if proc.stderr is None:
                return
            fd = proc.stderr.fileno()
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                self._tail.extend(chunk)
                del self._tail[:-STDERR_TAIL]

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()
        return self

    def chunks(self) -> Iterator[bytes]:
        """stdout as it comes, until the tool closes it (ends, or is ended)."""
        proc = self._proc
        if proc is None or proc.stdout is None:
            return
        fd = proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # ended (and its pipe closed) from another thread
                return
            if not chunk:
                return
            yield chunk

    def end(self) -> None:
        """End the tool (and whatever it started) and collect it; safe to call twice."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None:
            _kill_group(proc)
        proc.wait()
        _finished(proc)
        self._drain.join(timeout=5)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        self.returncode = proc.returncode
        self.stderr = self._tail.decode(errors="replace")
        _trace(self.argv, time.monotonic() - self._started, proc.returncode)

    def __exit__(self, *exc: object) -> None:
        self.end()


@dataclass(frozen=True)
class Piped:
    """Two calls joined by a pipe that ctrtool copied: each side's exit status and stderr (the
    source's stdout is the data, not kept), and the bytes that went through."""

    source: Result
    target: Result
    bytes: int
    seconds: float
    source_stopped: bool = False  # ctrtool killed the source because the target had ended

    def failed_side(self) -> Result | None:
        """The call whose failure to report: the source's own failure first (the target then only
        saw a cut stream), else the target's; None when both succeeded."""
        if self.source.returncode != 0 and not self.source_stopped:
            return self.source
        if self.target.returncode != 0:
            return self.target
        return None


PIPE_CHUNK = 1 << 20


def run_pipe(
    source: Sequence[str],
    target: Sequence[str],
    *,
    source_unset_env: Sequence[str] = (),
    target_unset_env: Sequence[str] = (),
    progress: bool | None = None,
    label: str = "copying",
) -> Piped:
    """Run ``source | target`` without a shell and without a temporary file: ctrtool reads the
    source's stdout and writes it to the target's stdin, counting the bytes (a rich progress bar on
    stderr when ``progress``, default: when stderr is a terminal). No timeout: it moves data for as
    long as it takes; Ctrl-C (or any error here) kills both. The exit statuses are returned, not
    raised: the caller names the failing side (see :func:`failure`)."""
    source, target = [str(a) for a in source], [str(a) for a in target]
    if progress is None:
        progress = _stderr_is_terminal()
    _debug(f"run (pipe): {_join(source)} | {_join(target)}")
    started = time.monotonic()
    procs: list[subprocess.Popen] = []
    _refuse_if_stopping()
    try:
        for argv, stdin, unset in (
            (source, subprocess.DEVNULL, source_unset_env),
            (target, subprocess.PIPE, target_unset_env),
        ):
            with _Spawning():
                procs.append(
                    _popen(
                        argv,
                        stdin=stdin,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        env=_environment(None, unset),
                        start_new_session=True,
                    )
                )
                _started(procs[-1])
        src, dst = procs
        outputs: dict[str, bytes] = {}

        def drain(name: str, stream) -> None:
            outputs[name] = stream.read()

        readers = [
            threading.Thread(target=drain, args=(name, stream), daemon=True)
            for name, stream in (("src_err", src.stderr), ("dst_out", dst.stdout), ("dst_err", dst.stderr))
        ]
        for t in readers:
            t.start()
        moved = 0
        stopped = False  # ctrtool ended the source because the target had stopped reading
        bar = _ProgressBar(label) if progress else None
        try:
            assert src.stdout is not None
            fd = src.stdout.fileno()
            while True:
                chunk = os.read(fd, PIPE_CHUNK)
                if not chunk:
                    break
                try:
                    assert dst.stdin is not None
                    dst.stdin.write(chunk)
                except (BrokenPipeError, OSError):
                    # the target stopped reading: its exit status says why. The source is stopped
                    # now, while it still waits to write: once its pipe is closed below it would end
                    # by itself (EPIPE) and look like a failure of its own
                    stopped = src.poll() is None
                    if stopped:
                        try:
                            os.killpg(src.pid, signal.SIGKILL)
                        except (ProcessLookupError, PermissionError):
                            pass
                    break
                moved += len(chunk)
                if bar:
                    bar.update(moved)
        finally:
            if bar:
                bar.close(moved)
            for pipe in (dst.stdin, src.stdout):
                try:
                    assert pipe is not None
                    pipe.close()
                except (BrokenPipeError, OSError):
                    pass
        src.wait()
        dst.wait()
        for t in readers:
            t.join()
    except BaseException:
        for proc in procs:
            _kill_group(proc)
        raise
    finally:
        for proc in procs:
            _finished(proc)
    seconds = time.monotonic() - started
    text = {k: v.decode(errors="replace") for k, v in outputs.items()}
    results = (
        Result(source, _exit_status(src.returncode), "", text.get("src_err", ""), seconds),
        Result(target, _exit_status(dst.returncode), text.get("dst_out", ""), text.get("dst_err", ""), seconds),
    )
    for r in results:
        _trace(r.argv, seconds, r.returncode)
    return Piped(results[0], results[1], moved, seconds, stopped)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


class _ProgressBar:
    """Bytes copied so far, on stderr (the total is unknown: a tar stream)."""

    def __init__(self, label: str):
        from rich.console import Console
        from rich.progress import (
            DownloadColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TransferSpeedColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn(label),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=Console(file=sys.stderr),
            transient=False,
        )
        self.task = self.progress.add_task(label, total=None)
        self.progress.start()

    def update(self, moved: int) -> None:
        self.progress.update(self.task, completed=moved)

    def close(self, moved: int) -> None:
        self.progress.update(self.task, completed=moved)
        self.progress.stop()


def _feed(proc: subprocess.Popen, from_stdin: bool, gate: Callable[[], bool]) -> None:
    """Copy our stdin (if asked) into the tool's, then close it once ``gate()`` allows."""
    pipe = proc.stdin
    try:
        if from_stdin:
            while True:
                chunk = os.read(0, 65536)
                if not chunk:
                    break
                assert pipe is not None
                pipe.write(chunk)
                pipe.flush()
        delay = 0.02
        while proc.poll() is None:
            try:
                if gate():
                    break
            except Exception:  # noqa: BLE001  (a failed check must not keep the input open for ever)
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            assert pipe is not None
            pipe.close()
        except (BrokenPipeError, OSError):
            pass


class _SignalsPassedOn:
    """While a passthrough tool runs: SIGINT/SIGQUIT do nothing to us (the terminal sends them to
    the tool too, which decides; when they come from elsewhere they are passed on), SIGTERM/SIGHUP
    are passed on to the tool. The handlers are
    Python functions, not SIG_IGN: exec() resets those to the default, so the tool gets the usual
    behaviour (an ignored signal would stay ignored in it). Only the main thread may set them."""

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self.saved: dict[int, object] = {}

    def _forward(self, signum, _frame) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def _interrupted(self, signum, frame) -> None:
        # Ctrl-C on our terminal reaches the tool too (it is in our process group); a SIGINT sent
        # to ctrtool alone (kill -INT, a supervisor) is passed on, so that the tool ends either way
        if not _terminal_signals_our_group():
            self._forward(signum, frame)

    def __enter__(self) -> _SignalsPassedOn:
        _passthrough.set()
        if threading.current_thread() is threading.main_thread():
            for sig, handler in (
                (signal.SIGINT, self._interrupted),
                (signal.SIGQUIT, self._interrupted),
                (signal.SIGTERM, self._forward),
                (signal.SIGHUP, self._forward),
            ):
                self.saved[sig] = signal.signal(sig, handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        _passthrough.clear()


def _terminal_signals_our_group() -> bool:
    """Whether our process group is the foreground of a controlling terminal (then the terminal's
    Ctrl-C and Ctrl-\\ reach every process in it)."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
                return True
        except OSError:
            continue
    return False


def terminal_size() -> tuple[int, int]:
    """(rows, columns) of our terminal: stdin's, else stdout's, else 24x80."""
    for fd in (0, 1):
        try:
            size = os.get_terminal_size(fd)
        except OSError:
            continue
        if size.lines and size.columns:
            return size.lines, size.columns
    return 24, 80


def run_interactive(
    argv: Sequence[str],
    *,
    endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    unset_env: Sequence[str] = (),
    withhold: LineFilter | None = None,
) -> Streamed:
    """Run ``argv`` on a new pseudo-terminal connected to ours (pexpect), for ``exec -it``.

    The pty gets our terminal's size at the start and again on every SIGWINCH (so the tool, and
    through it the container's terminal, follow a resized window); ``interact()`` copies keys and
    output both ways in raw mode until the tool exits. The tool's own stderr (its error messages,
    not the session: a TTY session arrives on stdout) goes to a file and is shown, minus the lines
    ``withhold`` picks, when the terminal is back to normal. Returns the tool's exit status.
    """
    import tempfile

    import pexpect  # imported here: start-up time matters for every other command

    argv = [str(a) for a in argv]
    tool = os.path.basename(argv[0])
    if not _which(argv[0]):
        raise ToolNotInstalled(tool, argv=argv)
    full_env = _environment(env, unset_env)
    rows, cols = terminal_size()
    fd, errpath = tempfile.mkstemp(prefix="ctrtool-stderr-")
    os.close(fd)

    def stderr_to_file() -> None:  # runs in the child, after pexpect made the pty its stdio
        err = os.open(errpath, os.O_WRONLY | os.O_APPEND)
        os.dup2(err, 2)
        os.close(err)

    _debug(f"run (interactive, {rows}x{cols}): {_join(argv)}")
    sys.stdout.flush()
    started = time.monotonic()
    try:
        child = pexpect.spawn(
            argv[0], argv[1:], env=full_env, dimensions=(rows, cols), preexec_fn=stderr_to_file, timeout=None
        )

        def resized(_signum, _frame) -> None:
            try:
                child.setwinsize(*terminal_size())
            except OSError:
                pass

        previous = signal.signal(signal.SIGWINCH, resized)
        try:
            child.interact(escape_character=None)
        except BaseException:  # SIGTERM, SIGHUP: the session ends with us
            child.terminate(force=True)
            raise
        finally:
            signal.signal(signal.SIGWINCH, previous)
        # interact() returns at EOF on the pty; wait for the exit itself (close() alone would
        # SIGHUP a tool still finishing), then release the pty
        child.wait()
        child.close()
        status = 128 + child.signalstatus if child.signalstatus else (child.exitstatus or 0)
        with open(errpath, "rb") as fh:
            stderr = fh.read().decode(errors="replace")
    finally:
        try:
            os.unlink(errpath)
        except OSError:
            pass
    withheld = []
    shown = []
    for line in stderr.splitlines():
        if withhold is not None and withhold(line):
            withheld.append(line)
        else:
            shown.append(line)
    if shown:
        sys.stderr.write("\n".join(shown) + "\n")
        sys.stderr.flush()
    seconds = time.monotonic() - started
    _trace(argv, seconds, status)
    return Streamed(argv, status, stderr[-STDERR_TAIL:], withheld, seconds)


def _which(binary: str) -> bool:
    import shutil

    return bool(shutil.which(binary)) or (os.path.isabs(binary) and os.access(binary, os.X_OK))


def failure(result: Result, *, endpoint: str | None = None, classify: Classifier | None = None) -> ToolError:
    """The typed error for a finished call that failed."""
    if classify is not None:
        err = classify(result.returncode, result.stderr)
        if err is not None:
            if not err.argv:
                err.argv = list(result.argv)
            return err
    return ToolFailed(
        os.path.basename(result.argv[0]), result.returncode, result.stderr, endpoint=endpoint, argv=result.argv
    )


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


def check_trace() -> None:
    """CTRTOOL_TRACE must name a file ctrtool can append to (it is created if missing): checked
    once at start-up (cli.main), so that a bad path is a usage error, not a failure halfway."""
    from .errors import UsageError

    path = os.environ.get("CTRTOOL_TRACE")
    if not path:
        return
    try:
        fd = _open_trace(path)
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(
            f"CTRTOOL_TRACE={path!r}: cannot append to it: {why}",
            "name a regular file in a directory that exists (it is created if missing), or unset it",
        ) from None
    os.close(fd)


def _open_trace(path: str) -> int:
    """The trace file, opened without blocking (a FIFO with no reader must not hang ctrtool), and
    only if it is a regular file or /dev/null (a FIFO or a device is refused: EINVAL)."""
    import errno
    import stat as stat_

    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, 0o600)
    st = os.fstat(fd)
    if not stat_.S_ISREG(st.st_mode) and not os.path.samestat(st, os.stat(os.devnull)):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd


_trace_broken = threading.Event()


def _trace(argv: list[str], seconds: float, returncode: int | None, timeout: float | None = None) -> None:
    path = os.environ.get("CTRTOOL_TRACE")
    if not path:
        return
    call: dict[str, Any] = {"argv": argv, "seconds": round(seconds, 4), "returncode": returncode}
    if timeout is not None:
        call["timeout"] = round(timeout, 4)  # the deadline this call was given (run(): what was left)
    line = json.dumps(call)
    # O_APPEND writes of one short line are atomic enough across our threads and processes
    try:
        fd = _open_trace(path)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except (OSError, ValueError) as exc:
        # a trace is for diagnosis: losing it must not stop a change halfway; say so once
        if not _trace_broken.is_set():
            _trace_broken.set()
            print(
                f"ctrtool: warning: CTRTOOL_TRACE={path!r}: cannot write: {getattr(exc, 'strerror', exc)}; "
                "tool calls are no longer traced",
                file=sys.stderr,
            )
