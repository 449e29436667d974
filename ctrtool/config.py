"""Configuration and endpoint discovery.

Precedence for every setting: command-line flag > environment > config file > default.
Config files, first found wins: ``--config PATH``, ``$CTRTOOL_CONFIG``,
``$XDG_CONFIG_HOME/ctrtool/config.yaml`` (``~/.config/ctrtool/config.yaml``), ``/etc/ctrtool/config.yaml``.
The tools' own configuration is honoured the way the tools do it: DOCKER_HOST, DOCKER_CONTEXT and
the docker CLI's current context; CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE; CONTAINER_RUNTIME_ENDPOINT,
IMAGE_SERVICE_ENDPOINT and crictl's own config file (CRI_CONFIG_FILE or /etc/crictl.yaml).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from typing import Any

from .adapters import BACKENDS  # noqa: E402  (the one list of backends)
from .errors import ConfigError, NoEndpoint, UsageError

DEFAULT_TIMEOUT = 10.0
# a timeout outside these bounds is a mistake (and past a few years it overflows the clocks)
MIN_TIMEOUT = 0.1
MAX_TIMEOUT = 86400.0  # a day


def check_timeout(value: Any) -> str | None:
    """What is wrong with a timeout in seconds, or None: a finite number from MIN_TIMEOUT (0.1)
    to MAX_TIMEOUT (one day)."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return "the timeout must be a positive number of seconds"
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        return (
            f"the timeout must be a positive number of seconds from {MIN_TIMEOUT:g} to "
            f"{MAX_TIMEOUT:g} (a day), not {value:g}"
        )
    return None


def schema() -> dict[str, Any]:
    """What the config file may hold: section -> key -> type, a section per backend (its
    descriptor's ``config_keys``). Anything else is an error with its line."""
    from .adapters import all_descriptors

    return {"timeout": (int, float), "backends": list, **{d.name: dict(d.config_keys) for d in all_descriptors()}}


@dataclass
class Flags:
    """Global options given on the command line (None: not given)."""

    config: str | None = None
    timeout: float | None = None
    docker_host: str | None = None
    docker_context: str | None = None
    containerd_address: str | None = None
    runtime_endpoint: str | None = None
    image_endpoint: str | None = None
    via: str | None = None  # "tools" | "auto"


VIA_CHOICES = ("auto", "tools")


@dataclass
class Endpoint:
    """Where one backend's tool should connect, and why ctrtool chose it."""

    backend: str
    address: str | None
    source: str
    image_address: str | None = None  # crictl only: the image service, when it differs
    context: str | None = None  # docker only: a CLI context to pass with --context
    tool_config: str | None = None  # crictl only: its config file, when one is used
    looked_at: tuple[str, ...] = ()
    hint: str | None = field(default=None, repr=False)  # how to set it (endpoint_hint()), when known

    def require(self) -> str:
        if self.address is None:
            raise NoEndpoint(
                f"{self.backend}: no endpoint found (looked at {', '.join(self.looked_at) or 'nothing'})",
                hint=self.hint or endpoint_hint(self.backend),
            )
        return self.address


def endpoint_hint(backend: str, settings: Settings | None = None) -> str:
    """How to set ``backend``'s endpoint (its descriptor's words), naming the config file its tool
    reads here: crictl's is CRI_CONFIG_FILE's (or ctrtool's crictl.config), else /etc/crictl.yaml."""
    hint = _descriptor(backend).endpoint_hint
    if "{tool_config}" not in hint:
        return hint
    path = settings.crictl_config_path() if settings else (os.environ.get("CRI_CONFIG_FILE") or "/etc/crictl.yaml")
    return hint.replace("{tool_config}", path)


def _descriptor(backend: str) -> Any:
    from .adapters import get_descriptor

    return get_descriptor(backend)


@dataclass
class Settings:
    flags: Flags = field(default_factory=Flags)
    config_path: str | None = None
    file: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    # -- simple settings -------------------------------------------------------------------
    @property
    def via(self) -> str:
        """How listings are read: ``auto`` (containerd's metadata and content store on disk when
        readable, else the tools) or ``tools`` (always the tools): --via, CTRTOOL_VIA, else auto."""
        value, where = self.flags.via, "--via"
        if value is None:
            value, where = self.env.get("CTRTOOL_VIA") or "auto", "CTRTOOL_VIA"
        if value not in VIA_CHOICES:
            raise UsageError(f"{where}={value!r} is not one of {', '.join(VIA_CHOICES)}", "give auto or tools")
        return value

    @property
    def timeout(self) -> float:
        """Seconds per backend: --timeout, CTRTOOL_TIMEOUT, the config file's ``timeout``, else
        10; each one checked the same way (:func:`check_timeout`)."""
        if self.flags.timeout is not None:
            value, where = self.flags.timeout, "--timeout"
        elif self.env.get("CTRTOOL_TIMEOUT"):
            raw = self.env["CTRTOOL_TIMEOUT"]
            try:
                value = float(raw)
            except ValueError:
                raise UsageError(
                    f"CTRTOOL_TIMEOUT={raw!r} is not a number of seconds",
                    f"give seconds between {MIN_TIMEOUT:g} and {MAX_TIMEOUT:g}, e.g. 10",
                ) from None
            where = f"CTRTOOL_TIMEOUT={raw!r}"
        elif "timeout" in self.file:
            value, where = float(self.file["timeout"]), f"timeout in {self.config_path}"
        else:
            return DEFAULT_TIMEOUT
        problem = check_timeout(value)
        if problem:
            raise UsageError(
                f"{where}: {problem}", f"give seconds between {MIN_TIMEOUT:g} and {MAX_TIMEOUT:g}, e.g. 10"
            )
        return float(value)

    def binary(self, backend: str) -> str:
        return self.file.get(backend, {}).get("binary") or backend

    def default_backends(self) -> list[str] | None:
        """The config file's ``backends:`` list, or None (then: every backend that is there)."""
        return self.file.get("backends")

    def ctr_namespace(self) -> tuple[str | None, str]:
        """The containerd namespace to restrict ctr to (None: all), and where it came from."""
        if self.env.get("CONTAINERD_NAMESPACE"):
            return self.env["CONTAINERD_NAMESPACE"], "env CONTAINERD_NAMESPACE"
        ns = next(
            (self.file.get(b, {}).get("namespace") for b in BACKENDS if self.file.get(b, {}).get("namespace")), None
        )
        if ns:
            return ns, f"ctr.namespace in {self.config_path}"
        return None, "all namespaces"

    # -- endpoints -------------------------------------------------------------------------
    def endpoint(self, backend: str) -> Endpoint:
        """Where ``backend``'s tool connects, found the way that kind of tool finds it (the
        descriptor's ``discovery``): docker's CLI (host, contexts), containerd's clients, or crictl."""
        if backend not in BACKENDS:
            raise UsageError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
        d = _descriptor(backend)
        return {
            "docker-cli": self._docker_endpoint,
            "containerd": self._containerd_endpoint,
            "cri": self._cri_endpoint,
        }[d.discovery](d)

    def _docker_endpoint(self, d: Any) -> Endpoint:
        f, env, conf = self.flags, self.env, self.file.get(d.name, {})
        if f.docker_host:
            return Endpoint(d.name, f.docker_host, "flag --docker-host")
        if f.docker_context:
            return _docker_context_endpoint(d, f.docker_context, "flag --context", env)
        if env.get("DOCKER_HOST"):
            return Endpoint(d.name, env["DOCKER_HOST"], "env DOCKER_HOST")
        if env.get("DOCKER_CONTEXT"):
            return _docker_context_endpoint(d, env["DOCKER_CONTEXT"], "env DOCKER_CONTEXT", env)
        if conf.get("host"):
            return Endpoint(d.name, conf["host"], f"{d.name}.host in {self.config_path}")
        if conf.get("context"):
            return _docker_context_endpoint(d, conf["context"], f"{d.name}.context in {self.config_path}", env)
        current = _docker_current_context(env)
        if current and current != "default":
            return _docker_context_endpoint(d, current, "docker CLI current context", env)
        return _first_socket(d.name, d.default_sockets)

    def _containerd_endpoint(self, d: Any) -> Endpoint:
        f, env, conf = self.flags, self.env, self.file.get(d.name, {})
        if f.containerd_address:
            return Endpoint(d.name, f.containerd_address, "flag --address")
        if env.get("CONTAINERD_ADDRESS"):
            return Endpoint(d.name, env["CONTAINERD_ADDRESS"], "env CONTAINERD_ADDRESS")
        if conf.get("address"):
            return Endpoint(d.name, conf["address"], f"{d.name}.address in {self.config_path}")
        return _first_socket(d.name, d.default_sockets)

    def _cri_endpoint(self, d: Any) -> Endpoint:
        f, env, conf = self.flags, self.env, self.file.get(d.name, {})
        runtime = _first_given(
            (f.runtime_endpoint, "flag --runtime-endpoint"),
            (env.get("CONTAINER_RUNTIME_ENDPOINT"), "env CONTAINER_RUNTIME_ENDPOINT"),
            (conf.get("runtime-endpoint"), f"{d.name}.runtime-endpoint in {self.config_path}"),
        )
        image = f.image_endpoint or env.get("IMAGE_SERVICE_ENDPOINT") or conf.get("image-endpoint")
        tool_path = self.crictl_config_path()
        tool_conf: dict[str, Any] = {}
        if runtime is None or image is None:  # only then does crictl's own file matter (and YAML load)
            tool_conf = self._crictl_config(tool_path)
        if runtime is None and tool_conf.get("runtime-endpoint"):
            runtime = (tool_conf["runtime-endpoint"], f"runtime-endpoint in {tool_path}")
        ep = Endpoint(d.name, *runtime) if runtime else _first_socket(d.name, d.default_sockets)
        ep.image_address = image or tool_conf.get("image-endpoint") or ep.address
        ep.tool_config = tool_path if os.path.exists(tool_path) else None
        ep.hint = endpoint_hint(d.name, self)
        return ep

    def crictl_config_path(self) -> str:
        return (
            next((self.file[b]["config"] for b in BACKENDS if self.file.get(b, {}).get("config")), None)
            or self.env.get("CRI_CONFIG_FILE")
            or "/etc/crictl.yaml"
        )

    def _crictl_config(self, path: str) -> dict[str, Any]:
        if not os.path.exists(path):
            return {}
        text = _read_text(path)
        data = _load_yaml(path, text)
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


def load(flags: Flags | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read the config file (if any) and return settings ready for endpoint discovery."""
    flags = flags or Flags()
    env = dict(os.environ) if env is None else env
    path, explicit = _config_path(flags, env)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            text = _read_text(path)
        except ConfigError:
            if not explicit and not os.path.exists(path):
                path = None  # gone since it was found
            elif explicit and not os.path.lexists(path):
                raise ConfigError(path, "no such file") from None
            else:
                raise
        else:
            data = parse_config(path, text)
    settings = Settings(flags=flags, config_path=path, file=data, env=env)
    settings.timeout  # noqa: B018  (checked now: a bad value is a usage error before anything runs)
    return settings


def _read_text(path: str) -> str:
    """A config file's text: a regular file (opened without blocking), at most
    safeio.CONFIG_LIMIT bytes, UTF-8 (YAML's own encoding); anything else is a ConfigError that
    names the file (and, for a byte that is not UTF-8, the line and the byte)."""
    from . import safeio

    return safeio.read_text(path, safeio.CONFIG_LIMIT, "config file")


def _config_path(flags: Flags, env: dict[str, str]) -> tuple[str | None, bool]:
    if flags.config:
        return flags.config, True
    if env.get("CTRTOOL_CONFIG"):
        return env["CTRTOOL_CONFIG"], True
    xdg = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    for candidate in (os.path.join(xdg, "ctrtool", "config.yaml"), "/etc/ctrtool/config.yaml"):
        if os.path.exists(candidate):
            return candidate, False
    return None, False


def parse_config(path: str, text: str) -> dict[str, Any]:
    """Validate a ctrtool config file against :func:`schema`; errors name the file, line and problem."""
    import yaml

    from . import safeio

    root = safeio.compose_yaml(path, text, "config file")
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(path, "the top level must be a mapping (key: value)", root.start_mark.line + 1)
    return _validate(path, root, schema(), "")


def _validate(path: str, node: Any, schema: dict[str, Any], prefix: str) -> dict[str, Any]:
    import yaml

    from . import safeio

    out: dict[str, Any] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConfigError(path, f"keys must be names{f' (under {prefix[:-1]!r})' if prefix else ''}", line)
        key = key_node.value
        name = f"{prefix}{key}"
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(path, f"unknown key {name!r} (known here: {known})", line)
        expected = schema[key]
        if isinstance(expected, dict):
            if not isinstance(value_node, yaml.MappingNode):
                raise ConfigError(path, f"{name!r} must be a mapping", line)
            out[key] = _validate(path, value_node, expected, f"{name}.")
            continue
        try:
            value = safeio.construct(value_node)
        except yaml.YAMLError as exc:
            raise ConfigError(path, f"{name!r}: {getattr(exc, 'problem', None) or exc}", line) from None
        if value is None:
            continue
        if expected is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(path, f"{name!r} must be a list of backend names", line)
            bad = [v for v in value if v not in BACKENDS]
            if bad:
                raise ConfigError(
                    path, f"{name!r}: unknown backend {bad[0]!r} (choose from {', '.join(BACKENDS)})", line
                )
        elif isinstance(value, bool) or not isinstance(value, expected):
            kind = "a number" if expected == (int, float) else "a string"
            raise ConfigError(path, f"{name!r} must be {kind}, not {value!r}", line)
        if key == "timeout" and check_timeout(value):
            raise ConfigError(path, f"{name!r}: {check_timeout(value)}", line)
        out[key] = value
    return out


def _load_yaml(path: str, text: str) -> Any:
    """YAML through safeio: aliases refused, nesting and numbers bounded."""
    from . import safeio

    return safeio.load_yaml(path, text, "config file")


def _first_socket(backend: str, candidates: tuple[str, ...]) -> Endpoint:
    for candidate in candidates:
        if _is_socket(candidate):
            return Endpoint(
                backend, candidate, f"default location {socket_path(candidate)} (found)", looked_at=candidates
            )
    return Endpoint(backend, None, "none found", looked_at=tuple(socket_path(c) for c in candidates))


def socket_path(address: str) -> str:
    return address[len("unix://") :] if address.startswith("unix://") else address


def _is_socket(address: str) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(socket_path(address)).st_mode)
    except OSError:
        return False


def _docker_config_dir(env: dict[str, str]) -> str:
    return env.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")


def _docker_current_context(env: dict[str, str]) -> str | None:
    from . import safeio

    path = os.path.join(_docker_config_dir(env), "config.json")
    try:
        value = safeio.json_loads(path, safeio.read_bytes(path, safeio.CONFIG_LIMIT, "docker config"), "docker config")
    except ConfigError:
        return None
    context = value.get("currentContext") if isinstance(value, dict) else None
    return context if isinstance(context, str) else None


def _docker_context_endpoint(d: Any, name: str, source: str, env: dict[str, str]) -> Endpoint:
    """A docker CLI context: ctrtool passes ``--context NAME`` and shows the host it points at."""
    if name == "default":
        ep = _first_socket(d.name, d.default_sockets)
        ep.context, ep.source = "default", f"{source} 'default'"
        return ep
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = os.path.join(_docker_config_dir(env), "contexts", "meta", digest, "meta.json")
    from . import safeio

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
