"""Names and errors shared by the lab's parts. The binary look-ups (:mod:`ctrtool.hostbin`), the image
names (:mod:`ctrtool.imagebuild`) and :class:`LabError` (:mod:`ctrtool.errors`) live outside the lab,
because the node image uses them too; they are re-exported here."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable

from ..errors import LabError
from ..hostbin import (
    APT_INSTALL,
    BUSYBOX,
    CNI_BIN_DIR,
    CRICTL_INSTALL,
    PACKAGES,
    find_binary,
    find_crictl,
    missing_binary_error,
)
from ..imagebuild import DEMO_IMAGE, PAUSE_IMAGE

DEFAULT_DIR = "/var/tmp/ctrtool-lab"
DIR_ENV = "CTRTOOL_LAB_DIR"

CNI_PLUGINS = ("bridge", "host-local", "loopback")

Progress = Callable[[str], None]


class NotALab(LabError):
    """A directory given as a lab's is not one (bad input: exit 2, nothing touched)."""

    exit_code = 2


def default_dir(fallback: str | None = None) -> pathlib.Path:
    """The lab directory: ``$CTRTOOL_LAB_DIR`` if set, else ``fallback`` (a profile's own default
    directory), else :data:`DEFAULT_DIR`."""
    return pathlib.Path(os.environ.get(DIR_ENV) or fallback or DEFAULT_DIR)


def noop(_: str) -> None:
    """The progress callback that says nothing."""


def write_if_changed(path: pathlib.Path, text: str) -> bool:
    """Write ``text`` to ``path`` (atomically, by rename) unless it already holds it; True if written."""
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


__all__ = [
    "APT_INSTALL",
    "BUSYBOX",
    "CNI_BIN_DIR",
    "CNI_PLUGINS",
    "CRICTL_INSTALL",
    "DEFAULT_DIR",
    "DEMO_IMAGE",
    "DIR_ENV",
    "PACKAGES",
    "PAUSE_IMAGE",
    "LabError",
    "NotALab",
    "Progress",
    "default_dir",
    "find_binary",
    "find_crictl",
    "missing_binary_error",
    "noop",
    "write_if_changed",
]
