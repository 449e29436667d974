"""`ctrtool doctor`, snapshotter check, against the lab: every image in k8s.io unpacked for the
CRI's snapshotter; one imported with `ctr images import --snapshotter native`: doctor names it, the
snapshotter it is unpacked for, and its fix (export, import again) leaves it unpacked for the CRI's."""

from __future__ import annotations

import os
import secrets

import pytest
from helpers import apply_fix, doctor

from ctrtool import imagebuild as lab_image

pytestmark = pytest.mark.lab


def unique_image(ref: str, size: int = 32) -> bytes:
    """A docker archive whose one layer is its own (a file of ``size`` random bytes): no other image
    shares its chain id, so no snapshotter has it unpacked before the test imports it."""
    import hashlib

    layer = lab_image.layer_tar([("doctor-test", "file", (0o644, secrets.token_bytes(size)))])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = lab_image.image_config([diff_id], ["ctrtool doctor test"], arch=lab_image.platform_arch(), cmd=["/x"])
    return lab_image.docker_archive(ref, config, [layer])[0]


def test_healthy_every_image_unpacked(lab_env):
    got, _ = doctor(env=lab_env)
    r = got["snapshotter"]
    assert r["status"] == "ok", r
    assert "unpacked for the CRI's snapshotter overlayfs" in r["summary"]


def test_image_unpacked_for_native_only(lab, lab_env, native):
    ref = f"localhost/doctor/native-{secrets.token_hex(3)}:1"
    path = os.path.join(lab.directory, f"doctor-native-{secrets.token_hex(3)}.tar")
    with open(path, "wb") as fh:
        fh.write(unique_image(ref))
    # ctr 2.x imports through containerd's transfer service, which unpacks only for the snapshotters
    # of its unpack_config (the default one): --local unpacks in ctr itself, for any snapshotter
    local = ["--local"] if lab.profile.containerd_major >= 2 else []
    native.ctr("k8s.io", "images", "import", *local, "--snapshotter", "native", path)
    archive = None
    try:
        got, proc = doctor("--image", ref, env=lab_env)
        r = got["snapshotter"]
        assert r["status"] == "warn" and proc.returncode == 1, r
        assert f"({ref})" in r["summary"] and "not unpacked for the CRI's snapshotter overlayfs" in r["summary"]
        assert any(d.startswith(ref) and d.endswith("unpacked for native, not for overlayfs") for d in r["details"])
        assert any(e["source"].endswith("snapshots --snapshotter native ls") for e in r["evidence"])
        image = got["image"]
        assert image["status"] == "warn" and "(only for native)" in image["summary"], image
        (fix,) = r["fixes"]
        archive = fix["commands"][0].split(" -o ")[1].split()[0]
        apply_fix(fix, lab_env)
        got, _ = doctor("--image", ref, env=lab_env)
        assert got["snapshotter"]["status"] == "ok", got["snapshotter"]
        assert got["image"]["status"] == "ok", got["image"]
    finally:
        native.forget_images(ref)
        os.unlink(path)
        if archive and os.path.exists(archive):
            os.unlink(archive)
