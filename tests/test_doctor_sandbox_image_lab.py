"""`ctrtool doctor`, sandbox image check, against the lab: the pause image the CRI is configured
with is in k8s.io, visible and unpacked; removed from k8s.io (and left in namespace default), doctor
says every new pod sandbox would pull it from a registry, names where the image is, and its
`ctrtool copy` brings it back."""

from __future__ import annotations

import os

import pytest
from helpers import apply_fix, doctor

from ctrtool.lab import PAUSE_IMAGE

pytestmark = pytest.mark.lab


def test_healthy_sandbox_image(lab, lab_env):
    got, _ = doctor(env=lab_env)
    r = got["sandbox_image"]
    assert r["status"] == "ok", r
    assert PAUSE_IMAGE in r["summary"] and "unpacked for overlayfs" in r["summary"]
    first = r["evidence"][0]
    if lab.profile.containerd_major >= 2:  # 2.x: pinned_images.sandbox, from containerd's config file
        assert first["kind"] == "file" and f'sandbox = "{PAUSE_IMAGE}"' in first["excerpt"], first
        assert r["summary"].endswith(", pinned")
    else:
        assert first["source"].endswith("info --output json")
        assert first["excerpt"] == f'config.sandboxImage: "{PAUSE_IMAGE}"'


def test_pause_image_removed_from_k8s_io(lab, lab_env, native):
    archive = os.path.join(lab.images_dir, "pause.tar")
    native.ctr("default", "images", "import", archive)
    native.ctr("k8s.io", "images", "rm", PAUSE_IMAGE)
    try:
        got, proc = doctor(env=lab_env)
        r = got["sandbox_image"]
        assert r["status"] == "fail", r
        assert proc.returncode == 1
        assert "every new pod sandbox would pull it from a registry" in r["summary"]
        assert "it is in ctr namespace default, which the CRI does not see" in r["details"]
        assert any(f"(no image named {PAUSE_IMAGE})" == e["excerpt"] for e in r["evidence"])
        (fix,) = r["fixes"]
        assert fix["commands"] == [f"ctrtool copy {PAUSE_IMAGE} --from ctr:default --to crictl"]
        apply_fix(fix, lab_env)
        got, _ = doctor(env=lab_env)
        assert got["sandbox_image"]["status"] == "ok", got["sandbox_image"]
    finally:
        native.ctr("default", "images", "rm", PAUSE_IMAGE, check=False)
        if PAUSE_IMAGE not in native.ctr("k8s.io", "images", "ls", "-q").stdout.split():
            native.ctr("k8s.io", "images", "import", archive)


def test_pause_image_nowhere(lab, lab_env, native):
    archive = os.path.join(lab.images_dir, "pause.tar")
    native.ctr("k8s.io", "images", "rm", PAUSE_IMAGE)
    try:
        got, _ = doctor(env=lab_env)
        r = got["sandbox_image"]
        assert r["status"] == "fail", r
        (fix,) = r["fixes"]
        assert fix["commands"] == [
            f"ctrtool pull --backend crictl {PAUSE_IMAGE}",
            "ctrtool load --backend ctr -n k8s.io IMAGE.tar",
        ]
        # no registry here: the air-gapped way, with the lab's archive for IMAGE.tar
        apply_fix({**fix, "commands": [fix["commands"][1].replace("IMAGE.tar", archive)]}, lab_env)
        got, _ = doctor(env=lab_env)
        assert got["sandbox_image"]["status"] == "ok", got["sandbox_image"]
    finally:
        if PAUSE_IMAGE not in native.ctr("k8s.io", "images", "ls", "-q").stdout.split():
            native.ctr("k8s.io", "images", "import", archive)
