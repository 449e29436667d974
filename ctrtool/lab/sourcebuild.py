"""Builds from a pinned source tarball instead of the Go module proxy: CRI-O, whose own module the
proxy refuses (its dependencies it serves). The lab's ``crio`` profile (:mod:`ctrtool.lab.profiles`)
builds with this; the cache directory, the lock and the rename into place are the profiles' own.

The tarball (an unmodified ``git archive``, no top directory) is found at ``$CTRTOOL_CRIO_SOURCE``,
else ``<repo>/../shared/third_party/cri-o/cri-o-*.tar.gz`` (beside the checkout: CI runs on a clone
elsewhere), else ``/work/shared/third_party/cri-o/``; only the one whose sha256 is pinned is used.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable

from .common import LabError, find_binary

Progress = Callable[[str], None]

CRIO_SOURCE_ENV = "CTRTOOL_CRIO_SOURCE"
CRIO_COMMIT = "f954a17e505f8931e91004403b5f5eac71ab6085"
CRIO_SOURCE_SHA256 = "c94c658c8b5e75139d571db7a5f23409004baec9d7ddb993da963eda5b5c19ef"
CRIO_TAGS = ("containers_image_openpgp", "exclude_graphdriver_btrfs", "btrfs_noversion")
CRIO_SOURCE_GLOB = "cri-o-*.tar.gz"
SOURCE_DIRS = (
    pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "third_party" / "cri-o",
    pathlib.Path("/work/shared/third_party/cri-o"),
)
BUILD_TIMEOUT = 30 * 60.0
INSTALL_HINT = "apt-get install libseccomp-dev libgpgme-dev pkg-config conmon podman"


def sha256_file(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def find_crio_source() -> pathlib.Path:
    """The pinned CRI-O source tarball; LabError when there is none, or only another one."""
    given = os.environ.get(CRIO_SOURCE_ENV)
    candidates = [pathlib.Path(given)] if given else [p for d in SOURCE_DIRS for p in sorted(d.glob(CRIO_SOURCE_GLOB))]
    if not candidates:
        raise LabError(
            f"lab profile crio builds CRI-O from its source tarball and none was found "
            f"({' or '.join(str(d / CRIO_SOURCE_GLOB) for d in SOURCE_DIRS)})",
            f"set {CRIO_SOURCE_ENV} to cri-o-{CRIO_COMMIT[:8]}.tar.gz (`git archive` of cri-o at {CRIO_COMMIT})",
        )
    wrong = []
    for path in candidates:
        try:
            digest = sha256_file(path)
        except OSError as exc:
            wrong.append(f"{path} ({exc.strerror})")
            continue
        if digest == CRIO_SOURCE_SHA256:
            return path
        wrong.append(f"{path} (sha256 {digest[:12]}...)")
    raise LabError(
        f"no CRI-O source tarball with the pinned sha256 {CRIO_SOURCE_SHA256[:12]}...: {', '.join(wrong)}",
        f"use the unmodified `git archive` of cri-o at {CRIO_COMMIT} ({CRIO_SOURCE_ENV} names it)",
    )


def _run(argv: list[str], cwd: pathlib.Path, env: dict[str, str], log: list[str], what: str) -> None:
    try:
        proc = subprocess.run(
            argv,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise LabError(f"{what} took more than {BUILD_TIMEOUT:g}s") from None
    except OSError as exc:
        raise LabError(f"{what}: cannot run {argv[0]}: {exc.strerror}", INSTALL_HINT) from None
    text = proc.stdout.decode(errors="replace")
    log.append(text)
    if proc.returncode != 0:
        tail = " | ".join(text.strip().splitlines()[-4:])
        raise LabError(f"{what} failed (exit {proc.returncode}): {tail}", f"needs Go and C headers: {INSTALL_HINT}")


def build_crio(go: str, tmp: pathlib.Path, version: str, progress: Progress) -> float:
    """Unpack the pinned tarball, ``go build`` ./cmd/crio and ``make -C pinns`` into ``tmp`` (crio,
    pinns, build.log); the seconds it took. The caller renames ``tmp`` into the cache."""
    tarball = find_crio_source()
    make = find_binary("make")
    if not make:
        raise LabError("lab profile crio builds pinns with make, and make is not installed", "apt-get install make")
    started = time.monotonic()
    progress(f"building crio {version} from {tarball.name} with go build (once; cached in {tmp.parent})")
    src = pathlib.Path(tempfile.mkdtemp(prefix="ctrtool-build-crio."))
    log: list[str] = []
    env = dict(os.environ, CGO_ENABLED="1", GOWORK="off")
    env.pop("GOFLAGS", None)
    try:
        with tarfile.open(tarball) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(src, filter="data")
            else:  # pragma: no cover - Python before 3.10.12
                tar.extractall(src)  # noqa: S202 - a pinned tarball
        argv = [go, "build", "-mod=mod", "-trimpath", "-tags", " ".join(CRIO_TAGS), "-o", str(tmp / "crio")]
        _run([*argv, "./cmd/crio"], src, env, log, f"go build of crio {version}")
        _run([make, "-C", "pinns"], src, env, log, f"make -C pinns (crio {version})")
        shutil.copy2(src / "bin" / "pinns", tmp / "pinns")
    finally:
        (tmp / "build.log").write_text("".join(log))
        shutil.rmtree(src, ignore_errors=True)
    return time.monotonic() - started
