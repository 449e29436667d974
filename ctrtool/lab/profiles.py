"""Lab profiles: which containerd and dockerd a lab runs, and how docker stores its images.

=====================  =======================================  ==========================================
profile                containerd / dockerd                      docker's image store
=====================  =======================================  ==========================================
``debian``             Debian 12's packages: 1.6.20 / 20.10     its own overlay2 graph driver directory
``modern``             2.4.2 / 29 (moby v2.0.0-beta.24)         containerd's image store, namespace ``moby``
``modern-overlay2``    2.4.2 / 29 (moby v2.0.0-beta.24)         its own overlay2 graph driver directory
``kube``               2.4.2 / 29 per node                       containerd's image store (Kubernetes v1.37.2, etcd v3.7.3)
``crio``               none: CRI-O 1.37.0, podman 4.3 (Debian)   one containers/storage store, no docker
=====================  =======================================  ==========================================

The modern binaries are built from the Go module proxy with ``go install`` at pinned versions, once,
into a cache outside the repository (``$CTRTOOL_LAB_CACHE``, default ``~/.cache/ctrtool/bin``), one
directory per tool and version. A build goes to a temporary directory and is renamed into place when
complete, so an interrupted build is never mistaken for a cached one; a lock file per build
(``.NAME-VERSION.lock`` in the cache) makes a second ``lab up`` wait for a build under way instead of
starting its own.

Kubernetes and etcd cannot be ``go install``-ed (their go.mod files have replace directives): they are
built with ``go build`` inside a small generated wrapper module that requires the pinned module and
replaces each of its staging modules by the published version (see :data:`KUBERNETES_BUILD`).

CRI-O cannot come from the module proxy at all (the proxy refuses its module): it is built from a
pinned source tarball (:mod:`ctrtool.lab.sourcebuild`, :data:`CRIO_BUILD`), its ``crio`` with ``go
build`` and its ``pinns`` with ``make``, under the same lock and into the same kind of cache directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import sourcebuild
from .common import LabError, find_binary

Progress = Callable[[str], None]

CONTAINERD_MODULE = "github.com/containerd/containerd/v2"
CONTAINERD_VERSION = "v2.4.2"
CONTAINERD_COMMANDS = ("containerd", "ctr", "containerd-shim-runc-v2")
MOBY_MODULE = "github.com/moby/moby/v2"
MOBY_VERSION = "v2.0.0-beta.24"  # the Docker Engine 29 line
KUBERNETES_MODULE = "k8s.io/kubernetes"
KUBERNETES_VERSION = "v1.37.2"
KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl")
ETCD_MODULE = "go.etcd.io/etcd/server/v3"
ETCD_VERSION = "v3.7.3"

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
    # a wrapper-module build (``go build`` of these packages, in this order of ``commands``) instead
    # of ``go install MODULE/cmd/C@VERSION``
    packages: tuple[str, ...] = ()
    # modules replaced by ``module VERSION`` in the wrapper: listed, or "*" for every module the
    # required module's own go.mod replaces by a local directory (Kubernetes' staging modules)
    replaces: tuple[str, ...] = ()
    replace_version: str = ""
    ldflags: str = ""
    source_sha256: str = ""  # built from this pinned source tarball (ctrtool.lab.sourcebuild)

    def directory(self) -> pathlib.Path:
        return cache_dir() / f"{self.name}-{self.version}"

    def binaries(self) -> dict[str, str] | None:
        """command -> path when every command of this build is in the cache, else None."""
        d = self.directory()
        found = {c: str(d / c) for c in self.commands}
        return found if all(os.access(p, os.X_OK) for p in found.values()) else None


CONTAINERD_BUILD = Build("containerd", CONTAINERD_MODULE, CONTAINERD_VERSION, CONTAINERD_COMMANDS, tags=("no_btrfs",))
DOCKERD_BUILD = Build("moby", MOBY_MODULE, MOBY_VERSION, ("dockerd",))
KUBERNETES_BUILD = Build(
    "kubernetes",
    KUBERNETES_MODULE,
    KUBERNETES_VERSION,
    KUBERNETES_COMMANDS,
    packages=tuple(f"{KUBERNETES_MODULE}/cmd/{c}" for c in KUBERNETES_COMMANDS),
    replaces=("*",),
    replace_version="v0" + KUBERNETES_VERSION[2:],  # staging modules are published as v0.<minor>.<patch>
    ldflags=f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}",
)
ETCD_BUILD = Build(
    "etcd",
    ETCD_MODULE,
    ETCD_VERSION,
    ("etcd",),
    packages=(ETCD_MODULE,),
    replaces=tuple(f"go.etcd.io/etcd/{m}" for m in ("api/v3", "client/pkg/v3", "client/v3", "pkg/v3")),
    replace_version=ETCD_VERSION,
)

CRIO_VERSION = "1.37.0"
CRIO_BUILD = Build(
    "crio",
    "github.com/cri-o/cri-o",
    CRIO_VERSION,
    ("crio", "pinns"),
    tags=sourcebuild.CRIO_TAGS,
    source_sha256=sourcebuild.CRIO_SOURCE_SHA256,
)


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    builds: tuple[Build, ...]  # () = Debian's packages
    docker_store: str  # "overlay2" (docker's graph driver), "containerd" (its image store), "" (no dockerd)
    kubernetes: bool = False  # a Kubernetes cluster (ctrtool.lab.kube) instead of containerd + dockerd
    crio: bool = False  # CRI-O and podman on one containers/storage store (ctrtool.lab.crio)

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
        Profile(
            "kube",
            f"Kubernetes {KUBERNETES_VERSION[1:]} (etcd {ETCD_VERSION[1:]}), each node a kubelet and a dockerd 29 "
            f"on its own containerd {CONTAINERD_VERSION[1:]}",
            (CONTAINERD_BUILD, DOCKERD_BUILD, KUBERNETES_BUILD, ETCD_BUILD),
            "containerd",
            kubernetes=True,
        ),
        Profile(
            "crio",
            f"CRI-O {CRIO_VERSION} built from source, podman (Debian) on its containers/storage store",
            (CRIO_BUILD,),
            "",
            crio=True,
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
            with _build_lock(build, progress):
                found = build.binaries()  # built meanwhile by whoever held the lock
                if found is None:
                    if build.source_sha256:
                        found = _source_build(build, progress)
                    elif build.packages:
                        found = _go_build(build, progress)
                    else:
                        found = _go_install(build, progress)
        if profile.kubernetes or profile.crio:
            progress(f"{build.name} {build.version}: cached in {build.directory()}")
        out.update(found)
    return out


@contextlib.contextmanager
def _build_lock(build: Build, progress: Progress) -> Iterator[None]:
    """One build of one tool and version at a time on this machine (flock on a file in the cache)."""
    target = build.directory()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target.parent / f".{target.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for another build of {build.name} {build.version} to finish")
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _build_start(build: Build, hint: str) -> tuple[str, pathlib.Path, pathlib.Path]:
    """(go, the cache directory the build goes to, a new temporary directory beside it)."""
    go = find_go()
    if go is None:
        raise LabError(
            f"the lab profile needs {build.module}@{build.version}, built with Go, and go is not installed", hint
        )
    target = build.directory()
    target.parent.mkdir(parents=True, exist_ok=True)
    return go, target, pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))


def _go_install(build: Build, progress: Progress) -> dict[str, str]:
    go, target, tmp = _build_start(build, "install Go (https://go.dev/dl/) or use `--profile debian`")
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


def _staging_replaces(go: str, build: Build, env: dict[str, str], cwd: str) -> list[str]:
    """The modules that ``build.module``'s own go.mod replaces by a local directory (``=> ./...``)."""
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"{build.module}@{build.version}"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=600,
        cwd=cwd,
    )
    try:
        gomod = pathlib.Path(json.loads(proc.stdout)["GoMod"]).read_text()
    except (ValueError, KeyError, OSError, TypeError):
        tail = proc.stderr.decode(errors="replace").strip()[-300:]
        raise LabError(f"cannot read the go.mod of {build.module}@{build.version}: {tail}") from None
    return sorted(set(re.findall(r"^\s*(?:replace\s+)?(\S+)\s+=>\s+\./", gomod, re.MULTILINE)))


def wrapper_gomod(build: Build, replaces: list[str]) -> str:
    """go.mod of the wrapper module that builds ``build.packages``."""
    lines = [f"module ctrtool.lab/{build.name}", "", "go 1.26.0", "", f"require {build.module} {build.version}", ""]
    if replaces:
        lines.append("replace (")
        lines += [f"\t{m} => {m} {build.replace_version}" for m in replaces]
        lines.append(")")
    return "\n".join(lines) + "\n"


def _go_build(build: Build, progress: Progress) -> dict[str, str]:
    """A wrapper-module build: go.mod requiring the pinned module with its replaces, then ``go build``
    of its commands into a temporary directory that is renamed into the cache when complete."""
    go, target, tmp = _build_start(build, "install Go (https://go.dev/dl/)")
    src = pathlib.Path(tempfile.mkdtemp(prefix=f"ctrtool-build-{build.name}."))
    progress(f"building {build.name} {build.version} with go build (once; cached in {target})")
    env = dict(os.environ, CGO_ENABLED=os.environ.get("CGO_ENABLED", "1"), GOFLAGS="-mod=mod", GOWORK="off")
    argv = [go, "build", *(["-ldflags", build.ldflags] if build.ldflags else []), "-o", str(tmp) + "/"]
    argv += list(build.packages)
    started = time.monotonic()
    try:
        replaces = list(build.replaces)
        if replaces == ["*"]:
            replaces = _staging_replaces(go, build, env, str(src))
        (src / "go.mod").write_text(wrapper_gomod(build, replaces))
        proc = subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
            cwd=src,
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(tmp, ignore_errors=True)
        raise LabError(f"go build of {build.module}@{build.version} took more than {BUILD_TIMEOUT:g}s") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(src, ignore_errors=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tail = " | ".join(proc.stdout.decode(errors="replace").strip().splitlines()[-4:])
        raise LabError(f"go build of {build.module}@{build.version} failed (exit {proc.returncode}): {tail}")
    # go build names a binary after the package's last path element, the one before a major-version
    # suffix (etcd's go.etcd.io/etcd/server/v3 becomes "server")
    for command, package in zip(build.commands, build.packages):
        parts = package.split("/")
        built = tmp / (parts[-2] if re.fullmatch(r"v[0-9]+", parts[-1]) else parts[-1])
        if built.name != command and built.exists():
            os.replace(built, tmp / command)
    (tmp / "build.json").write_text(
        json.dumps({"module": build.module, "version": build.version, "seconds": round(time.monotonic() - started)})
        + "\n"
    )
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    progress(f"built {build.name} {build.version} in {time.monotonic() - started:.0f}s")
    found = build.binaries()
    if found is None:
        raise LabError(f"go build of {build.module}@{build.version} did not produce {', '.join(build.commands)}")
    return found


def _source_build(build: Build, progress: Progress) -> dict[str, str]:
    """A build from a pinned source tarball (CRI-O), into a temporary directory renamed into place."""
    go, target, tmp = _build_start(build, f"install Go (https://go.dev/dl/); {sourcebuild.INSTALL_HINT}")
    try:
        seconds = sourcebuild.build_crio(go, tmp, build.version, progress)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (tmp / "build.json").write_text(
        json.dumps({"module": build.module, "version": build.version, "seconds": round(seconds)}) + "\n"
    )
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)
    progress(f"built {build.name} {build.version} in {seconds:.0f}s")
    found = build.binaries()
    if found is None:
        raise LabError(f"the build of {build.name} {build.version} did not produce {', '.join(build.commands)}")
    return found
