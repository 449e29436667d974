"""The lab's image builder: deterministic docker-archive tars, no daemon needed."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import tarfile

import pytest

from ctrtool import imagebuild as image
from ctrtool.lab import DEMO_IMAGE, PAUSE_IMAGE, LabError

REAL_BUSYBOX = "/bin/busybox"


@pytest.fixture(scope="module")
def busybox(tmp_path_factory) -> str:
    """The real static busybox when installed, else a stand-in script that lists three applets."""
    if os.access(REAL_BUSYBOX, os.X_OK):
        return REAL_BUSYBOX
    fake = tmp_path_factory.mktemp("bb") / "busybox"
    fake.write_text("#!/bin/sh\nif [ \"$1\" = --list ]; then printf 'busybox\\nls\\nsh\\nsleep\\n'; fi\n")
    fake.chmod(0o755)
    return str(fake)


@pytest.fixture(scope="module")
def built(tmp_path_factory, busybox) -> dict[str, image.BuiltImage]:
    return image.build_images(tmp_path_factory.mktemp("images"), busybox=busybox)


def _members(data: bytes) -> dict[str, tuple[tarfile.TarInfo, bytes | None]]:
    out: dict[str, tuple[tarfile.TarInfo, bytes | None]] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for info in tar.getmembers():
            payload = tar.extractfile(info).read() if info.isfile() else None  # type: ignore[union-attr]
            out[info.name.rstrip("/")] = (info, payload)
    return out


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _archive(built, ref) -> tuple[dict, dict, dict]:
    members = _members(built[ref].path.read_bytes())
    manifest = json.loads(members["manifest.json"][1])
    config = json.loads(members[manifest[0]["Config"]][1])
    return members, manifest[0], config


def test_two_builds_are_byte_identical(tmp_path, busybox, built):
    again = image.build_images(tmp_path, busybox=busybox)
    for ref in (DEMO_IMAGE, PAUSE_IMAGE):
        assert again[ref].path.read_bytes() == built[ref].path.read_bytes()
        assert again[ref].image_id == built[ref].image_id
    first, second = image.build_archives(busybox), image.build_archives(busybox)
    assert first == second


def test_rebuild_does_not_rewrite_unchanged_files(tmp_path, busybox):
    paths = image.build_images(tmp_path, busybox=busybox)
    before = {ref: b.path.stat().st_mtime_ns for ref, b in paths.items()}
    os.utime(paths[DEMO_IMAGE].path, ns=(1, 1))
    image.build_images(tmp_path, busybox=busybox)
    assert paths[DEMO_IMAGE].path.stat().st_mtime_ns == 1
    assert paths[PAUSE_IMAGE].path.stat().st_mtime_ns == before[PAUSE_IMAGE]


@pytest.mark.parametrize("ref", [DEMO_IMAGE, PAUSE_IMAGE])
def test_manifest_references_existing_members(built, ref):
    members, manifest, _ = _archive(built, ref)
    assert manifest["RepoTags"] == [ref]
    assert manifest["Config"] in members
    for layer in manifest["Layers"]:
        assert layer in members
        assert members[layer][0].isfile()


@pytest.mark.parametrize("ref", [DEMO_IMAGE, PAUSE_IMAGE])
def test_diff_ids_and_image_id_match_the_content(built, ref):
    members, manifest, config = _archive(built, ref)
    layer_digests = [_sha(members[name][1]) for name in manifest["Layers"]]
    assert config["rootfs"] == {"type": "layers", "diff_ids": layer_digests}
    assert built[ref].diff_ids == layer_digests
    config_bytes = members[manifest["Config"]][1]
    assert built[ref].image_id == _sha(config_bytes)
    assert manifest["Config"] == built[ref].image_id.split(":", 1)[1] + ".json"
    assert len(config["history"]) == len(layer_digests)


def test_configs(built):
    _, _, demo = _archive(built, DEMO_IMAGE)
    _, _, pause = _archive(built, PAUSE_IMAGE)
    for config in (demo, pause):
        assert config["os"] == "linux"
        assert config["architecture"] == image.platform_arch()
        assert config["created"] == image.CREATED
    assert demo["config"]["Cmd"] == ["/bin/sh"]
    assert len(demo["rootfs"]["diff_ids"]) == 2
    assert pause["config"]["Entrypoint"][:2] == ["/bin/sh", "-c"]
    assert "trap 'exit 0' TERM INT" in pause["config"]["Entrypoint"][2]
    # the pause image reuses the demo image's busybox layer
    assert pause["rootfs"]["diff_ids"] == demo["rootfs"]["diff_ids"][:1]


def test_layers_hold_busybox_and_applet_symlinks(built, busybox):
    members, manifest, _ = _archive(built, DEMO_IMAGE)
    base = _members(members[manifest["Layers"][0]][1])
    info, payload = base["bin/busybox"]
    assert info.isfile() and info.mode == 0o755
    assert payload == pathlib.Path(busybox).read_bytes()
    applets = image.busybox_applets(busybox)
    assert "sh" in applets and "busybox" not in applets
    for name in applets:
        link, _ = base[f"bin/{name}"]
        assert link.issym() and link.linkname == "busybox", name
    assert base["tmp"][0].isdir() and base["tmp"][0].mode == 0o1777

    extra = _members(members[manifest["Layers"][1]][1])
    assert b"ctrtool-lab" in extra["etc/ctrtool-lab-release"][1]
    assert extra["etc/passwd"][1].startswith(b"root:x:0:0:")


def test_every_entry_is_normalised(built):
    for ref in (DEMO_IMAGE, PAUSE_IMAGE):
        members, manifest, _ = _archive(built, ref)
        tars = [members] + [_members(members[name][1]) for name in manifest["Layers"]]
        for entries in tars:
            names = list(entries)
            for info, _ in entries.values():
                assert info.mtime == image.FIXED_MTIME
                assert (info.uid, info.gid, info.uname, info.gname) == (0, 0, "", "")
            if entries is not members:
                assert names == sorted(names)


def test_mismatched_diff_ids_are_refused():
    layer = image.release_layer()
    config = image.image_config(["sha256:" + "0" * 64], ["x"], arch="amd64", cmd=["/bin/sh"])
    with pytest.raises(ValueError):
        image.docker_archive("localhost/x:1", config, [layer])


def test_missing_busybox_is_a_lab_error(tmp_path):
    with pytest.raises(LabError) as info:
        image.build_archives(str(tmp_path / "no-busybox"))
    assert "busybox" in info.value.message
    assert "apt-get install" in info.value.hint
