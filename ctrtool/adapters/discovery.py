"""How each kind of tool finds its endpoint, the way the tool itself does: a descriptor names its
function (``Descriptor.discover``) and config calls it through the descriptor, never by kind.

docker's CLI: DOCKER_HOST, DOCKER_CONTEXT and the CLI's current context; containerd's clients:
CONTAINERD_ADDRESS; crictl: CONTAINER_RUNTIME_ENDPOINT, IMAGE_SERVICE_ENDPOINT and its own config
file (CRI_CONFIG_FILE or /etc/crictl.yaml). Flag > environment > config file > default socket.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

from ..config import Endpoint, Settings, first_socket
from ..errors import ConfigError, UsageError

if TYPE_CHECKING:
    from .descriptor import Descriptor


def docker_cli(settings: Settings, d: Descriptor) -> Endpoint:
    """docker's CLI: --docker-host, --context, DOCKER_HOST, DOCKER_CONTEXT, the config file's host or
    context, the CLI's current context, else the default socket."""
    f, env, conf = settings.flags, settings.env, settings.file.get(d.name, {})
    if f.docker_host:
        return Endpoint(d.name, f.docker_host, "flag --docker-host")
    if f.docker_context:
        return _docker_context_endpoint(d, f.docker_context, "flag --context", env)
    if env.get("DOCKER_HOST"):
        return Endpoint(d.name, env["DOCKER_HOST"], "env DOCKER_HOST")
    if env.get("DOCKER_CONTEXT"):
        return _docker_context_endpoint(d, env["DOCKER_CONTEXT"], "env DOCKER_CONTEXT", env)
    if conf.get("host"):
        return Endpoint(d.name, conf["host"], f"{d.name}.host in {settings.config_path}")
    if conf.get("context"):
        return _docker_context_endpoint(d, conf["context"], f"{d.name}.context in {settings.config_path}", env)
    current = _docker_current_context(env)
    if current and current != "default":
        return _docker_context_endpoint(d, current, "docker CLI current context", env)
    return first_socket(d.name, d.default_sockets)


def containerd(settings: Settings, d: Descriptor) -> Endpoint:
    """containerd's clients: --address, CONTAINERD_ADDRESS, the config file's address, else a
    default socket."""
    f, env, conf = settings.flags, settings.env, settings.file.get(d.name, {})
    if f.containerd_address:
        return Endpoint(d.name, f.containerd_address, "flag --address")
    if env.get("CONTAINERD_ADDRESS"):
        return Endpoint(d.name, env["CONTAINERD_ADDRESS"], "env CONTAINERD_ADDRESS")
    if conf.get("address"):
        return Endpoint(d.name, conf["address"], f"{d.name}.address in {settings.config_path}")
    return first_socket(d.name, d.default_sockets)


def cri(settings: Settings, d: Descriptor) -> Endpoint:
    """crictl's: --runtime-endpoint, CONTAINER_RUNTIME_ENDPOINT, the config file's, crictl's own
    config file (CRI_CONFIG_FILE or /etc/crictl.yaml), else a default socket."""
    f, env, conf = settings.flags, settings.env, settings.file.get(d.name, {})
    runtime = _first_given(
        (f.runtime_endpoint, "flag --runtime-endpoint"),
        (env.get("CONTAINER_RUNTIME_ENDPOINT"), "env CONTAINER_RUNTIME_ENDPOINT"),
        (conf.get("runtime-endpoint"), f"{d.name}.runtime-endpoint in {settings.config_path}"),
    )
    image = f.image_endpoint or env.get("IMAGE_SERVICE_ENDPOINT") or conf.get("image-endpoint")
    tool_path = cri_config_path(settings)
    tool_conf: dict[str, Any] = {}
    if runtime is None or image is None:  # only then does crictl's own file matter (and YAML load)
        tool_conf = _cri_config(tool_path)
    if runtime is None and tool_conf.get("runtime-endpoint"):
        runtime = (tool_conf["runtime-endpoint"], f"runtime-endpoint in {tool_path}")
    ep = Endpoint(d.name, *runtime) if runtime else first_socket(d.name, d.default_sockets)
    ep.image_address = image or tool_conf.get("image-endpoint") or ep.address
    ep.tool_config = tool_path if os.path.exists(tool_path) else None
    ep.hint = d.hint(settings)
    return ep


def cri_config_path(settings: Settings) -> str:
    """crictl's own config file: ctrtool's BACKEND.config, CRI_CONFIG_FILE, else /etc/crictl.yaml."""
    return (
        next((v["config"] for v in settings.file.values() if isinstance(v, dict) and v.get("config")), None)
        or settings.env.get("CRI_CONFIG_FILE")
        or "/etc/crictl.yaml"
    )


def _cri_config(path: str) -> dict[str, Any]:
    from .. import safeio

    if not os.path.exists(path):
        return {}
    text = safeio.read_text(path, safeio.CONFIG_LIMIT, "config file")
    data = safeio.load_yaml(path, text, "config file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(path, "crictl config must be a mapping of keys to values", 1)
    return {k: v for k, v in data.items() if isinstance(v, str) and v}


def _first_given(*candidates: tuple[str | None, str]) -> tuple[str, str] | None:
    """The first (value, source) whose value is set."""
    for value, source in candidates:
        if value:
            return value, source
    return None


def _docker_config_dir(env: dict[str, str]) -> str:
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def _docker_current_context(env: dict[str, str]) -> str | None:
    from .. import safeio

    path = os.path.join(_docker_config_dir(env), "config.json")
    try:
        value = safeio.json_loads(path, safeio.read_bytes(path, safeio.CONFIG_LIMIT, "docker config"), "docker config")
    except ConfigError:
        return None
    context = value.get("currentContext") if isinstance(value, dict) else None
    return context if isinstance(context, str) else None


def _docker_context_endpoint(d: Descriptor, name: str, source: str, env: dict[str, str]) -> Endpoint:
    """A docker CLI context: ctrtool passes ``--context NAME`` and shows the host it points at."""
    if name == "default":
        ep = first_socket(d.name, d.default_sockets)
        ep.context, ep.source = "default", f"{source} 'default'"
        return ep
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = os.path.join(_docker_config_dir(env), "contexts", "meta", digest, "meta.json")
    from .. import safeio

    if not os.path.lexists(meta):
        raise UsageError(f"docker context {name!r} ({source}) does not exist", "list contexts with `docker context ls`")
    value = safeio.json_loads(meta, safeio.read_bytes(meta, safeio.CONFIG_LIMIT, "docker context"), "docker context")
    try:
        host = value["Endpoints"]["docker"]["Host"]
    except (KeyError, TypeError) as exc:
        raise ConfigError(meta, f"docker context {name!r} is unreadable: no {exc}") from None
    if not isinstance(host, str):
        raise ConfigError(meta, f"docker context {name!r} is unreadable: its docker Host is not a string")
    return Endpoint(d.name, host, f"{source} {name!r}", context=name)
