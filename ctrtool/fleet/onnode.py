"""What runs on a node, inside ctrtool's node image, chrooted to the host's root.

``python -m ctrtool.fleet.onnode run NODE REPORTS_JSON``

1. finds this node's container tooling from the host's processes (read only, /proc): the kubelet
   of node NODE (its ``--hostname-override``, else the only kubelet) and, from its config file, the
   CRI endpoint it uses (``containerRuntimeEndpoint``); that socket is also ctr's containerd
   address when containerd serves it; the dockerd that runs on that containerd (``--containerd``),
   else the only dockerd (unless it runs on another node's containerd: several nodes on one host);
   when CRI-O serves the CRI endpoint instead, its pid and graph root (``--root`` or its config's
   ``root``: where its containers/storage store is); the directories of the running containerd and dockerd binaries go first
   on PATH, so ctr and docker are the daemons' own versions;
2. runs each report (a ctrtool command line, read-only commands only, ``-o json``) as ctrtool
   itself, in a forked child with those endpoints in its environment, capturing its stdout, stderr
   and exit status;
3. prints ONE line: ``ctrtool-node-result:1 `` then base64 of the gzip of a JSON object (the
   node, ctrtool's version, the endpoints and how each was found, each report's argv, exit
   status, stdout and stderr). ``ctrtool nodes`` reads it from the pod's log.

``python -m ctrtool.fleet.onnode probe`` prints one JSON line: the Python and ctrtool versions, and
the root this process sees (a check that the image's Python runs on the host).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys
import time
from typing import Any

from ..adapters.descriptor import NodeDaemon

MARKER = "ctrtool-node-result:1 "
# the commands a node may be asked to run: read-only reports
REPORTS = ("images", "df", "doctor", "layers", "info")


def discover(node: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(environment for ctrtool, what was found and how) for node ``node``."""
    from ..config import socket_path
    from ..doctor.procs import DEFAULT_CRI, crio_serving, crio_storage_setting, kubelets, processes, serving
    from ..doctor.procs import option_values as options

    found: dict[str, Any] = {"node": node, "notes": []}
    env: dict[str, str] = {}
    running = kubelets()
    chosen = next((k for k in running if k.node == node.lower()), None)
    if chosen is None and len(running) == 1:
        chosen = running[0]
    cri = None
    if chosen is None:
        found["notes"].append(
            f"no kubelet process for node {node} (of {len(running)} kubelet(s)): the tools' own defaults are used"
        )
    else:
        found["kubelet"] = {"pid": chosen.pid, "config": chosen.config_path}
        if chosen.config_file:
            env["CTRTOOL_KUBELET_CONFIG"] = chosen.config_file
        cri = chosen.endpoint
        env["CONTAINER_RUNTIME_ENDPOINT"] = chosen.endpoint
        env["IMAGE_SERVICE_ENDPOINT"] = chosen.image_endpoint
        found["cri"] = {"endpoint": chosen.endpoint, "from": f"the kubelet's {chosen.endpoint_from}"}
    path_dirs: list[str] = []
    containerd = serving(cri or DEFAULT_CRI)
    if containerd is not None:
        env["CONTAINERD_ADDRESS"] = socket_path(containerd.address)
        found["containerd"] = {"pid": containerd.pid, "address": containerd.address, "config": containerd.config_path}
        exe = _exe(containerd.pid)
        if exe:
            path_dirs.append(os.path.dirname(exe))
    elif cri:
        crio = crio_serving(cri)
        if crio is not None:  # a CRI runtime with its own store: containers/storage
            pid, argv = crio
            root = crio_storage_setting(pid, argv, "root")
            found["crio"] = {
                "pid": pid,
                "root": root.value if root else None,
                "root_from": root.source if root else None,
            }
        else:
            found["notes"].append(f"no containerd serves {cri}: ctr is left to its defaults")
    dockerds = processes("dockerd")
    docker = None
    if containerd is not None:
        want = os.path.realpath(socket_path(containerd.address))
        on_ours = [(p, a) for p, a in dockerds if any(os.path.realpath(c) == want for c in options(a, "--containerd"))]
        docker = on_ours[0] if len(on_ours) == 1 else None
    if docker is None and len(dockerds) == 1 and not _on_other_node(dockerds[0][1], running, chosen):
        docker = dockerds[0]
    if docker is not None:
        pid, argv = docker
        hosts = [h for h in options(argv, "-H", "--host") if h.startswith(("unix://", "/"))]
        host = hosts[0] if hosts else "unix:///var/run/docker.sock"
        env["DOCKER_HOST"] = host if host.startswith("unix://") else "unix://" + host
        found["docker"] = {"pid": pid, "host": env["DOCKER_HOST"]}
        exe = _exe(pid)
        if exe:
            path_dirs.append(os.path.dirname(exe))
    elif dockerds and containerd is None and len(dockerds) == 1:
        found["notes"].append("the only dockerd runs on another node's containerd: docker left out")
    elif dockerds:
        found["notes"].append(f"{len(dockerds)} dockerd processes, none on this node's containerd: docker left out")
    found["backends"] = node_backends(
        {NodeDaemon.OWN: docker, NodeDaemon.CONTAINERD: containerd, NodeDaemon.CRI: chosen or containerd}
    )
    env["PATH"] = ":".join(dict.fromkeys([*path_dirs, *os.environ.get("PATH", "").split(":")]))
    return env, found


def _on_other_node(dockerd_argv: list[str], running: list[Any], chosen: Any) -> bool:
    """The dockerd runs on the containerd of another node's kubelet (several nodes on one host, as
    in a lab: the only dockerd there is not this node's when this node's runtime is not that
    containerd, e.g. a CRI-O node beside containerd nodes)."""
    from ..config import socket_path
    from ..doctor.procs import option_values

    theirs = {os.path.realpath(socket_path(k.endpoint)) for k in running if k is not chosen}
    return any(os.path.realpath(socket_path(c)) in theirs for c in option_values(dockerd_argv, "--containerd"))


def node_backends(daemons: dict[NodeDaemon, Any]) -> list[str]:
    """The backends this node has: each one whose daemon (its descriptor's ``node_daemon``) was
    found, in the registry's order."""
    from ..adapters import all_descriptors

    return [d.name for d in all_descriptors() if daemons.get(d.node_daemon) is not None]


def _exe(pid: int) -> str | None:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None
    return exe if os.path.isabs(exe) and " (deleted)" not in exe else None


def _capture(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``ctrtool ARGV`` in a forked child (ctrtool's own main, its own signal handling and
    exit status), stdout and stderr into files."""
    import tempfile

    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: becomes `ctrtool ARGV`
            code = 1
            try:
                os.dup2(out.fileno(), 1)
                os.dup2(err.fileno(), 2)
                os.environ.update(env)
                sys.argv = ["ctrtool", *argv]
                import runpy

                # ctrtool as a program (its __main__), in this forked interpreter: fleet imports no CLI
                runpy.run_module("ctrtool", run_name="__main__", alter_sys=True)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except BaseException:  # noqa: BLE001  (said on stderr, which is captured)
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "argv": argv,
            "exit": code if code >= 0 else 128 - code,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
            "seconds": round(time.monotonic() - started, 3),
        }


def check_reports(reports: Any) -> list[list[str]]:
    """The reports asked for, refused unless each is a read-only ctrtool command line."""
    if not isinstance(reports, list) or not reports:
        raise ValueError("REPORTS must be a non-empty JSON list of ctrtool command lines")
    out = []
    for argv in reports:
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError(f"not a command line: {argv!r}")
        if argv[0] not in REPORTS:
            raise ValueError(f"not a read-only report: {argv[0]!r} (allowed: {', '.join(REPORTS)})")
        out.append(argv)
    return out


def with_backends(argv: list[str], backends: list[str]) -> list[str]:
    """A listing that names no backend asks the ones this node has (a docker CLI with no dockerd
    on the node is not a failure of the node)."""
    if argv[0] not in ("images", "df", "layers", "info") or not backends:
        return argv
    if any(a in ("-b", "--backend", "-A", "--all-backends") or a.startswith("--backend=") for a in argv):
        return argv
    return [argv[0], *(x for b in backends for x in ("-b", b)), *argv[1:]]


def encode(result: dict[str, Any]) -> str:
    return MARKER + base64.b64encode(gzip.compress(json.dumps(result).encode(), mtime=0)).decode()


def decode(log: str) -> dict[str, Any] | None:
    """The result line in a pod's log (the last one), or None."""
    for line in reversed(log.splitlines()):
        if line.startswith(MARKER):
            try:
                value = json.loads(gzip.decompress(base64.b64decode(line[len(MARKER) :].strip())))
            except (ValueError, OSError, EOFError):
                return None
            return value if isinstance(value, dict) else None
    return None


def main(argv: list[str]) -> int:
    from .. import __version__

    if argv[:1] == ["probe"]:
        print(json.dumps({"python": sys.version.split()[0], "ctrtool": __version__, "cwd": os.getcwd()}))
        return 0
    if len(argv) != 3 or argv[0] != "run":
        print("usage: python -m ctrtool.fleet.onnode run NODE REPORTS_JSON | probe", file=sys.stderr)
        return 2
    node = argv[1]
    try:
        reports = check_reports(json.loads(argv[2]))
    except ValueError as exc:
        print(f"ctrtool-node: error: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    # the image's Python needs these to start; the host's tools that ctrtool runs must not see them
    for name in ("PYTHONHOME", "PYTHONPATH", "PYTHONNOUSERSITE", "PYTHONDONTWRITEBYTECODE", "PYTHONUTF8"):
        os.environ.pop(name, None)
    env, found = discover(node)
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "CTRTOOL_NODE": node})
    results = [_capture(with_backends(r, found["backends"]), env) for r in reports]
    print(
        encode(
            {
                "node": node,
                "ctrtool": __version__,
                "found": found,
                "reports": results,
                "seconds": round(time.monotonic() - started, 3),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
