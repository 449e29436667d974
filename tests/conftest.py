"""Shared pytest fixtures."""

from __future__ import annotations

import os
import subprocess

import pytest


def lab_unavailable_reason() -> str | None:
    """Why the local lab (root, containerd, dockerd, crictl, ...) cannot run here, or None."""
    from ctrtool.lab import LabError, preflight

    try:
        preflight()
    except LabError as exc:
        return f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    return None


def require_lab() -> None:
    """Skip a lab test when the lab cannot run here; in CI (CI=true) fail instead."""
    reason = lab_unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"lab test cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"lab unavailable: {reason}")


@pytest.fixture(scope="session")
def lab_prerequisites() -> None:
    """Use in tests marked ``lab``: skips (or fails in CI) when root or a binary is missing."""
    require_lab()


# -- the shared lab for integration and CLI tests -----------------------------------------------

# Every lab test runs once per lab profile (ctrtool/lab/profiles.py): one parametrisation, here.
# CTRTOOL_TEST_PROFILES narrows it for a developer (e.g. "debian"); CI runs them all.
ALL_PROFILES = ("debian", "modern", "modern-overlay2")
TEST_PROFILES = tuple(p for p in os.environ.get("CTRTOOL_TEST_PROFILES", ",".join(ALL_PROFILES)).split(",") if p)
TEST_LAB_DIR = os.environ.get("CTRTOOL_TEST_LAB_DIR", "/var/tmp/ctrtool-test-lab")


def test_lab_dir(profile: str) -> str:
    """The test lab's directory for a profile: CTRTOOL_TEST_LAB_DIR for debian, with -PROFILE after it
    for the others (so that labs of several profiles can run side by side)."""
    return TEST_LAB_DIR if profile == "debian" else f"{TEST_LAB_DIR}-{profile}"


@pytest.fixture(scope="session", params=TEST_PROFILES)
def lab(request):
    """A running lab of one profile in its own directory. Started once per session and profile and
    stopped when pytest moves on to the next profile, if this session started it (a lab a developer
    left running is reused and left running). A lab this session starts starts fresh (the directory
    of an earlier run is purged first: what its tests left must not decide this run's) and is
    purged at the end."""
    require_lab()
    from ctrtool.lab import Lab

    the_lab = Lab(test_lab_dir(request.param), request.param)
    was_running = all(d["running"] for d in the_lab.status()["daemons"])
    if not was_running:
        the_lab.down(purge=True)
    the_lab.up()
    yield the_lab
    if not was_running:
        the_lab.down(purge=True)


@pytest.fixture(scope="session")
def lab_env(lab):
    """The environment a user gets from `eval "$(ctrtool lab env)"`, with no config files of
    the machine's in the way."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DOCKER_CONTEXT", "CONTAINERD_NAMESPACE", "CTRTOOL_CONFIG", "CTRTOOL_TIMEOUT")
    }
    env.update(lab.env())
    env["XDG_CONFIG_HOME"] = "/nonexistent-ctrtool-test"
    env["NO_COLOR"] = "1"
    return env


def crio_unavailable_reason() -> str | None:
    """Why the crio lab cannot run here (beyond require_lab's): podman, conmon, Go or the source."""
    from ctrtool.lab import LabError, profiles
    from ctrtool.lab.common import find_binary
    from ctrtool.lab.crio import CRIO_BINARIES
    from ctrtool.lab.sourcebuild import find_crio_source

    missing = [b for b in CRIO_BINARIES if not find_binary(b)]
    if missing:
        return f"missing: {', '.join(missing)} (apt-get install podman conmon)"
    if profiles.built_binaries(profiles.get("crio")) is None:
        if not profiles.find_go():
            return "go is not installed and CRI-O is not built"
        try:
            find_crio_source()
        except LabError as exc:
            return exc.message
    return None


@pytest.fixture(scope="session")
def crio_lab():
    """A running crio lab (CRI-O 1.37 and podman on one store) in CTRTOOL_TEST_LAB_DIR + "-crio": a
    running one is reused and left running; else the directory is purged, the lab started, and
    purged at the end. Skipped when it cannot run here; failed instead in CI."""
    require_lab()
    reason = crio_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"crio lab test cannot run in CI: {reason}", pytrace=False)
        pytest.skip(f"crio lab unavailable: {reason}")
    from ctrtool.lab.crio import CrioLab

    the_lab = CrioLab(test_lab_dir("crio"), "crio")
    was_running = all(d["running"] for d in the_lab.status()["daemons"])
    if not was_running:
        the_lab.down(purge=True)
    the_lab.up()
    yield the_lab
    if not was_running:
        the_lab.down(purge=True)


@pytest.fixture(scope="session")
def crio_env(crio_lab):
    """The environment of `eval "$(ctrtool lab env --profile crio)"`, no machine config in the way."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DOCKER_CONTEXT", "CONTAINERD_NAMESPACE", "CTRTOOL_CONFIG", "CTRTOOL_TIMEOUT")
    }
    env.update(crio_lab.env())
    env["XDG_CONFIG_HOME"] = "/nonexistent-ctrtool-test"
    env["NO_COLOR"] = "1"
    return env


@pytest.fixture(scope="session")
def kube_cluster():
    """The mixed kube lab of tests/test_lab_kube.py's directory (two containerd nodes and one CRI-O
    node) for `ctrtool nodes` (tests/test_nodes_lab.py, tests/test_nodes_crio_lab.py): started fresh
    once for both (what an earlier run left must not decide this one's results), purged at the end.
    tests/test_lab_kube.py, last, starts its own in the same directory (its fixture purges first)."""
    from test_lab_kube import _up, purge, require_lab

    require_lab()
    purge()
    _up()
    try:
        yield
    finally:
        purge()


@pytest.fixture
def native(lab, lab_env):
    """The native tools on the lab (tests/workloads.py), cleaning up what a test made with them."""
    from workloads import Native

    tools = Native(lab, lab_env)
    yield tools
    tools.cleanup()


@pytest.fixture(scope="session")
def docker_place(lab):
    """How df and explain name docker's copy of an image on this lab's stack: its own graph driver
    store ("docker"), or, with docker on containerd's image store, the namespace it keeps images in."""
    return "docker" if lab.profile.docker_store == "overlay2" else "containerd namespace moby"


@pytest.fixture(scope="module")
def tmux(tmp_path_factory):
    """A private tmux server (its own socket): killed at the end, nobody else's touched."""
    import shutil

    if not shutil.which("tmux"):
        if os.environ.get("CI") == "true":
            pytest.fail("tmux is needed for the terminal tests")
        pytest.skip("tmux not installed")
    socket = str(tmp_path_factory.mktemp("tmux") / "sock")
    yield ["tmux", "-S", socket]
    subprocess.run(["tmux", "-S", socket, "kill-server"], capture_output=True)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """The tests that need a lab built with Go from source run last: the crio lab's, then the
    Kubernetes lab's (README's examples, `ctrtool nodes` on it and on its CRI-O node, one lab for
    both, then the lab itself): on a fresh
    machine their builds (scripts/dev.sh starts them beside the first tests, crio first) have had time
    to finish."""
    late = (
        "tests/test_lab_crio.py",
        "tests/test_readme_lab.py",
        "tests/test_nodes_lab.py",
        "tests/test_nodes_crio_lab.py",
        "tests/test_lab_kube.py",
    )
    items.sort(key=lambda item: next((i + 1 for i, f in enumerate(late) if item.nodeid.startswith(f)), 0))
