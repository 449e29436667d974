"""Lab profiles: which containerd and dockerd a lab runs, and how docker stores its images.

=====================  =======================================  ==========================================
profile                containerd / dockerd                      docker's image store
=====================  =======================================  ==========================================
``debian``             Debian 12's packages: 1.6.20 / 20.10     its own overlay2 graph driver directory
``modern``             2.4.2 / 29 (moby v2.0.0-beta.24)         containerd's image store, namespace ``moby``
``modern-overlay2``    2.4.2 / 29 (moby v2.0.0-beta.24)         its own overlay2 graph driver directory
=====================  =======================================  ==========================================

The modern binaries are built from the Go module proxy with ``go install`` at pinned versions, once,
into a cache outside the repository (``$CTRTOOL_LAB_CACHE``, default ``~/.cache/ctrtool/bin``), one
directory per tool and version. A build goes to a temporary directory and is renamed into place when
complete, so an interrupted build is never mistaken for a cached one.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from .common import LabError, find_binary

Progress = Callable[[str], None]

CONTAINERD_MODULE = "github.com/containerd/containerd/v2"
CONTAINERD_VERSION = "v2.4.2"
CONTAINERD_COMMANDS = ("containerd", "ctr", "containerd-shim-runc-v2")
MOBY_MODULE = "github.com/moby/moby/v2"
MOBY_VERSION = "v2.0.0-beta.24"  # the Docker Engine 29 line

CACHE_ENV = "CTRTOOL_LAB_CACHE"
BUILD_TIMEOUT = 30 * 60.0


@dataclass(frozen=True)
class Build:
    """One pinned ``go install`` of one module's commands into its own cache directory."""

    name: str  # cache directory: "<name>-<version>"
    module: str
    version: str
    commands: tuple[str, ...]
    tags: tuple[str, ...] = ()

    def directory(self) -> pathlib.Path:
        return cache_dir() / f"{self.name}-{self.version}"

    def binaries(self) -> dict[str, str] | None:
        """command -> path when every command of this build is in the cache, else None."""
        d = self.directory()
        found = {c: str(d / c) for c in self.commands}
        return found if all(os.access(p, os.X_OK) for p in found.values()) else None


CONTAINERD_BUILD = Build("containerd", CONTAINERD_MODULE, CONTAINERD_VERSION, CONTAINERD_COMMANDS, tags=("no_btrfs",))
DOCKERD_BUILD = Build("moby", MOBY_MODULE, MOBY_VERSION, ("dockerd",))


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    builds: tuple[Build, ...]  # () = Debian's packages
    docker_store: str  # "overlay2" (docker's graph driver) or "containerd" (containerd's image store)

    @property
    def containerd_major(self) -> int:
        return 2 if CONTAINERD_BUILD in self.builds else 1

    @property
    def default_dir(self) -> str:
        return "/var/tmp/ctrtool-lab" if self.name == DEFAULT_PROFILE else f"/var/tmp/ctrtool-lab-{self.name}"


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("debian", "Debian 12 packages: containerd 1.6.20, dockerd 20.10 on overlay2", (), "overlay2"),
        Profile(
            "modern",
            f"containerd {CONTAINERD_VERSION[1:]}, dockerd 29 ({MOBY_VERSION}) on containerd's image store",
            (CONTAINERD_BUILD, DOCKERD_BUILD),
            "containerd",
        ),
        Profile(
            "modern-overlay2",
            f"containerd {CONTAINERD_VERSION[1:]}, dockerd 29 ({MOBY_VERSION}) on overlay2",
            (CONTAINERD_BUILD, DOCKERD_BUILD),
            "overlay2",
        ),
    )
}
DEFAULT_PROFILE = "debian"


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise LabError(f"unknown lab profile {name!r}", f"choose from {', '.join(PROFILES)}") from None


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get(CACHE_ENV) or os.path.expanduser("~/.cache/ctrtool/bin"))


def find_go() -> str | None:
    return find_binary("go") or next((p for p in ("/usr/local/go/bin/go",) if os.access(p, os.X_OK)), None)


def built_binaries(profile: Profile) -> dict[str, str] | None:
    """The profile's cached binaries (command -> path), or None when a build is missing."""
    out: dict[str, str] = {}
    for build in profile.builds:
        found = build.binaries()
        if found is None:
            return None
        out.update(found)
    return out


def ensure_built(profile: Profile, progress: Progress) -> dict[str, str]:
    """Build what the profile needs and is not cached yet; command -> path of every binary."""
    out: dict[str, str] = {}
    for build in profile.builds:
        found = build.binaries()
        if found is None:
            found = _go_install(build, progress)
        out.update(found)
    return out


def _go_install(build: Build, progress: Progress) -> dict[str, str]:
    go = find_go()
    if go is None:
        raise LabError(
            f"the lab profile needs {build.module}@{build.version}, built with Go, and go is not installed",
            "install Go (https://go.dev/dl/) or use `--profile debian`",
        )
    target = build.directory()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    packages = [f"{build.module}/cmd/{c}@{build.version}" for c in build.commands]
    argv = [go, "install", *(["-tags", ",".join(build.tags)] if build.tags else []), *packages]
    progress(f"building {build.name} {build.version} with go install (once; cached in {target})")
    env = dict(os.environ, GOBIN=str(tmp), CGO_ENABLED=os.environ.get("CGO_ENABLED", "1"))
    try:
        proc = subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
            cwd=tempfile.gettempdir(),
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        raise LabError(f"go install of {build.module}@{build.version} took more than {BUILD_TIMEOUT:g}s") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = " | ".join(proc.stdout.decode(errors="replace").strip().splitlines()[-4:])
        raise LabError(
            f"go install of {build.module}@{build.version} failed (exit {proc.returncode}): {tail}",
            f"run it by hand to see the whole log: GOBIN=DIR {' '.join(argv[1:])}",
        )
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    found = build.binaries()
    if found is None:
        raise LabError(f"go install of {build.module}@{build.version} did not produce {', '.join(build.commands)}")
    return found
