"""`ctrtool doctor`, disk check, against the lab: the image filesystem's use, measured as the kubelet
counts it, against the kubelet's image GC thresholds (defaults 85/80, or its config file's)."""

from __future__ import annotations

import os

import pytest
from helpers import doctor

pytestmark = pytest.mark.lab


def kubelet_percent(path: str) -> int:
    """What the kubelet's image GC computes: 100 - available * 100 / capacity."""
    st = os.statvfs(path)
    return 100 - int(st.f_bavail * 100 / st.f_blocks)


def test_disk_against_default_thresholds(lab_env):
    got, _ = doctor(env=lab_env)
    r = got["disk"]
    root = next(e for e in r["evidence"] if e["source"].endswith("imagefsinfo --output json"))["excerpt"].split(": ")[1]
    assert os.path.isdir(root) and root.endswith("io.containerd.snapshotter.v1.overlayfs")
    used = kubelet_percent(root)
    expected = "fail" if used >= 85 else "warn" if used >= 80 else "ok"
    assert r["status"] == expected, r
    assert any(d.startswith("image GC thresholds: high 85%, low 80% (no kubelet config at") for d in r["details"])
    assert any(d.startswith("unpacked more than once across stores: ") for d in r["details"])


def test_kubelet_config_thresholds_read(lab, lab_env):
    path = os.path.join(lab.directory, "doctor-kubelet-config.yaml")
    with open(path, "w") as fh:
        fh.write("kind: KubeletConfiguration\nimageGCHighThresholdPercent: 2\nimageGCLowThresholdPercent: 1\n")
    try:
        got, proc = doctor(env={**lab_env, "CTRTOOL_KUBELET_CONFIG": path})
        r = got["disk"]
        assert r["status"] == "fail" and proc.returncode == 1, r
        assert "at or above the kubelet's image GC high threshold 2%" in r["summary"]
        assert {
            "kind": "file",
            "source": path,
            "excerpt": "imageGCHighThresholdPercent: 2\nimageGCLowThresholdPercent: 1",
        } in r["evidence"]
        assert r["fixes"][0]["commands"] == ["ctrtool prune --backend crictl --all --yes"]
    finally:
        os.unlink(path)
