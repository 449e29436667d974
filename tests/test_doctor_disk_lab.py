"""`ctrtool doctor`, disk check, against the lab: the image filesystem's use, measured as the kubelet
counts it, against the kubelet's image GC thresholds (defaults 85/80, or its config file's)."""

from __future__ import annotations

import json
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
        assert r["fixes"][0]["commands"] == ["ctrtool df --plan"]
    finally:
        os.unlink(path)


def test_tmpfs_root_filled_past_the_high_threshold(lab, lab_env):
    """A containerd whose root is a 24 MiB tmpfs, filled past 85% by one image imported into
    ``default`` and ``k8s.io`` (one blob, two unpacked snapshots): doctor fails the disk check. Its
    fix is the plan, not a prune through the CRI (which would take the kubelet's images, the
    sandbox image on 1.6 among them): carried out step by step as printed, with the person's
    consent, the plan removes default's copy and brings the filesystem below the thresholds, and
    the image in k8s.io is still there."""
    import secrets
    import shlex
    import time

    from doctor_daemons import OwnContainerd
    from helpers import ctrtool
    from test_doctor_snapshotter_lab import unique_image

    c = OwnContainerd(lab, "tmpfs", cri=True, tmpfs_mb=24)
    try:
        c.start()
        env = c.env(lab_env)
        ref = f"localhost/doctor/big-{secrets.token_hex(3)}:1"
        path = c.dir / "big.tar"
        path.write_bytes(unique_image(ref, size=7 * 1024 * 1024))
        for ns in ("k8s.io", "default"):
            c.ctr(env, ns, "images", "import", str(path))
        path.unlink()
        assert kubelet_percent(str(c.root)) >= 85
        got, proc = doctor(env=env)
        r = got["disk"]
        assert r["status"] == "fail" and proc.returncode == 1, r
        assert f"({c.root}/io.containerd.snapshotter.v1.overlayfs) is" in r["summary"]
        assert "at or above the kubelet's image GC high threshold 85%" in r["summary"]
        statvfs = next(e for e in r["evidence"] if e["kind"] == "system")
        assert statvfs["source"] == f"statvfs({c.root}/io.containerd.snapshotter.v1.overlayfs)"
        (fix,) = [f for f in r["fixes"] if f["commands"]]
        assert fix["commands"] == ["ctrtool df --plan"]
        # docker is not there (exit 3: partial): the plan of the backends that answered still holds
        proc = ctrtool(*shlex.split(fix["commands"][0])[1:], "-o", "json", env=env)
        assert proc.returncode in (0, 3), proc.stderr
        plan = json.loads(proc.stdout)
        steps = [s for s in plan["steps"] if s["image"] == ref]
        assert [s["namespace"] for s in steps] == ["default"], plan
        for line in steps[0]["commands"]:
            assert "--yes" not in shlex.split(line)
            done = ctrtool(*shlex.split(line)[1:], "--yes", env=env)  # the person says yes at the prompt
            assert done.returncode == 0, (line, done.stderr)
        end = time.monotonic() + 20  # containerd's garbage collector removes the snapshot
        while kubelet_percent(str(c.root)) >= 80 and time.monotonic() < end:
            time.sleep(0.2)
        got, _ = doctor(env=env)
        assert got["disk"]["status"] == "ok", got["disk"]
        listed = c.ctr(env, "k8s.io", "images", "ls", "-q")
        assert ref in listed.stdout.split()
    finally:
        c.purge()


def test_both_percentages_and_how_each_is_counted(lab_env):
    """doctor's figure is the kubelet's (100 - available * 100 / capacity); df -h's Use% leaves out
    reserved blocks. Both are given, each with how it is counted, and df's is what df prints."""
    import re
    import subprocess

    got, _ = doctor(env=lab_env)
    r = got["disk"]
    root = next(e for e in r["evidence"] if e["kind"] == "system")["source"][len("statvfs(") : -1]
    (line,) = [d for d in r["details"] if "is the kubelet's count" in d]
    kubelet, shown = (
        int(x) for x in re.fullmatch(r"(\d+)% is the kubelet's count.*`df -h` says (\d+)%.*", line).groups()
    )
    assert kubelet == kubelet_percent(root)
    df = subprocess.run(["df", "--output=pcent", root], capture_output=True, text=True, check=True)
    assert shown == int(df.stdout.splitlines()[1].strip().rstrip("%"))


def test_what_the_kubelet_gc_cannot_free_is_said_in_bytes(lab_env):
    """The disk check reads the byte account: the images outside k8s.io and the content store's
    blobs it names are the account's own figures (`ctrtool df`)."""
    from helpers import ctrtool_json

    got, _ = doctor(env=lab_env)
    usage, _ = ctrtool_json("df", env=lab_env)
    (containerd,) = [a for a in usage["account"] if a["tool"] == "containerd"]
    outside = sum(
        b["bytes"] for b in containerd["buckets"] if b["kind"] == "layers" and "k8s.io" not in b["namespaces"]
    )
    blobs = sum(b["bytes"] for b in containerd["buckets"] if b["kind"] == "blobs")
    (line,) = [d for d in got["disk"]["details"] if d.startswith(f"under {containerd['root']} the kubelet's image GC")]
    assert f"images outside k8s.io {outside_words(outside)}" in line
    assert f"the content store beside the image filesystem {outside_words(blobs)}" in line
    assert outside > 0 and blobs > 0


def outside_words(n: int) -> str:
    from ctrtool.doctor.checks.common import bytes_words

    return bytes_words(n)
