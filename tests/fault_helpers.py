"""Helpers for the fault tests: ctrtool as a subprocess with no reachable backend, its stderr's
shape, a unix socket that accepts and never answers (a hung daemon), and the process table."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

# every exit status ctrtool documents (docs/reference.md, "Exit status")
EXIT_CODES = {0, 1, 2, 3, 4, 5, 129, 130, 141, 143}


def offline_env(tmp_path, **extra: str) -> dict[str, str]:
    """An environment where every backend's endpoint is a socket that does not exist, and no
    config file of the machine's is read."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("CTRTOOL_", "DOCKER_", "CONTAINERD_", "CONTAINER_RUNTIME", "IMAGE_SERVICE", "CRI_", "CONTAINERS_")
        )
    }
    # no user's rootless podman store of this machine: a passwd file with no users
    no_users = tmp_path / "no-users.passwd"
    no_users.touch()
    env.update(
        {
            "XDG_CONFIG_HOME": str(tmp_path / "no-config"),
            "HOME": str(tmp_path),
            "NO_COLOR": "1",
            "DOCKER_HOST": f"unix://{tmp_path}/nonexistent-docker.sock",
            "CONTAINERD_ADDRESS": f"{tmp_path}/nonexistent-containerd.sock",
            "CONTAINER_RUNTIME_ENDPOINT": f"unix://{tmp_path}/nonexistent-cri.sock",
            "CTRTOOL_PASSWD_FILE": str(no_users),
        }
    )
    env.update(extra)
    return env


def run_ctrtool(*args: str, env: dict[str, str], timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """ctrtool as the user runs it (the console script's main())."""
    code = "import sys; from ctrtool.launch import main; sys.argv[0] = 'ctrtool'; main()"
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.run([sys.executable, "-c", code, *args], env=env, timeout=timeout, **kwargs)


def assert_one_error(proc: subprocess.CompletedProcess, code: int | None = None) -> str:
    """No traceback; stderr is one error line (and an optional hint line) in the project's
    format. Returns the error line."""
    err = proc.stderr.decode(errors="replace") if isinstance(proc.stderr, bytes) else proc.stderr or ""
    out = proc.stdout.decode(errors="replace") if isinstance(proc.stdout, bytes) else proc.stdout or ""
    assert "Traceback" not in err + out, err
    if code is not None:
        assert proc.returncode == code, (proc.returncode, err)
    lines = err.splitlines()
    assert 1 <= len(lines) <= 2, err
    assert lines[0].startswith("ctrtool: error: "), err
    if len(lines) == 2:
        assert lines[1].startswith("  hint: "), err
    return lines[0]


class HungSocket:
    """A unix socket that accepts every connection and never answers: a daemon that hangs."""

    def __init__(self, path: str):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(64)
        self.conns: list[socket.socket] = []
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.conns.append(conn)

    def close(self) -> None:
        self.stop = True
        self.thread.join(timeout=2)
        for conn in self.conns:
            conn.close()
        self.sock.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


def descendants(pid: int) -> list[int]:
    """Every living process whose ancestry leads to ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found += kids
        todo += kids
    return found


def processes_with(marker: str) -> list[int]:
    """Living processes whose environment holds ``marker`` (children of a ctrtool run inherit its
    environment, so this finds them even after they were re-parented to PID 1)."""
    found = []
    needle = marker.encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle not in fh.read():
                    continue
            with open(f"/proc/{entry}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        found.append(int(entry))
    return found


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
