"""A lab's directory: which profile it holds, the marker that makes it a lab's (``down`` refuses any
other directory, ``--purge`` deletes only a marked one), and the lock that lets one up or down at a
time act on it. Every lab (the plain one, the kube one, a CRI-O one) has one."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pathlib
import time
from collections.abc import Iterator

from . import profiles as profiles_mod
from .common import LabError, NotALab, default_dir, write_if_changed


class LabHome:
    def __init__(self, directory: pathlib.Path | str | None = None, profile: str | None = None):
        """``profile``: what to run (see :mod:`ctrtool.lab.profiles`). None: the profile recorded in
        the directory by an earlier ``up``, else ``debian``. ``directory`` None: $CTRTOOL_LAB_DIR,
        else the profile's default directory."""
        chosen = profiles_mod.get(profile) if profile else None
        if directory is None:
            directory = default_dir(chosen.default_dir if chosen else None)
        self.directory = pathlib.Path(os.path.abspath(directory))
        self.hash = hashlib.sha256(str(self.directory).encode()).hexdigest()
        self.recorded_profile = self._read_profile()
        self.profile = chosen or profiles_mod.get(self.recorded_profile or profiles_mod.DEFAULT_PROFILE)

    @property
    def profile_file(self) -> pathlib.Path:
        return self.directory / "profile"

    @property
    def marker(self) -> pathlib.Path:
        """DIR/.ctrtool-lab: written on the first up(); down(purge=True) removes only marked dirs."""
        return self.directory / ".ctrtool-lab"

    def _read_profile(self) -> str | None:
        try:
            name = self.profile_file.read_text().strip()
        except OSError:
            return None
        return name if name in profiles_mod.PROFILES else None

    def refuse_other_profile(self) -> None:
        if self.recorded_profile and self.recorded_profile != self.profile.name:
            raise LabError(
                f"{self.directory} holds a lab of profile {self.recorded_profile}, not {self.profile.name}",
                f"use another directory (--dir), or `ctrtool lab down --purge --dir {self.directory}` first",
            )

    def record_profile(self) -> None:
        if self.recorded_profile is None:
            write_if_changed(self.profile_file, self.profile.name + "\n")
            self.recorded_profile = self.profile.name

    def claim(self) -> None:
        """Make the directory a lab's (the marker), refusing one that holds anything else."""
        if self.directory.is_dir() and not self.marker.exists():
            if any(self.directory.iterdir()):
                raise LabError(
                    f"{self.directory} exists, is not empty and is not a ctrtool lab directory",
                    "choose another lab directory (CTRTOOL_LAB_DIR): `down --purge` deletes it",
                )
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.marker.exists():
            self.marker.write_text("ctrtool lab directory: `ctrtool lab down --purge` removes it\n")

    def require_lab_directory(self) -> None:
        """Refuse to act on a directory that `lab up` did not make (no DIR/.ctrtool-lab marker): `down`
        unmounts everything under DIR and `--purge` deletes it, which on `/`, a home directory or any
        directory with a mount in it would destroy what is not the lab's. A directory that does not
        exist is fine (nothing to do there, only leftovers of a lab that is gone)."""
        if self.directory.exists() and not self.marker.exists():
            raise NotALab(
                f"{self.directory} is not a lab directory (it has no {self.marker.name} marker, which "
                "`ctrtool lab up` writes): not stopping, unmounting or deleting anything there",
                "give the lab's own directory with --dir (`ctrtool lab status` shows it)",
            )

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One up/down at a time per lab directory (flock on DIR/.lock)."""
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                deadline = time.monotonic() + 120
                while True:
                    time.sleep(0.2)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise LabError(
                                f"another `ctrtool lab` command holds {self.directory / '.lock'}",
                                "wait for it to finish, then try again",
                            ) from None
            yield
        finally:
            os.close(fd)

    def lock_if_there(self) -> contextlib.AbstractContextManager[None]:
        """The lock, when the directory exists (``down`` of a lab that is gone needs none)."""
        return self.lock() if self.directory.is_dir() else contextlib.nullcontext()
