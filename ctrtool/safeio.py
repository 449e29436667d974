"""Reading files ctrtool did not write itself, with bounds (docs/reference.md, safety rules).

A file is opened without blocking (``O_NONBLOCK``: a FIFO with no writer, a device, do not hang
the open), believed only if it is a regular file (``fstat``), read up to a limit (a file larger
than that is refused, not read) and decoded as UTF-8, an undecodable byte being one line that
names the file, the line and the byte. YAML is parsed with aliases refused (a "billion laughs"
document cannot expand), nesting bounded, and numbers bounded (no 5,000-digit integers, no
``.nan``/``.inf`` where a count is expected: :func:`number`).

Every failure is a :class:`ConfigError` (one line, a hint, exit 2), never a traceback.
"""

from __future__ import annotations

import os
import stat
from typing import Any

from .errors import ConfigError

KIB = 1024
MIB = 1024 * KIB

# the documented limits (docs/reference.md, "Files ctrtool reads")
CONFIG_LIMIT = 1 * MIB  # ctrtool's config file, crictl's config (CRI_CONFIG_FILE), daemon.json
KUBELET_CONFIG_LIMIT = 1 * MIB  # the kubelet's config file (CTRTOOL_KUBELET_CONFIG, its --config)
CONTAINERD_CONFIG_LIMIT = 1 * MIB  # containerd's config.toml
ARCHIVE_MEMBER_LIMIT = 4 * MIB  # manifest.json / index.json inside an image archive
MAX_DEPTH = 32  # nesting of mappings and sequences in a YAML or JSON document
MAX_INT_DIGITS = 32  # digits of an integer in YAML
MAX_NODES = 100_000  # nodes in one YAML document


def read_regular(path: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, opened without blocking, at most ``limit`` of them;
    an OSError otherwise (EINVAL: not a regular file; EFBIG: bigger than ``limit``). For files a
    daemon wrote (content store blobs, docker's layer database), whose callers treat any OSError
    as "not readable"."""
    import errno

    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({_kind(st.st_mode)})", path)
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"{st.st_size} bytes (at most {limit})", path)
        chunks = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(limit + 1 - got, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:  # it grew while we read it
            raise OSError(errno.EFBIG, f"more than {limit} bytes", path)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_bytes(path: str, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them; ``what`` names the file
    in errors ("config file", "kubelet config"): a ConfigError, one line with a hint."""
    import errno

    try:
        return read_regular(path, limit)
    except OSError as exc:
        if exc.errno == errno.EINVAL and str(exc.strerror).startswith("not a regular file"):
            raise ConfigError(
                path, f"the {what} is {exc.strerror}", hint=f"name a regular file as the {what}"
            ) from None
        if exc.errno == errno.EFBIG:
            raise ConfigError(path, f"the {what} is too big: {exc.strerror}", hint=_big(limit)) from None
        raise ConfigError(path, f"cannot read the {what}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL in the path
        raise ConfigError(path, f"cannot read the {what}: {exc}") from None


def read_text(path: str, limit: int, what: str) -> str:
    """:func:`read_bytes`, decoded as UTF-8: a byte that is not is one line naming file, line, byte."""
    return decode(path, read_bytes(path, limit, what), what)


def decode(path: str, data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            path,
            f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}",
            line,
            "save the file as UTF-8 (plain ASCII is fine)",
        ) from None


def _big(limit: int) -> str:
    return f"ctrtool reads files of at most {limit // KIB} KiB; is this the right file?"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def regular_file(path: str) -> bool:
    """True when ``path`` is a regular file now (lstat follows no FIFO open; symlinks followed)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


# -- YAML --------------------------------------------------------------------------------------


def _loader(max_depth: int, max_nodes: int):
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """SafeLoader that refuses aliases and bounds nesting and size."""

        def __init__(self, stream: Any) -> None:
            super().__init__(stream)
            self._depth = 0
            self._nodes = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(None, None, "aliases (*name) are not accepted here", event.start_mark)
            self._nodes += 1
            if self._nodes > max_nodes:
                raise yaml.composer.ComposerError(
                    None, None, f"more than {max_nodes} values", self.peek_event().start_mark
                )
            self._depth += 1
            try:
                if self._depth > max_depth:
                    raise yaml.composer.ComposerError(
                        None, None, f"nested deeper than {max_depth} levels", self.peek_event().start_mark
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_yaml_int(self, node: Any) -> Any:
            digits = sum(ch.isdigit() for ch in str(node.value))
            if digits > MAX_INT_DIGITS:
                raise yaml.constructor.ConstructorError(
                    None, None, f"a number of {digits} digits (at most {MAX_INT_DIGITS})", node.start_mark
                )
            return super().construct_yaml_int(node)

    BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)
    return BoundedLoader


def load_yaml(path: str, text: str, what: str, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    """One YAML document, parsed with aliases refused and nesting bounded; a ConfigError naming
    the file and line otherwise."""
    return _parse(path, text, max_depth, max_nodes, lambda loader: loader.get_single_data())


def compose_yaml(path: str, text: str, what: str, max_depth: int = MAX_DEPTH) -> Any:
    """The node tree of one YAML document (for validation with line numbers), bounded as
    :func:`load_yaml`."""
    return _parse(path, text, max_depth, MAX_NODES, lambda loader: loader.get_single_node())


def _parse(path: str, text: str, max_depth: int, max_nodes: int, get: Any) -> Any:
    import yaml

    try:
        loader = _loader(max_depth, max_nodes)(text)
    except yaml.YAMLError as exc:  # the reader refuses a character at once (NUL, a control)
        raise ConfigError(path, f"not valid YAML: {str(exc).splitlines()[0]}") from None
    try:
        return get(loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(path, f"not valid YAML: {problem}", mark.line + 1 if mark else None) from None
    except RecursionError:
        raise ConfigError(path, "nested too deeply") from None
    finally:
        loader.dispose()


def construct(node: Any) -> Any:
    """A composed node's value, through the bounded loader's constructors (numbers bounded)."""
    loader = _loader(MAX_DEPTH, MAX_NODES)("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def json_loads(path: str, data: bytes | str, what: str) -> Any:
    """JSON, undecodable, invalid or too deeply nested text being one ConfigError."""
    import json

    text = decode(path, data, what) if isinstance(data, bytes) else data
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(path, f"not valid JSON: {exc}") from None
    except RecursionError:
        raise ConfigError(path, "nested too deeply") from None


def number(value: Any, lo: float, hi: float) -> int | None:
    """``value`` as an int in [lo, hi] when it is a real (finite, not bool) number there, else None."""
    import math

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if not lo <= value <= hi:
        return None
    return int(value)
