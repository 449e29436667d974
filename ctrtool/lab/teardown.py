"""Taking a lab down: leftover containerd shims, mounts under the lab directory, the lab's network
(its bridge, libcni's cached results) and the purge of the directory. The daemons themselves are
stopped by the supervisor (:func:`ctrtool.lab.supervisor.stop_daemon`)."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import time
from collections.abc import Sequence
from typing import Protocol

from .. import runner
from .common import LabError, Progress, find_binary
from .supervisor import all_pids, cmdline, has_option, pid_alive, ppid, stop_pid

CNI_RESULTS_DIR = "/var/lib/cni/results"


def down_result(directory: pathlib.Path) -> dict:
    """What ``down`` reports (the JSON of ``lab down -o json``), empty."""
    return {
        "directory": str(directory),
        "workloads": {},
        "stopped": [],
        "shims": [],
        "unmounted": [],
        "removed": [],
        "purged": False,
        "warnings": [],
    }


# ---- shims -----------------------------------------------------------------------------------------


def is_shim_of(pid: int, socket: pathlib.Path) -> bool:
    """The process is a containerd shim of the containerd listening on ``socket``."""
    argv = cmdline(pid)
    return (
        bool(argv)
        and os.path.basename(argv[0]).startswith("containerd-shim")
        and has_option(argv, "-address", str(socket))
    )


def shims_of(socket: pathlib.Path) -> list[int]:
    return sorted(pid for pid in all_pids() if pid != os.getpid() and is_shim_of(pid, socket))


def stop_shim(pid: int, socket: pathlib.Path) -> None:
    """A shim left behind: kill the container processes it parents, then the shim."""
    children = [p for p in all_pids() if ppid(p) == pid]
    for child in children:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    stop_pid(pid, lambda p: is_shim_of(p, socket), timeout=5.0)


# ---- processes that refer to a lab directory (the CRI-O lab's conmons and containers) -------------

# the tools whose processes a lab leaves behind; a process refers to a lab only when it runs one of
# these (a person's shell in the lab directory, or `tail -f` of a log there, is not the lab's)
CONTAINER_TOOLS = ("conmon", "runc", "crun", "crio", "pinns", "podman", "catatonit")


def _refers_to(pid: int, root: str) -> bool:
    def inside(path: str) -> bool:
        return path == root or path.startswith(root + "/")

    argv = cmdline(pid)
    if not argv or os.path.basename(argv[0]) not in CONTAINER_TOOLS:
        return False
    if any(inside(a) or f"={root}/" in a or a.endswith(f"={root}") for a in argv):
        return True
    try:
        return inside(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return False


def _cgroups(pid: int) -> set[str]:
    """hierarchy:path of every cgroup the process is in, but the root's."""
    try:
        lines = pathlib.Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return set()
    out = set()
    for line in lines:
        _, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if path not in ("", "/"):
            out.add(f"{controllers}:{path}")
    return out


def processes_of(directory: pathlib.Path) -> list[int]:
    """Pids of the processes a lab left under ``directory``: the container tools (conmon, runc,
    podman, ...) whose command line names a path in it or that work in it, every descendant of those, and
    every process in the cgroups of those descendants that are containers (not the conmons, whose
    cgroup podman shares with every other podman). Never this process or its ancestors."""
    root = str(directory).rstrip("/")
    mine = {os.getpid()}
    parent = ppid(os.getpid())
    while parent and parent not in mine:
        mine.add(parent)
        parent = ppid(parent)
    pids = [p for p in all_pids() if p not in mine]
    children: dict[int, list[int]] = {}
    for pid in pids:
        children.setdefault(ppid(pid) or 0, []).append(pid)
    seeds = {p for p in pids if _refers_to(p, root)}
    found, todo = set(seeds), list(seeds)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child not in mine:
                found.add(child)
                todo.append(child)
    groups: set[str] = set()
    for pid in found - seeds:
        groups |= _cgroups(pid)
    for pid in seeds | mine:  # a cgroup a conmon (or we) are in may hold other labs' processes
        groups -= _cgroups(pid)
    if groups:
        found |= {p for p in pids if _cgroups(p) & groups}
    return sorted(found - mine)


def kill_processes(pids: Sequence[int], timeout: float = 5.0) -> list[int]:
    """SIGKILL each (still alive) pid, wait up to ``timeout`` for them to be gone; those still there."""
    for pid in pids:
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    return [p for p in pids if pid_alive(p)]


# ---- mounts ----------------------------------------------------------------------------------------


def unescape(field: str) -> str:
    """A mountinfo field: space, tab, newline and backslash are escaped as \\ooo."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and len(field[i + 1 : i + 4]) == 3 and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mount_points() -> list[str]:
    try:
        lines = pathlib.Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    return [unescape(f[4]) for line in lines if len(f := line.split(" ")) >= 5]


def is_mount_point(path: pathlib.Path) -> bool:
    return str(path) in _mount_points()


def mounts_under(directory: pathlib.Path) -> list[str]:
    """Mount points under ``directory``, deepest first."""
    root = str(directory).rstrip("/")
    found = [point for point in _mount_points() if point == root or point.startswith(root + "/")]
    # deepest first; a path mounted twice is listed twice, and unmounted twice
    return sorted(found, key=lambda p: (p.count("/"), len(p)), reverse=True)


def unmount_all(directory: pathlib.Path, warnings: list[str], progress: Progress) -> list[str]:
    umount = find_binary("umount") or "umount"
    done: list[str] = []
    for _ in range(3):
        mounts = mounts_under(directory)
        if not mounts:
            break
        for point in mounts:
            res = runner.run([umount, point], timeout=30, check=False)
            if res.returncode != 0:
                res = runner.run([umount, "-l", point], timeout=30, check=False)
            if res.returncode == 0:
                progress(f"unmounted {point}")
                done.append(point)
    left = mounts_under(directory)
    if left:
        warnings.append(f"still mounted under {directory}: {', '.join(left[:5])}")
    return done


# ---- network ---------------------------------------------------------------------------------------


def remove_cni_results(network_name: str, containerd_dir: pathlib.Path) -> list[str]:
    """libcni's cached results of a lab's pods, left in /var/lib/cni/results when a pod was not torn
    down through CNI (daemons killed): ours by network name, or by the sandbox ids of the containerd
    whose directory is ``containerd_dir``."""
    results = pathlib.Path(CNI_RESULTS_DIR)
    if not results.is_dir():
        return []
    sandboxes: set[str] = set()
    for base in (containerd_dir / "state", containerd_dir / "root"):
        d = base / "io.containerd.grpc.v1.cri" / "sandboxes"
        if d.is_dir():
            sandboxes.update(p.name for p in d.iterdir())
    removed = []
    for entry in results.iterdir():
        ours = entry.name.startswith(network_name + "-") or any(
            entry.name == f"cni-loopback-{sid}-lo" for sid in sandboxes
        )
        if ours and entry.is_file():
            entry.unlink()
            removed.append(str(entry))
    return removed


def bridge_exists(bridge: str) -> bool:
    return pathlib.Path(f"/sys/class/net/{bridge}").exists()


def delete_bridge(bridge: str, warnings: list[str]) -> bool:
    if not bridge_exists(bridge):
        return False
    ip = find_binary("ip")
    if not ip:
        warnings.append(f"bridge {bridge} left in place: `ip` not found (package iproute2)")
        return False
    res = runner.run([ip, "link", "delete", bridge, "type", "bridge"], timeout=15, check=False)
    if res.returncode != 0:
        warnings.append(f"could not delete bridge {bridge}: {res.stderr.strip()}")
        return False
    return True


# ---- purge -----------------------------------------------------------------------------------------


class RuntimeDirs(Protocol):
    """What a purge asks of each containerd of the lab."""

    @property
    def containerd_dir(self) -> pathlib.Path: ...

    @property
    def shim_socket_dir(self) -> pathlib.Path: ...


def purge(
    directory: pathlib.Path,
    marker: pathlib.Path,
    network_name: str,
    result: dict,
    progress: Progress,
    runtimes: Sequence[RuntimeDirs],
) -> None:
    """Remove the lab directory, once it is certainly a lab's (``marker``) and nothing of it runs or
    is mounted there; then the shims' socket directories of ``runtimes`` kept outside it."""
    if not marker.exists():
        raise LabError(
            f"not removing {directory}: it has no {marker.name} marker, so it "
            "is not a lab directory made by `ctrtool lab up`",
            "remove it by hand if it really is a lab directory",
        )
    if any(pid_alive(s["pid"]) for s in result["stopped"]):
        raise LabError(
            f"not removing {directory}: a lab daemon is still running",
            "`ctrtool lab status` shows it; run down --purge again",
        )
    remaining = mounts_under(directory)
    if remaining:
        raise LabError(
            f"not removing {directory}: still mounted under it: {remaining[0]}",
            f"unmount it by hand (`umount -l {remaining[0]}`), then run down --purge again",
        )
    for runtime in runtimes:
        result["removed"] += remove_cni_results(network_name, runtime.containerd_dir)
    progress(f"removing {directory}")
    shutil.rmtree(directory)
    result["purged"] = True
    for runtime in runtimes:
        outside = runtime.shim_socket_dir
        if not outside.is_relative_to(directory) and outside.is_dir():
            try:
                outside.rmdir()  # empty once every shim is gone
                result["removed"].append(str(outside))
            except OSError as exc:
                result["warnings"].append(f"{outside} left in place: {exc.strerror}")
