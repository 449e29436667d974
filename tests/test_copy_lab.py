"""`ctrtool copy` against the real lab: a docker-only image streamed into the CRI's store (and
back out of containerd into docker), checked with the target tool itself; failures name the side.

Only scratch tags (localhost/ctrtool/copy-test:*) are made and removed; demo:1.0 and pause are not
touched.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time

import pytest
from helpers import ctrtool

pytestmark = pytest.mark.lab

DEMO = "localhost/ctrtool/demo:1.0"
SCRATCH = "localhost/ctrtool/copy-test:1"
BACK = "localhost/ctrtool/copy-test:2"


@pytest.fixture
def tools(lab_env):
    docker = ["docker", "-H", lab_env["DOCKER_HOST"]]
    ctr = ["ctr", "-a", lab_env["CONTAINERD_ADDRESS"]]
    crictl = ["crictl", "--config", lab_env["CRI_CONFIG_FILE"]]

    def clean():
        subprocess.run(docker + ["rmi", SCRATCH, BACK], capture_output=True)
        for ns in ("k8s.io", "default"):
            subprocess.run(ctr + ["-n", ns, "images", "rm", SCRATCH, BACK], capture_output=True)

    clean()  # a run that was killed may have left them
    yield docker, ctr, crictl
    clean()
    # the fixture's own check that nothing else was touched
    assert subprocess.run(docker + ["image", "inspect", DEMO], capture_output=True).returncode == 0


def crictl_refs(crictl):
    data = json.loads(
        subprocess.run(crictl + ["images", "-o", "json"], capture_output=True, text=True, check=True).stdout
    )
    return {tag for image in data["images"] for tag in image.get("repoTags") or []}


def test_docker_only_image_becomes_visible_to_crictl(lab_env, tools, tmp_path):
    docker, ctr, crictl = tools
    subprocess.run(docker + ["tag", DEMO, SCRATCH], check=True, capture_output=True)
    assert SCRATCH not in crictl_refs(crictl)
    dry = ctrtool("copy", SCRATCH, "--from", "docker", "--to", "crictl", "--dry-run", env=lab_env)
    assert dry.returncode == 0, dry.stderr
    (line,) = dry.stdout.splitlines()
    src, dst = line.split(" | ")
    assert src.startswith("docker ") and src.endswith(f" save {SCRATCH}")
    assert dst.startswith("ctr ") and dst.endswith("--namespace k8s.io images import -")
    assert SCRATCH not in crictl_refs(crictl), "--dry-run changed nothing"
    trace = tmp_path / "trace.jsonl"
    proc = ctrtool("copy", SCRATCH, "--from", "docker", "--to", "crictl", env=dict(lab_env, CTRTOOL_TRACE=str(trace)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == SCRATCH + "\n"
    assert "is now in crictl (k8s.io)" in proc.stderr
    assert "\x1b[" not in proc.stderr  # no progress bar: stderr is not a terminal
    assert SCRATCH in crictl_refs(crictl)
    calls = [json.loads(x)["argv"] for x in trace.read_text().splitlines()]
    assert any(a[-2:] == ["save", SCRATCH] for a in calls) and any(a[-2:] == ["import", "-"] for a in calls)
    # the target has it now: replacing it asks first, and is refused without a terminal
    again = ctrtool("copy", SCRATCH, "--from", "docker", "--to", "crictl", env=lab_env)
    assert again.returncode == 5 and "refusing" in again.stderr, again.stderr
    assert ctrtool("copy", SCRATCH, "--from", "docker", "--to", "crictl", "--yes", env=lab_env).returncode == 0


def test_containerd_to_docker(lab_env, tools):
    docker, ctr, _crictl = tools
    subprocess.run(ctr + ["-n", "default", "images", "tag", DEMO, BACK], check=True, capture_output=True)
    proc = ctrtool("copy", BACK, "--from", "ctr:default", "--to", "docker", env=lab_env)
    assert proc.returncode == 0, proc.stderr
    assert "is now in docker" in proc.stderr
    assert subprocess.run(docker + ["image", "inspect", BACK], capture_output=True).returncode == 0


def test_failures_are_typed_and_name_the_side(lab_env, tools):
    docker, _ctr, _crictl = tools
    missing = ctrtool("copy", "localhost/ctrtool/nonexistent:9", "--from", "docker", "--to", "ctr:default", env=lab_env)
    assert missing.returncode == 1 and "not found" in missing.stderr and "Traceback" not in missing.stderr
    subprocess.run(docker + ["tag", DEMO, SCRATCH], check=True, capture_output=True)
    bad = ctrtool("copy", SCRATCH, "--from", "docker", "--to", "ctr:not_a/valid ns", env=lab_env)
    # bad input, refused before any tool runs (issue 9)
    assert bad.returncode == 2, bad.stderr
    (err,) = [ln for ln in bad.stderr.splitlines() if ln.startswith("ctrtool: error:")]
    assert err == "ctrtool: error: --to ctr:NS: 'not_a/valid ns' is not a containerd namespace", err
    usage = ctrtool("copy", SCRATCH, "--from", "docker", "--to", "docker", env=lab_env)
    assert usage.returncode == 2 and "onto itself" in usage.stderr
    wrong = ctrtool("copy", SCRATCH, "--from", "nerdctl", "--to", "docker", env=lab_env)
    assert wrong.returncode == 2 and "docker|ctr[:NS]|crictl" in wrong.stderr


def test_progress_bar_on_a_terminal(lab_env, tools):
    import os
    import sys

    import pexpect

    docker, ctr, _crictl = tools
    subprocess.run(docker + ["tag", DEMO, SCRATCH], check=True, capture_output=True)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "ctrtool", "copy", SCRATCH, "--from", "docker", "--to", "ctr:default"],
        env=dict(lab_env, PYTHONPATH=os.getcwd()),
        encoding="utf-8",
        timeout=60,
    )
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert f"copying {SCRATCH}" in child.before and "MB" in child.before  # the bar, with bytes counted
    assert "is now in ctr namespace default" in child.before
    listed = subprocess.run(ctr + ["-n", "default", "images", "ls", "-q"], capture_output=True, text=True, check=True)
    assert SCRATCH in listed.stdout.split()


def content_store_bytes(lab) -> tuple[int, set[str]]:
    """The bytes and the digests of every blob in the lab containerd's content store, on disk."""
    blobs = lab.directory / "containerd" / "root" / "io.containerd.content.v1.content" / "blobs" / "sha256"
    files = list(blobs.iterdir())
    return sum(f.stat().st_size for f in files), {f.name for f in files}


def test_copy_between_namespaces_of_one_containerd_writes_no_second_blob(lab, lab_env, tools):
    """docker on containerd's image store keeps its blobs in the one content store that the CRI uses:
    a copy into k8s.io adds only the CRI's reference and its own snapshots. On overlay2 docker's
    layers are not in containerd at all: there the copy brings the blobs (a new image, tagged here
    with a label of its own, so that no blob is already there)."""
    from registry import scratch_image

    docker, ctr, crictl = tools
    image = scratch_image(SCRATCH)
    subprocess.run(docker + ["load"], input=image.archive, check=True, capture_output=True)
    before, digests_before = content_store_bytes(lab)
    proc = ctrtool("copy", SCRATCH, "--from", "docker", "--to", "crictl", env=lab_env)
    assert proc.returncode == 0, proc.stderr
    assert SCRATCH in crictl_refs(crictl)
    after, digests_after = content_store_bytes(lab)
    try:
        # the blobs the CRI's copy consists of: its manifest, config and layers
        listed = subprocess.run(ctr + ["-n", "k8s.io", "images", "ls"], capture_output=True, text=True, check=True)
        (digest,) = [line.split()[2] for line in listed.stdout.splitlines() if line.split()[:1] == [SCRATCH]]
        blobs = lab.directory / "containerd" / "root" / "io.containerd.content.v1.content" / "blobs" / "sha256"
        manifest = json.loads((blobs / digest.split(":")[1]).read_text())
        parts = {
            d.split(":")[1]
            for d in [digest, manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]
        }
        assert parts <= digests_after
        if lab.profile.docker_store == "containerd":
            # every one of them was in the content store before: docker's, shared (containerd's garbage
            # collector may meanwhile remove unrelated blobs, so the totals are not compared)
            assert parts <= digests_before, "not a blob of the image written twice"
        else:
            assert parts - digests_before and after > before  # docker's layers were not in containerd
    finally:
        subprocess.run(crictl + ["rmi", image.id], capture_output=True)


def test_copy_to_a_ctr_namespace_is_checked_afresh_on_the_fast_path(lab_env, tools):
    """Issue 22: the check after a copy to ctr:NS read the meta.db the adapter had read before the
    copy (to see whether the target had the name) and exited 1 although the import had worked;
    where the image was there under another name, it named that one."""
    docker, ctr, _crictl = tools
    ns = "copy-test-22"

    def clean():
        subprocess.run(ctr + ["-n", ns, "images", "rm", SCRATCH, BACK], capture_output=True)
        for _ in range(50):  # containerd's garbage collector empties it soon after
            if subprocess.run(ctr + ["namespaces", "rm", ns], capture_output=True).returncode == 0:
                break
            if (
                ns
                not in subprocess.run(ctr + ["namespaces", "ls", "-q"], capture_output=True, text=True).stdout.split()
            ):
                break
            time.sleep(0.2)

    clean()
    try:
        subprocess.run(docker + ["tag", DEMO, SCRATCH], check=True, capture_output=True)
        subprocess.run(docker + ["tag", DEMO, BACK], check=True, capture_output=True)
        # a namespace the image is not in yet
        first = ctrtool("copy", BACK, "--from", "docker", "--to", f"ctr:{ns}", env=lab_env)
        assert first.returncode == 0, first.stderr
        assert f"is now in ctr namespace {ns}: {BACK}\n" in first.stderr, first.stderr
        # the same image is there now under another name: the copy reports the name it copied
        proc = ctrtool("copy", SCRATCH, "--from", "docker", "--to", f"ctr:{ns}", env=lab_env)
        assert proc.returncode == 0, proc.stderr
        assert f"is now in ctr namespace {ns}: {SCRATCH}\n" in proc.stderr, proc.stderr
        assert BACK not in proc.stderr
        listed = subprocess.run(ctr + ["-n", ns, "images", "ls", "-q"], capture_output=True, text=True).stdout.split()
        assert SCRATCH in listed and BACK in listed
    finally:
        clean()


def test_not_in_the_from_store_the_hint_is_a_copy_copy_accepts(lab_env, tools):
    """The hint of an image not in --from suggested `--from docker --to docker` when it was in docker
    and --to was docker (refused: a copy onto itself), and `--to crictl` whatever --to was."""
    docker, ctr, _crictl = tools
    subprocess.run(docker + ["tag", DEMO, SCRATCH], check=True, capture_output=True)
    there = ctrtool("copy", SCRATCH, "--from", "ctr:default", "--to", "docker", env=lab_env)
    assert there.returncode == 1
    assert there.stderr.splitlines()[1] == "  hint: nothing to copy: it is already in docker, the --to store"
    elsewhere = ctrtool("copy", SCRATCH, "--from", "ctr:k8s.io", "--to", "ctr:default", env=lab_env)
    assert elsewhere.returncode == 1
    hint = elsewhere.stderr.splitlines()[1]
    argv = shlex.split(hint.split("copy it from where it is: ", 1)[1])
    assert argv == ["ctrtool", "copy", SCRATCH, "--from", "docker", "--to", "ctr:default"], hint
    assert ctrtool(*argv[1:], env=lab_env).returncode == 0
    listed = subprocess.run(ctr + ["-n", "default", "images", "ls", "-q"], capture_output=True, text=True).stdout
    assert SCRATCH in listed.split()
