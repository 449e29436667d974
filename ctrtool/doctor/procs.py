"""The containerd serving a socket, found from /proc (read only): its command line, the config file
it was started with, and what that file says (TOML read with tomllib where Python has it, else the
few top-level keys doctor needs, line by line).

What /proc says is believed only from processes owned by root or by the user running ctrtool: a
process another user started may be named ``containerd`` and name any file as its ``--config``
(a FIFO, /dev/zero, a file claiming someone else's socket). Such a process is a claim
(:func:`claims`), never read and never blamed. The daemon behind a socket is the one the socket
names (SO_PEERCRED on a connection to it); matching a config's ``grpc.address`` is the fallback
when the socket does not say. Config files are read through :mod:`ctrtool.safeio` (a regular file
owned by root or by us, without blocking, at most 1 MiB) and their values type-checked."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CONFIG = "/etc/containerd/config.toml"
DEFAULT_ADDRESS = "/run/containerd/containerd.sock"


@dataclass
class Daemon:
    pid: int
    cmdline: list[str]
    config_path: str
    config_text: str | None
    config: dict[str, Any] = field(default_factory=dict)
    config_problem: str | None = None  # why the config file was not read or not believed

    @property
    def address(self) -> str:
        grpc = self.config.get("grpc")
        return str((grpc.get("address") if isinstance(grpc, dict) else None) or DEFAULT_ADDRESS)

    @property
    def version(self) -> int:
        """The config file's version (1.x: 1 or 2; 2.x: 3 or later); 1 when it says none."""
        try:
            return int(self.config.get("version") or 1)
        except (TypeError, ValueError):
            return 1

    def line_of(self, key: str) -> tuple[int, str] | None:
        """The (1-based) number and text of the top-level line that sets ``key``."""
        for number, line in enumerate((self.config_text or "").splitlines(), 1):
            if re.match(rf"\s*{re.escape(key)}\s*=", line):
                return number, line
            if line.lstrip().startswith("["):
                return None
        return None


def config_argument(argv: list[str]) -> str:
    for i, arg in enumerate(argv):
        if arg in ("--config", "-c") and i + 1 < len(argv):
            return argv[i + 1]
        for prefix in ("--config=", "-c="):
            if arg.startswith(prefix):
                return arg[len(prefix) :]
    return DEFAULT_CONFIG


def parse_config(text: str) -> dict[str, Any]:
    """The keys doctor uses, type-checked: ``version`` an int, ``disabled_plugins`` a list of
    strings, ``grpc.address`` a string, ``plugins`` a mapping; a value of another type is left out."""
    return _checked(_parse_config(text))


def _checked(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    version = out.get("version")
    if "version" in out and (isinstance(version, bool) or not isinstance(version, int) or not 0 < version < 100):
        del out["version"]
    disabled = out.get("disabled_plugins")
    if "disabled_plugins" in out and (not isinstance(disabled, list) or not all(isinstance(p, str) for p in disabled)):
        del out["disabled_plugins"]
    grpc = out.get("grpc")
    if "grpc" in out:
        address = grpc.get("address") if isinstance(grpc, dict) else None
        out["grpc"] = {"address": address} if isinstance(address, str) and address else {}
    if "plugins" in out and not isinstance(out["plugins"], dict):
        del out["plugins"]
    return out


def _parse_config(text: str) -> dict[str, Any]:
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]

        return dict(tomllib.loads(text))
    except ImportError:
        pass
    except (ValueError, RecursionError):
        return {}
    out: dict[str, Any] = {}
    section = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.strip("[] ")
            continue
        m = re.match(r"([A-Za-z_]+)\s*=\s*(.+)$", stripped)
        if not m:
            continue
        key, value = m[1], m[2].strip()
        if section == "" and key == "version":
            out["version"] = int(value) if value.isdigit() else value
        elif section == "" and key == "disabled_plugins":
            out["disabled_plugins"] = [a or b for a, b in re.findall(r'"([^"]*)"|\'([^\']*)\'', value)]
        elif section == "grpc" and key == "address":
            out.setdefault("grpc", {})["address"] = value.strip("\"'")
    return out


def trusted(uid: int) -> bool:
    """Whether what a process or file owned by ``uid`` says is believed: root's, and our own."""
    return uid == 0 or uid == os.geteuid()


def read_config(pid: int, path: str) -> tuple[str | None, str | None]:
    """(text, problem) of a daemon's config file: through safeio, and believed only if a user
    we trust owns it."""
    from .. import safeio
    from ..errors import ConfigError

    try:
        if not trusted(os.stat(path).st_uid):
            return None, f"{path} is owned by another user (uid {os.stat(path).st_uid}): not believed"
        return safeio.read_text(path, safeio.CONTAINERD_CONFIG_LIMIT, "containerd config"), None
    except OSError as exc:
        return None, f"{path}: {exc.strerror}"
    except ConfigError as exc:
        return None, exc.message


def containerd_daemons() -> list[Daemon]:
    """Every containerd process this user may look at and believe (owned by root or by us)."""
    found = []
    for pid, argv in processes("containerd"):
        path = config_argument(argv)
        text, problem = read_config(pid, path)
        found.append(Daemon(pid, argv, path, text, parse_config(text) if text else {}, problem))
    return found


def peer(address: str, timeout: float = 1.0) -> tuple[int, int] | None:
    """(pid, uid) of the process listening on the unix socket ``address``, as the kernel says it
    (SO_PEERCRED on a connection): who serves a socket is a fact of the socket, not of a name in
    /proc. None when it cannot be connected to (or the pid is in another pid namespace: 0)."""
    import socket
    import struct

    from ..config import socket_path

    if not hasattr(socket, "SO_PEERCRED"):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path(address))
        pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    except (OSError, ValueError):
        return None
    finally:
        sock.close()
    return (pid, uid) if pid > 0 else None


def serving(address: str | None) -> Daemon | None:
    """The containerd serving ``address``: the process the socket names (SO_PEERCRED), when it is
    a containerd we believe; else the believed containerd (owned by root or us) whose config's
    grpc address is ``address``. A socket another user listens on names no daemon."""
    from ..config import socket_path

    if not address:
        return None
    daemons = containerd_daemons()
    named = peer(address)
    if named is not None:
        pid, uid = named
        if not trusted(uid):
            return None  # another user listens there: nothing of theirs is believed
        found = next((d for d in daemons if d.pid == pid), None)
        if found is not None:
            return found
        # the socket names a process we believe but no containerd here (another pid namespace's
        # view, a wrapper's name): the believed containerd whose config says this address
    want = os.path.realpath(socket_path(address))
    for daemon in daemons:
        if os.path.realpath(daemon.address) == want:
            return daemon
    return None


def claims(name: str) -> list[tuple[int, int, list[str]]]:
    """(pid, uid, argv) of the processes named ``name`` that are not believed: owned by a user
    other than root and us. Shown as claims, never read."""
    return [(pid, uid, argv) for pid, uid, argv in _processes(name) if not trusted(uid)]


def processes(name: str) -> list[tuple[int, list[str]]]:
    """(pid, argv) of every process whose program's base name is ``name``, owned by root or by
    us (what another user's process says about itself is only a claim: :func:`claims`)."""
    return [(pid, argv) for pid, uid, argv in _processes(name) if trusted(uid)]


def _processes(name: str) -> list[tuple[int, int, list[str]]]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            uid = os.stat(f"/proc/{entry}").st_uid
            with open(f"/proc/{entry}/cmdline", "rb") as fh:  # a proc file: never blocks
                argv = [a.decode(errors="replace") for a in fh.read(1 << 20).split(b"\0") if a]
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == name:
            found.append((int(entry), uid, argv))
    return found


DOCKER_CONFIG = "/etc/docker/daemon.json"
DOCKER_SOCKET = "/var/run/docker.sock"


def option_values(argv: list[str], *names: str) -> list[str]:
    values = []
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                values.append(argv[i + 1])
            elif arg.startswith(name + "="):
                values.append(arg.split("=", 1)[1])
    return values


def dockerd_serving(address: str | None) -> tuple[int, list[str], str] | None:
    """(pid, argv, daemon.json path) of the dockerd listening on ``address`` (its -H/--host), from
    /proc; the config file is its --config-file, else /etc/docker/daemon.json."""
    from ..config import socket_path

    if not address:
        return None
    want = os.path.realpath(socket_path(address))
    for pid, argv in processes("dockerd"):
        hosts = option_values(argv, "-H", "--host") or [f"unix://{DOCKER_SOCKET}"]
        if any(os.path.realpath(socket_path(h)) == want for h in hosts if h.startswith(("unix://", "/"))):
            return pid, argv, (option_values(argv, "--config-file") or [DOCKER_CONFIG])[0]
    return None


DEFAULT_CRI = "unix:///run/containerd/containerd.sock"  # the kubelet's default since 1.27


@dataclass
class Kubelet:
    """A running kubelet, from /proc: its node name, config file and the CRI endpoint it uses."""

    pid: int
    argv: list[str]
    node: str  # --hostname-override, else this host's name, lower-cased (as the kubelet does)
    config_path: str | None  # its --config, as the kubelet sees it
    config: dict[str, Any]
    endpoint: str  # --container-runtime-endpoint, else the config's containerRuntimeEndpoint, else the default
    endpoint_from: str
    image_endpoint: str

    @property
    def config_file(self) -> str | None:
        """Its config file, readable from here (through its root: it may run in its own mount namespace)."""
        return in_root_of(self.pid, self.config_path) if self.config_path else None


def in_root_of(pid: int, path: str) -> str:
    """``path`` as process ``pid`` sees it (its root and working directory): the path itself when
    that process has our root and an absolute path; else through /proc/PID/root or cwd."""
    if os.path.isabs(path):
        try:
            ours, theirs = os.stat("/"), os.stat(f"/proc/{pid}/root")
            if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino):
                return path
        except OSError:
            pass
        return f"/proc/{pid}/root{path}"
    return f"/proc/{pid}/cwd/{path}"


def _first(argv: list[str], name: str) -> str | None:
    values = option_values(argv, name)
    return values[0] if values else None


def kubelets() -> list[Kubelet]:
    """Every running kubelet (read only)."""
    import socket

    hostname = socket.gethostname().lower()
    found = []
    for pid, argv in processes("kubelet"):
        path = _first(argv, "--config")
        config: dict[str, Any] = {}
        if path:
            from .. import safeio
            from ..errors import ConfigError

            file = in_root_of(pid, path)
            try:
                loaded = safeio.load_yaml(
                    file, safeio.read_text(file, safeio.KUBELET_CONFIG_LIMIT, "kubelet config"), "kubelet config"
                )
            except ConfigError:  # unreadable, too big, not YAML: the defaults
                loaded = {}
            config = loaded if isinstance(loaded, dict) else {}
            for key in ("containerRuntimeEndpoint", "imageServiceEndpoint"):
                if key in config and not isinstance(config[key], str):
                    del config[key]
        flag = _first(argv, "--container-runtime-endpoint")
        endpoint = flag or config.get("containerRuntimeEndpoint") or DEFAULT_CRI
        how = (
            "--container-runtime-endpoint"
            if flag
            else "containerRuntimeEndpoint in its config"
            if config.get("containerRuntimeEndpoint")
            else "the kubelet's default"
        )
        image = _first(argv, "--image-service-endpoint") or config.get("imageServiceEndpoint") or endpoint
        node = (_first(argv, "--hostname-override") or hostname).lower()
        found.append(Kubelet(pid, argv, node, path, config, str(endpoint), how, str(image)))
    return found


def kubelet_for(endpoint: str | None) -> Kubelet | None:
    """The running kubelet that uses the CRI at ``endpoint``; when ``endpoint`` is None, the only
    kubelet, if exactly one runs."""
    from ..config import socket_path

    running = kubelets()
    if endpoint is None:
        return running[0] if len(running) == 1 else None
    want = os.path.realpath(socket_path(endpoint))
    for k in running:
        if os.path.realpath(socket_path(k.endpoint)) == want:
            return k
    return None


CRIO_CONFIG = "/etc/crio/crio.conf"
CRIO_CONFIG_DIR = "/etc/crio/crio.conf.d"
CRIO_STORAGE_KEYS = {"root": "--root", "runroot": "--runroot", "storage_driver": "--storage-driver"}


@dataclass
class Said:
    """Where a daemon's setting comes from: a command-line flag of its process, or a line of a
    config file (the last that sets it wins: crio.conf, then crio.conf.d/*.conf in name order)."""

    value: str
    source: str  # "/proc/PID/cmdline" or the file's path
    line: int | None = None
    text: str = ""


def crio_serving(address: str | None) -> tuple[int, list[str]] | None:
    """(pid, argv) of the CRI-O process listening on ``address`` (SO_PEERCRED), when root or we own it."""
    if not address:
        return None
    named = peer(address)
    if named is None or not trusted(named[1]):
        return None
    for pid, argv in processes("crio"):
        if pid == named[0]:
            return pid, argv
    return None


def crio_storage_setting(pid: int, argv: list[str], key: str) -> Said | None:
    """Where CRI-O (``pid``, ``argv``) got its storage setting ``key`` (root, runroot,
    storage_driver): its flag, else the last config file line that sets it in the ``[crio]``
    table; None when nothing sets it (CRI-O's default, from storage.conf)."""
    from .. import safeio
    from ..errors import ConfigError

    flag = option_values(argv, CRIO_STORAGE_KEYS[key])
    if flag:
        return Said(flag[-1], f"/proc/{pid}/cmdline", None, f"{CRIO_STORAGE_KEYS[key]} {flag[-1]}")
    main = (option_values(argv, "--config", "-c") or [CRIO_CONFIG])[-1]
    directory = (option_values(argv, "--config-dir", "-d") or [CRIO_CONFIG_DIR])[-1]
    files = [main]
    try:
        files += sorted(os.path.join(directory, n) for n in os.listdir(directory) if n.endswith(".conf"))
    except OSError:
        pass
    found = None
    pattern = re.compile(rf"""^\s*{key}\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')""")
    for path in files:
        try:
            if not os.path.exists(path) or not trusted(os.stat(path).st_uid):
                continue
            text = safeio.read_text(path, safeio.CONFIG_LIMIT, "CRI-O config")
        except (OSError, ConfigError):
            continue
        table = None
        for number, line in enumerate(text.splitlines(), 1):
            header = re.match(r"^\s*\[\s*([^\]]+?)\s*\]", line)
            if header:
                table = header[1]
                continue
            m = pattern.match(line) if table == "crio" else None
            if m:
                found = Said(m[1] if m[1] is not None else m[2], path, number, line.strip())
    return found
