"""Build images as docker-archive tars, in pure Python and byte-for-byte reproducible: the lab's two
images, and the layers of ctrtool's node image (:mod:`ctrtool.fleet.nodeimage`). Neither the lab nor
the fleet: both import it, it imports neither.

A docker-archive (what ``docker save`` writes) is an outer tar holding ``manifest.json``, one
config JSON named after its sha256, and one uncompressed tar per layer. Both ``docker load`` and
``ctr images import`` accept it (``ctr`` without ``--base-name``/``--index-name``: those break it).

Every tar entry has a fixed mtime, uid/gid 0, empty user/group names and a sorted order, and the
JSON is serialised with sorted keys, so the image IDs (sha256 of the config) are the same on every
run and every machine that has the same busybox binary.

* :data:`DEMO_IMAGE`: layer 1 is /bin/busybox plus one symlink per applet in /bin, layer 2 a few
  files in /etc; ``Cmd ["/bin/sh"]``.
* :data:`PAUSE_IMAGE`: the busybox layer only; its entrypoint is a shell that waits for a signal
  and exits 0 on SIGTERM/SIGINT, which is all the CRI plugin asks of a sandbox ("pause") image.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import platform
import stat
import tarfile
from dataclasses import dataclass, field
from typing import cast

from . import runner
from .errors import LabError, ToolError
from .hostbin import BUSYBOX, missing_binary_error

DEMO_IMAGE = "localhost/ctrtool/demo:1.0"
PAUSE_IMAGE = "localhost/ctrtool/pause:3.6"

# 2024-01-01T00:00:00Z, for every tar entry and the configs' "created"
FIXED_MTIME = 1704067200
CREATED = "2024-01-01T00:00:00Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"

ARCHIVE_NAMES = {DEMO_IMAGE: "demo.tar", PAUSE_IMAGE: "pause.tar"}

RELEASE_TEXT = (
    "NAME=ctrtool-lab\nVERSION=1.0\nDESCRIPTION=demo image built by ctrtool's local lab (busybox + this file)\n"
)
PASSWD_TEXT = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP_TEXT = "root:x:0:\nnogroup:x:65534:\n"

_GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class BuiltImage:
    """One image written to disk as a docker-archive tar."""

    ref: str
    path: pathlib.Path
    image_id: str  # "sha256:<hex>" of the config JSON: what `docker images` and crictl call the image ID
    diff_ids: list[str] = field(default_factory=list)


def platform_arch() -> str:
    """This machine's architecture in OCI/Go terms (amd64, arm64, ...)."""
    machine = platform.machine().lower()
    return _GOARCH.get(machine, machine)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical_json(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def busybox_applets(busybox: str = BUSYBOX) -> list[str]:
    """The applet names ``busybox --list`` prints, sorted, without "busybox" itself."""
    if not os.access(busybox, os.X_OK):
        raise missing_binary_error("busybox")
    try:
        result = runner.run([busybox, "--list"], timeout=10)
    except ToolError as exc:
        raise LabError(
            f"cannot list busybox applets: {exc.message}",
            "check that /bin/busybox is the static busybox (package busybox-static)",
        ) from None
    names = sorted({ln.strip() for ln in result.stdout.splitlines() if ln.strip()})
    applets = [n for n in names if n != "busybox" and "/" not in n]
    if "sh" not in applets:
        raise LabError(
            f"{busybox} has no `sh` applet ({len(applets)} applets listed)",
            "install busybox-static, whose busybox has a shell",
        )
    return applets


def _entry(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def layer_tar(entries: list[tuple[str, str, object]]) -> bytes:
    """A layer tar from (path, kind, payload) with kind "dir" (payload mode), "file" (payload
    (mode, bytes)) or "symlink" (payload target); entries are written sorted by path."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path, kind, payload in sorted(entries, key=lambda e: e[0]):
            if kind == "dir":
                tar.addfile(_entry(path, tarfile.DIRTYPE, cast(int, payload)))
            elif kind == "file":
                mode, data = cast("tuple[int, bytes]", payload)
                tar.addfile(_entry(path, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
            elif kind == "symlink":
                tar.addfile(_entry(path, tarfile.SYMTYPE, 0o777, linkname=str(payload)))
            else:  # pragma: no cover - programming error
                raise ValueError(kind)
    return buf.getvalue()


def busybox_layer(busybox: str = BUSYBOX, applets: list[str] | None = None) -> bytes:
    """Layer 1: the base directories, /bin/busybox and a symlink /bin/APPLET -> busybox for each applet."""
    try:
        data = pathlib.Path(busybox).read_bytes()
    except FileNotFoundError:
        raise missing_binary_error("busybox") from None
    if applets is None:
        applets = busybox_applets(busybox)
    entries: list[tuple[str, str, object]] = [
        ("bin", "dir", 0o755),
        ("dev", "dir", 0o755),
        ("etc", "dir", 0o755),
        ("proc", "dir", 0o555),
        ("root", "dir", 0o700),
        ("sys", "dir", 0o555),
        ("tmp", "dir", 0o1777),
        ("var", "dir", 0o755),
        ("bin/busybox", "file", (0o755, data)),
    ]
    entries += [(f"bin/{name}", "symlink", "busybox") for name in applets]
    return layer_tar(entries)


def release_layer() -> bytes:
    """Layer 2 of the demo image: /etc/ctrtool-lab-release, /etc/passwd, /etc/group."""
    return layer_tar(
        [
            ("etc", "dir", 0o755),
            ("etc/ctrtool-lab-release", "file", (0o644, RELEASE_TEXT.encode())),
            ("etc/group", "file", (0o644, GROUP_TEXT.encode())),
            ("etc/passwd", "file", (0o644, PASSWD_TEXT.encode())),
        ]
    )


def image_config(
    diff_ids: list[str],
    history: list[str],
    *,
    arch: str,
    cmd: list[str] | None = None,
    entrypoint: list[str] | None = None,
    labels: dict[str, str] | None = None,
) -> dict:
    """An image config (the JSON whose sha256 is the image ID)."""
    config: dict = {"Env": [PATH_ENV], "WorkingDir": "/"}
    if cmd is not None:
        config["Cmd"] = cmd
    if entrypoint is not None:
        config["Entrypoint"] = entrypoint
    if labels:
        config["Labels"] = dict(labels)
    return {
        "architecture": arch,
        "os": "linux",
        "created": CREATED,
        "author": "ctrtool lab",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": CREATED, "created_by": h} for h in history],
    }


def docker_archive(ref: str, config: dict, layers: list[bytes]) -> tuple[bytes, str]:
    """The docker-archive tar for one image and its image ID ("sha256:<hex of the config>")."""
    diff_ids = [sha256_digest(layer) for layer in layers]
    if config.get("rootfs", {}).get("diff_ids") != diff_ids:
        raise ValueError("config rootfs.diff_ids do not match the layers")
    config_bytes = canonical_json(config)
    image_id = sha256_digest(config_bytes)
    config_name = image_id.split(":", 1)[1] + ".json"
    layer_names = [d.split(":", 1)[1] + "/layer.tar" for d in diff_ids]
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": layer_names}]
    members: list[tuple[str, bytes | None]] = [(config_name, config_bytes)]
    for name, layer in zip(layer_names, layers):
        members.append((name.split("/", 1)[0], None))  # the layer's directory
        members.append((name, layer))
    members.append(("manifest.json", canonical_json(manifest)))

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            if data is None:
                tar.addfile(_entry(name, tarfile.DIRTYPE, 0o755))
            else:
                tar.addfile(_entry(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
    return buf.getvalue(), image_id


def _pause_config(base_id: str, arch: str) -> dict:
    return image_config(
        [base_id],
        ["ctrtool lab: busybox and its applets in /bin"],
        arch=arch,
        entrypoint=["/bin/sh", "-c", PAUSE_SCRIPT],
        labels={"org.opencontainers.image.title": "ctrtool lab pause (pod sandbox)"},
    )


def build_archives(busybox: str = BUSYBOX, arch: str | None = None) -> dict[str, tuple[bytes, str, list[str]]]:
    """Both images in memory: ref -> (archive bytes, image id, diff ids)."""
    arch = arch or platform_arch()
    base = busybox_layer(busybox)
    extra = release_layer()
    base_id, extra_id = sha256_digest(base), sha256_digest(extra)
    demo = image_config(
        [base_id, extra_id],
        ["ctrtool lab: busybox and its applets in /bin", "ctrtool lab: /etc/ctrtool-lab-release"],
        arch=arch,
        cmd=["/bin/sh"],
        labels={"org.opencontainers.image.title": "ctrtool lab demo"},
    )
    pause = _pause_config(base_id, arch)
    out: dict[str, tuple[bytes, str, list[str]]] = {}
    for ref, config, layers in ((DEMO_IMAGE, demo, [base, extra]), (PAUSE_IMAGE, pause, [base])):
        data, image_id = docker_archive(ref, config, layers)
        out[ref] = (data, image_id, [sha256_digest(layer) for layer in layers])
    return out


def _write_if_changed(path: pathlib.Path, data: bytes) -> None:
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except FileNotFoundError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    os.replace(tmp, path)


def build_images(out_dir: pathlib.Path | str, busybox: str = BUSYBOX, arch: str | None = None) -> dict[str, BuiltImage]:
    """Write demo.tar and pause.tar into ``out_dir`` (unchanged files are not rewritten)."""
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    built: dict[str, BuiltImage] = {}
    for ref, (data, image_id, diff_ids) in build_archives(busybox, arch).items():
        path = out / ARCHIVE_NAMES[ref]
        _write_if_changed(path, data)
        built[ref] = BuiltImage(ref, path, image_id, diff_ids)
    return built


def build_sandbox_image(
    out_dir: pathlib.Path | str, ref: str, name: str, busybox: str = BUSYBOX, arch: str | None = None
) -> BuiltImage:
    """The pause image under another reference (a stock containerd's own sandbox image, such as
    ``registry.k8s.io/pause:3.10.2``), written to ``out_dir/name``: same config, same layer."""
    base = busybox_layer(busybox)
    data, image_id = docker_archive(ref, _pause_config(sha256_digest(base), arch or platform_arch()), [base])
    path = pathlib.Path(out_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_if_changed(path, data)
    return BuiltImage(ref, path, image_id, [sha256_digest(base)])
