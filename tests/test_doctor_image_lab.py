"""`ctrtool doctor --image REF` against the lab: an image the kubelet can use; one only in ctr's
namespace default; one only in docker; one nowhere. Doctor names where it is and its `ctrtool copy`
makes the kubelet see it."""

from __future__ import annotations

import os
import secrets

import pytest
from helpers import apply_fix, doctor
from registry import scratch_image

from ctrtool.lab import DEMO_IMAGE

pytestmark = pytest.mark.lab


@pytest.fixture
def scratch(lab, native):
    """A tiny image of its own (name and archive), removed from every store afterwards."""
    ref = f"localhost/doctor/img-{secrets.token_hex(3)}:1"
    path = os.path.join(lab.directory, f"doctor-{secrets.token_hex(3)}.tar")
    with open(path, "wb") as fh:
        fh.write(scratch_image(ref).archive)
    yield ref, path
    os.unlink(path)
    native.forget_images(ref)


def test_image_the_kubelet_can_use(lab_env):
    got, proc = doctor("--image", DEMO_IMAGE, env=lab_env)
    r = got["image"]
    assert r["status"] == "ok", r
    assert "the kubelet can start it without pulling" in r["summary"]
    assert any(
        e["source"].endswith("--namespace k8s.io images ls") and DEMO_IMAGE in e["excerpt"] for e in r["evidence"]
    )


def test_without_image_option_there_is_no_image_check(lab_env):
    got, _ = doctor(env=lab_env)
    assert "image" not in got


def test_image_only_in_default(lab_env, native, scratch):
    ref, path = scratch
    native.ctr("default", "images", "import", path)
    got, proc = doctor("--image", ref, env=lab_env)
    r = got["image"]
    assert r["status"] == "fail" and proc.returncode == 1, r
    assert (
        r["summary"]
        == f"{ref} is not in containerd namespace k8s.io, which the kubelet uses; it is in ctr namespace default"
    )
    (fix,) = r["fixes"]
    assert fix["commands"] == [f"ctrtool copy {ref} --from ctr:default --to crictl"]
    apply_fix(fix, lab_env)
    got, _ = doctor("--image", ref, env=lab_env)
    assert got["image"]["status"] == "ok", got["image"]


def test_image_only_in_docker(lab_env, native, scratch):
    ref, path = scratch
    native.docker("load", "-i", path)
    got, _ = doctor("--image", ref, env=lab_env)
    r = got["image"]
    assert r["status"] == "fail", r
    assert r["summary"].endswith("it is in docker")
    (fix,) = r["fixes"]
    assert fix["commands"] == [f"ctrtool copy {ref} --from docker --to crictl"]
    # what the copy adds is said, in bytes: from docker's store, the blob and the snapshot are new
    import re

    said = re.search(r"the copy adds (?:about )?[^(]+\((\d+) bytes\)", fix["summary"])
    assert said and int(said.group(1)) > 0, fix
    apply_fix(fix, lab_env)
    got, _ = doctor("--image", ref, env=lab_env)
    assert got["image"]["status"] == "ok", got["image"]


def test_image_nowhere(lab_env):
    ref = f"localhost/doctor/absent-{secrets.token_hex(3)}:1"
    got, _ = doctor("--image", ref, env=lab_env)
    r = got["image"]
    assert r["status"] == "fail", r
    assert "is nowhere on this node" in r["summary"]
    assert r["fixes"][0]["commands"][0] == f"ctrtool pull --backend crictl {ref}"


def test_image_under_a_short_name(lab_env, native, scratch):
    """`ctr images tag` keeps a short name as given: the CRI (and so the kubelet, which asks for
    docker.io/library/NAME:TAG) does not see it; doctor gives ctr's tag to the full name."""
    ref, path = scratch
    short = ref.split("/")[-1]  # img-xxxx:1: Docker Hub's library image of that name, for a pod spec
    full = f"docker.io/library/{short}"
    native.ctr("k8s.io", "images", "import", path)
    native.ctr("k8s.io", "images", "tag", ref, short)
    try:
        got, _ = doctor("--image", short, env=lab_env)
        r = got["image"]
        assert r["status"] == "fail", r
        assert f"k8s.io has it as {short!r}, not under the full name {full} the kubelet asks for" in r["summary"]
        (fix,) = r["fixes"]
        (command,) = fix["commands"]
        assert command.startswith("ctr --address ") and command.endswith(
            f"--namespace k8s.io images tag {short} {full}"
        )
        apply_fix(fix, lab_env)
        got, _ = doctor("--image", short, env=lab_env)
        assert got["image"]["status"] == "ok", got["image"]
    finally:
        native.forget_images(full, short)


@pytest.mark.parametrize("suffix", ["", ":latest"])
def test_latest_or_no_tag_warns_that_the_pull_policy_is_always(lab_env, native, scratch, suffix):
    """In k8s.io, visible, unpacked: still the kubelet pulls it at every start, as a pod spec naming it
    with :latest or no tag gets imagePullPolicy Always; the same image under a tag other than latest
    is ok."""
    ref, path = scratch
    repo = ref.rsplit(":", 1)[0]
    asked = repo + suffix
    native.ctr("k8s.io", "images", "import", path)
    native.ctr("k8s.io", "images", "tag", ref, f"{repo}:latest")
    try:
        got, proc = doctor("--image", asked, env=lab_env)
        r = got["image"]
        assert r["status"] == "warn" and proc.returncode == 1, r
        assert "imagePullPolicy: Always" in r["summary"], r
        assert ("it has no tag" if not suffix else "its tag is latest") in r["summary"]
        assert any("imagePullPolicy: IfNotPresent" in f["summary"] for f in r["fixes"]), r
        assert not any("--yes" in c for f in r["fixes"] for c in f["commands"])
        tagged, _ = doctor("--image", ref, env=lab_env)
        assert tagged["image"]["status"] == "ok", tagged["image"]
    finally:
        native.forget_images(f"{repo}:latest")


def test_same_image_in_k8s_io_under_another_name_is_tagged_at_no_cost(lab_env, native, scratch):
    """The name is in docker; the same image (same id) is in k8s.io under another name: doctor's fix
    is `ctrtool tag` in k8s.io (0 bytes), not a copy; carried out, the kubelet has the name."""
    ref, path = scratch
    other = ref.rsplit(":", 1)[0] + "-other:1"
    native.docker("load", "-i", path)
    native.ctr("k8s.io", "images", "import", path)
    native.ctr("k8s.io", "images", "tag", ref, other)
    native.ctr("k8s.io", "images", "rm", ref)
    try:
        got, proc = doctor("--image", ref, env=lab_env)
        r = got["image"]
        assert r["status"] == "fail" and proc.returncode == 1, r
        assert f"the same image is there as {other}" in r["summary"], r
        (fix,) = r["fixes"]
        assert fix["commands"] == [f"ctrtool tag --backend ctr -n k8s.io {other} {ref}"]
        assert "costs 0 bytes" in fix["summary"]
        apply_fix(fix, lab_env)  # the person running it answers the prompt (--yes, here)
        got, _ = doctor("--image", ref, env=lab_env)
        assert got["image"]["status"] == "ok", got["image"]
        assert "copy" not in " ".join(c for f in got["image"]["fixes"] for c in f["commands"])
    finally:
        native.forget_images(other)
