"""Faults against the real lab: a frozen containerd (SIGSTOP on the lab's own daemon, always
resumed), a full disk (a small tmpfs the test mounts and unmounts), a reader that never reads,
SIGTERM at chosen moments; and the changes that must ask (tag and load onto existing names).

Only scratch names (localhost/ctrtool/h1-*) and a scratch image of its own are made and removed;
the lab's demo and pause images are never changed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tarfile
import uuid

import pytest
from fault_helpers import assert_one_error, processes_with, wait_for
from helpers import ctrtool
from registry import scratch_image

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"
DEMO_ID = "sha256:10da968d4b97b257d0a6d346712cd6d3bc4cb63b2b5032eabab3e008e4fb5e7a"
NAME = "localhost/ctrtool/h1-name:1"
SCRATCH = "localhost/ctrtool/h1-scratch:1"
MAIN = "import sys; from ctrtool.cli import main; sys.argv[0] = 'ctrtool'; main()"


@pytest.fixture
def scratch(native, tmp_path):
    """A scratch image (a docker archive named SCRATCH) and, afterwards, no scratch name left."""
    image = scratch_image(SCRATCH)
    path = tmp_path / "scratch.tar"
    path.write_bytes(image.archive)
    image.path = str(path)
    yield image
    for ref in (NAME, SCRATCH):
        native.docker("image", "rm", "--force", ref, check=False)
        for ns in ("default", "k8s.io"):
            native.ctr(ns, "images", "rm", ref, check=False)
    native.docker("image", "rm", "--force", image.id, check=False)


def docker_id(native, ref: str) -> str | None:
    """The image's config digest (docker's own ID on overlay2; on containerd's image store docker's
    ID is the manifest's, and the config digest is read from it)."""
    return native.docker_image_ids().get(ref)


def ctr_names(native, ns: str) -> dict[str, str]:
    """name -> manifest digest, from ctr's own listing."""
    rows = native.ctr(ns, "images", "ls").stdout.splitlines()[1:]
    return {row.split()[0]: row.split()[2] for row in rows if row.strip()}


@contextlib.contextmanager
def frozen(lab):
    """The lab's containerd stopped (SIGSTOP) for the block; always resumed."""
    (daemon,) = [d for d in lab.status()["daemons"] if d["name"] == "containerd"]
    pid = daemon["pid"]
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        os.kill(pid, signal.SIGCONT)


@contextlib.contextmanager
def small_disk(path, size: str = "512k"):
    """A tmpfs of ``size`` mounted on ``path`` for the block; always unmounted."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


# -- name lookups for changes: complete or refused ------------------------------------------------


def test_a_frozen_containerd_cannot_make_rmi_pick_docker(native, scratch, lab, lab_env):
    """The issue's case: an image in docker and in ctr default, containerd frozen. The lookup
    hears only docker; removing docker's copy would be a guess. Refused with exit 3, naming the
    backends that did not answer; --dry-run says the same; nothing removed."""
    native.docker("load", "--input", scratch.path)
    native.ctr("default", "images", "import", scratch.path)
    with frozen(lab):
        for dry in ([], ["--dry-run"]):
            proc = ctrtool("-t", "2", "rmi", "--yes", *dry, SCRATCH, env=lab_env)
            line = assert_one_error(proc, 3)
            assert f"cannot tell where image '{SCRATCH}' is" in line
            assert "ctr" in line and "crictl" in line and "did not answer" in line
            assert "--backend" in proc.stderr and proc.stdout == ""
    assert docker_id(native, SCRATCH) == scratch.id
    assert SCRATCH in ctr_names(native, "default")
    # with every backend answering, the same name in two places is ambiguous (exit 2), as before
    proc = ctrtool("rmi", "--yes", SCRATCH, env=lab_env)
    assert proc.returncode == 2 and "is in 2 places" in proc.stderr


def test_a_frozen_containerd_and_stop_by_name(native, lab, lab_env):
    """The same for containers: stop without --backend while containerd is frozen is refused."""
    name = f"h1-{uuid.uuid4().hex[:6]}"
    native.docker_run(name)
    with frozen(lab):
        proc = ctrtool("-t", "2", "stop", "--yes", name, env=lab_env)
        line = assert_one_error(proc, 3)
        assert f"cannot tell where container '{name}' is" in line
    assert native.docker("inspect", "--format", "{{.State.Running}}", name).stdout.strip() == "true"


# -- tag and load onto existing names ask first ---------------------------------------------------


@pytest.mark.parametrize("backend", ["docker", "ctr"])
def test_tag_onto_an_existing_name_asks_first(native, scratch, lab_env, backend):
    where = ["-b", backend] + (["-n", "default"] if backend == "ctr" else [])
    if backend == "docker":
        native.docker("load", "--input", scratch.path)
        native.docker("tag", DEMO, NAME)
        before = lambda: docker_id(native, NAME)  # noqa: E731
    else:
        native.ctr("default", "images", "import", scratch.path)
        native.ctr("default", "images", "tag", DEMO, NAME)
        before = lambda: ctr_names(native, "default").get(NAME)  # noqa: E731
    was = before()
    refused = ctrtool("tag", *where, SCRATCH, NAME, env=lab_env)
    line = assert_one_error(refused, 5)
    assert f"tag {SCRATCH} as {NAME}" in line and f"moving {NAME} away from image" in line
    assert before() == was, "nothing moved"
    dry = ctrtool("tag", *where, "--dry-run", SCRATCH, NAME, env=lab_env)
    assert dry.returncode == 0 and dry.stdout.rstrip().endswith(f"{SCRATCH} {NAME}") and before() == was
    done = ctrtool("tag", *where, "--yes", SCRATCH, NAME, env=lab_env)
    assert done.returncode == 0, done.stderr
    assert before() != was
    if backend == "docker":
        assert docker_id(native, NAME) == scratch.id and docker_id(native, DEMO) == DEMO_ID
    # the same tag again changes nothing and asks nothing
    again = ctrtool("tag", *where, SCRATCH, NAME, env=lab_env)
    assert again.returncode == 0 and "nothing to do" in again.stderr


@pytest.mark.parametrize("backend", ["docker", "ctr"])
def test_a_new_name_is_not_a_question(native, scratch, lab_env, backend):
    where = ["-b", backend] + (["-n", "default"] if backend == "ctr" else [])
    proc = ctrtool("tag", *where, DEMO, NAME, env=lab_env)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("backend", ["docker", "ctr"])
def test_load_that_replaces_a_name_asks_first(native, scratch, lab_env, backend):
    where = ["-b", backend] + (["-n", "default"] if backend == "ctr" else [])
    if backend == "docker":
        native.docker("tag", DEMO, SCRATCH)
        now = lambda: docker_id(native, SCRATCH)  # noqa: E731
    else:
        native.ctr("default", "images", "tag", DEMO, SCRATCH)
        now = lambda: ctr_names(native, "default").get(SCRATCH)  # noqa: E731
    was = now()
    refused = ctrtool("load", *where, scratch.path, env=lab_env)
    line = assert_one_error(refused, 5)
    assert f"replacing {SCRATCH}" in line
    assert now() == was
    dry = ctrtool("load", *where, "--dry-run", scratch.path, env=lab_env)
    assert dry.returncode == 0 and scratch.path in dry.stdout and now() == was
    done = ctrtool("load", *where, "--yes", scratch.path, env=lab_env)
    assert done.returncode == 0 and SCRATCH in done.stdout, done.stderr
    assert now() != was
    # loading the same archive again replaces nothing: no question
    again = ctrtool("load", *where, scratch.path, env=lab_env)
    assert again.returncode == 0, again.stderr


# -- save: atomic, to stdout, on a full disk ------------------------------------------------------


@pytest.mark.parametrize("backend", ["docker", "ctr"])
def test_save_to_stdout_streams_the_archive(lab_env, tmp_path, backend):
    where = ["-b", backend] + (["-n", "default"] if backend == "ctr" else [])
    out = tmp_path / "out.tar"
    with open(out, "wb") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "ctrtool", "save", *where, "-o", "-", DEMO],
            env=lab_env,
            stdout=fh,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    assert b"saved localhost/ctrtool/demo:1.0 to stdout" in proc.stderr
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert "manifest.json" in names or "index.json" in names


@pytest.mark.parametrize("backend", ["docker", "ctr"])
def test_save_on_a_full_disk_keeps_the_good_file(lab_env, tmp_path, backend):
    where = ["-b", backend] + (["-n", "default"] if backend == "ctr" else [])
    with small_disk(tmp_path / "small") as disk:
        good = disk / "image.tar"
        good.write_bytes(b"a good archive, kept" * 1000)
        before = good.read_bytes()
        proc = ctrtool("save", *where, "--yes", "-o", str(good), DEMO, env=lab_env)
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr
        assert good.read_bytes() == before, "the good file was truncated"
        assert sorted(p.name for p in disk.iterdir()) == ["image.tar"], "a temporary file was left"


@pytest.mark.parametrize("backend", ["docker", "ctr"])
def test_save_replaces_a_file_whole(lab_env, tmp_path, backend):
    where = ["-b", backend] + (["-n", "default"] if backend == "ctr" else [])
    target = tmp_path / "image.tar"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    proc = ctrtool("save", *where, "--yes", "-o", str(target), DEMO, env=lab_env)
    assert proc.returncode == 0, proc.stderr
    assert tarfile.is_tarfile(target) and oct(target.stat().st_mode & 0o777) == "0o640"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.tar"]


@pytest.mark.parametrize("backend", ["docker", "ctr"])
def test_sigterm_while_an_export_is_stuck_leaves_no_tool(lab_env, backend):
    """`timeout 5 ctrtool save -o - IMAGE | reader that never reads`: the export blocks on the full
    pipe; SIGTERM to ctrtool ends the export too, instead of leaving it under PID 1."""
    where = ["-b", backend] + (["-n", "default"] if backend == "ctr" else [])
    marker = uuid.uuid4().hex
    env = dict(lab_env, CTRTOOL_FAULT_MARK=marker)
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            ["timeout", "5", sys.executable, "-c", MAIN, "save", *where, "-o", "-", DEMO],
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
        )
        os.close(write_end)
        _out, err = proc.communicate(timeout=60)
    finally:
        os.close(read_end)
    assert proc.returncode == 124
    assert b"terminated by SIGTERM" in err and b"Traceback" not in err, err
    assert wait_for(lambda: processes_with(f"CTRTOOL_FAULT_MARK={marker}") == [], timeout=5), (
        "the export outlived ctrtool"
    )


# -- the locale ---------------------------------------------------------------------------------------


def test_an_ascii_locale_prints_the_table(lab_env):
    """The images table holds "…" (short ids), box lines and the K8S mark: on an ASCII-only locale
    they are written escaped, not a UnicodeEncodeError; df's bars are drawn in ASCII characters."""
    env = {k: v for k, v in lab_env.items() if k not in ("LANG", "LC_ALL", "PYTHONIOENCODING")}
    env.update({"LC_ALL": "C", "PYTHONUTF8": "0"})
    proc = subprocess.run(
        [sys.executable, "-c", MAIN, "images", "--all-backends"], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr
    assert b"localhost/ctrtool/demo:1.0" in proc.stdout and b"\\u2713" in proc.stdout  # K8S's mark, escaped
    # df's bars are drawn in ASCII there (not as escapes)
    proc = subprocess.run(
        [sys.executable, "-c", MAIN, "df", "--all-backends"], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == 0 and b"Traceback" not in proc.stderr, proc.stderr
    bars = [line for line in proc.stdout.splitlines() if line.startswith(b"  ") and set(line.strip()) <= set(b"#=+.")]
    assert bars and b"\\u2588" not in proc.stdout and b"# needed" in proc.stdout
