"""Where podman's stores are on this machine, found from files only (podman is never run to find
out: podman run as root creates /var/lib/containers/storage when it is not there).

* **The rootful store**: the ``[storage]`` table of containers/storage's config file:
  ``CONTAINERS_STORAGE_CONF`` when set, else /etc/containers/storage.conf, else
  /usr/share/containers/storage.conf (the order containers/storage reads them in); its
  ``graphroot`` (default /var/lib/containers/storage), ``runroot`` and ``driver`` (default overlay).
* **Rootless stores, one per user**: the users of the passwd file (``CTRTOOL_PASSWD_FILE`` when
  set, else /etc/passwd), uid 0 left out; for each home, the ``graphroot`` of
  ``<home>/.config/containers/storage.conf`` when it names one, else
  ``<home>/.local/share/containers/storage``. Only directories that exist count.

A store in another user's home is that user's: ctrtool says whose by the passwd entry and by the
directory's owner (``stat``), nothing beyond that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ... import model, safeio
from ...errors import ConfigError
from .. import cstorage

if TYPE_CHECKING:
    from ...config import Settings

ROOTFUL_CONFS = cstorage.SYSTEM_CONFS
DEFAULT_GRAPHROOT = cstorage.DEFAULT_GRAPHROOT
DEFAULT_RUNROOT = cstorage.DEFAULT_RUNROOT
DEFAULT_DRIVER = cstorage.DEFAULT_DRIVER
ROOTLESS_CONF = ".config/containers/storage.conf"
ROOTLESS_GRAPHROOT = ".local/share/containers/storage"
# the passwd file (a large directory's is a few MiB at most)
PASSWD_LIMIT = 16 * safeio.MIB


@dataclass(frozen=True)
class PodmanStore:
    """One containers/storage graph root podman uses: the rootful one, or a user's rootless one."""

    graphroot: str
    runroot: str | None
    driver: str
    source: str | None  # the storage.conf it was read from (None: the defaults)
    user: str | None = None  # rootless: the user whose home it is in (the passwd file's name)
    uid: int | None = None  # rootless: the owner of the graph root directory (stat)

    @property
    def rootless(self) -> bool:
        return self.user is not None

    @property
    def layers_dir(self) -> str:
        """The directory that holds the unpacked layers: ``<graphroot>/<driver>/<layer id>/diff``."""
        return os.path.join(self.graphroot, self.driver)

    def conf(self) -> cstorage.StorageConf:
        """The store as :mod:`..cstorage` reads it."""
        return cstorage.StorageConf(self.graphroot, self.runroot or "", self.driver, self.source)

    @property
    def exists(self) -> bool:
        return os.path.isdir(self.graphroot)

    def store(self) -> model.Store:
        """The containers/storage store of its images (identity: the graph root; directory:
        ``<graphroot>/<driver>``): CRI-O on the same graph root is the same store and place."""
        return model.containers_storage(self.graphroot, self.driver, self.user)

    def words(self) -> str:
        if not self.rootless:
            return f"podman's store {self.graphroot}"
        owner = f"owned by uid {self.uid}" if self.uid is not None else "owner unknown"
        return f"user {self.user}'s rootless podman store {self.graphroot} ({owner})"


def read_storage_conf(path: str) -> dict[str, str]:
    """The ``driver``, ``graphroot`` and ``runroot`` a storage.conf sets (:func:`..cstorage.read_conf`:
    bounded, regular files only; a ConfigError, one line, when it cannot be read); {} when the file
    does not exist. A key the file leaves to the defaults is not in the answer."""
    if not os.path.lexists(path):
        return {}
    conf = cstorage.read_conf(path)
    given = {"driver": conf.driver, "graphroot": conf.graphroot, "runroot": conf.runroot}
    defaults = {"driver": DEFAULT_DRIVER, "graphroot": DEFAULT_GRAPHROOT, "runroot": DEFAULT_RUNROOT}
    return {k: v for k, v in given.items() if v != defaults[k]}


def rootful_conf(env: dict[str, str]) -> str | None:
    """The storage.conf podman reads as root: CONTAINERS_STORAGE_CONF, else the first of
    /etc/containers/storage.conf and /usr/share/containers/storage.conf that exists."""
    if env.get("CONTAINERS_STORAGE_CONF"):
        return env["CONTAINERS_STORAGE_CONF"]
    return next((p for p in ROOTFUL_CONFS if os.path.lexists(p)), None)


def _driver(graphroot: str, configured: str | None) -> str:
    """The graph driver: the configured one; else the one whose metadata is in the graph root
    (containers/storage picks one itself when none is configured), else overlay."""
    if configured:
        return configured
    try:
        found = sorted(n[: -len("-images")] for n in os.listdir(graphroot) if n.endswith("-images"))
    except OSError:
        found = []
    return found[0] if len(found) == 1 else DEFAULT_DRIVER


def rootful_store(env: dict[str, str]) -> PodmanStore:
    """The rootful store podman as root would use (it may not exist: see ``exists``)."""
    path = rootful_conf(env)
    conf = read_storage_conf(path) if path else {}
    graphroot = conf.get("graphroot") or DEFAULT_GRAPHROOT
    return PodmanStore(
        graphroot,
        conf.get("runroot") or DEFAULT_RUNROOT,
        _driver(graphroot, conf.get("driver")),
        path if path and os.path.lexists(path) else None,
    )


def passwd_file(env: dict[str, str]) -> str:
    return env.get("CTRTOOL_PASSWD_FILE") or "/etc/passwd"


def passwd_homes(text: str) -> list[tuple[str, int, str]]:
    """(user, uid, home) of each passwd line with a uid other than 0 and an absolute home."""
    out = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 7 or not fields[2].isdigit():
            continue
        uid, home = int(fields[2]), fields[5]
        if uid == 0 or not home.startswith("/"):
            continue
        out.append((fields[0], uid, home))
    return out


def rootless_stores(env: dict[str, str]) -> list[PodmanStore]:
    """Each user's rootless store that exists, one per graph root (two users with one home: once)."""
    path = passwd_file(env)
    if not os.path.lexists(path):
        return []
    text = safeio.read_text(path, PASSWD_LIMIT, "passwd file")
    out: dict[str, PodmanStore] = {}
    for user, _uid, home in passwd_homes(text):
        conf_path = os.path.join(home, ROOTLESS_CONF)
        try:
            conf = read_storage_conf(conf_path)
        except ConfigError:
            conf = {}  # the user's file: podman would complain to them; the default location counts
        graphroot = conf.get("graphroot") or os.path.join(home, ROOTLESS_GRAPHROOT)
        if not os.path.isdir(graphroot) or os.path.realpath(graphroot) in out:
            continue
        try:
            owner: int | None = os.stat(graphroot).st_uid
        except OSError:
            owner = None
        out[os.path.realpath(graphroot)] = PodmanStore(
            graphroot,
            conf.get("runroot"),
            _driver(graphroot, conf.get("driver")),
            conf_path if conf else None,
            user,
            owner,
        )
    return list(out.values())


def has_store(settings: Settings) -> bool:
    """Whether podman has a store on this machine: the rootful graph root exists, or a user's
    rootless one does (the descriptor's ``present_when``). A storage.conf ctrtool cannot read
    counts as a store: the adapter then says what is wrong with it."""
    try:
        if rootful_store(settings.env).exists:
            return True
        return bool(rootless_stores(settings.env))
    except ConfigError:
        return True
