"""Small helpers the checks share."""

from __future__ import annotations

import shlex
from typing import Any

from ..result import Evidence


def error_evidence(exc: Any) -> Evidence:
    """A failed tool call as evidence: its command line (when known) and the error it gave."""
    argv = getattr(exc, "argv", None)
    source = shlex.join(argv) if argv else getattr(exc, "tool", None) or "ctrtool"
    return Evidence(source, exc.message)


def file_evidence(path: str, lines: list[str]) -> Evidence:
    return Evidence(path, "\n".join(lines), kind="file")


def same_socket(a: str | None, b: str | None) -> bool:
    import os

    from ...config import socket_path

    if not a or not b:
        return False
    return os.path.realpath(socket_path(a)) == os.path.realpath(socket_path(b))


def bytes_words(n: int) -> str:
    from ...output import human_size

    return f"{human_size(n)} ({n} bytes)"
