"""Configuration and endpoint discovery.

Precedence for every setting: command-line flag > environment > config file > default.
Config files, first found wins: ``--config PATH``, ``$CTRTOOL_CONFIG``,
``$XDG_CONFIG_HOME/ctrtool/config.yaml`` (``~/.config/ctrtool/config.yaml``), ``/etc/ctrtool/config.yaml``.
The tools' own configuration is honoured the way the tools do it: DOCKER_HOST, DOCKER_CONTEXT and
the docker CLI's current context; CONTAINERD_ADDRESS and CONTAINERD_NAMESPACE; CONTAINER_RUNTIME_ENDPOINT,
IMAGE_SERVICE_ENDPOINT and crictl's own config file (CRI_CONFIG_FILE or /etc/crictl.yaml).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

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


class Backend(Protocol):
    """What config needs of a backend: its descriptor (ctrtool.adapters), found through
    ctrtool.registry by name, so that config imports no adapter."""

    @property
    def name(self) -> str: ...

    @property
    def config_keys(self) -> dict[str, Any]: ...

    def endpoint(self, settings: Settings) -> Endpoint: ...

    def hint(self, settings: Settings | None = None) -> str: ...


def backend_names() -> tuple[str, ...]:
    from .registry import BACKENDS

    return BACKENDS


def _backend(name: str) -> Backend:
    from .registry import descriptor

    return cast(Backend, descriptor(name))


def schema() -> dict[str, Any]:
    """What the config file may hold: section -> key -> type, a section per backend (its
    descriptor's ``config_keys``). Anything else is an error with its line."""
    return {
        "timeout": (int, float),
        "backends": list,
        **{name: dict(_backend(name).config_keys) for name in backend_names()},
    }


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
    return _backend(backend).hint(settings)


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
            (self.file.get(b, {}).get("namespace") for b in backend_names() if self.file.get(b, {}).get("namespace")),
            None,
        )
        if ns:
            return ns, f"ctr.namespace in {self.config_path}"
        return None, "all namespaces"

    # -- endpoints -------------------------------------------------------------------------
    def endpoint(self, backend: str) -> Endpoint:
        """Where ``backend``'s tool connects, found the way that kind of tool finds it: its
        descriptor's ``discover`` (ctrtool.adapters.discovery: docker's CLI, containerd's clients, crictl)."""
        names = backend_names()
        if backend not in names:
            raise UsageError(f"unknown backend {backend!r} (choose from {', '.join(names)})")
        return _backend(backend).endpoint(self)


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
            bad = [v for v in value if v not in backend_names()]
            if bad:
                raise ConfigError(
                    path, f"{name!r}: unknown backend {bad[0]!r} (choose from {', '.join(backend_names())})", line
                )
        elif isinstance(value, bool) or not isinstance(value, expected):
            kind = "a number" if expected == (int, float) else "a string"
            raise ConfigError(path, f"{name!r} must be {kind}, not {value!r}", line)
        if key == "timeout" and check_timeout(value):
            raise ConfigError(path, f"{name!r}: {check_timeout(value)}", line)
        out[key] = value
    return out


def first_socket(backend: str, candidates: tuple[str, ...]) -> Endpoint:
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
