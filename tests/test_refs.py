"""Image references: one module (ctrtool/refs.py) for every place that matches or completes a name.

Two normalisers used to disagree: `ctrtool rmi docker.io/busybox` missed docker.io/library/busybox:latest.
"""

from __future__ import annotations

import pytest

from ctrtool.adapters.base import canonical_ref, match_images
from ctrtool.model import ImageRecord
from ctrtool.refs import canonical, names_for, normalize_ref
from ctrtool.translate.convert import normalize_ref as translate_normalize_ref

FULL = "docker.io/library/busybox:latest"


@pytest.mark.parametrize(
    "typed",
    [
        "busybox",
        "busybox:latest",
        "docker.io/busybox",
        "docker.io/busybox:latest",
        "docker.io/library/busybox",
        "index.docker.io/library/busybox",
        FULL,
    ],
)
def test_every_spelling_of_a_docker_hub_image_is_one_name(typed):
    assert canonical(typed) == canonical_ref(typed) == normalize_ref(typed) == FULL
    record = ImageRecord("ctr", "default", FULL, "sha256:" + "a" * 64, None, 1, "content", None)
    found, by_name = match_images([record], typed)
    assert found == [record] and by_name


@pytest.mark.parametrize(
    "typed, full",
    [
        ("localhost/ctrtool/demo:1.0", "localhost/ctrtool/demo:1.0"),
        ("reg.io:5000/team/app", "reg.io:5000/team/app:latest"),
        ("quay.io/coreos/etcd:v3", "quay.io/coreos/etcd:v3"),
    ],
)
def test_registries_keep_their_names(typed, full):
    assert canonical(typed) == full and full in names_for(typed)


def test_translate_and_the_adapters_share_the_normaliser():
    assert translate_normalize_ref is normalize_ref
    assert normalize_ref("sha256:" + "b" * 64) is None and canonical("sha256:" + "b" * 64) == "sha256:" + "b" * 64


@pytest.mark.parametrize(
    "ref, policy",
    [
        ("myapp", "Always"),
        ("myapp:latest", "Always"),
        ("localhost:5000/team/app", "Always"),
        ("localhost:5000/team/app:2", "IfNotPresent"),
        ("docker.io/library/busybox:1.36", "IfNotPresent"),
        ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
        ("busybox:latest@sha256:" + "a" * 64, "Always"),
    ],
)
def test_the_kubelets_default_pull_policy(ref, policy):
    """The kubelet defaults imagePullPolicy to Always for the tag latest (a name with neither tag
    nor digest has it), IfNotPresent otherwise."""
    from ctrtool.doctor.checks.image import pull_policy

    assert pull_policy(ref)[0] == policy
