"""The lab's process supervisor: start a daemon in its own session with its own pid file and log,
wait until it answers, and stop it by the pid recorded, only while ``/proc/PID/cmdline`` still names
this lab's daemon. Nothing is ever killed by name.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .. import runner
from ..errors import ToolError
from .common import LabError, Progress

START_TIMEOUT = 40.0
STOP_TIMEOUT = 15.0

# Popen objects of the daemons this process started, so that their exit can be collected.
_STARTED: dict[int, subprocess.Popen] = {}


@atexit.register
def _detach_daemons() -> None:
    """The daemons outlive this process on purpose (own session): tell Popen not to warn."""
    for proc in list(_STARTED.values()):
        if proc.poll() is None:
            proc.returncode = 0


def _reap(pid: int) -> None:
    """Collect an exited child of ours, so it does not linger as a zombie."""
    proc = _STARTED.get(pid)
    if proc is not None:
        if proc.poll() is not None:
            _STARTED.pop(pid, None)
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def cmdline(pid: int) -> list[str]:
    """The process's argv from /proc ([] when it is gone)."""
    try:
        raw = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after "pid (comm) ": state, ppid, ... (comm may hold spaces and parentheses)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat[stat.rfind(")") + 2 :].split()


def ppid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (our own exited children are reaped)."""
    if pid <= 0:
        return False
    _reap(pid)
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def all_pids() -> Iterable[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def has_option(argv: list[str], flag: str, value: str) -> bool:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv) and argv[i + 1] == value:
            return True
        if arg == f"{flag}={value}":
            return True
    return False


@dataclass(frozen=True)
class Daemon:
    """One daemon of a lab: its process is ``exe`` run with ``flag value`` (what marks it as this lab's)."""

    name: str
    exe: str  # basename of argv[0]
    flag: str  # the option whose value marks this lab's process
    value: str
    pidfile: pathlib.Path
    socket: pathlib.Path
    log: pathlib.Path

    def owns(self, pid: int) -> bool:
        argv = cmdline(pid)
        return bool(argv) and os.path.basename(argv[0]) == self.exe and has_option(argv, self.flag, self.value)

    def recorded_pid(self) -> int | None:
        try:
            text = self.pidfile.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def record(self, pid: int) -> None:
        """Write ``pid`` to the pid file unless it already says so."""
        if self.recorded_pid() != pid:
            self.pidfile.write_text(f"{pid}\n")

    def running_pid(self) -> int | None:
        """The pid of this lab's daemon if it runs: the pid file's, verified, else found in /proc."""
        pid = self.recorded_pid()
        if pid and pid_alive(pid) and self.owns(pid):
            return pid
        for other in all_pids():
            if other != pid and self.owns(other) and pid_alive(other):
                return other
        return None


# ---- starting ------------------------------------------------------------------------------------


def remove_stale(path: pathlib.Path) -> bool:
    """Remove a file, socket or symlink left behind; True when there was one."""
    try:
        if path.is_symlink() or path.is_socket() or path.is_file():
            path.unlink()
            return True
    except FileNotFoundError:
        pass
    return False


def daemon_files(daemon: Daemon) -> tuple[pathlib.Path, ...]:
    """What a stopped daemon leaves behind: its pid file, its socket and a ttrpc socket beside it."""
    return (daemon.pidfile, daemon.socket, pathlib.Path(str(daemon.socket) + ".ttrpc"))


def clean_stale(daemon: Daemon, progress: Progress) -> None:
    recorded = daemon.recorded_pid()
    if recorded is not None:
        progress(
            f"{daemon.name}: pid file names pid {recorded}, which is gone or is not this lab's "
            f"{daemon.name}; removing the stale pid file"
        )
    for path in daemon_files(daemon):
        remove_stale(path)


def spawn(argv: list[str], log: pathlib.Path, path_first: Sequence[str] = ()) -> subprocess.Popen:
    """Start ``argv`` in a session of its own, output appended to ``log``; ``path_first`` goes first
    on PATH (containerd looks its shim up on PATH first: a profile's own build goes first)."""
    env = dict(os.environ, PATH=os.pathsep.join([*path_first, os.environ.get("PATH", os.defpath)]))
    with open(log, "ab") as fh:
        fh.write(f"\n==== ctrtool lab: {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd="/",
            env=env,
        )
    _STARTED[proc.pid] = proc
    return proc


def log_tail(log: pathlib.Path, lines: int = 8) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    tail = [ln.strip() for ln in text[-lines:] if ln.strip()]
    return " | ".join(tail)[-1200:] or "(empty log)"


def wait_ready(daemon: Daemon, proc: subprocess.Popen, probe: Callable[[], bool]) -> None:
    """Until the daemon's socket exists and ``probe`` answers; LabError when it exits or times out."""
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.05
    while True:
        if proc.poll() is not None:
            _STARTED.pop(proc.pid, None)
            raise LabError(
                f"{daemon.name} exited with code {proc.returncode} while starting: {log_tail(daemon.log)}",
                f"see the full log in {daemon.log}",
            )
        if daemon.socket.is_socket() and probe():
            return
        if time.monotonic() > deadline:
            raise LabError(
                f"{daemon.name} did not answer on {daemon.socket} within {START_TIMEOUT:g}s: {log_tail(daemon.log)}",
                f"see the full log in {daemon.log}; `ctrtool lab down` stops it",
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def probe(argv: list[str], unset_env: tuple[str, ...] = ()) -> bool:
    """True when the command exits 0 within 5 s."""
    try:
        return runner.run(argv, timeout=5, check=False, unset_env=unset_env).returncode == 0
    except ToolError:
        return False


def start(
    daemon: Daemon, argv: list[str], ready: Callable[[], bool], progress: Progress, path_first: Sequence[str] = ()
) -> None:
    """Start a daemon that has no socket of its own to wait for (the control plane, a kubelet) unless
    it runs, and wait up to 60 s for ``ready``."""
    pid = daemon.running_pid()
    if pid:
        daemon.record(pid)
        progress(f"{daemon.name} already running (pid {pid})")
        return
    if daemon.recorded_pid() is not None:
        progress(f"{daemon.name}: removing the stale pid file {daemon.pidfile}")
        remove_stale(daemon.pidfile)
    progress(f"starting {daemon.name}")
    proc = spawn(argv, daemon.log, path_first)
    daemon.pidfile.write_text(f"{proc.pid}\n")
    t0 = time.monotonic()
    deadline = t0 + 60.0
    delay = 0.1
    while not ready():
        if proc.poll() is not None:
            raise LabError(
                f"{daemon.name} exited with code {proc.returncode} while starting: {log_tail(daemon.log)}",
                f"see the full log in {daemon.log}",
            )
        if time.monotonic() > deadline:
            raise LabError(
                f"{daemon.name} did not become ready within 60s: {log_tail(daemon.log)}",
                f"see the full log in {daemon.log}; `ctrtool lab down` stops it",
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    progress(f"{daemon.name} up (pid {proc.pid}, {time.monotonic() - t0:.1f}s)")


# ---- stopping ------------------------------------------------------------------------------------


def stop_pid(pid: int, owns: Callable[[int], bool], timeout: float = STOP_TIMEOUT) -> str:
    """SIGTERM, wait, then SIGKILL: only while ``owns(pid)`` still says the pid is ours."""
    how = "already gone"
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not pid_alive(pid) or not owns(pid):
            return how
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return how
        how = "SIGTERM" if sig == signal.SIGTERM else "SIGKILL"
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc = _STARTED.get(pid)
            if proc is not None and proc.poll() is not None:
                _STARTED.pop(pid, None)
            if not pid_alive(pid):
                _STARTED.pop(pid, None)
                return how
            time.sleep(0.05)
    return how


def stop_daemon(daemon: Daemon, pid: int | None, result: dict, progress: Progress) -> bool:
    """Stop one of the lab's daemons by its pid (TERM, then KILL), noted in ``down``'s ``result``;
    False when it did not exit."""
    if not pid:
        return True
    progress(f"stopping {daemon.name} (pid {pid})")
    how = stop_pid(pid, daemon.owns)
    result["stopped"].append({"name": daemon.name, "pid": pid, "how": how})
    if pid_alive(pid):
        result["warnings"].append(f"{daemon.name} (pid {pid}) did not exit")
        return False
    return True
