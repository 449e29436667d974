"""Faults without the lab: hung daemons (a unix socket that accepts and never answers, so the real
ctr, docker and crictl hang on it), signals at chosen moments, and the process table afterwards.

The bounds on time are generous safety nets ("exits within 3 s after SIGINT", as the issue
asks for 1 s); nothing here measures speed.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
from fault_helpers import HungSocket, descendants, offline_env, processes_with, wait_for

pytestmark = pytest.mark.skipif(
    not all(shutil.which(t) for t in ("ctr", "docker", "crictl")), reason="needs the ctr, docker and crictl binaries"
)

MAIN = "import sys; from ctrtool.cli import main; sys.argv[0] = 'ctrtool'; main()"


@pytest.fixture
def hung(tmp_path):
    """Every backend's endpoint is a socket that never answers; a marker in the environment
    finds ctrtool's children in the process table, even after they were re-parented."""
    sock = HungSocket(str(tmp_path / "hung.sock"))
    marker = f"CTRTOOL_FAULT_MARK={uuid.uuid4().hex}"
    env = offline_env(
        tmp_path,
        DOCKER_HOST=f"unix://{sock.path}",
        CONTAINERD_ADDRESS=sock.path,
        CONTAINER_RUNTIME_ENDPOINT=f"unix://{sock.path}",
        IMAGE_SERVICE_ENDPOINT=f"unix://{sock.path}",
    )
    key, value = marker.split("=")
    env[key] = value
    yield env, marker
    sock.close()
    for pid in processes_with(marker):  # never leave anything behind, whatever the test found
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start(env, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", MAIN, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def started_tools(proc: subprocess.Popen, count: int = 1) -> bool:
    return wait_for(lambda: len(descendants(proc.pid)) >= count, timeout=15)


@pytest.mark.parametrize(
    "sig, code, words",
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "terminated by SIGTERM"),
        (signal.SIGHUP, 129, "terminated by SIGHUP"),
    ],
)
def test_a_signal_ends_a_listing_stuck_on_a_hung_backend_at_once(hung, sig, code, words):
    env, marker = hung
    proc = start(env, "-t", "60", "images", "-b", "ctr")
    assert started_tools(proc), "ctr never started"
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("ctrtool was still running 3 s after the signal")
    assert proc.returncode == code, err
    assert f"ctrtool: error: {words}".encode() in err and b"Traceback" not in err
    assert processes_with(marker) == [], "a tool outlived ctrtool"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_every_backend_hung_and_a_signal_leaves_no_tool_behind(hung, sig):
    """--all-backends: each backend's tools run in a thread of their own (ctr lists namespaces and
    plugins at the same time): all of them end with ctrtool."""
    env, marker = hung
    proc = start({**env, "PYTHONFAULTHANDLER": "1"}, "-t", "60", "images", "--all-backends")
    assert started_tools(proc, 3), "the tools never started"
    proc.send_signal(sig)
    try:
        proc.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER: where it was stuck
        _out, err = proc.communicate()
        pytest.fail(f"ctrtool was still running 3 s after the signal: {err.decode()[-5000:]}")
    assert proc.returncode == 128 + sig
    assert processes_with(marker) == [], "a tool outlived ctrtool"


def _signal_thread(pid: int, tid: int, sig: int) -> None:
    """tgkill(2): a signal to one thread of another process, as the kernel may choose on its own."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(234, pid, tid, int(sig)) != 0:  # SYS_tgkill on x86-64
        raise OSError(ctypes.get_errno(), f"tgkill({pid}, {tid}, {sig})")


def _threads_taking(pid: int, sig: int) -> list[int]:
    """The threads of ``pid`` other than its main thread that do not block ``sig``."""
    tids = []
    for name in os.listdir(f"/proc/{pid}/task"):
        tid = int(name)
        if tid == pid:
            continue
        with open(f"/proc/{pid}/task/{tid}/status") as fh:
            blocked = next(int(line.split()[1], 16) for line in fh if line.startswith("SigBlk:"))
        if not blocked & (1 << (int(sig) - 1)):
            tids.append(tid)
    return tids


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the tgkill syscall number is x86-64's")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_the_kernel_gives_a_backends_thread_still_ends_ctrtool_at_once(hung, sig):
    """The kernel hands a process-directed signal to any thread that does not block it. Given to
    a backend's thread, it only set a flag, and the main thread, asleep in its wait for every
    backend, slept on until docker's Engine API request (no tool that ending the children would
    stop) ran into its 60 s timeout: CI saw it once in 2,082 tests. Here it goes to such a thread
    every time."""
    env, marker = hung
    proc = start(env, "-t", "60", "images", "--all-backends")
    assert started_tools(proc, 3), "the tools never started"
    workers = _threads_taking(proc.pid, sig)
    assert workers, "no backend thread"
    _signal_thread(proc.pid, workers[-1], sig)
    try:
        _out, err = proc.communicate(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("ctrtool was still running 3 s after the signal")
    assert proc.returncode == 128 + sig, err
    assert b"Traceback" not in err, err
    assert processes_with(marker) == [], "a tool outlived ctrtool"


def test_timeout_from_outside_leaves_no_tool_behind(hung):
    """`timeout 5 ctrtool ...`: SIGTERM to ctrtool alone, not to its tools' process groups."""
    env, marker = hung
    proc = subprocess.run(
        ["timeout", "5", sys.executable, "-c", MAIN, "-t", "60", "ps", "--all-backends"],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert proc.returncode == 124, proc.stderr  # timeout(1) says it had to stop it
    assert b"terminated by SIGTERM" in proc.stderr and b"Traceback" not in proc.stderr, proc.stderr.decode()
    assert processes_with(marker) == [], proc.stderr


def test_the_internal_timeout_ends_the_tools(hung):
    env, marker = hung
    proc = subprocess.run(
        [sys.executable, "-c", MAIN, "-t", "1", "images", "--all-backends"], env=env, capture_output=True, timeout=30
    )
    assert proc.returncode == 1
    assert proc.stderr.count(b"timed out after 1s") == 3, proc.stderr
    assert processes_with(marker) == []


def test_a_change_looked_up_while_a_backend_hangs_is_refused(hung, tmp_path):
    """Without --backend, a change needs every backend's answer: one that hangs may hold the same
    name. Here all of them hang; the refusal names them and says to use --backend (exit 3), and
    --dry-run says the same."""
    env, marker = hung
    for dry in ([], ["--dry-run"]):
        proc = subprocess.run(
            [sys.executable, "-c", MAIN, "-t", "1", "rmi", "--yes", *dry, "localhost/app:1"],
            env=env,
            capture_output=True,
            timeout=30,
        )
        assert proc.returncode == 3, proc.stderr
        error, hint = proc.stderr.decode().splitlines()
        assert error.startswith(
            "ctrtool: error: cannot tell where image 'localhost/app:1' is: docker, ctr, crictl did not answer"
        )
        assert "timed out after 1s" in error
        assert "nothing was changed" in hint and "--backend" in hint
        assert proc.stdout == b""
    assert processes_with(marker) == []


def test_sigterm_during_a_save_keeps_the_old_file_and_removes_the_temporary_one(tmp_path):
    """runner.run_to_file, as `save` uses it, with a tool that has written part of an archive
    when SIGTERM comes: the existing file is untouched, the temporary file is gone, and so is
    the tool (its whole process group)."""
    target = tmp_path / "image.tar"
    target.write_bytes(b"the good archive")
    marker = f"CTRTOOL_FAULT_MARK={uuid.uuid4().hex}"
    # main()'s process-wide set-up (streams, signal handlers), then a long write in place of a command
    code = (
        "from ctrtool import runner; import ctrtool.cli as c; c._stdio(); c._handle_signals(); "
        f"runner.run_to_file(['sh', '-c', 'printf partial; sleep 60 & wait'], {str(target)!r})"
    )
    key, value = marker.split("=")
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, key: value},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )

    def partial() -> bool:
        return any(p.name.endswith(".ctrtool-part") and p.stat().st_size for p in tmp_path.iterdir())

    assert wait_for(partial, timeout=15), "the tool never wrote"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    assert target.read_bytes() == b"the good archive"
    assert [p.name for p in tmp_path.iterdir()] == ["image.tar"]
    assert wait_for(lambda: processes_with(marker) == [], timeout=5), "the tool outlived ctrtool"


def test_passthrough_passes_a_sigint_sent_to_ctrtool_alone(tmp_path):
    """logs -f and exec share ctrtool's process group, so Ctrl-C on a terminal reaches them; a
    SIGINT sent to ctrtool alone (a supervisor, kill -INT) is passed on, and ctrtool reports the
    tool's status."""
    ready = tmp_path / "ready"
    code = (
        "import sys; from ctrtool import runner; "
        f"got = runner.run_passthrough(['sh', '-c', 'trap \"exit 7\" INT; touch {ready}; "
        "while :; do sleep 0.1; done'], stdin=False); print(got.returncode)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    assert wait_for(ready.exists, timeout=15)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert out.strip() == b"7", err


def test_sigterm_during_a_copy_ends_both_sides(tmp_path):
    """runner.run_pipe, as `copy` uses it (source | ctrtool | target), with both sides still
    running when SIGTERM comes: both process groups end with ctrtool."""
    marker = f"CTRTOOL_FAULT_MARK={uuid.uuid4().hex}"
    ready = tmp_path / "ready"
    code = (
        "from ctrtool import runner; import ctrtool.cli as c; c._stdio(); "
        "c._handle_signals(); "
        f"runner.run_pipe(['sh', '-c', 'printf data; touch {ready}; sleep 60 & wait'], "
        "['sh', '-c', 'cat >/dev/null; sleep 60 & wait'], progress=False)"
    )
    key, value = marker.split("=")
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, key: value},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert wait_for(ready.exists, timeout=15), "the source never ran"
    assert wait_for(lambda: len(processes_with(marker)) >= 5, timeout=10)  # ctrtool, 2 shells, 2 sleeps (+cat)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    assert wait_for(lambda: processes_with(marker) == [], timeout=5), "a side of the copy outlived ctrtool"


@pytest.mark.parametrize("call", ["run", "run_pipe"])
def test_a_signal_while_a_tool_is_starting_still_ends_it(call):
    """The signal handler used to raise inside Popen, after the fork: the tool started but was
    never recorded, so nothing ended it (seen once under load in CI: a side of a copy outlived
    ctrtool). A Popen that gets SIGTERM right after starting its tool shows it."""
    marker = f"CTRTOOL_FAULT_MARK={uuid.uuid4().hex}"
    key, value = marker.split("=")
    tool = "['sh', '-c', 'sleep 60 & wait']"
    action = f"runner.run({tool}, timeout=30)" if call == "run" else f"runner.run_pipe({tool}, {tool}, progress=False)"
    code = (
        "import os, signal, subprocess\n"
        "from ctrtool import runner\n"
        "import ctrtool.cli as c\n"
        "c._stdio(); c._handle_signals()\n"
        "real = subprocess.Popen\n"
        "class Signalled(real):\n"
        "    def __init__(self, *a, **k):\n"
        "        super().__init__(*a, **k)\n"
        "        os.kill(os.getpid(), signal.SIGTERM)  # handled here, inside Popen\n"
        "        for _ in range(1000): pass\n"
        "subprocess.Popen = Signalled\n"
        "try:\n"
        f"    {action}\n"
        "except KeyboardInterrupt as exc:\n"
        "    print(type(exc).__name__, getattr(exc, 'signum', None))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, key: value}, capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.strip() == f"Terminated {int(signal.SIGTERM)}", proc.stderr
    assert wait_for(lambda: processes_with(marker) == [], timeout=5), "the tool outlived ctrtool"
